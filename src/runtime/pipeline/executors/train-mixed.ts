// train.mixed: mixed DPO (Amirloo et al.; src/runtime/pipeline/executors/online-rounds.ts, docs/online-dpo.md). Inputs: the initial
// policy ("model"), the offline pairs ("pairs"), the prompts ("prompts"), the annotator's rater node ("annotator")
// or online BDHS's similarity ("bdhs.similarity"), and the reference log-probs of the offline pairs ("reference",
// the phase's generated reference.logprobs node; absent with reference: none).
//
// Each round draws prompts_per_round offline pairs (seeded permutations of the pairs, one after the other); each
// keeps its offline pair with probability p, and otherwise is replaced by an online pair of the same prompt from the
// current policy (a prompt that makes no online pair keeps its offline pair, counted as a fallback). The prompt's
// world item (ground truth for the annotator, the answer BDHS rewrites) is the one of the prompts input with the
// same id, when there is one, else the pair's own item.
//
// The reference model for the online answers: the initial policy (reference: precomputed), or the model the
// reference.logprobs node scored with (reference: <model>; found through that entry's node.json in the store).
//
// With `lora` the phase trains adapters over the frozen initial policy, as train.online does (docs/lora.md).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { type PairRecord, readDataset } from "../../data/prefdata/records.ts";
import { loadCheckpoint } from "../../models/checkpoint.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import type { Example } from "../../models/tinyvlm/feeds.ts";
import { answerLogProbs, type SequenceLogProb } from "../../models/tinyvlm/logprobs.ts";
import { modelFromCheckpoint, type VlmModel } from "../../models/tinyvlm/model.ts";
import { type ExecContext, NodeError, type NodeExecutor, type StoredInput } from "../node-executor.ts";
import type { OfflinePair } from "./online-rounds.ts";
import { LOGPROBS_FILE, type PairLogProbs } from "./reference-logprobs.ts";
import { annotatorOf, finishOnline, loraNote, onlineOptionsOf, promptsOf, referenceName, startOnline, trainRounds } from "./train-online.ts";
import { checkPrecisionOnDevice } from "./training-settings.ts";

/** The reference model of a mixed phase, or null (reference: none). */
function mixedReferenceOf(ctx: ExecContext, model: VlmModel, modelInput: StoredInput): VlmModel | null {
  const r = ctx.node.params.reference ?? "precomputed";
  if (r === "none") return null;
  if (r === "precomputed") return model;
  if (r !== "model") throw new NodeError(`${ctx.node.id}: reference must be precomputed, none or a model, got ${JSON.stringify(r)}`);
  // reference: <model>: the lowering gives that model to the reference.logprobs node only; its entry names it.
  const reference = ctx.input("reference");
  const used = reference.info.inputs.find((i) => i.name === "model");
  if (!used) throw new NodeError(`${ctx.node.id}: the reference log-probs entry ${reference.dir} does not say which model it scored with`);
  if (used.key === modelInput.info.key) return model;
  const store = path.dirname(path.dirname(path.resolve(reference.dir)));
  const dir = path.join(store, used.key.slice(0, 2), used.key);
  if (!existsSync(dir))
    throw new NodeError(
      `${ctx.node.id}: the reference model ${used.node} (store entry ${used.key.slice(0, 12)}) is not in the store ${store}; run the graph again`,
    );
  return modelFromCheckpoint(loadCheckpoint(dir), `${used.node} (${dir})`);
}

