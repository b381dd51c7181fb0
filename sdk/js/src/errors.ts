// Errors an adapter throws: each is one case of the WIT `adapter-error`
// variant, and the host maps it to the App Connect answer (`NOT_FOUND`,
// `RATE_LIMITED`, …). Throw them from any operation.

import type { AdapterError } from "./types.js";

/** An `adapter-error` as a throwable `Error`: it carries the variant's
 * `tag` and `val`, which is what the component boundary reads. */
export class AdapterFailure extends Error {
  readonly tag: AdapterError["tag"];
  readonly val: AdapterError["val"];

  constructor(error: AdapterError) {
    super(`${error.tag}: ${describe(error)}`);
    this.name = "AdapterFailure";
    this.tag = error.tag;
    this.val = error.val;
  }

  /** The variant itself, as the WIT describes it. */
  get error(): AdapterError {
    return { tag: this.tag, val: this.val } as AdapterError;
  }
}

function describe(error: AdapterError): string {
  switch (error.tag) {
    case "rate-limited":
      return error.val.message;
    case "upstream":
      return `${error.val.status} ${error.val.message}`;
    default:
      return error.val;
  }
}

/** The adapter does not implement this operation. */
export const unsupported = (message: string) =>
  new AdapterFailure({ tag: "unsupported", val: message });
/** The CRM rejected the credential (HTTP 401 or equivalent). */
export const unauthorized = (message: string) =>
  new AdapterFailure({ tag: "unauthorized", val: message });
/** The record asked for does not exist in the CRM. */
export const notFound = (message: string) =>
  new AdapterFailure({ tag: "not-found", val: message });
/** The request cannot be served as given. */
export const invalidInput = (message: string) =>
  new AdapterFailure({ tag: "invalid-input", val: message });
/** The CRM is rate limiting this user; `retryAfterSeconds` when it said. */
export const rateLimited = (retryAfterSeconds: number | undefined, message: string) =>
  new AdapterFailure({
    tag: "rate-limited",
    val: { retryAfterSeconds, message },
  });
/** The CRM answered with an error status. */
export const upstream = (status: number, message: string) =>
  new AdapterFailure({ tag: "upstream", val: { status, message } });
/** Anything else went wrong inside the adapter. */
export const internal = (message: string) =>
  new AdapterFailure({ tag: "internal", val: message });
