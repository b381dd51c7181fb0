// The host's imports, without their WIT version in the name: `kv` (the
// adapter's durable storage), `config` (the operator's settings) and `log`.

import * as rawKv from "switchboard:adapter/kv@0.2.0";
import * as rawConfig from "switchboard:adapter/config@0.2.0";
import { log as rawLog } from "switchboard:adapter/log@0.2.0";
import { internal } from "./errors.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Run a kv import; its failure becomes an `internal` adapter error. */
function storage<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    const payload = (e as { payload?: unknown }).payload ?? e;
    throw internal(`key-value storage: ${what}: ${String(payload)}`);
  }
}

/** The adapter's key-value storage. A call's writes are committed when the
 * call succeeds, together with what the host records for it. */
export const kv = {
  /** The bytes at `key`, or `undefined`. */
  get(key: string): Uint8Array | undefined {
    return storage(`get ${key}`, () => rawKv.get(key));
  },
  /** The UTF-8 text at `key`, or `undefined`. */
  getText(key: string): string | undefined {
    const bytes = kv.get(key);
    return bytes === undefined ? undefined : decoder.decode(bytes);
  },
  /** The JSON value at `key`, or `undefined`. */
  getJson<T>(key: string): T | undefined {
    const text = kv.getText(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw internal(`key-value storage: value at ${key} is not JSON: ${e}`);
    }
  },
  /** Store bytes or text at `key`. */
  set(key: string, value: Uint8Array | string): void {
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    storage(`set ${key}`, () => rawKv.set(key, bytes));
  },
  /** Store `value` as JSON at `key`. */
  setJson(key: string, value: unknown): void {
    kv.set(key, JSON.stringify(value));
  },
  /** Remove `key`; removing a missing key is not an error. */
  delete(key: string): void {
    storage(`delete ${key}`, () => rawKv.delete(key));
  },
  /** Atomically add `delta` to the counter at `key`; the new value. */
  increment(key: string, delta = 1): number {
    return Number(storage(`increment ${key}`, () => rawKv.increment(key, BigInt(delta))));
  },
};

/** The operator's settings for this adapter (`[config]` in its `.toml`). */
export const config = {
  /** The setting `key`, or `undefined`. */
  get(key: string): string | undefined {
    return rawConfig.get(key);
  },
};

/** Log lines, tagged by the host with the adapter and the request. Never
 * log credentials. */
export const log = {
  trace: (message: string) => rawLog("trace", message),
  debug: (message: string) => rawLog("debug", message),
  info: (message: string) => rawLog("info", message),
  warn: (message: string) => rawLog("warn", message),
  error: (message: string) => rawLog("error", message),
};
