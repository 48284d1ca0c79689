// rater.grounded, rater.command, rater.typescript: a rater declaration is a node so that its settings and the
// code it runs are part of the keys of the stages that use it. Its entry holds only rater.json (what it is); the
// `rate` stage builds the rater from the node's settings (src/runtime/pipeline/executors/create-rater.ts). The key of a command or
// TypeScript rater covers the bytes of its program files (program-files.ts), so editing the script rates again.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { defineExecutor, type ExecContext } from "../node-executor.ts";
import { programDigest } from "./program-files.ts";

export const RATER_FILE = "rater.json";

/** The entry of a rater node: what it is, with its params as the graph gave them. */
async function writeRaterEntry(ctx: ExecContext): Promise<Record<string, unknown>> {
  const kind = ctx.node.kind;
  writeFileSync(path.join(ctx.out, RATER_FILE), `${JSON.stringify({ kind, id: ctx.node.id, params: ctx.node.params }, null, 2)}\n`);
  return { rater: kind.replace("rater.", "") };
}

/**
 * Version 2 (src/graph/node-kinds.ts): the coherence aspect's broken-word rule changed
 * (src/runtime/raters/grounded.ts). The version is part of the rater node's hash, so every stage that rates with a
 * grounded rater (rate, best, online annotators, an evaluation's `rater`) has a new key and rates again.
 */
export const raterGrounded = defineExecutor({
  ...nodeKind("rater.grounded"),
  settings: (p) => ({ aspects: p.aspects, scale: p.scale }),
  run: writeRaterEntry,
});

export const raterCommand = defineExecutor({
  ...nodeKind("rater.command"),
  settings: (p) => ({
    argv: p.argv,
    aspects: p.aspects,
    scale: p.scale,
    mode: p.mode,
    timeoutSeconds: p.timeout,
    retries: p.retries,
    concurrency: p.concurrency,
    env: p.env,
    files: p.files ?? [],
  }),
  /** Digest of the files the program runs: its argv's files and `files`. */
  external: (settings, entryDir) => programDigest(settings.argv, settings.files, entryDir),
  run: writeRaterEntry,
});

export const raterTypeScript = defineExecutor({
  ...nodeKind("rater.typescript"),
  settings: (p) => ({ module: p.module, exportName: p.export, aspects: p.aspects, scale: p.scale, mode: p.mode }),
  /** Digest of the TypeScript module. */
  external: (settings, entryDir) => programDigest([], [settings.module], entryDir),
  run: writeRaterEntry,
});
