// HubSpot's REST API over `fetch`: the user's credential on every request,
// JSON in and out, and any status that is not 2xx as an adapter error.

import type { Credential } from "@switchboard/adapter";
import { internal } from "@switchboard/adapter/errors";
import { failure } from "./failures.js";

/** Where HubSpot's API lives. The operator may point it elsewhere with the
 * server's `--egress-override api.hubapi.com=…`. */
export const API = "https://api.hubapi.com";

/** The `Authorization` header for a credential: OAuth users come with a
 * ready `Bearer …`; an API key is a private app's access token. */
export function authorization(credential: Credential): string {
  return credential.tag === "authorization" ? credential.val : `Bearer ${credential.val}`;
}

/** The bare access token of a credential. */
export function accessToken(credential: Credential): string {
  return authorization(credential).replace(/^Bearer\s+/i, "");
}

/** A HubSpot client for one user. */
export class HubSpot {
  constructor(private readonly auth: string | undefined) {}

  static of(credential: Credential): HubSpot {
    return new HubSpot(authorization(credential));
  }

  /** A client that sends no credential (the token-info endpoint). */
  static anonymous(): HubSpot {
    return new HubSpot(undefined);
  }

  get<T>(path: string): Promise<T> {
    return this.send<T>("GET", path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>("POST", path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>("PATCH", path, body);
  }

  private async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.auth !== undefined) headers.authorization = this.auth;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${API}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? {} : JSON.parse(text);
    } catch {
      if (response.ok) throw internal(`${method} ${path}: HubSpot answered with a body that is not JSON`);
      parsed = {};
    }
    if (!response.ok) throw failure(response.status, response.headers, parsed);
    return parsed as T;
  }
}

/** A CRM object as HubSpot's v3 API answers it: every property a string. */
export interface CrmObject {
  id: string;
  properties: Record<string, string | null | undefined>;
  associations?: Record<string, { results: { id: string; type: string }[] }>;
}
