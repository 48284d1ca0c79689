// eval.answers: one model answers every item of an evaluation set (one batched generation). The node's hash covers
// only the model, the data and the generation settings (max_tokens, temperature, seed, device), so an unchanged
// model's answers are computed once and reused by every evaluation, run and sweep trial that shares the store; the
// evaluation (eval.metrics) only scores them. Output: predictions.jsonl (id, task, prompt, reference answer,
// prediction, in the data's order); the summary says whether the model's context capped the answers.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import type { Runtime } from "../../engine/session.ts";
import { HfGenerator } from "../../models/hf/generate.ts";
import type { HfModel } from "../../models/hf/model.ts";
import { imageOf, itemPromptIds } from "../../models/hf/prompts.ts";
import { answerAll } from "../../models/tinyvlm/answer.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import type { WorldItem } from "../../world/format.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";
import { loadItems, loadModelInput } from "./inputs.ts";

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
    const loaded = loadModelInput(modelInput);
    const data = ctx.input("data");
    const items = loadItems(data);
    const { maxTokens } = generation;
    const runtime = await ctx.runtime(device);
    const progress = ctx.log.progress(`${ctx.node.id}: ${modelInput.node.id} answering`, items.length, "prompts");
    const onBatch = (done: number) => progress.update(done);
    const run =
      loaded.family === "hf"
        ? await hfAnswerAll(runtime, loaded.model, items, generation, onBatch)
        : await answerAll(runtime, loaded.model, await examplesOf(data.dir, items, loaded.model.config.imageSize), generation, onBatch);
    const capped = run.maxTokens < maxTokens;
    progress.finish(capped ? `answers capped at ${run.maxTokens} tokens by the model's context` : "");
    const lines = items.map((it) =>
      JSON.stringify({ id: it.id, task: it.task, prompt: it.prompt, answer: it.answer, prediction: run.answers.get(it.id)?.text ?? "" }),
    );
    writeFileSync(path.join(ctx.out, PREDICTIONS_FILE), `${lines.join("\n")}\n`);
    return { items: items.length, max_tokens: maxTokens, answer_tokens: run.maxTokens, capped_by_context: capped };
  },
});

/** A Hugging Face model's answers (chat template for conversations; a vision-language model sees each item's image), as answerAll reports them. */
async function hfAnswerAll(
  runtime: Runtime,
  model: HfModel,
  items: readonly WorldItem[],
  g: { maxTokens: number; temperature: number; seed: number },
  onBatch: (done: number) => void,
): Promise<{ answers: Map<string, { text: string }>; maxTokens: number }> {
  const rows = items.map((item) => {
    if (item.image && !model.vision) throw new NodeError(`item ${item.id} has an image, and ${model.architecture} is a text model; evaluate it on text items`);
    return { promptIds: itemPromptIds(model, item), ...imageOf(model, item) };
  });
  const longest = Math.max(0, ...rows.map((r) => r.promptIds.length));
  const maxTokens = Math.max(0, Math.min(g.maxTokens, model.config.maxPositionEmbeddings - longest));
  const generator = new HfGenerator(runtime, model);
  try {
    const out = await generator.generate(rows, { maxTokens, temperature: g.temperature, seed: g.seed, roundTokens: 16 }, onBatch);
    return { answers: new Map(items.map((it, i) => [it.id, { text: (out[i] as { text: string }).text }])), maxTokens };
  } finally {
    await generator.close();
  }
}
