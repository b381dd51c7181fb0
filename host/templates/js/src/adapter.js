// {{platform}}: a Switchboard adapter.

import { defineAdapter } from "@switchboard/adapter";
import { signIn } from "./login.js";

export const adapter = defineAdapter({
  manifest: {
    platform: "{{platform}}",
    displayName: "{{platform}}",
    version: "0.1.0",
    auth: { tag: "api-key" },
    // The hosts the adapter may reach with fetch, e.g. "api.example.com".
    allowedHosts: [],
  },
  getUserInfo: ({ credential }) => signIn(credential),
});
