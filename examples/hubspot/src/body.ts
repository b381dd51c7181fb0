// The body of a HubSpot call (`hs_call_body`), which HubSpot shows as rich
// text: the agent's note as a paragraph, then one list item per fact.
//
//     <p>Asked for a quote<br>Call back Monday</p><ul><li><b>Result</b>: Accepted</li>…</ul>
//
// Every value is HTML-escaped, so the body parses back exactly: an update
// reads the record HubSpot holds, changes what the client sent and writes
// the whole body again, keeping what it did not change.

import { formatDuration } from "@switchboard/adapter/notes";

/** What a call's body says. */
export interface BodyParts {
  agentNote?: string;
  result?: string;
  durationSeconds: number;
  recordingLink?: string;
  aiNote?: string;
  transcript?: string;
}

const LABELS = {
  result: "Result",
  duration: "Duration",
  recordingLink: "Call recording link",
  aiNote: "AI note",
  transcript: "Transcript",
} as const;

function escape(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("\n", "<br>");
}

function unescape(html: string): string {
  return html
    .replace(/<br\s*\/?>/g, "\n")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'")
    .replaceAll("&amp;", "&");
}

/** The HTML body for these parts. */
export function composeBody(parts: BodyParts): string {
  const item = (label: string, html: string) => `<li><b>${label}</b>: ${html}</li>`;
  let html = parts.agentNote ? `<p>${escape(parts.agentNote)}</p>` : "";
  html += "<ul>";
  if (parts.result !== undefined) html += item(LABELS.result, escape(parts.result));
  html += item(LABELS.duration, escape(formatDuration(parts.durationSeconds)));
  if (parts.recordingLink !== undefined) {
    const link = escape(parts.recordingLink);
    html += item(LABELS.recordingLink, `<a href="${link}">${link}</a>`);
  }
  if (parts.aiNote !== undefined) html += item(LABELS.aiNote, escape(parts.aiNote));
  if (parts.transcript !== undefined) html += item(LABELS.transcript, escape(parts.transcript));
  return `${html}</ul>`;
}

/** What a body says; the duration and the recording link are read from
 * the call's own properties, which are their source of truth. */
export function parseBody(
  html: string,
): Omit<BodyParts, "durationSeconds" | "recordingLink"> {
  const note = /^<p>([\s\S]*?)<\/p>/.exec(html);
  const parts: Omit<BodyParts, "durationSeconds" | "recordingLink"> = {};
  if (note) parts.agentNote = unescape(note[1]);
  for (const [, label, value] of html.matchAll(/<li><b>([^<]*)<\/b>: ([\s\S]*?)<\/li>/g)) {
    const text = unescape(value);
    if (label === LABELS.result) parts.result = text;
    else if (label === LABELS.aiNote) parts.aiNote = text;
    else if (label === LABELS.transcript) parts.transcript = text;
  }
  return parts;
}

/** The body as plain text, for clients that show it as such. */
export function plainText(html: string): string {
  return unescape(
    html
      .replace(/<\/p>/g, "\n")
      .replace(/<li>/g, "- ")
      .replace(/<\/li>/g, "\n")
      .replace(/<(?!br\s*\/?>)[^>]*>/g, ""),
  );
}
