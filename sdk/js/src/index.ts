// @switchboard/adapter: write a Switchboard adapter in TypeScript or
// JavaScript.
//
//     import { defineAdapter, kv, notFound } from "@switchboard/adapter";
//     export const adapter = defineAdapter({
//       manifest: { platform: "myCRM", displayName: "My CRM", version: "1.0.0",
//                   auth: { tag: "api-key" } },
//       getUserInfo(request) { ... },
//     });
//
// Reach the CRM with the global `fetch` (only hosts the manifest's
// `allowedHosts` names are reachable). Build with `switchboard-adapter build`.

export * from "./types.js";
export * from "./errors.js";
export * from "./host.js";
export * from "./notes.js";
export * from "./adapter.js";
