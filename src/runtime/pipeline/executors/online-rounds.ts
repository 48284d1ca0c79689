// Online and mixed DPO (Amirloo et al. 2024, arXiv:2407.02477; docs/online-dpo.md): rounds of
// sample → annotate → DPO steps, with the optimizer state carried from round to round in one TrainerPool.
//
// Round r = 1 … rounds:
//   1. Slots. Online: prompts_per_round prompts, in seeded permutations of the prompt set taken one after the other
//      (a pass ends → a fresh permutation), so every prompt is used once before any is used again. Mixed: as many
//      offline pairs, in the same way over the offline pairs; each keeps its offline pair with probability p and
//      otherwise asks for an online pair of its own prompt (its item).
//   2. Sampling policy. Every `refresh` rounds (rounds 1, 1 + refresh, …) the sampler is replaced by the current
//      policy (a fresh Generator on the trained weights, with its own seed); between refreshes it keeps sampling from
//      the weights it was given.
//   3. Online pairs.
//      - Annotator: `samples` responses per prompt from the sampler; the rater scores every response (its own mode:
//        listwise, pointwise, or pairwise — each response's score is then its mean over the comparisons it was in,
//        src/runtime/raters/protocol.ts); the score expression gives one number per response, and the prompt's pair
//        is best vs worst (pairIndices of pairing.ts with rejected: worst, ties: first, one pair per prompt): the
//        prompt is dropped when no response scores at least `margin` below the best (and strictly below it).
//      - Online BDHS: the sampler rewrites the ground truth's sentences from cut prefixes while it barely sees the
//        image (runBdhs, src/runtime/data/prefdata/bdhs.ts); chosen = the ground truth, rejected = its answer. Prompts
//        without a ground-truth answer make no pair.
//      In mixed DPO, a slot whose prompt made no online pair falls back to its offline pair (counted).
//   4. Reference log-probs of the new answers with the reference model (answerLogProbs); reference-free: 0.
//   5. DPO steps on the round's pairs through trainDpo with the shared pool: `steps` per round when set, else
//      ceil(epochs · pairs / (batch · accumulation)) (epochs default 1: one pass over the round's pairs). Batches are
//      filled from seeded permutations of the round's pairs taken one after the other, as offline DPO fills its last
//      batch, so a round that made fewer pairs than a batch holds repeats some of them in its one step; a round that
//      made no pair trains no step. Pairs are never kept for a later round (they would be off the policy by then).
//
// Per-round statistics (rounds.jsonl) and on every step row of the round:
//   objective/kl            mean over the round's policy-generated answers of log π_s(y|x) − log π_ref(y|x), the
//                           summed answer log-probs (with the final <eos>) under the sampling policy π_s and the
//                           reference, both scored by the log-prob program on the same tokens (so it is exactly 0
//                           while the sampler is the reference). With the annotator: every sampled response; with
//                           BDHS: every rejected answer (generated under masking, scored with the whole image).
//                           Not reported when training reference-free.
//   objective/scores        mean score (the score expression) of every sampled response (annotator only)
//   objective/scores_margin mean score(chosen) − score(rejected) over the round's online pairs (annotator only)
//   bdhs/similarity, bdhs/accepted  mean similarity of the rejected answers to the ground truth, share accepted (BDHS)
// and the time split: sampling (generation, with the programs it compiles; for BDHS everything but the similarity),
// annotating (rating and pairing; for BDHS the similarity), reference (log-probs for the reference and the KL),
// training (the DPO steps, with the programs they compile).
//
// LoRA (docs/lora.md): the policy builds its adapters once, before round 1, from the phase's seed (as offline DPO
// builds them), and trains them over the frozen base weights through every round, their AdamW state carried like the
// full model's. The sampler of a refresh is the current policy with its adapters (B = 0 at round 1, so round 1
// samples from exactly the initial model); the checkpoint carries the trained adapters.
//
// Determinism: every draw comes from the seed (prompt order, coins, sampler seeds, BDHS masks, data order per
// round), and the generators, raters (grounded) and trainer are deterministic on CPU, so the same settings give the
// same pairs, steps and metrics.
//
// Model families: everything above is the same for every model; what differs (sampling, log-probs, the DPO steps, the
// sampler's refresh, the checkpoint) is the OnlinePolicy's (online-options.ts): TinyVLM in online-tinyvlm.ts, Hugging
// Face decoders in online-hf.ts.

