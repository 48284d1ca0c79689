// reference.logprobs: the reference model's log-probs of every chosen and rejected answer of a DPO phase's pairs,
// computed once. Besides the node's own store entry (shared by every phase and trial with the same model and
// pairs), each answer's log-probs go to a per-model cache in the store, keyed by the content of what is scored
// (prompt, image bytes, answer): pairs that another pair set already scored are not scored again, and when every
// answer is cached the reference model is not even loaded.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { appendFileInside, mkdirInside } from "../../../util/safe-write.ts";
import { type PairRecord, readDataset } from "../../data/prefdata/records.ts";
import type { Runtime } from "../../engine/session.ts";
import { hfAnswerLogProbs } from "../../models/hf/logprobs.ts";
import type { HfModel } from "../../models/hf/model.ts";
import { scoredSequence } from "../../models/hf/prompts.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import type { Example } from "../../models/tinyvlm/feeds.ts";
import { answerLogProbs, type SequenceLogProb } from "../../models/tinyvlm/logprobs.ts";
import type { VlmModel } from "../../models/tinyvlm/model.ts";
import { defineExecutor, type ExecContext, NodeError, type StoredInput } from "../node-executor.ts";
import { loadModelInput } from "./inputs.ts";

export const LOGPROBS_FILE = "logprobs.jsonl";

/** One line of logprobs.jsonl: a pair of the `dataset`-th pairs input, and its two answers' log-probs. */
export interface PairLogProbs {
  dataset: number;
  id: string;
  chosen: SequenceLogProb;
  rejected: SequenceLogProb;
}

/**
 * How answers are scored: part of the cache file's name, so a change to the scoring (this version) or another
 * provider (CUDA rounds differently from the CPU) never reads values made the other way.
 */
export const SCORER = "logprobs-1";

/** The store's cache file of a model's answer log-probs (the store is the grandparent of every entry). */
export function logprobCacheFile(model: StoredInput, provider: string): string {
  return path.join(path.dirname(path.dirname(model.dir)), ".cache", "logprobs", `${model.info.key}.${SCORER}.${provider}.jsonl`);
}

function readCache(file: string): Map<string, SequenceLogProb> {
  const cache = new Map<string, SequenceLogProb>();
  if (!existsSync(file)) return cache;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    try {
      const e = JSON.parse(line) as { k?: unknown } & SequenceLogProb;
      if (typeof e.k === "string" && Number.isFinite(e.sum) && Number.isFinite(e.mean)) cache.set(e.k, { sum: e.sum, mean: e.mean, tokens: e.tokens });
    } catch {
      // A torn line (a kill mid-write) or an empty one: that answer is scored again.
    }
  }
  return cache;
}

export const referenceLogprobs = defineExecutor({
  ...nodeKind("reference.logprobs"),
  usesDevice: true,
  settings: (p) => ({ device: p.device }),
  async run(ctx, { device }) {
    const modelInput = ctx.input("model");
    // A dpo phase's variadic pairs are pairs[0], pairs[1], …; a mixed phase's one dataset is "pairs".
    const datasets = ctx.inputs.filter((i) => i.name === "pairs" || i.name.startsWith("pairs[")).map((i) => readDataset(i.dir));
    const imageDigest = new Map<string, string>();
    const digestOf = (image: string | null) => {
      if (!image) return "";
      let d = imageDigest.get(image);
      if (!d) {
        d = createHash("sha256").update(readFileSync(image)).digest("hex");
        imageDigest.set(image, d);
      }
      return d;
    };
    const keyOf = (p: PairRecord, answer: string) => {
      const h = createHash("sha256").update(p.item.prompt).update("\0").update(digestOf(p.item.image)).update("\0").update(answer);
      // A conversational prompt is scored through the model's chat template: the conversation is part of what is scored.
      if (p.item.messages) h.update("\0messages\0").update(JSON.stringify(p.item.messages));
      return h.digest("hex");
    };
    const rows: { dataset: number; pair: PairRecord; chosen: string; rejected: string }[] = [];
    datasets.forEach((d, i) => {
      if (d.kind !== "pairs") throw new NodeError(`reference log-probs need pairs, input ${i + 1} holds ${d.kind}`);
      for (const pair of d.records) rows.push({ dataset: i, pair, chosen: keyOf(pair, pair.chosen), rejected: keyOf(pair, pair.rejected) });
    });
    const runtime = await ctx.runtime(device);
    const cacheFile = logprobCacheFile(modelInput, runtime.options.provider ?? "cpu");
    const cache = readCache(cacheFile);
    // Every distinct answer not cached yet, once.
    const missing = new Map<string, { pair: PairRecord; answer: string; side: "chosen" | "rejected" }>();
    for (const r of rows) {
      if (!cache.has(r.chosen)) missing.set(r.chosen, { pair: r.pair, answer: r.pair.chosen, side: "chosen" });
      if (!cache.has(r.rejected)) missing.set(r.rejected, { pair: r.pair, answer: r.pair.rejected, side: "rejected" });
    }
    if (missing.size > 0) {
      const loaded = loadModelInput(modelInput);
      if (loaded.family === "hf") {
        await scoreHf(ctx, runtime, loaded.model, modelInput.node.id, [...missing], (key, lp) => {
          cache.set(key, lp);
          appendFileInside(storeRoot(cacheFile), cacheFile, `${JSON.stringify({ k: key, ...lp })}\n`);
        });
      } else await scoreTinyVlm(ctx, runtime, loaded.model, modelInput.node.id, [...missing], cache, cacheFile);
    } else ctx.log.line(`${ctx.node.id}: all ${rows.length * 2} answers' reference log-probs were cached; ${modelInput.node.id} was not loaded`);
    const out: PairLogProbs[] = rows.map((r) => ({
      dataset: r.dataset,
      id: r.pair.id,
      chosen: cache.get(r.chosen) as SequenceLogProb,
      rejected: cache.get(r.rejected) as SequenceLogProb,
    }));
    writeFileSync(path.join(ctx.out, LOGPROBS_FILE), out.map((l) => `${JSON.stringify(l)}\n`).join(""));
    return { pairs: rows.length, answers: rows.length * 2, computed: missing.size, cached: rows.length * 2 - missing.size, model_loaded: missing.size > 0 };
  },
});

