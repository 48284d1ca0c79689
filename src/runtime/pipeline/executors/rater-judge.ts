// rater.judge: `rater j = judge(model) { … }`, a likelihood judge (src/runtime/raters/judge.ts, docs/raters.md
// "Model judges"). Like the other rater nodes its entry holds rater.json (what it is: kind, id, params); a judge's
// also names its model's store entry, as a cosine similarity's similarity.json does: by the entry's path relative to
// the store root ("<kk>/<key>") and its key, resolved against the store that holds the rater entry, so the reference
// survives moving the store as a whole. The stages that use the rater (rate, evaluate's quality metric, online and
// mixed phases' annotator) load the model from there through createRater (src/runtime/pipeline/executors/create-rater.ts).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { judgeTemperatureProblem } from "../../raters/judge.ts";
import type { RaterMode } from "../../raters/protocol.ts";
import { defineExecutor, NodeError, type StoredInput, settingsOf } from "../node-executor.ts";
import { type LoadedModel, loadModelInput, modelAt, storedModelDir, storedModelRef } from "./inputs.ts";
import { RATER_FILE } from "./rater-node.ts";

export interface StoredJudge {
  format: "alignc-rater-judge";
  version: 1;
  kind: "rater.judge";
  id: string;
  params: Record<string, unknown>;
  /** The judge model's store entry: path relative to the store root, key, node id. */
  model: { entry: string; key: string; node: string };
}

/** A likelihood judge does not sample: the checker takes any temperature, the runtime refuses one other than 0. */
function checkTemperature(id: string, temperature: number): void {
  const problem = judgeTemperatureProblem(temperature);
  if (problem) throw new NodeError(`${id}: ${problem}`);
}

export const raterJudge = defineExecutor({
  ...nodeKind("rater.judge"),
  usesDevice: true,
  settings: (p): { aspects: string[]; scale: { min: number; max: number }; mode: RaterMode; temperature: number } => ({
    aspects: p.aspects,
    scale: p.scale,
    mode: p.mode,
    temperature: p.temperature,
  }),
  async run(ctx, { mode, temperature }) {
    checkTemperature(ctx.node.id, temperature);
    const input = ctx.input("model");
    const loaded = loadModelInput(input); // fails here, naming the model, rather than in the stage that uses the rater
    const stored: StoredJudge = {
      format: "alignc-rater-judge",
      version: 1,
      kind: "rater.judge",
      id: ctx.node.id,
      params: ctx.node.params,
      model: storedModelRef(input),
    };
    writeFileSync(path.join(ctx.out, RATER_FILE), `${JSON.stringify(stored, null, 2)}\n`);
    return loaded.family === "hf"
      ? { rater: "judge", model: input.node.id, mode, architecture: loaded.model.architecture, positions: loaded.model.config.maxPositionEmbeddings }
      : { rater: "judge", model: input.node.id, mode, imageSize: loaded.model.config.imageSize, textContext: loaded.model.config.textContext };
  },
});

/** The description stored in a judge's entry. */
export function readStoredJudge(input: StoredInput): StoredJudge {
  const file = path.join(input.dir, RATER_FILE);
  if (!existsSync(file)) throw new NodeError(`${input.node.id}: ${file} is missing; the input in role ${input.name} is not a stored rater`);
  const s = JSON.parse(readFileSync(file, "utf8")) as StoredJudge;
  if (s.format !== "alignc-rater-judge" || s.version !== 1)
    throw new NodeError(`${file}: not a judge description this alignc reads (format alignc-rater-judge, version 1)`);
  return s;
}

/** The judge model's entry directory, in the store that holds the judge's entry. */
export function judgeModelDir(input: StoredInput, s: StoredJudge): string {
  return storedModelDir(input, s.model);
}

/** The judge model a stored judge entry names (a TinyVLM or a Hugging Face decoder), with its node id, and the judge's mode. */
export function loadJudge(input: StoredInput): { model: LoadedModel; modelName: string; mode: RaterMode } {
  const { mode, temperature } = settingsOf(raterJudge, input.node);
  checkTemperature(input.node.id, temperature);
  const s = readStoredJudge(input);
  const dir = judgeModelDir(input, s);
  return { model: modelAt(dir, s.model.node), modelName: s.model.node, mode };
}
