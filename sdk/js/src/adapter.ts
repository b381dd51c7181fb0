// `defineAdapter`: an adapter's operations as typed functions. Operations
// left out answer `unsupported`, and the manifest's `implements` lists
// exactly the ones given, so the host never instantiates the adapter for
// the others.

import { AdapterFailure, internal, unsupported } from "./errors.js";
import { log } from "./host.js";
import type {
  AdapterManifest,
  CallLogCreated,
  CallLogDetails,
  CallLogUpdated,
  Contact,
  CreateCallLogRequest,
  CreateContactRequest,
  CreateMessageLogRequest,
  FindContactByNameRequest,
  FindContactRequest,
  GetCallLogRequest,
  LoginRequest,
  MessageLogCreated,
  Operation,
  UpdateCallLogRequest,
  UpdateMessageLogRequest,
  UpsertCallDispositionRequest,
  UserInfo,
} from "./types.js";

/** A value, or a promise of it: an operation may be `async` (to `await
 * fetch`, for example). */
export type Awaitable<T> = T | Promise<T>;

/** Every operation of the WIT `adapter` interface. */
export interface Operations {
  getUserInfo(request: LoginRequest): Awaitable<UserInfo>;
  findContact(request: FindContactRequest): Awaitable<Contact[]>;
  findContactByName(request: FindContactByNameRequest): Awaitable<Contact[]>;
  createContact(request: CreateContactRequest): Awaitable<Contact>;
  createCallLog(request: CreateCallLogRequest): Awaitable<CallLogCreated>;
  getCallLog(request: GetCallLogRequest): Awaitable<CallLogDetails>;
  updateCallLog(request: UpdateCallLogRequest): Awaitable<CallLogUpdated>;
  upsertCallDisposition(request: UpsertCallDispositionRequest): Awaitable<void>;
  createMessageLog(request: CreateMessageLogRequest): Awaitable<MessageLogCreated>;
  updateMessageLog(request: UpdateMessageLogRequest): Awaitable<void>;
}

/** The manifest without `implements`, which `defineAdapter` works out. */
export type Manifest = Omit<AdapterManifest, "implements" | "allowedHosts"> & {
  allowedHosts?: string[];
};

/** What an adapter module defines: its manifest and the operations it
 * implements. */
export type AdapterDefinition = { manifest: Manifest } & Partial<Operations>;

/** The `adapter` export a component needs: every operation present. */
export type AdapterExport = { manifest(): AdapterManifest } & Operations;

/** Each operation's name in the WIT, in the order the WIT lists them. */
const OPERATIONS: ReadonlyArray<[keyof Operations, Operation]> = [
  ["getUserInfo", "get-user-info"],
  ["findContact", "find-contact"],
  ["findContactByName", "find-contact-by-name"],
  ["createContact", "create-contact"],
  ["createCallLog", "create-call-log"],
  ["getCallLog", "get-call-log"],
  ["updateCallLog", "update-call-log"],
  ["upsertCallDisposition", "upsert-call-disposition"],
  ["createMessageLog", "create-message-log"],
  ["updateMessageLog", "update-message-log"],
];

/**
 * The `adapter` export for a definition. Export it from the adapter's entry
 * module as `export const adapter = defineAdapter({...})`.
 *
 * An operation that throws anything but an {@link AdapterFailure} answers
 * `internal`, and the exception's stack goes to the host's log at `error`,
 * so the operator sees where it came from.
 */
export function defineAdapter(definition: AdapterDefinition): AdapterExport {
  const { manifest, ...operations } = definition;
  const implemented = OPERATIONS.filter(([name]) => operations[name] !== undefined);
  const full: AdapterManifest = {
    allowedHosts: [],
    ...manifest,
    implements: implemented.map(([, wit]) => wit),
  };
  const adapter: Record<string, unknown> = { manifest: () => full };
  for (const [name, wit] of OPERATIONS) {
    const handler = operations[name] as ((request: unknown) => unknown) | undefined;
    adapter[name] =
      handler === undefined
        ? () => {
            throw unsupported(`${manifest.platform} does not implement ${wit}`);
          }
        : guarded(wit, handler);
  }
  return adapter as unknown as AdapterExport;
}

/** `handler`, with any exception that is not an adapter error turned into
 * `internal` and logged with its stack. */
function guarded(operation: Operation, handler: (request: unknown) => unknown) {
  const fail = (e: unknown): never => {
    if (e instanceof AdapterFailure) throw e.error;
    const stack = e instanceof Error ? (e.stack ?? e.message) : String(e);
    log.error(`${operation} threw: ${e instanceof Error ? e.message : String(e)}\n${stack}`);
    throw internal(`${operation} failed: ${e instanceof Error ? e.message : String(e)}`).error;
  };
  return (request: unknown) => {
    try {
      const answer = handler(request);
      return answer instanceof Promise ? answer.catch(fail) : answer;
    } catch (e) {
      return fail(e);
    }
  };
}
