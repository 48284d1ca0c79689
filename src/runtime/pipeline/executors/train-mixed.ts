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
import type { SequenceLogProb } from "../../models/tinyvlm/logprobs.ts";
import { defineExecutor, type ExecContext, NodeError, type StoredInput } from "../node-executor.ts";
import { type LoadedModel, modelAt } from "./inputs.ts";
import type { OfflinePair, OnlineAnswer, OnlinePolicy, OnlinePrompt } from "./online-options.ts";
import { onlineOptionsOf, onlineSettings } from "./online-settings.ts";
import { LOGPROBS_FILE, type PairLogProbs } from "./reference-logprobs.ts";
import { annotatorOf, finishOnline, loraNote, onlinePolicy, promptsOf, referenceName, startOnline, trainRounds } from "./train-online.ts";
import { checkPrecisionOnDevice } from "./training-settings.ts";

type LogProbPair = { chosen: SequenceLogProb; rejected: SequenceLogProb };

/** The reference model of a mixed phase, or null (reference: none). */
function mixedReferenceOf(ctx: ExecContext, reference: "precomputed" | "none" | "model", model: LoadedModel, modelInput: StoredInput): LoadedModel | null {
  if (reference === "none") return null;
  if (reference === "precomputed") return model;
  // reference: <model>: the lowering gives that model to the reference.logprobs node only; its entry names it.
  const stored = ctx.input("reference");
  const used = stored.info.inputs.find((i) => i.name === "model");
  if (!used) throw new NodeError(`${ctx.node.id}: the reference log-probs entry ${stored.dir} does not say which model it scored with`);
  if (used.key === modelInput.info.key) return model;
  const store = path.dirname(path.dirname(path.resolve(stored.dir)));
  const dir = path.join(store, used.key.slice(0, 2), used.key);
  if (!existsSync(dir))
    throw new NodeError(
      `${ctx.node.id}: the reference model ${used.node} (store entry ${used.key.slice(0, 12)}) is not in the store ${store}; run the graph again`,
    );
  return modelAt(dir, used.node);
}

/** The offline pairs of the "pairs" input; a mixed phase needs some to mix with. */
function offlineRecords(ctx: ExecContext, input: StoredInput): PairRecord[] {
  const data = readDataset(input.dir);
  if (data.kind !== "pairs") throw new NodeError(`${ctx.node.id}: ${input.node.id} holds ${data.kind}, not pairs`);
  const records = data.records as PairRecord[];
  if (records.length === 0) throw new NodeError(`${ctx.node.id}: ${input.node.id} holds no pairs to mix with online ones`);
  return records;
}

/**
 * Each offline pair's prompt: the prompts input's item of the same id when its text and image bytes match (a world of
 * another seed has the same ids and prompts but other images), else the pair's own item (`own`, as the policy takes it).
 */
function promptsOfPairs(
  records: readonly PairRecord[],
  own: readonly OnlinePrompt[],
  known: ReadonlyMap<string, OnlinePrompt>,
): {
  prompts: OnlinePrompt[];
  matched: number;
} {
  const sameImage = (a: Uint8Array | null, b: Uint8Array | null) => (a === null || b === null ? a === b : Buffer.compare(a, b) === 0);
  let matched = 0;
  const prompts = records.map((r, i) => {
    const mine = own[i] as OnlinePrompt;
    const found = known.get(r.item.id);
    if (found && found.item.prompt === r.item.prompt && sameImage(found.rgb, mine.rgb)) {
      matched++;
      return found;
    }
    return mine;
  });
  return { prompts, matched };
}

/** The offline pairs' reference log-probs from the reference node; any it lacks are scored here with the reference model. */
async function offlineLogProbs(
  ctx: ExecContext,
  policy: OnlinePolicy,
  records: readonly PairRecord[],
  own: readonly OnlinePrompt[],
): Promise<Map<string, LogProbPair>> {
  const refs = new Map<string, LogProbPair>();
  const refInput = ctx.inputs.find((i) => i.name === "reference");
  const file = refInput ? path.join(refInput.dir, LOGPROBS_FILE) : undefined;
  if (file && existsSync(file))
    for (const line of readFileSync(file, "utf8").split("\n"))
      if (line !== "") {
        const r = JSON.parse(line) as PairLogProbs;
        refs.set(r.id, r);
      }
  const missing = records.flatMap((r, i) => (refs.has(r.id) ? [] : [i]));
  if (missing.length === 0) return refs;
  const answers: OnlineAnswer[] = missing.flatMap((i) => {
    const r = records[i] as PairRecord;
    const prompt = own[i] as OnlinePrompt;
    return [
      { key: `${r.id}\u0000chosen`, prompt, answer: r.chosen },
      { key: `${r.id}\u0000rejected`, prompt, answer: r.rejected },
    ];
  });
  ctx.log.line(`${ctx.node.id}: ${missing.length} of ${records.length} offline pairs have no stored reference log-probs; scoring them now`);
  const scored = await policy.logProbs("reference", answers);
  for (const r of missing.map((i) => records[i] as PairRecord))
    refs.set(r.id, { chosen: scored.get(`${r.id}\u0000chosen`) as SequenceLogProb, rejected: scored.get(`${r.id}\u0000rejected`) as SequenceLogProb });
  return refs;
}

