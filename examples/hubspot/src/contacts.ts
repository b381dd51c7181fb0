// Who the user is, and HubSpot's contacts: found by phone or by name
// through the CRM search API, created with `POST /crm/v3/objects/contacts`.

import {
  type Contact,
  type CreateContactRequest,
  type FindContactByNameRequest,
  type FindContactRequest,
  type LoginRequest,
  type UserInfo,
  invalidInput,
  kv,
  unauthorized,
} from "@switchboard/adapter";
import { AdapterFailure } from "@switchboard/adapter/errors";
import { type CrmObject, HubSpot, accessToken } from "./api.js";
import { phoneFilterGroups } from "./phone.js";

const PROPERTIES = ["firstname", "lastname", "email", "phone", "mobilephone", "company"];
const SEARCH = "/crm/v3/objects/contacts/search";

/** kv key of the HubSpot owner id of a signed-in user, written at login
 * and used as each call's `hubspot_owner_id`. */
export const ownerKey = (userId: string) => `owner/${userId}`;

/** A contact's display name. */
export function displayName(properties: CrmObject["properties"]): string {
  const name = [properties.firstname, properties.lastname].filter((p) => p).join(" ");
  return name || properties.email || properties.phone || properties.mobilephone || "";
}

function contact(found: CrmObject): Contact {
  const p = found.properties;
  return {
    id: found.id,
    name: displayName(p),
    phone: p.phone || p.mobilephone || undefined,
    organization: p.company || undefined,
    contactType: "contact",
  };
}

interface TokenInfo {
  user: string;
  user_id: number;
  hub_id: number;
  hub_domain: string;
}

interface AccountInfo {
  portalId: number;
  timeZone?: string;
}

interface Owners {
  results: { id: string; firstName?: string; lastName?: string }[];
}

/** Sign in: an OAuth token is looked up with HubSpot's token-info
 * endpoint, and the user found among the account's owners; an API key is
 * a private app's token, which belongs to the account rather than a user. */
export async function getUserInfo(request: LoginRequest): Promise<UserInfo> {
  const token = accessToken(request.credential);
  if (token.trim() === "") throw unauthorized("HubSpot: an empty token");
  const api = HubSpot.of(request.credential);
  if (request.credential.tag === "api-key") {
    const account = await api.get<AccountInfo>("/account-info/v3/details");
    return {
      id: `portal-${account.portalId}-hubspot`,
      name: `HubSpot account ${account.portalId}`,
      timezone: account.timeZone,
      platformAdditionalInfo: JSON.stringify({ hubId: account.portalId }),
    };
  }
  let info: TokenInfo;
  try {
    info = await HubSpot.anonymous().get<TokenInfo>(
      `/oauth/v1/access-tokens/${encodeURIComponent(token)}`,
    );
  } catch (e) {
    if (e instanceof AdapterFailure && e.tag === "not-found") {
      throw unauthorized("HubSpot does not know this access token");
    }
    throw e;
  }
  const [owners, account] = await Promise.all([
    api.get<Owners>(`/crm/v3/owners/?email=${encodeURIComponent(info.user)}&limit=1`),
    api.get<AccountInfo>("/account-info/v3/details"),
  ]);
  const owner = owners.results[0];
  const id = `${info.user_id}-hubspot`;
  if (owner !== undefined) kv.set(ownerKey(id), owner.id);
  const name = [owner?.firstName, owner?.lastName].filter((p) => p).join(" ");
  return {
    id,
    name: name || info.user,
    timezone: account.timeZone,
    platformAdditionalInfo: JSON.stringify({
      hubId: info.hub_id,
      hubDomain: info.hub_domain,
      ownerId: owner?.id,
    }),
  };
}

interface SearchResults {
  results: CrmObject[];
}

export async function findContact(request: FindContactRequest): Promise<Contact[]> {
  const number = request.phoneNumber.trim();
  if (number === "") throw invalidInput("a phone number is needed");
  const found = await HubSpot.of(request.user.credential).post<SearchResults>(SEARCH, {
    filterGroups: phoneFilterGroups(number),
    properties: PROPERTIES,
    limit: 100,
  });
  return found.results.map(contact);
}

export async function findContactByName(request: FindContactByNameRequest): Promise<Contact[]> {
  const name = request.name.trim();
  if (name === "") throw invalidInput("a name is needed");
  const found = await HubSpot.of(request.user.credential).post<SearchResults>(SEARCH, {
    query: name,
    properties: PROPERTIES,
    limit: 50,
  });
  return found.results.map(contact);
}

export async function createContact(request: CreateContactRequest): Promise<Contact> {
  const name = request.name.trim();
  if (name === "") throw invalidInput("a contact needs a name");
  const words = name.split(/\s+/);
  const properties: Record<string, string> = { phone: request.phoneNumber };
  if (words.length > 1) {
    properties.firstname = words.slice(0, -1).join(" ");
    properties.lastname = words[words.length - 1];
  } else {
    properties.firstname = name;
  }
  const created = await HubSpot.of(request.user.credential).post<CrmObject>(
    "/crm/v3/objects/contacts",
    { properties },
  );
  return contact({ ...created, properties: { ...properties, ...created.properties } });
}
