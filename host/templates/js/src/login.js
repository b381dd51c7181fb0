// Who an API key belongs to. Replace with a call to the CRM (`fetch`).

import { invalidInput, unauthorized } from "@switchboard/adapter/errors";

/**
 * @param {import("@switchboard/adapter").Credential} credential
 * @returns {import("@switchboard/adapter").UserInfo}
 */
export function signIn(credential) {
  if (credential.tag !== "api-key") throw invalidInput("sign in with an API key");
  if (credential.val.trim() === "") throw unauthorized("API key is empty");
  return { id: `user-${credential.val.length}`, name: "Example User" };
}
