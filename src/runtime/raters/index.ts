// The rater a `rate` stage uses, built from its declaration's node (kind and settings). Paths in settings
// (a command's program, a TypeScript module) are relative to the .align file's directory.
import path from "node:path";
import type { GraphNode } from "../../compiler/lower/graph.ts";
import type { RatingInfo } from "../prefdata/records.ts";
import { createCommandRater } from "./command.ts";
import { createGroundedRater } from "./grounded.ts";
import type { RaterRuntime } from "./types.ts";
import { createTypeScriptRater } from "./typescript.ts";

/** `onStderr` receives what a command rater's program writes to stderr (the run log shows it). */
export async function createRater(node: GraphNode, entryDir: string, onStderr?: (text: string) => void): Promise<RaterRuntime> {
  const p = node.params;
  const scale = p.scale as { min: number; max: number };
  const info: RatingInfo = { rater: node.id, kind: node.kind.replace("rater.", ""), aspects: p.aspects as string[], scale };
  switch (node.kind) {
    case "rater.grounded":
      return createGroundedRater(info);
    case "rater.command":
      return createCommandRater({
        info,
        argv: p.argv as string[],
        cwd: entryDir,
        env: (p.env ?? {}) as Record<string, string>,
        mode: p.mode as "listwise" | "pairwise" | "pointwise",
        timeoutSeconds: Number(p.timeout),
        retries: Number(p.retries),
        concurrency: Number(p.concurrency),
        onStderr,
      });
    case "rater.typescript":
      return createTypeScriptRater({
        info,
        module: path.resolve(entryDir, String(p.module)),
        exportName: String(p.export ?? "rate"),
        mode: p.mode as "listwise" | "pairwise" | "pointwise",
      });
    default:
      // The runner refuses kinds without an executor before anything runs, so this is a bug if reached.
      throw new Error(`${node.id}: raters of kind ${node.kind} are not run by this version of alignc (it runs grounded, command and typescript raters)`);
  }
}
