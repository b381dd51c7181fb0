import assert from "node:assert/strict";
import { test } from "node:test";
import { AdapterFailure } from "@switchboard/adapter/errors";
import { signIn } from "../src/login.js";

test("an API key signs in and an empty one does not", () => {
  assert.equal(signIn({ tag: "api-key", val: "k-123" }).name, "Example User");
  assert.throws(
    () => signIn({ tag: "api-key", val: " " }),
    (e) => e instanceof AdapterFailure && e.tag === "unauthorized",
  );
});
