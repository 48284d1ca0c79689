// rater.grounded, rater.command, rater.typescript: a rater declaration is a node so that its settings and the
// code it runs are part of the keys of the stages that use it. Its entry holds only rater.json (what it is); the
// `rate` stage builds the rater from the node's settings (src/runtime/raters/index.ts). The key of a command or
// TypeScript rater covers the bytes of its program files, so editing the script rates again.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { GraphNode } from "../../../compiler/lower/graph.ts";
import type { NodeExecutor } from "./types.ts";

export const RATER_FILE = "rater.json";

/** Digest of the files a rater runs: argv entries (or the module) that name files relative to the .align file. */
function programDigest(node: GraphNode, entryDir: string): string {
  const h = createHash("sha256");
  const candidates = node.kind === "rater.command" ? ((node.params.argv as string[] | undefined) ?? []) : [String(node.params.module ?? "")];
  for (const arg of candidates) {
    const file = path.resolve(entryDir, arg);
    if (arg !== "" && existsSync(file) && statSync(file).isFile()) h.update(arg).update(readFileSync(file));
  }
  return h.digest("hex");
}

function raterNode(kind: string, external?: NodeExecutor["external"]): NodeExecutor {
  return {
    kind,
    version: 1,
    external,
    async run(ctx) {
      writeFileSync(path.join(ctx.out, RATER_FILE), `${JSON.stringify({ kind, id: ctx.node.id, params: ctx.node.params }, null, 2)}\n`);
      return { rater: kind.replace("rater.", "") };
    },
  };
}

export const raterGrounded = raterNode("rater.grounded");
export const raterCommand = raterNode("rater.command", programDigest);
export const raterTypeScript = raterNode("rater.typescript", programDigest);
