// The rater a stage uses, built from its declaration's node (kind and settings). Paths in settings (a command's
// program, a TypeScript module) are relative to the .align file's directory. A `judge` rater also needs its stored
// entry (which names its model's store entry, src/runtime/pipeline/executors/rater-judge.ts) and an ONNX Runtime to score
// on: the caller passes them in `context`.
import path from "node:path";
import type { GraphNode } from "../../../graph/graph.ts";
import type { StderrSink } from "../../../util/stderr-sink.ts";
import type { RatingInfo } from "../../data/prefdata/records.ts";
import type { Runtime } from "../../engine/session.ts";
import { createCommandRater } from "../../raters/command.ts";
import { createGroundedRater } from "../../raters/grounded.ts";
import { createJudgeRater } from "../../raters/judge.ts";
import type { RaterRuntime } from "../../raters/types.ts";
import { createTypeScriptRater } from "../../raters/typescript.ts";
import { type StoredInput, settingsOf } from "../node-executor.ts";
import { loadJudge, raterJudge } from "./rater-judge.ts";
import { raterCommand, raterGrounded, raterTypeScript } from "./rater-node.ts";

/** What some kinds of rater need besides their node: a judge, its stored entry and a runtime. */
export interface RaterContext {
  /** The rater node's stored output (the stage's input in the rater's role). Needed by `judge`. */
  storedRater?: StoredInput;
  /** The runtime a `judge` scores on, or a function giving it (called only when a judge rates). */
  runtime?: Runtime | (() => Promise<Runtime>);
}

/** `onStderr` receives what a command rater's program writes to stderr (the run log shows it, capped per request: RunLog.stderrOf). */
export async function createRater(node: GraphNode, entryDir: string, onStderr?: StderrSink, context: RaterContext = {}): Promise<RaterRuntime> {
  const infoOf = (s: { aspects: string[]; scale: { min: number; max: number } }): RatingInfo => ({
    rater: node.id,
    kind: node.kind.replace("rater.", ""),
    aspects: s.aspects,
    scale: s.scale,
  });
  switch (node.kind) {
    case "rater.grounded":
      return createGroundedRater(infoOf(settingsOf(raterGrounded, node)));
    case "rater.command": {
      const { argv, env, mode, timeoutSeconds, retries, concurrency, ...s } = settingsOf(raterCommand, node);
      return createCommandRater({ info: infoOf(s), argv, cwd: entryDir, env, mode, timeoutSeconds, retries, concurrency, onStderr });
    }
    case "rater.typescript": {
      const s = settingsOf(raterTypeScript, node);
      return createTypeScriptRater({ info: infoOf(s), module: path.resolve(entryDir, s.module), exportName: s.exportName, mode: s.mode });
    }
    case "rater.judge": {
      const { storedRater, runtime } = context;
      if (!storedRater || !runtime)
        throw new Error(
          `internal error: ${node.id}: a judge rater is built from its stored entry and a runtime; the stage gave ${storedRater ? "no runtime" : "no stored entry"}`,
        );
      // Refuses temperature ≠ 0 and unknown modes, and fails naming the model when its entry is gone.
      const { model, modelName, mode } = loadJudge(storedRater);
      const { temperature, ...s } = settingsOf(raterJudge, node);
      return createJudgeRater({ info: infoOf(s), model, modelName, runtime, mode, temperature });
    }
    default:
      // The runner refuses kinds without an executor before anything runs, so this is a bug if reached.
      throw new Error(`${node.id}: raters of kind ${node.kind} are not run by this version of alignc (it runs grounded, command, typescript and judge raters)`);
  }
}