/** The offline pairs as the rounds draw them, with their reference log-probs (sum or mean, as `logps`; 0 reference-free). */
async function offlinePairs(
  ctx: ExecContext,
  policy: OnlinePolicy,
  records: readonly PairRecord[],
  logps: "sum" | "mean",
): Promise<{ offline: OfflinePair[]; matched: number }> {
  // The prompts input's items by id: the ground truth of each pair's prompt when the prompts have it.
  const known = new Map((await promptsOf(ctx.input("prompts").dir, policy)).map((x) => [x.item.id, x]));
  const own = await policy.prompts(records.map((r) => r.item));
  const { prompts, matched } = promptsOfPairs(records, own, known);
  const refs = policy.hasReference ? await offlineLogProbs(ctx, policy, records, own) : new Map<string, LogProbPair>();
  const pick = (lp: SequenceLogProb) => (logps === "sum" ? lp.sum : lp.mean);
  const offline = records.map((r, i) => {
    const ref = refs.get(r.id);
    return {
      id: r.id,
      prompt: prompts[i] as OnlinePrompt,
      chosen: r.chosen,
      rejected: r.rejected,
      refChosen: ref ? pick(ref.chosen) : 0,
      refRejected: ref ? pick(ref.rejected) : 0,
    };
  });
  return { offline, matched };
}

export const trainMixedExecutor = defineExecutor({
  ...nodeKind("train.mixed"),
  usesDevice: true,
  settings: (p) => ({ ...onlineSettings(p), reference: p.reference, p: p.p }),
  async run(ctx, s) {
    const { id, started, modelInput, model } = startOnline(ctx);
    const { device, lora } = s.training;
    const pairsInput = ctx.input("pairs");
    const records = offlineRecords(ctx, pairsInput);
    const runtime = await ctx.runtime(device);
    const reference = mixedReferenceOf(ctx, s.reference, model, modelInput);
    const { annotator, name } = await annotatorOf(ctx, s.annotator, device, runtime);
    const { budget, ...options } = onlineOptionsOf(id, s, annotator);
    checkPrecisionOnDevice(options, runtime, id);
    const policy = onlinePolicy(ctx, runtime, model, reference, s.training, options.seed);
    try {
      const { offline, matched } = await offlinePairs(ctx, policy, records, s.objective.logps);
      ctx.log.line(
        `${id}: ${options.rounds} rounds of ${options.promptsPerRound} pairs from ${pairsInput.node.id} (${matched} of ${records.length} prompts found in ` +
          `${ctx.input("prompts").node.id}); each kept with p = ${s.p}, else an online pair annotated by ${name}; at most ${budget.perRound} step${budget.perRound === 1 ? "" : "s"} per round${loraNote(lora)}`,
      );
      const { result, recent, progress } = await trainRounds(ctx, "mixed DPO", {
        policy,
        prompts: [],
        options: { ...options, mixed: { pairs: offline, p: s.p } },
      });
      const mean = (xs: readonly number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
      progress.finish(
        `${result.rows.length} steps · loss ${mean(recent.map((r) => r.loss)).toFixed(3)} · reward accuracy ${mean(recent.map((r) => r["rewards/accuracies"] as number)).toFixed(2)}`,
      );
      const sum = (f: (r: (typeof result.rounds)[number]) => number) => result.rounds.reduce((a, r) => a + f(r), 0);
      return {
        ...finishOnline(ctx, policy, result, started),
        p: s.p,
        offline_pairs: sum((r) => r.offline_pairs ?? 0),
        fallback_pairs: sum((r) => r.fallback_pairs ?? 0),
        annotator: name,
        reference: referenceName(reference, model),
      };
    } finally {
      await policy.close();
    }
  },
});
