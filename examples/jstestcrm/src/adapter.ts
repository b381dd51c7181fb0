// jsTestCRM: the Rust testCRM (`plugins/testcrm`) in TypeScript. It keeps
// every record in the host's kv with the same keys and the same JSON, so
// the e2e suite checks all three languages against one another.
//
// - Login takes any non-empty API key; the user id is a hash of the key.
// - A call log is `calllog/<log id>`; `session/<user>/<session>` holds a
//   session's log id, written first, so a retried create makes no second
//   record.
// - Contacts are each user's list under `contacts/<user id>`; message logs
//   one record per conversation-day under `messagelog/<log id>`.

import {
  type CallLogDetails,
  type ContactRef,
  type CreateCallLogRequest,
  type UserContext,
  callSubject,
  composeNote,
  defineAdapter,
  invalidInput,
  kv,
  notFound,
  unauthorized,
} from "@switchboard/adapter";
import * as contacts from "./contacts.js";
import * as messages from "./messages.js";

const PLATFORM = "jsTestCRM";
const LOG_ID_COUNTER = "next-log-id";

/** One call log, stored as `calllog/<log id>` (the Rust testCRM's JSON). */
interface CallLogRecord {
  logId: string;
  userId: string;
  sessionId: string;
  subject: string;
  agentNote: string | null;
  note: string;
  contact: { id: string; name: string | null; contactType: string | null };
  direction: "Inbound" | "Outbound";
  startTime: number;
  durationSeconds: number;
  result: string;
  recordingLink: string | null;
  aiNote: string | null;
  transcript: string | null;
  additionalSubmission: string | null;
  dispositions: string | null;
}

const recordKey = (logId: string) => `calllog/${logId}`;
const sessionKey = (userId: string, sessionId: string) => `session/${userId}/${sessionId}`;
const nonEmpty = (text: string | undefined) => (text ? text : null);

/** A stable user id for an API key (FNV-1a, 64 bits), as testCRM's. */
export function userIdForKey(key: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(key)) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return `test-${hash.toString(16).padStart(16, "0")}`;
}

function compose(record: CallLogRecord): void {
  record.note = composeNote({
    agentNote: record.agentNote ?? undefined,
    result: record.result,
    durationSeconds: record.durationSeconds,
    recordingLink: record.recordingLink ?? undefined,
    aiNote: record.aiNote ?? undefined,
    transcript: record.transcript ?? undefined,
  });
}

/** A call log that belongs to `user`; another user's is "not found". */
function load(user: UserContext, logId: string): CallLogRecord {
  const record = kv.getJson<CallLogRecord>(recordKey(logId));
  if (record === undefined || record.userId !== user.userId) {
    throw notFound(`no call log ${logId}`);
  }
  return record;
}

function contactRecord(contact: ContactRef): CallLogRecord["contact"] {
  return {
    id: contact.id,
    name: contact.name ?? null,
    contactType: contact.contactType ?? null,
  };
}

function createCallLog({ user, call, contact, note, aiNote, transcript, additionalSubmission }: CreateCallLogRequest) {
  const index = sessionKey(user.userId, call.sessionId);
  let logId = kv.getText(index);
  if (logId !== undefined && kv.get(recordKey(logId)) !== undefined) {
    return { logId };
  }
  if (logId === undefined) {
    logId = String(kv.increment(LOG_ID_COUNTER));
    kv.set(index, logId);
  }
  const record: CallLogRecord = {
    logId,
    userId: user.userId,
    sessionId: call.sessionId,
    subject: callSubject(call, contact.name ?? ""),
    agentNote: nonEmpty(note),
    note: "",
    contact: contactRecord(contact),
    direction: call.direction === "inbound" ? "Inbound" : "Outbound",
    startTime: Number(call.startTime),
    durationSeconds: call.durationSeconds,
    result: call.result,
    recordingLink: call.recordingLink ?? null,
    aiNote: nonEmpty(aiNote),
    transcript: nonEmpty(transcript),
    additionalSubmission: additionalSubmission ?? null,
    dispositions: null,
  };
  compose(record);
  kv.setJson(recordKey(logId), record);
  return { logId };
}

export const adapter = defineAdapter({
  manifest: {
    platform: PLATFORM,
    displayName: "Test CRM (TypeScript)",
    version: "1.0.0",
    auth: { tag: "api-key" },
  },

  getUserInfo({ credential }) {
    if (credential.tag !== "api-key") {
      throw invalidInput(`${PLATFORM} signs in with an API key`);
    }
    if (credential.val.trim() === "") {
      throw unauthorized("API key is empty");
    }
    return { id: userIdForKey(credential.val), name: "Test User" };
  },

  findContact: contacts.find,
  findContactByName: contacts.findByName,
  createContact: contacts.create,
  createCallLog,
  createMessageLog: messages.create,
  updateMessageLog: messages.update,

  getCallLog({ user, logId }): CallLogDetails {
    const record = load(user, logId);
    return {
      subject: record.subject,
      note: record.agentNote ?? "",
      fullBody: record.note,
      contactName: record.contact.name ?? undefined,
      dispositions: record.dispositions ?? undefined,
    };
  },

  updateCallLog(request) {
    const record = load(request.user, request.logId);
    if (request.subject !== undefined) record.subject = request.subject;
    if (request.note !== undefined) record.agentNote = nonEmpty(request.note);
    if (request.recordingLink !== undefined) record.recordingLink = nonEmpty(request.recordingLink);
    if (request.aiNote !== undefined) record.aiNote = nonEmpty(request.aiNote);
    if (request.transcript !== undefined) record.transcript = nonEmpty(request.transcript);
    if (request.startTime !== undefined) record.startTime = Number(request.startTime);
    if (request.durationSeconds !== undefined) record.durationSeconds = request.durationSeconds;
    if (request.result !== undefined) record.result = request.result;
    if (request.additionalSubmission !== undefined) {
      record.additionalSubmission = request.additionalSubmission;
    }
    compose(record);
    kv.setJson(recordKey(record.logId), record);
    return { updatedNote: record.note };
  },

  upsertCallDisposition({ user, logId, dispositions }) {
    const record = load(user, logId);
    record.dispositions = dispositions;
    kv.setJson(recordKey(record.logId), record);
  },
});
