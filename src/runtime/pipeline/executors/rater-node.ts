// rater.grounded, rater.command, rater.typescript: a rater declaration is a node so that its settings and the
// code it runs are part of the keys of the stages that use it. Its entry holds only rater.json (what it is); the
// `rate` stage builds the rater from the node's settings (src/runtime/pipeline/executors/create-rater.ts). The key of a command or
// TypeScript rater covers the bytes of its program files (program-files.ts), so editing the script rates again.
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { GraphNode } from "../../../graph/graph.ts";
import { nodeKind } from "../../../graph/node-kinds.ts";
import type { NodeExecutor } from "../node-executor.ts";
import { programDigest } from "./program-files.ts";

export const RATER_FILE = "rater.json";

/** Digest of the files a rater runs: its program's argv files and `files`, or its TypeScript module. */
function raterDigest(node: GraphNode, entryDir: string): string {
  const files = Array.isArray(node.params.files) ? (node.params.files as unknown[]) : [];
  return node.kind === "rater.command"
    ? programDigest((node.params.argv as unknown[] | undefined) ?? [], files, entryDir)
    : programDigest([], [node.params.module], entryDir);
}

function raterNode(kind: "rater.grounded" | "rater.command" | "rater.typescript", external?: NodeExecutor["external"]): NodeExecutor {
  return {
    ...nodeKind(kind),
    external,
    async run(ctx) {
      writeFileSync(path.join(ctx.out, RATER_FILE), `${JSON.stringify({ kind, id: ctx.node.id, params: ctx.node.params }, null, 2)}\n`);
      return { rater: kind.replace("rater.", "") };
    },
  };
}

/**
 * Version 2 (src/graph/node-kinds.ts): the coherence aspect's broken-word rule changed
 * (src/runtime/raters/grounded.ts). The version is part of the rater node's hash, so every stage that rates with a
 * grounded rater (rate, best, online annotators, an evaluation's `rater`) has a new key and rates again.
 */
export const raterGrounded = raterNode("rater.grounded");
export const raterCommand = raterNode("rater.command", raterDigest);
export const raterTypeScript = raterNode("rater.typescript", raterDigest);
