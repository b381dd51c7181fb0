// The subject and note-body helpers App Connect's testCRM uses, so every
// adapter words them the same way.

import type { AttachmentKind, Call, Message } from "./types.js";

/** `Inbound call from Ann` / `Outbound call to Ann`. */
export function defaultSubject(call: Pick<Call, "direction">, contactName: string): string {
  return call.direction === "inbound"
    ? `Inbound call from ${contactName}`
    : `Outbound call to ${contactName}`;
}

/** The subject to log: the user's custom subject, or the default one. */
export function callSubject(
  call: Pick<Call, "direction" | "customSubject">,
  contactName: string,
): string {
  return call.customSubject ?? defaultSubject(call, contactName);
}

/** `65` → `1 minute, 5 seconds`; `0` → `0 seconds` (App Connect's wording). */
export function formatDuration(seconds: number): string {
  const unit = (n: number, one: string, many: string) =>
    n === 0 ? undefined : n === 1 ? `1 ${one}` : `${n} ${many}`;
  const parts = [
    unit(Math.floor(seconds / 3600), "hour", "hours"),
    unit(Math.floor((seconds % 3600) / 60), "minute", "minutes"),
    unit(seconds % 60, "second", "seconds"),
  ].filter((p): p is string => p !== undefined);
  return parts.length === 0 ? "0 seconds" : parts.join(", ");
}

/** What a call's note body is composed of. */
export interface NoteParts {
  agentNote?: string;
  result: string;
  durationSeconds: number;
  recordingLink?: string;
  aiNote?: string;
  transcript?: string;
}

/** The note body, one `- Label: value` line per part, App Connect style. */
export function composeNote(parts: NoteParts): string {
  let body = "";
  if (parts.agentNote !== undefined) body += `- Agent note: ${parts.agentNote}\n`;
  body += `- Result: ${parts.result}\n`;
  body += `- Duration: ${formatDuration(parts.durationSeconds)}\n`;
  if (parts.recordingLink !== undefined) body += `- Call recording link: ${parts.recordingLink}\n`;
  if (parts.aiNote !== undefined) body += `- AI note: ${parts.aiNote}\n`;
  if (parts.transcript !== undefined) body += `- Transcript: ${parts.transcript}\n`;
  return body;
}

/** What kind of message this is, in words: `SMS`, `Fax`, `Voicemail`, … */
export function messageKind(message: Pick<Message, "type">): string {
  switch (message.type) {
    case "sms":
      return "SMS";
    case "fax":
      return "Fax";
    case "voicemail":
      return "Voicemail";
    case "pager":
      return "Pager";
    case "text":
      return "Text";
  }
}

/** RingCentral's name of an attachment kind: `AudioRecording`, … */
export function attachmentKindName(kind: AttachmentKind): string {
  return kind
    .split("-")
    .map((word) => word[0].toUpperCase() + word.slice(1))
    .join("");
}

/** `YYYY-MM-DD` and `HH:MM` of epoch milliseconds, in UTC. */
function utc(epochMillis: bigint | number): { day: string; time: string } {
  const iso = new Date(Number(epochMillis)).toISOString();
  return { day: iso.slice(0, 10), time: iso.slice(11, 16) };
}

/** App Connect's subject for a conversation-day's record: `SMS
 * conversation with Ann - 2024-02-29`, `Voicemail from Ann - …`. */
export function conversationSubject(
  message: Pick<Message, "type" | "creationTime">,
  contactName: string,
): string {
  const { day } = utc(message.creationTime);
  switch (message.type) {
    case "fax":
      return `Fax from ${contactName} - ${day}`;
    case "voicemail":
      return `Voicemail from ${contactName} - ${day}`;
    default:
      return `SMS conversation with ${contactName} - ${day}`;
  }
}

/** One line of a message-log note: `<HH:MM> UTC <sender>: <text>`, then
 * each attachment's kind and URI. Download links are left out: they
 * carry a RingCentral token. */
export function messageNoteLine(
  message: Pick<Message, "creationTime" | "from" | "subject" | "attachments">,
): string {
  const sender = message.from.name ?? message.from.phoneNumber ?? "unknown";
  let line = `${utc(message.creationTime).time} UTC ${sender}:`;
  if (message.subject) line += ` ${message.subject}`;
  for (const attachment of message.attachments) {
    line += ` [${attachmentKindName(attachment.kind)}: ${attachment.uri}]`;
  }
  return line;
}
