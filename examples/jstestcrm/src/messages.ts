// jsTestCRM's message logs, as testCRM's: one record per conversation-day
// under `messagelog/<log id>`, holding its messages in order; log ids from
// the `next-log-id` counter call logs use. A message already in the record
// is not added again. Attachments keep their kind and URI; the download
// link, which carries a RingCentral token, is never stored.

import {
  type CreateMessageLogRequest,
  type Message,
  type MessageLogCreated,
  type UpdateMessageLogRequest,
  attachmentKindName,
  conversationSubject,
  kv,
  messageKind,
  messageNoteLine,
  notFound,
} from "@switchboard/adapter";

interface MessageEntry {
  id: string;
  kind: string;
  creationTime: number;
  line: string;
  attachments: string[];
}

interface MessageLogRecord {
  logId: string;
  userId: string;
  conversationLogId: string;
  subject: string;
  contact: { id: string; name: string | null; contactType: string | null };
  messages: MessageEntry[];
}

const recordKey = (logId: string) => `messagelog/${logId}`;

function entry(message: Message): MessageEntry {
  return {
    id: message.id,
    kind: messageKind(message),
    creationTime: Number(message.creationTime),
    line: messageNoteLine(message),
    attachments: message.attachments.map((a) => {
      const given = a.downloadLink !== undefined ? " (download link given)" : "";
      return `${attachmentKindName(a.kind)}: ${a.uri}${given}`;
    }),
  };
}

export function create(request: CreateMessageLogRequest): MessageLogCreated {
  const logId = String(kv.increment("next-log-id"));
  const { contact } = request;
  const record: MessageLogRecord = {
    logId,
    userId: request.user.userId,
    conversationLogId: request.conversationLogId,
    subject: conversationSubject(request.message, contact.name ?? ""),
    contact: { id: contact.id, name: contact.name ?? null, contactType: contact.contactType ?? null },
    messages: [entry(request.message)],
  };
  kv.setJson(recordKey(logId), record);
  return { logId };
}

export function update(request: UpdateMessageLogRequest): void {
  const key = recordKey(request.logId);
  const record = kv.getJson<MessageLogRecord>(key);
  if (record === undefined || record.userId !== request.user.userId) {
    throw notFound(`no message log ${request.logId}`);
  }
  if (record.messages.some((m) => m.id === request.message.id)) return;
  record.messages.push(entry(request.message));
  kv.setJson(key, record);
}
