#!/usr/bin/env node
// Entry point for `npx alignc`. It runs the bundle `npm ci` builds (dist/, made by scripts/build.ts, npm's prepare
// script), which starts in a fraction of the time the TypeScript sources take through tsx (docs/performance.md, "CLI
// start-up") — but only while dist/ is current: dist/build.json lists every file the bundle was made from with its
// size, modification time and SHA-256, and when one differs (its contents, not just its time) or is gone, the sources
// run through tsx instead, after a one-line note to run `npm run build`. So a development checkout never silently runs
// old code.
//
// ALIGNC_FROM_SOURCE=1 always runs the sources, and so do the processes tests start (node --test sets
// NODE_TEST_CONTEXT): `npm test` tests the sources. ALIGNC_FROM_SOURCE=0 always runs dist/, and fails if it is stale.
// Stack traces from dist/ name its chunks; NODE_OPTIONS=--enable-source-maps maps them to the sources (dist/*.map),
// at some cost to start-up, which is why it is not on by default.
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";

const root = new URL("../", import.meta.url);

/** Why dist/ must not run, or undefined when it was built from the files as they are now. */
function staleReason() {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(new URL("dist/build.json", root), "utf8"));
  } catch {
    return "dist/ is not built";
  }
  if (stamp?.format !== 1 || typeof stamp.inputs !== "object" || typeof stamp.entry !== "string") return "dist/build.json is from another alignc";
  for (const [file, built] of Object.entries(stamp.inputs)) {
    const url = new URL(file, root);
    const now = statSync(url, { throwIfNoEntry: false });
    if (!now) return `${file} is gone since dist/ was built`;
    if (now.size === built.size && now.mtimeMs === built.mtimeMs) continue;
    if (now.size !== built.size || createHash("sha256").update(readFileSync(url)).digest("hex") !== built.sha256)
      return `${file} changed since dist/ was built`;
  }
  return undefined;
}

const choice = process.env.ALIGNC_FROM_SOURCE ?? (process.env.NODE_TEST_CONTEXT ? "1" : "");
const stale = choice === "1" ? "ALIGNC_FROM_SOURCE=1" : staleReason();
if (stale === undefined) {
  await import("../dist/alignc.js");
} else if (choice === "0") {
  process.stderr.write(`alignc: ALIGNC_FROM_SOURCE=0, but ${stale}; run \`npm run build\`\n`);
  process.exitCode = 2;
} else {
  if (choice !== "1") process.stderr.write(`alignc: ${stale}; running the TypeScript sources through tsx, slower to start (\`npm run build\` builds dist/)\n`);
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