export const trainMixedExecutor: NodeExecutor = {
  ...nodeKind("train.mixed"),
  usesDevice: true,
  async run(ctx) {
    const { p, id, lora, started, modelInput, model } = startOnline(ctx);
    const pairsInput = ctx.input("pairs");
    const data = readDataset(pairsInput.dir);
    if (data.kind !== "pairs") throw new NodeError(`${id}: ${pairsInput.node.id} holds ${data.kind}, not pairs`);
    const records = data.records as PairRecord[];
    if (records.length === 0) throw new NodeError(`${id}: ${pairsInput.node.id} holds no pairs to mix with online ones`);
    const pv = p.p ?? 0.5;
    if (typeof pv !== "number" || !(pv >= 0 && pv <= 1)) throw new NodeError(`${id}: p must be a fraction in [0, 1], got ${JSON.stringify(pv)}`);

    // The prompts input's items by id: the ground truth of each pair's prompt when the prompts have it.
    const prompts = new Map(promptsOf(ctx.input("prompts").dir, model).map((x) => [x.item.id, x]));
    const pairExamples = examplesOf(
      "",
      records.map((r) => r.item),
      model.config.imageSize,
    );
    let matched = 0;
    // A prompts item stands for a pair's prompt only when its id, text and image bytes all match (a world of another
    // seed has the same ids and prompts but other images); the offline pair always keeps its own image.
    const sameImage = (a: Uint8Array | null, b: Uint8Array | null) => (a === null || b === null ? a === b : Buffer.compare(a, b) === 0);
    const promptOf = (r: PairRecord, i: number) => {
      const own = pairExamples[i]?.rgb ?? null;
      const known = prompts.get(r.item.id);
      if (known && known.item.prompt === r.item.prompt && sameImage(known.rgb, own)) {
        matched++;
        return known;
      }
      return { item: r.item, rgb: own };
    };

    const runtime = await ctx.runtime(p.device);
    const reference = mixedReferenceOf(ctx, model, modelInput);
    const objectiveLogps = ((p.objective ?? {}) as { logps?: unknown }).logps === "mean" ? "mean" : "sum";
    const pick = (lp: SequenceLogProb) => (objectiveLogps === "sum" ? lp.sum : lp.mean);

    // Offline reference log-probs from the reference node; any it lacks are scored here with the reference model.
    const refs = new Map<string, { chosen: SequenceLogProb; rejected: SequenceLogProb }>();
    const refInput = ctx.inputs.find((i) => i.name === "reference");
    if (reference && refInput) {
      const file = path.join(refInput.dir, LOGPROBS_FILE);
      if (existsSync(file))
        for (const line of readFileSync(file, "utf8").split("\n"))
          if (line !== "") {
            const r = JSON.parse(line) as PairLogProbs;
            refs.set(r.id, r);
          }
    }
    const missing = reference ? records.flatMap((r, i) => (refs.has(r.id) ? [] : [i])) : [];
    if (reference && missing.length > 0) {
      const examples: Example[] = missing.flatMap((i) => {
        const r = records[i] as PairRecord;
        const rgb = pairExamples[i]?.rgb ?? null;
        return [
          { id: `${r.id}\u0000chosen`, prompt: r.item.prompt, answer: r.chosen, rgb },
          { id: `${r.id}\u0000rejected`, prompt: r.item.prompt, answer: r.rejected, rgb },
        ];
      });
      ctx.log.line(`${id}: ${missing.length} of ${records.length} offline pairs have no stored reference log-probs; scoring them now`);
      const scored = await answerLogProbs(runtime, reference, examples);
      for (const r of missing.map((i) => records[i] as PairRecord))
        refs.set(r.id, { chosen: scored.get(`${r.id}\u0000chosen`) as SequenceLogProb, rejected: scored.get(`${r.id}\u0000rejected`) as SequenceLogProb });
    }
    const offline: OfflinePair[] = records.map((r, i) => {
      const ref = refs.get(r.id);
      return {
        id: r.id,
        prompt: promptOf(r, i),
        chosen: r.chosen,
        rejected: r.rejected,
        refChosen: ref ? pick(ref.chosen) : 0,
        refRejected: ref ? pick(ref.rejected) : 0,
      };
    });

    const { annotator, name } = await annotatorOf(ctx, runtime);
    const { budget, ...options } = onlineOptionsOf(ctx, annotator);
    checkPrecisionOnDevice(options, runtime, ctx.node.id);
    ctx.log.line(
      `${id}: ${options.rounds} rounds of ${options.promptsPerRound} pairs from ${pairsInput.node.id} (${matched} of ${records.length} prompts found in ` +
        `${ctx.input("prompts").node.id}); each kept with p = ${pv}, else an online pair annotated by ${name}; at most ${budget.perRound} step${budget.perRound === 1 ? "" : "s"} per round${loraNote(lora)}`,
    );
    const { result, recent, progress } = await trainRounds(ctx, "mixed DPO", {
      runtime,
      model,
      prompts: [],
      options: { ...options, reference, mixed: { pairs: offline, p: pv }, lora },
    });
    const mean = (xs: readonly number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
    progress.finish(
      `${result.rows.length} steps · loss ${mean(recent.map((r) => r.loss)).toFixed(3)} · reward accuracy ${mean(recent.map((r) => r["rewards/accuracies"] as number)).toFixed(2)}`,
    );
    const sum = (f: (r: (typeof result.rounds)[number]) => number) => result.rounds.reduce((a, r) => a + f(r), 0);
    return {
      ...finishOnline(ctx, result, started),
      p: pv,
      offline_pairs: sum((r) => r.offline_pairs ?? 0),
      fallback_pairs: sum((r) => r.fallback_pairs ?? 0),
      annotator: name,
      reference: referenceName(reference, model),
    };
  },
};
