import assert from "node:assert/strict";
import { test } from "node:test";
import { AdapterFailure } from "@switchboard/adapter/errors";
import { composeBody, parseBody, plainText } from "../src/body.js";
import { failure } from "../src/failures.js";
import { northAmericanDigits, phoneFilterGroups } from "../src/phone.js";

const headers = (entries: Record<string, string>) => ({
  get: (name: string) => entries[name.toLowerCase()] ?? null,
});

test("a body parses back to what composed it, markup in the note included", () => {
  const parts = {
    agentNote: "Asked for <b>a quote</b> & a call\nback Monday",
    result: "Accepted",
    durationSeconds: 65,
    recordingLink: "https://media.example/r?a=1&b=2",
    aiNote: "Customer wants </li> pricing",
    transcript: "Hi.\nHello.",
  };
  const html = composeBody(parts);
  assert.ok(html.startsWith("<p>Asked for &lt;b&gt;a quote&lt;/b&gt; &amp; a call<br>back Monday</p>"));
  assert.ok(html.includes("<li><b>Duration</b>: 1 minute, 5 seconds</li>"));
  const { agentNote, result, aiNote, transcript } = parts;
  assert.deepEqual(parseBody(html), { agentNote, result, aiNote, transcript });
  assert.deepEqual(parseBody(composeBody({ durationSeconds: 0 })), {});
  assert.equal(
    plainText(composeBody({ agentNote: "a<b", result: "Missed", durationSeconds: 0 })),
    "a<b\n- Result: Missed\n- Duration: 0 seconds\n",
  );
});

test("HubSpot's errors become adapter errors, with the wait its limit implies", () => {
  const rolling = failure(
    429,
    headers({ "x-hubspot-ratelimit-interval-milliseconds": "10000" }),
    { message: "You have reached your ten_secondly_rolling limit.", policyName: "TEN_SECONDLY_ROLLING" },
  );
  assert.ok(rolling instanceof AdapterFailure);
  assert.deepEqual(rolling.error, {
    tag: "rate-limited",
    val: { retryAfterSeconds: 10, message: "HubSpot: You have reached your ten_secondly_rolling limit." },
  });
  const told = failure(429, headers({ "retry-after": "3" }), { policyName: "DAILY" });
  assert.equal((told.val as { retryAfterSeconds?: number }).retryAfterSeconds, 3);
  const daily = failure(429, headers({}), { policyName: "DAILY" });
  assert.equal((daily.val as { retryAfterSeconds?: number }).retryAfterSeconds, undefined);
  assert.equal(failure(401, headers({}), { message: "expired" }).tag, "unauthorized");
  assert.equal(failure(404, headers({}), {}).tag, "not-found");
  assert.deepEqual(failure(400, headers({}), { message: "bad", correlationId: "c-1" }).error, {
    tag: "upstream",
    val: { status: 400, message: "HubSpot: bad (correlationId c-1)" },
  });
});

test("a North American number is searched as typed and by its ten digits", () => {
  assert.equal(northAmericanDigits("+1 (650) 444-5566"), "6504445566");
  assert.equal(northAmericanDigits("+442071234567"), undefined);
  const values = phoneFilterGroups("+16504445566").map((g) => [
    g.filters[0].propertyName,
    g.filters[0].value,
  ]);
  assert.deepEqual(values, [
    ["phone", "+16504445566"],
    ["mobilephone", "+16504445566"],
    ["hs_searchable_calculated_phone_number", "6504445566"],
    ["hs_searchable_calculated_mobile_number", "6504445566"],
  ]);
  assert.equal(phoneFilterGroups("+442071234567").length, 2);
});