type Missing = [key: string, { pair: PairRecord; answer: string; side: "chosen" | "rejected" }];

/** store/.cache/logprobs/ is inside the store: checked to stay there (src/util/safe-write.ts). */
function storeRoot(cacheFile: string): string {
  const root = path.dirname(path.dirname(path.dirname(cacheFile)));
  mkdirInside(root, path.dirname(cacheFile));
  return root;
}

/** The answers' log-probs under a Hugging Face model: TRL's prompt and answer ids (models/hf/prompts.ts), with the item's image on a vision-language model. */
async function scoreHf(
  ctx: ExecContext,
  runtime: Runtime,
  model: HfModel,
  name: string,
  entries: Missing[],
  scored: (key: string, lp: SequenceLogProb) => void,
): Promise<void> {
  const rows = entries.map(([, { pair, answer, side }]) => {
    if (pair.item.image && !model.vision) throw new NodeError(`pair ${pair.id} has an image, and ${name} (${model.architecture}) is a text model`);
    const row = scoredSequence(model, pair.item, answer);
    const tokens = row.promptIds.length + row.answerIds.length;
    if (tokens > model.config.maxPositionEmbeddings)
      throw new NodeError(
        `pair ${pair.id} (${side}): ${tokens} tokens exceed ${name}'s ${model.config.maxPositionEmbeddings} positions; filter such pairs out before the phase`,
      );
    return row;
  });
  const progress = ctx.log.progress(`${ctx.node.id}: reference log-probs with ${name}`, rows.length, "answers");
  await hfAnswerLogProbs(runtime, model, rows, { onBatch: (done) => progress.update(done), onScored: (i, lp) => scored((entries[i] as Missing)[0], lp) });
  progress.finish();
}

/** The answers' log-probs under a TinyVLM, each cached the moment it is scored. */
async function scoreTinyVlm(
  ctx: ExecContext,
  runtime: Runtime,
  model: VlmModel,
  name: string,
  entries: Missing[],
  cache: Map<string, SequenceLogProb>,
  cacheFile: string,
): Promise<void> {
  // Named by pair and side, so a problem (an answer too long for the context) names the pair to filter out.
  const items = entries.map(([key, { pair, answer, side }]) => ({ ...pair.item, id: `${pair.id} (${side}, ${key.slice(0, 8)})`, answer }));
  const keyOf = new Map(items.map((it, i) => [it.id, (entries[i] as Missing)[0]]));
  const examples: Example[] = await examplesOf("", items, model.config.imageSize);
  const progress = ctx.log.progress(`${ctx.node.id}: reference log-probs with ${name}`, examples.length, "answers");
  const root = storeRoot(cacheFile);
  try {
    await answerLogProbs(runtime, model, examples, {
      onBatch: (done) => progress.update(done),
      // Cached the moment it is scored (one append per line: concurrent trials interleave whole lines), so a
      // run killed half-way through scoring keeps what it scored.
      onScored(id, lp) {
        const key = keyOf.get(id) as string;
        cache.set(key, lp);
        appendFileInside(root, cacheFile, `${JSON.stringify({ k: key, ...lp })}\n`);
      },
    });
  } catch (e) {
    if (e instanceof Error && e.name === "FeedError")
      throw new NodeError(`${e.message}; filter such pairs out before the phase, e.g. filter(pairs) { where: chosen_words <= 30 and rejected_words <= 30 }`);
    throw e;
  }
  progress.finish();
}
