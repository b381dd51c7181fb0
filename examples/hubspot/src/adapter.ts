// The HubSpot adapter, in TypeScript.
//
// - Sign-in: OAuth run by the host (this adapter never sees the client
//   secret or the refresh token; it gets `Authorization: Bearer …`), or a
//   private app's access token as the API key. HubSpot's token endpoint
//   wants `client_secret_post`: the operator file says
//   `client_auth = "client_secret_post"` under `[oauth]`.
// - Contacts: found by phone or by name through the CRM search API
//   (`contacts.ts`, `phone.ts`), created with `POST /crm/v3/objects/contacts`.
// - Calls: one call engagement each, associated to the contact, updated
//   with PATCH (`calls.ts`, `body.ts`).
// - Errors: HubSpot's 401, 404 and 429 become `unauthorized`, `not-found`
//   and `rate-limited` with the wait its limit implies (`failures.ts`).

import { defineAdapter } from "@switchboard/adapter";
import { createCallLog, getCallLog, updateCallLog } from "./calls.js";
import { createContact, findContact, findContactByName, getUserInfo } from "./contacts.js";

export const adapter = defineAdapter({
  manifest: {
    platform: "hubspot",
    displayName: "HubSpot",
    version: "1.0.0",
    auth: {
      tag: "oauth",
      val: {
        authorizeUrl: "https://app.hubspot.com/oauth/authorize",
        tokenUrl: "https://api.hubapi.com/oauth/v1/token",
        scopes: ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write"],
      },
    },
    allowedHosts: ["api.hubapi.com"],
  },
  getUserInfo,
  findContact,
  findContactByName,
  createContact,
  createCallLog,
  getCallLog,
  updateCallLog,
});
