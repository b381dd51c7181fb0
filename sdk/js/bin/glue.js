// The JavaScript glue componentize-js generates around an adapter, made
// cheaper before it is built in.
//
// componentize-js 0.23 generates its bindings with jco, and two of its
// habits cost every call dearly in SpiderMonkey's interpreter (there is no
// JIT inside a component):
// - it logs every import and export call through `_debugLog(...)`, which
//   prints only when `process.env.JCO_DEBUG` is set (never, inside a
//   component: StarlingMonkey has no `process`), yet builds an object
//   literal and a rest array and looks up `globalThis` each time;
// - it sizes every string it passes to the host with a loop over each
//   character (`_utf8AllocateAndEncode`), so storing a 1 KB record runs a
//   thousand iterations of interpreted code.
// `trimGlue` drops the first and encodes natively instead of the second:
// the same bytes in the same exact-size allocation. BENCHMARKS.md has what
// it saves.

/** Wrap componentize-js's splicer so the bindings it generates are
 * trimmed ({@link trimGlue}). Call before `componentize`. */
export async function trimGeneratedGlue() {
  // The module componentize-js itself imports, so the same object.
  const entry = import.meta.resolve("@bytecodealliance/componentize-js");
  const { splicer } = await import(new URL("../lib/spidermonkey-embedding-splicer.js", entry));
  const splice = splicer.spliceBindings;
  if (splice.trimmed) return;
  const trimmed = (...args) => {
    const spliced = splice(...args);
    return { ...spliced, jsBindings: trimGlue(spliced.jsBindings) };
  };
  trimmed.trimmed = true;
  splicer.spliceBindings = trimmed;
}

/** Generated bindings without their `_debugLog` calls and with strings
 * encoded natively. Each step leaves what it cannot match as it was. */
export function trimGlue(source) {
  return withNativeUtf8(withoutDebugLogs(source));
}

const ENCODER = "function _utf8AllocateAndEncode(s, realloc, memory) {";

/** jco's string encoder, as fast code does it: `TextEncoder.encode` (native)
 * sizes and encodes the string at once, where jco's loop counted each
 * character in the interpreter first. A lone surrogate is U+FFFD, three
 * bytes, in both. `codepoints`, which nothing in the glue reads, is gone. */
const NATIVE_ENCODER = `${ENCODER}
  if (typeof s !== 'string') {
    throw new TypeError('expected a string, received [' + typeof s + ']');
  }
  if (s.length === 0) { return { ptr: 1, len: 0 }; }
  const bytes = TEXT_ENCODER_UTF8.encode(s);
  const len = bytes.length;
  const ptr = realloc(0, 0, 1, len);
  new Uint8Array(memory.buffer, ptr, len).set(bytes);
  return { ptr, len };
}`;

/** `source` with jco's `_utf8AllocateAndEncode` replaced by
 * {@link NATIVE_ENCODER}, when it is the one this was written against. */
export function withNativeUtf8(source) {
  const start = source.indexOf(ENCODER);
  if (start < 0 || source.indexOf(ENCODER, start + 1) >= 0) return source;
  const end = closing(source, start + ENCODER.length - 1);
  if (end < 0) return source;
  const body = source.slice(start, end + 1);
  const expected = ["s.charCodeAt(i)", "TEXT_ENCODER_UTF8.encodeInto(", "realloc(0, 0, 1, len)"];
  if (!expected.every((part) => body.includes(part))) return source;
  const [before, after] = [source.slice(0, start), source.slice(end + 1)];
  if (before.includes("codepoints") || after.includes("codepoints")) return source;
  return before + NATIVE_ENCODER + after;
}

/** `source` without its `_debugLog(...);` statements. If one cannot be
 * matched exactly, `source` is returned whole: slower, never wrong. */
export function withoutDebugLogs(source) {
  const call = /^[ \t]*_debugLog\(/gm;
  let out = "";
  let from = 0;
  for (let found = call.exec(source); found !== null; found = call.exec(source)) {
    const open = found.index + found[0].length - 1;
    const close = closing(source, open);
    if (close < 0 || source[close + 1] !== ";") return source;
    out += source.slice(from, found.index);
    from = close + 2;
    if (source[from] === "\n") from += 1;
    call.lastIndex = from;
  }
  return out + source.slice(from);
}

/** The index of the bracket closing the one at `open`, skipping strings and
 * template literals; -1 when there is none. */
function closing(source, open) {
  const pairs = { "(": ")", "[": "]", "{": "}" };
  const expected = [];
  for (let i = open; i < source.length; i++) {
    const c = source[i];
    if (c === "'" || c === '"') {
      i = stringEnd(source, i, c);
    } else if (c === "`") {
      i = templateEnd(source, i);
    } else if (pairs[c]) {
      expected.push(pairs[c]);
    } else if (c === ")" || c === "]" || c === "}") {
      if (expected.pop() !== c) return -1;
      if (expected.length === 0) return i;
    }
    if (i < 0) return -1;
  }
  return -1;
}

/** The index of the quote ending the string that starts at `start`. */
function stringEnd(source, start, quote) {
  for (let i = start + 1; i < source.length; i++) {
    if (source[i] === "\\") i++;
    else if (source[i] === quote) return i;
    else if (source[i] === "\n") return -1;
  }
  return -1;
}

/** The index of the backtick ending the template literal at `start`. */
function templateEnd(source, start) {
  for (let i = start + 1; i < source.length; i++) {
    if (source[i] === "\\") {
      i++;
    } else if (source[i] === "`") {
      return i;
    } else if (source[i] === "$" && source[i + 1] === "{") {
      i = closing(source, i + 1);
      if (i < 0) return -1;
    }
  }
  return -1;
}
