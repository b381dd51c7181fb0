// Who an API key belongs to. Replace with a call to the CRM (`fetch`).

import type { Credential, UserInfo } from "@switchboard/adapter";
import { invalidInput, unauthorized } from "@switchboard/adapter/errors";

export function signIn(credential: Credential): UserInfo {
  if (credential.tag !== "api-key") throw invalidInput("sign in with an API key");
  if (credential.val.trim() === "") throw unauthorized("API key is empty");
  return { id: `user-${credential.val.length}`, name: "Example User" };
}
