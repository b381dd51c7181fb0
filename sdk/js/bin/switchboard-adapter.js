#!/usr/bin/env node
// switchboard-adapter build ENTRY [-o OUT.wasm] [--wit DIR]
//   Bundles ENTRY (TypeScript or JavaScript, with its imports from npm)
//   into one ES module with esbuild, then makes it a component of the
//   `adapter-world` with componentize-js, whose generated glue is trimmed
//   first (./glue.js). The WIT is the one this SDK targets unless `--wit`
//   names another.
//
// switchboard-adapter test [DIR]
//   Runs the unit tests in DIR (default `test`), `*.test.ts` or
//   `*.test.js`, with node's test runner, after bundling each for node.
//   Code under test may import `@switchboard/adapter/errors` and
//   `@switchboard/adapter/notes`; the host's imports exist only in a
//   component.

import { componentize } from "@bytecodealliance/componentize-js";
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { trimGeneratedGlue } from "./glue.js";

const WORLD = "adapter-world";
const BUNDLED_WIT = fileURLToPath(new URL("../wit", import.meta.url));
const USAGE =
  "usage: switchboard-adapter build ENTRY [-o OUT.wasm] [--wit DIR] | switchboard-adapter test [DIR]";

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: "string", short: "o" },
      wit: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, entry] = positionals;
  if (command === "test" && !values.help) {
    return test(entry ?? "test");
  }
  if (values.help || command !== "build" || entry === undefined) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const out = resolve(values.out ?? `${basename(entry, extname(entry))}.wasm`);
  const wit = resolve(values.wit ?? BUNDLED_WIT);

  const work = await mkdtemp(join(tmpdir(), "switchboard-adapter-"));
  try {
    const bundle = join(work, "adapter.js");
    await build({
      entryPoints: [resolve(entry)],
      outfile: bundle,
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      // The host's interfaces are the component's imports.
      external: ["switchboard:*", "wasi:*"],
      logLevel: "warning",
    });
    await trimGeneratedGlue();
    const { component } = await componentize({
      sourcePath: bundle,
      witPath: wit,
      worldName: WORLD,
      // The adapter makes requests (fetch); it serves none.
      disableFeatures: ["fetch-event"],
    });
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, component);
    console.error(`built ${out} (${(component.length / 1048576).toFixed(1)} MiB)`);
    return 0;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function test(dir) {
  const files = (await readdir(dir)).filter((f) => /\.test\.(ts|js|mjs)$/.test(f));
  if (files.length === 0) {
    console.error(`switchboard-adapter: no *.test.ts or *.test.js in ${dir}`);
    return 1;
  }
  const work = await mkdtemp(join(tmpdir(), "switchboard-adapter-test-"));
  try {
    await build({
      entryPoints: files.map((f) => resolve(dir, f)),
      outdir: work,
      outExtension: { ".js": ".mjs" },
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      logLevel: "warning",
    });
    const bundles = (await readdir(work)).map((f) => join(work, f));
    return spawnSync(process.execPath, ["--test", ...bundles], { stdio: "inherit" }).status ?? 1;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`switchboard-adapter: ${error.message ?? error}`);
    process.exit(1);
  },
);
