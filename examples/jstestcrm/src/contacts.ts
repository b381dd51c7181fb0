// jsTestCRM's contacts: each user's list under `contacts/<user id>`, ids
// from the `next-contact-id` counter. Found by phone (same digits) and by
// name (case-insensitive substring), as testCRM's.

import {
  type Contact,
  type CreateContactRequest,
  type FindContactByNameRequest,
  type FindContactRequest,
  kv,
} from "@switchboard/adapter";

interface ContactEntry {
  id: string;
  name: string;
  phone: string;
  contactType: string | null;
}

const key = (userId: string) => `contacts/${userId}`;
const load = (userId: string) => kv.getJson<ContactEntry[]>(key(userId)) ?? [];
const digits = (number: string) => number.replace(/[^0-9]/g, "");

function toContact(entry: ContactEntry): Contact {
  return {
    id: entry.id,
    name: entry.name,
    phone: entry.phone,
    contactType: entry.contactType ?? undefined,
  };
}

export function create({ user, name, phoneNumber, contactType }: CreateContactRequest): Contact {
  const contacts = load(user.userId);
  const entry: ContactEntry = {
    id: String(kv.increment("next-contact-id")),
    name,
    phone: phoneNumber,
    contactType: contactType ?? null,
  };
  contacts.push(entry);
  kv.setJson(key(user.userId), contacts);
  return toContact(entry);
}

export function find({ user, phoneNumber }: FindContactRequest): Contact[] {
  const wanted = digits(phoneNumber);
  return load(user.userId)
    .filter((c) => wanted !== "" && digits(c.phone) === wanted)
    .map(toContact);
}

export function findByName({ user, name }: FindContactByNameRequest): Contact[] {
  const wanted = name.trim().toLowerCase();
  return load(user.userId)
    .filter((c) => wanted !== "" && c.name.toLowerCase().includes(wanted))
    .map(toContact);
}
