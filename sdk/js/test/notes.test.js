// Unit tests of the SDK parts that need no host: the note helpers and the
// error constructors. Run with `npm test` after `npm run build`.

import assert from "node:assert/strict";
import { test } from "node:test";
import { AdapterFailure, notFound, rateLimited, upstream } from "../dist/errors.js";
import {
  callSubject,
  composeNote,
  conversationSubject,
  formatDuration,
  messageNoteLine,
} from "../dist/notes.js";

test("durations read like App Connect's", () => {
  assert.equal(formatDuration(0), "0 seconds");
  assert.equal(formatDuration(1), "1 second");
  assert.equal(formatDuration(65), "1 minute, 5 seconds");
  assert.equal(formatDuration(3600), "1 hour");
  assert.equal(formatDuration(7322), "2 hours, 2 minutes, 2 seconds");
});

test("a note has one line per part, as testCRM's", () => {
  assert.equal(
    composeNote({
      agentNote: "called back",
      result: "Accepted",
      durationSeconds: 65,
      recordingLink: "https://r/1",
      aiNote: "asked for a quote",
      transcript: "Ann: hi",
    }),
    "- Agent note: called back\n- Result: Accepted\n- Duration: 1 minute, 5 seconds\n- Call recording link: https://r/1\n- AI note: asked for a quote\n- Transcript: Ann: hi\n",
  );
  assert.equal(composeNote({ result: "Missed", durationSeconds: 0 }), "- Result: Missed\n- Duration: 0 seconds\n");
});

test("subjects follow App Connect", () => {
  assert.equal(callSubject({ direction: "inbound" }, "Ann"), "Inbound call from Ann");
  assert.equal(callSubject({ direction: "outbound" }, "Ann"), "Outbound call to Ann");
  assert.equal(callSubject({ direction: "inbound", customSubject: "Mine" }, "Ann"), "Mine");
});

test("errors carry the WIT variant", () => {
  const missing = notFound("no contact 7");
  assert.ok(missing instanceof AdapterFailure);
  assert.deepEqual(missing.error, { tag: "not-found", val: "no contact 7" });
  assert.deepEqual(upstream(502, "bad gateway").error, {
    tag: "upstream",
    val: { status: 502, message: "bad gateway" },
  });
  assert.deepEqual(rateLimited(30, "slow down").error, {
    tag: "rate-limited",
    val: { retryAfterSeconds: 30, message: "slow down" },
  });
});

test("message subjects and lines follow App Connect", () => {
  // 2024-02-29T13:05:00Z
  const message = {
    type: "voicemail",
    creationTime: 1709211900000n,
    from: { phoneNumber: "+16505550100" },
    subject: "call me",
    attachments: [{ kind: "audio-recording", uri: "https://media.example/vm/1" }],
  };
  assert.equal(conversationSubject(message, "Ann"), "Voicemail from Ann - 2024-02-29");
  assert.equal(conversationSubject({ ...message, type: "sms" }, "Ann"), "SMS conversation with Ann - 2024-02-29");
  assert.equal(
    messageNoteLine(message),
    "13:05 UTC +16505550100: call me [AudioRecording: https://media.example/vm/1]",
  );
});
