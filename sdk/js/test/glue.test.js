// The build's trimming of componentize-js's generated glue (bin/glue.js).

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { trimGeneratedGlue, withNativeUtf8, withoutDebugLogs } from "../bin/glue.js";

test("each _debugLog statement goes, and nothing else", () => {
  const source = [
    "function f(a) {",
    "  _debugLog('[Instruction::CallWasm] enter', {",
    "    funcName: 'get',",
    "    paramCount: 2,",
    "  });",
    "  const r = g(a, ')');",
    '    _debugLog("ERROR: (expected {x})", { value: `${JSON.stringify({ a: "}" })}`, t: [1, 2] });',
    "  return r;",
    "}",
    "const _debugLog = (...args) => {};",
  ].join("\n");
  assert.equal(
    withoutDebugLogs(source),
    [
      "function f(a) {",
      "  const r = g(a, ')');",
      "  return r;",
      "}",
      "const _debugLog = (...args) => {};",
    ].join("\n"),
  );
});

test("a statement it cannot match leaves the source whole", () => {
  for (const source of [
    "_debugLog('unclosed', {\n",
    "_debugLog('no semicolon')\nx();\n",
    "_debugLog('crossed', { a: (1 }));\n",
  ]) {
    assert.equal(withoutDebugLogs(source), source);
  }
});

// jco's encoder, as componentize-js 0.23 generates it.
const JCO_ENCODER = `const TEXT_ENCODER_UTF8 = new TextEncoder();
function _utf8AllocateAndEncode(s, realloc, memory) {
  if (typeof s !== 'string') {
    throw new TypeError('expected a string, received [' + typeof s + ']');
  }
  if (s.length === 0) { return { ptr: 1, len: 0 }; }
  let len = 0;
  let codepoints = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    codepoints++;
    if (ch < 0x80) { len += 1; }
    else if (ch < 0x800) { len += 2; }
    else if (ch >= 0xd800 && ch <= 0xdbff &&
    i + 1 < s.length &&
    (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 4;
      i++;
    } else { len += 3; }
  }
  const ptr = realloc(0, 0, 1, len);
  const { read, written } = TEXT_ENCODER_UTF8.encodeInto(
  s,
  new Uint8Array(memory.buffer, ptr, len),
  );
  if (read !== s.length || written !== len) {
    throw new Error('failed to encode whole string');
  }
  const res = { ptr, len, codepoints };
  return res;
}
return _utf8AllocateAndEncode;`;

/** Run an encoder against a fake guest memory; what the host would read. */
function encodeWith(source, text) {
  const encode = new Function(source)();
  const memory = { buffer: new ArrayBuffer(4096) };
  let next = 8;
  const sizes = [];
  const realloc = (_old, _oldSize, _align, size) => {
    sizes.push(size);
    const ptr = next;
    next += size;
    return ptr;
  };
  const { ptr, len } = encode(text, realloc, memory);
  return { bytes: [...new Uint8Array(memory.buffer, ptr, len)], sizes };
}

test("strings are encoded natively into the same bytes and the same exact allocation", () => {
  const native = withNativeUtf8(JCO_ENCODER);
  assert.notEqual(native, JCO_ENCODER);
  assert.doesNotMatch(native, /charCodeAt/);
  const texts = ["", "plain", "Zoë — 電話 📞", "lone \ud800 surrogate", "x".repeat(1000)];
  for (const text of texts) {
    assert.deepEqual(encodeWith(native, text), encodeWith(JCO_ENCODER, text), text);
  }
});

test("an encoder other than jco's is left alone", () => {
  const other = JCO_ENCODER.replace("s.charCodeAt(i)", "s.codePointAt(i)");
  assert.equal(withNativeUtf8(other), other);
  const read = `${JCO_ENCODER}\nconst { codepoints } = x;`;
  assert.equal(withNativeUtf8(read), read);
});

test("the glue componentize-js generates for our WIT comes out trimmed", async () => {
  await trimGeneratedGlue();
  await trimGeneratedGlue(); // twice wraps once
  const entry = import.meta.resolve("@bytecodealliance/componentize-js");
  const { splicer } = await import(new URL("../lib/spidermonkey-embedding-splicer.js", entry));
  const engine = await readFile(new URL("../lib/starlingmonkey_embedding.wasm", entry));
  const wit = fileURLToPath(new URL("../wit", import.meta.url));
  const { jsBindings } = splicer.spliceBindings(
    engine,
    ["stdio", "random", "clocks", "http"],
    undefined,
    wit,
    "adapter-world",
    false,
  );
  // jco still defines the function; only its calls are gone.
  assert.match(jsBindings, /const _debugLog = /);
  assert.doesNotMatch(jsBindings, /_debugLog\(/);
  assert.match(jsBindings, /const bytes = TEXT_ENCODER_UTF8\.encode\(s\);/);
  assert.doesNotMatch(jsBindings, /charCodeAt/);
  assert.match(jsBindings, /function export_adapter_0_2_0\$createCallLog/);
});
