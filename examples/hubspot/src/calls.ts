// Calls as HubSpot call engagements (`/crm/v3/objects/calls`): one record
// per call, associated to the contact, with the note, the recording link,
// the direction, the duration and HubSpot's call outcome.

import {
  type CallLogCreated,
  type CallLogDetails,
  type CallLogUpdated,
  type CreateCallLogRequest,
  type GetCallLogRequest,
  type UpdateCallLogRequest,
  callSubject,
  invalidInput,
  kv,
} from "@switchboard/adapter";
import { type CrmObject, HubSpot } from "./api.js";
import { composeBody, parseBody, plainText } from "./body.js";
import { displayName, ownerKey } from "./contacts.js";

/** HubSpot's association type id for a call's contact. */
const CALL_TO_CONTACT = 194;

/** HubSpot's default call outcomes (`hs_call_disposition`), by
 * RingCentral's call result. */
const OUTCOMES: Record<string, string> = {
  Accepted: "f240bbac-87c9-4f6e-bf70-924b57d47db7", // Connected
  "Call connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
  Busy: "9d9162e7-6cf3-4944-bf63-4dff82258764",
  Missed: "73a0d17f-1163-4015-bdd5-ec830791da20", // No answer
  "No Answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
  Voicemail: "b2cf5968-551e-4856-9783-52b3da59a7d0", // Left voicemail
  "Wrong Number": "17b47fee-58de-441e-a44c-c6300d46f273",
};

const READ = [
  "hs_call_title",
  "hs_call_body",
  "hs_call_duration",
  "hs_call_recording_url",
].join(",");

const callPath = (logId: string) => {
  if (!/^\d+$/.test(logId)) throw invalidInput(`${logId} is not a HubSpot call id`);
  return `/crm/v3/objects/calls/${logId}`;
};

const orUndefined = (text: string | undefined) => (text ? text : undefined);

export async function createCallLog(request: CreateCallLogRequest): Promise<CallLogCreated> {
  const { call, contact, user } = request;
  if (!/^\d+$/.test(contact.id)) throw invalidInput(`${contact.id} is not a HubSpot contact id`);
  const api = HubSpot.of(user.credential);
  let contactName = contact.name;
  if (!contactName) {
    const found = await api.get<CrmObject>(
      `/crm/v3/objects/contacts/${contact.id}?properties=firstname,lastname,email,phone`,
    );
    contactName = displayName(found.properties);
  }
  const properties: Record<string, string> = {
    hs_timestamp: new Date(Number(call.startTime)).toISOString(),
    hs_call_title: callSubject(call, contactName),
    hs_call_body: composeBody({
      agentNote: orUndefined(request.note),
      result: call.result,
      durationSeconds: call.durationSeconds,
      recordingLink: call.recordingLink,
      aiNote: orUndefined(request.aiNote),
      transcript: orUndefined(request.transcript),
    }),
    hs_call_direction: call.direction === "inbound" ? "INBOUND" : "OUTBOUND",
    hs_call_duration: String(call.durationSeconds * 1000),
    hs_call_status: "COMPLETED",
    hs_call_from_number: call.from.phoneNumber ?? "",
    hs_call_to_number: call.to.phoneNumber ?? "",
  };
  if (call.recordingLink) properties.hs_call_recording_url = call.recordingLink;
  const outcome = OUTCOMES[call.result];
  if (outcome !== undefined) properties.hs_call_disposition = outcome;
  const owner = kv.getText(ownerKey(user.userId));
  if (owner !== undefined) properties.hubspot_owner_id = owner;
  const created = await api.post<CrmObject>("/crm/v3/objects/calls", {
    properties,
    associations: [
      {
        to: { id: contact.id },
        types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: CALL_TO_CONTACT }],
      },
    ],
  });
  return { logId: created.id };
}

export async function getCallLog(request: GetCallLogRequest): Promise<CallLogDetails> {
  const api = HubSpot.of(request.user.credential);
  const found = await api.get<CrmObject>(
    `${callPath(request.logId)}?properties=${READ}&associations=contacts`,
  );
  const body = found.properties.hs_call_body ?? "";
  const contactId = found.associations?.contacts?.results[0]?.id;
  let contactName: string | undefined;
  if (contactId !== undefined) {
    const contact = await api.get<CrmObject>(
      `/crm/v3/objects/contacts/${contactId}?properties=firstname,lastname,email,phone`,
    );
    contactName = displayName(contact.properties);
  }
  return {
    subject: found.properties.hs_call_title ?? "",
    note: parseBody(body).agentNote ?? "",
    fullBody: plainText(body),
    contactName,
  };
}

/** Change what the client sent and keep the rest: the body is read from
 * HubSpot, merged and written whole. */
export async function updateCallLog(request: UpdateCallLogRequest): Promise<CallLogUpdated> {
  const api = HubSpot.of(request.user.credential);
  const path = callPath(request.logId);
  const found = await api.get<CrmObject>(`${path}?properties=${READ}`);
  const current = parseBody(found.properties.hs_call_body ?? "");
  const durationSeconds =
    request.durationSeconds ?? Math.round(Number(found.properties.hs_call_duration ?? 0) / 1000);
  const recordingLink =
    request.recordingLink ?? orUndefined(found.properties.hs_call_recording_url ?? undefined);
  const result = request.result ?? current.result;
  const body = composeBody({
    agentNote: request.note ?? current.agentNote,
    result,
    durationSeconds,
    recordingLink,
    aiNote: request.aiNote ?? current.aiNote,
    transcript: request.transcript ?? current.transcript,
  });
  const properties: Record<string, string> = { hs_call_body: body };
  if (request.subject !== undefined) properties.hs_call_title = request.subject;
  if (request.durationSeconds !== undefined) {
    properties.hs_call_duration = String(request.durationSeconds * 1000);
  }
  if (request.recordingLink !== undefined) properties.hs_call_recording_url = request.recordingLink;
  if (request.startTime !== undefined) {
    properties.hs_timestamp = new Date(Number(request.startTime)).toISOString();
  }
  const outcome = request.result === undefined ? undefined : OUTCOMES[request.result];
  if (outcome !== undefined) properties.hs_call_disposition = outcome;
  await api.patch<CrmObject>(path, { properties });
  return { updatedNote: body };
}
