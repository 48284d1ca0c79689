// eval.answers: one model answers every item of an evaluation set (one batched generation). The node's hash covers
// only the model, the data and the generation settings (max_tokens, temperature, seed, device), so an unchanged
// model's answers are computed once and reused by every evaluation, run and sweep trial that shares the store; the
// evaluation (eval.metrics) only scores them. Output: predictions.jsonl (id, task, prompt, reference answer,
// prediction, in the data's order); the summary says whether the model's context capped the answers.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { answerAll } from "../../models/tinyvlm/answer.ts";
import { defineExecutor } from "../node-executor.ts";
import { loadExamples, loadModel } from "./inputs.ts";

export const PREDICTIONS_FILE = "predictions.jsonl";

/** One line of predictions.jsonl. */
export interface PredictionLine {
  id: string;
  task: string;
  prompt: string;
  /** The data's reference answer. */
  answer: string;
  prediction: string;
}

/** The predictions an answers entry holds, in the data's order. */
export function readPredictions(entryDir: string): PredictionLine[] {
  return readFileSync(path.join(entryDir, PREDICTIONS_FILE), "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as PredictionLine);
}

export const evalAnswers = defineExecutor({
  ...nodeKind("eval.answers"),
  usesDevice: true,
  settings: (p) => ({ device: p.device, generation: { maxTokens: p.max_tokens, temperature: p.temperature, seed: p.seed } }),
  async run(ctx, { device, generation }) {
    const modelInput = ctx.input("model");
    const model = loadModel(modelInput);
    const { items, examples } = loadExamples(ctx.input("data"), model);
    const { maxTokens } = generation;
    const runtime = await ctx.runtime(device);
    const progress = ctx.log.progress(`${ctx.node.id}: ${modelInput.node.id} answering`, examples.length, "prompts");
    const run = await answerAll(runtime, model, examples, generation, (done) => progress.update(done));
    const capped = run.maxTokens < maxTokens;
    progress.finish(capped ? `answers capped at ${run.maxTokens} tokens by the model's context` : "");
    const lines = items.map((it) =>
      JSON.stringify({ id: it.id, task: it.task, prompt: it.prompt, answer: it.answer, prediction: run.answers.get(it.id)?.text ?? "" }),
    );
    writeFileSync(path.join(ctx.out, PREDICTIONS_FILE), `${lines.join("\n")}\n`);
    return { items: items.length, max_tokens: maxTokens, answer_tokens: run.maxTokens, capped_by_context: capped };
  },
});