import { Rng } from "../../../util/random.ts";
import type { SequenceLogProb } from "../../models/tinyvlm/logprobs.ts";
import {
  type OfflinePair,
  type OnlineAnswer,
  OnlineError,
  type OnlineHooks,
  type OnlineOptions,
  type OnlinePolicy,
  type OnlinePrompt,
  type OnlineResult,
  type OnlineRoundStats,
  type OnlineStepMetrics,
  type RoundPair,
  roundSteps,
  type Slot,
} from "./online-options.ts";
import { annotatorPairs, bdhsPairs, type Made, nothingMade, type OnlinePair } from "./online-pairs.ts";

export * from "./online-options.ts";

/** Indices of `n` slots starting at `start`, through seeded permutations of `size` elements taken one after the other. */
export function cyclingOrder(size: number, start: number, n: number, seed: number, label: string): number[] {
  const out: number[] = [];
  const base = new Rng(seed);
  let pass = Math.floor(start / size);
  let at = start % size;
  while (out.length < n) {
    const rng = base.fork(`${label}/${pass}`);
    const perm = Array.from({ length: size }, (_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = Math.floor(rng.uniform() * (i + 1));
      [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
    }
    for (; at < size && out.length < n; at++) out.push(perm[at] as number);
    pass++;
    at = 0;
  }
  return out;
}

/** A 31-bit seed for `label`, derived from `seed`. */
const seedFor = (seed: number, label: string): number => new Rng(seed).fork(label).nextU32() & 0x7fffffff;

const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** What every round of a phase shares: the options, the policy, and the seed the sampler draws with since its last refresh. */
interface Phase {
  policy: OnlinePolicy;
  prompts: readonly OnlinePrompt[];
  o: OnlineOptions;
  hooks: OnlineHooks;
  /** Slots are drawn from this many prompts (mixed: offline pairs). */
  source: number;
  samplerSeed: number;
}

/**
 * Online DPO (or mixed DPO with `o.mixed`) of `policy`: `prompts` are the prompt set (ignored in mixed DPO, whose
 * slots are the offline pairs' prompts). Returns every step row and every round's statistics; the trained model is
 * the policy's (policy.save), and closing it is the caller's.
 */
export async function trainOnline(policy: OnlinePolicy, prompts: readonly OnlinePrompt[], o: OnlineOptions, hooks: OnlineHooks = {}): Promise<OnlineResult> {
  const source = o.mixed ? o.mixed.pairs.length : prompts.length;
  if (source === 0) throw new OnlineError(o.mixed ? "no offline pairs to draw from" : "no prompts to sample on");
  const phase: Phase = { policy, prompts, o, hooks, source, samplerSeed: 0 };
  const rows: OnlineStepMetrics[] = [];
  const rounds: OnlineRoundStats[] = [];
  let steps = 0;
  for (let r = 1; r <= o.rounds; r++) {
    const round = await runRound(phase, r);
    rows.push(...round.rows);
    steps += round.stats.steps;
    rounds.push(round.stats);
    hooks.onRound?.(round.stats);
  }
  if (steps === 0)
    throw new OnlineError(
      `no round made a preference pair, so nothing was trained${
        o.annotator.kind === "rater"
          ? `: a prompt whose ${o.samples} responses all score within margin ${o.annotator.margin} of the best (or all the same) makes none; raise samples or prompts_per_round, or lower margin`
          : ""
      }`,
    );
  return { rows, rounds };
}

/** Round r: refresh the sampler when due, make the online pairs, score them with the reference, train on the round's pairs. */
async function runRound(phase: Phase, r: number): Promise<{ stats: OnlineRoundStats; rows: OnlineStepMetrics[] }> {
  const { o, hooks } = phase;
  const started = performance.now();
  const refreshed = (r - 1) % o.refresh === 0;
  if (refreshed) {
    // The sampler becomes the current policy, with its own seed.
    await phase.policy.refresh();
    phase.samplerSeed = seedFor(o.seed, `online/sampler/${r}`);
  }
  // 1. Slots: prompts, or offline pairs with their coins.
  const slots = roundSlots(phase, r);
  // 2–3. Online pairs.
  hooks.onPhase?.(r, "sampling");
  const made = slots.online.length > 0 ? await onlinePairs(phase, slots.online, r) : nothingMade();
  // 4. Reference log-probs of the new answers, and the sampler's for the KL.
  hooks.onPhase?.(r, "reference");
  const scored = await scoreAnswers(phase, made);
  const assembled = roundPairs(phase, r, slots, made, scored.ref);
  const objective: Record<string, number> = {};
  if (scored.kl !== undefined) objective["objective/kl"] = scored.kl;
  for (const [k, v] of Object.entries(made.extra)) if (typeof v === "number") objective[k] = v;
  // 5. DPO steps.
  const trained = await trainRound(phase, r, assembled.pairs, objective);
  const stats: OnlineRoundStats = {
    round: r,
    prompts: slots.all.length,
    online_prompts: slots.online.length,
    ...(o.mixed ? { offline_pairs: assembled.offline, fallback_pairs: assembled.fallback } : {}),
    responses: made.responses,
    empty_responses: made.empty,
    unfinished_responses: made.unfinished,
    dropped: made.dropped,
    too_long: made.tooLong,
    online_pairs: made.pairs.length,
    pairs: assembled.pairs.length,
    steps: trained.steps,
    step: phase.policy.step,
    refreshed,
    ...objective,
    ...stepMeans(trained.rows),
    seconds: {
      sampling: made.sampling,
      annotating: made.annotating,
      reference: scored.seconds,
      training: trained.seconds,
      total: (performance.now() - started) / 1000,
    },
  };
  return { stats, rows: trained.rows };
}

/** A round's slots (k: its place in the round) and which of them ask for an online pair. */
interface RoundSlots {
  /** Index of each slot's prompt (mixed: offline pair) in the phase's source. */
  order: number[];
  /** Mixed: whether a slot keeps its offline pair by the coin. */
  keep: boolean[];
  all: Slot[];
  online: (Slot & { k: number })[];
}

function roundSlots(phase: Phase, r: number): RoundSlots {
  const { o, prompts } = phase;
  const order = cyclingOrder(phase.source, (r - 1) * o.promptsPerRound, o.promptsPerRound, o.seed, o.mixed ? "mixed/order" : "online/order");
  const coin = new Rng(o.seed).fork(`mixed/coin/${r}`);
  const keep = order.map(() => (o.mixed ? coin.uniform() < o.mixed.p : false));
  const all = order.map((index, k) => {
    const prompt = o.mixed ? (o.mixed.pairs[index] as OfflinePair).prompt : (prompts[index] as OnlinePrompt);
    return { key: `r${r}.${k}:${prompt.item.id}`, prompt };
  });
  const online = all.map((s, k) => ({ ...s, k })).filter((s) => !keep[s.k]);
  return { order, keep, all, online };
}

function onlinePairs(phase: Phase, slots: readonly Slot[], r: number): Promise<Made> {
  const { o, policy } = phase;
  return o.annotator.kind === "rater"
    ? annotatorPairs(policy, o.annotator, slots, o, phase.samplerSeed, r)
    : bdhsPairs(policy, o.annotator, slots, seedFor(o.seed, `online/bdhs/${r}`));
}

/** The reference's log-probs of every new answer, and the KL of the policy-generated ones (reference-free: neither). */
async function scoreAnswers(phase: Phase, made: Made): Promise<{ ref: Map<string, SequenceLogProb>; kl: number | undefined; seconds: number }> {
  const { policy } = phase;
  const t3 = performance.now();
  let ref = new Map<string, SequenceLogProb>();
  let kl: number | undefined;
  if (policy.hasReference && made.answers.size > 0) {
    ref = await policy.logProbs("reference", [...made.answers.values()]);
    const generated = made.generated.map((key) => made.answers.get(key) as OnlineAnswer);
    if (generated.length > 0) {
      const sampled = await policy.logProbs("sampler", generated);
      kl = mean(made.generated.map((key) => (sampled.get(key)?.sum as number) - (ref.get(key)?.sum as number)));
    }
  }
  return { ref, kl, seconds: (performance.now() - t3) / 1000 };
}

/** The round's pairs, in slot order: online pairs, and in mixed DPO the offline ones (kept, or fallen back to). */
function roundPairs(
  phase: Phase,
  r: number,
  slots: RoundSlots,
  made: Made,
  ref: ReadonlyMap<string, SequenceLogProb>,
): { pairs: RoundPair[]; offline: number; fallback: number } {
  const { o } = phase;
  const referenced = phase.policy.hasReference;
  const pick = (lp: SequenceLogProb | undefined): number => (lp ? (o.objective.logps === "sum" ? lp.sum : lp.mean) : 0);
  const online = new Map<number, OnlinePair>(made.pairs.map((p) => [slots.online[p.slot]?.k as number, p]));
  const pairs: RoundPair[] = [];
  let offline = 0;
  let fallback = 0;
  slots.all.forEach((s, k) => {
    const p = online.get(k);
    if (p) {
      pairs.push({
        id: `r${r}/${k}/online`,
        prompt: s.prompt,
        chosen: p.chosen,
        rejected: p.rejected,
        weight: 1,
        refChosen: pick(ref.get(p.chosenKey)),
        refRejected: pick(ref.get(p.rejectedKey)),
      });
      return;
    }
    if (!o.mixed) return;
    if (slots.keep[k]) offline++;
    else fallback++;
    const q = o.mixed.pairs[slots.order[k] as number] as OfflinePair;
    pairs.push({
      id: `r${r}/${k}/${q.id}`,
      prompt: q.prompt,
      chosen: q.chosen,
      rejected: q.rejected,
      weight: 1,
      refChosen: referenced ? q.refChosen : 0,
      refRejected: referenced ? q.refRejected : 0,
    });
  });
  return { pairs, offline, fallback };
}

/** The round's DPO steps through the phase's pool; every step row carries the round and its objective/* values. */
async function trainRound(
  phase: Phase,
  r: number,
  pairs: RoundPair[],
  objective: Readonly<Record<string, number>>,
): Promise<{ steps: number; rows: OnlineStepMetrics[]; seconds: number }> {
  const { o, policy } = phase;
  const n = roundSteps(o, pairs.length);
  const t4 = performance.now();
  const rows: OnlineStepMetrics[] = [];
  if (n > 0) {
    phase.hooks.onPhase?.(r, "training");
    const offset = policy.step;
    const perRound = o.promptsPerRound / phase.source;
    await policy.train(
      pairs,
      {
        objective: o.objective,
        batch: o.batch,
        accumulation: o.accumulation,
        steps: n,
        stepsPerRun: Math.min(n, o.stepsPerRun),
        optimizer: o.optimizer,
        schedule: o.schedule,
        clipNorm: o.clipNorm,
        ...(o.mixedPrecision ? { mixedPrecision: o.mixedPrecision } : {}),
        seed: seedFor(o.seed, `online/train/${r}`),
      },
      (run) => {
        const decorated = run.map((row) => {
          const out = row as OnlineStepMetrics;
          out.round = r;
          // Passes over the prompt set (mixed: over the offline pairs), as TRL counts online epochs.
          out.epoch = (r - 1 + (row.step - offset) / n) * perRound;
          Object.assign(out, objective);
          return out;
        });
        rows.push(...decorated);
        phase.hooks.onSteps?.(decorated);
      },
    );
  }
  return { steps: n, rows, seconds: (performance.now() - t4) / 1000 };
}

/** The mean loss, reward accuracy and margin over a round's steps (nothing when it trained none). */
function stepMeans(rows: readonly OnlineStepMetrics[]): Partial<OnlineRoundStats> {
  if (rows.length === 0) return {};
  return {
    loss: mean(rows.map((x) => x.loss)),
    "rewards/accuracies": mean(rows.map((x) => x["rewards/accuracies"] as number)),
    "rewards/margins": mean(rows.map((x) => x["rewards/margins"] as number)),
  };
}
