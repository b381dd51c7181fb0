// HubSpot's error answers as adapter errors. HubSpot answers
// `{"status": "error", "message": "…", "category": "…", "correlationId": "…"}`,
// and a 429 names the limit it hit in `policyName`. It rarely sends
// `Retry-After`, so the wait comes from the policy: a second for the
// secondly limit, the window (`X-HubSpot-RateLimit-Interval-Milliseconds`,
// ten seconds) for the rolling one, and nothing for the daily one, which
// lasts until midnight in the account's time zone.

import {
  type AdapterFailure,
  notFound,
  rateLimited,
  unauthorized,
  upstream,
} from "@switchboard/adapter/errors";

/** The headers of an answer, as `fetch`'s `Headers` gives them. */
export interface HeaderSource {
  get(name: string): string | null;
}

interface ErrorBody {
  message?: unknown;
  category?: unknown;
  policyName?: unknown;
  correlationId?: unknown;
}

/** HubSpot's message, with its correlation id so support can find it. */
function describe(status: number, body: ErrorBody): string {
  const message = typeof body.message === "string" ? body.message : `HTTP ${status}`;
  const id = typeof body.correlationId === "string" ? ` (correlationId ${body.correlationId})` : "";
  return `HubSpot: ${message}${id}`;
}

/** Seconds to wait before trying again, when HubSpot's answer says. */
export function retryAfterSeconds(headers: HeaderSource, body: ErrorBody): number | undefined {
  const header = Number.parseInt(headers.get("retry-after") ?? "", 10);
  if (Number.isFinite(header) && header >= 0) return header;
  switch (body.policyName) {
    case "SECONDLY":
      return 1;
    case "TEN_SECONDLY_ROLLING": {
      const window = Number.parseInt(
        headers.get("x-hubspot-ratelimit-interval-milliseconds") ?? "",
        10,
      );
      return Number.isFinite(window) && window > 0 ? Math.ceil(window / 1000) : 10;
    }
    default:
      return undefined;
  }
}

/** The adapter error for a HubSpot answer with a status that is not 2xx. */
export function failure(status: number, headers: HeaderSource, body: unknown): AdapterFailure {
  const fields = (typeof body === "object" && body !== null ? body : {}) as ErrorBody;
  const message = describe(status, fields);
  switch (status) {
    case 401:
      return unauthorized(message);
    case 404:
      return notFound(message);
    case 429:
      return rateLimited(retryAfterSeconds(headers, fields), message);
    default:
      return upstream(status, message);
  }
}
