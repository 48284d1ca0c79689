// train.online: online DPO and online BDHS (src/runtime/pipeline/executors/online-rounds.ts, docs/online-dpo.md). Inputs: the initial
// policy ("model"), the prompts ("prompts"), and either the annotator's rater node ("annotator") or the similarity
// of online BDHS ("bdhs.similarity"); with `reference: <model>` that model ("reference"). Each round the current
// policy samples, the annotator (or BDHS) makes pairs, and DPO steps on them with the optimizer state carried over.
// The output is the trained model as a checkpoint directory of its family, with metrics.jsonl (one row per step) and
// rounds.jsonl (one row per round: pairs, objective/*, the time split) beside it. With `lora` the phase trains
// adapters over the frozen initial policy (docs/lora.md); the checkpoint holds the merged weights and the adapter
// files, as train.dpo writes them. The model family's side of the rounds is its OnlinePolicy (onlinePolicy below).
//
// The helpers below are shared with train.mixed (train-mixed.ts).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import type { InputRef } from "../../../graph/params.ts";
import { itemOf, readDataset } from "../../data/prefdata/records.ts";
import { SampleError } from "../../data/prefdata/sample.ts";
import { ScoreError, type ScoreExpr } from "../../data/prefdata/score.ts";
import { SimilarityError } from "../../data/prefdata/similarity.ts";
import type { Runtime } from "../../engine/session.ts";
import { HfCheckpointError } from "../../models/hf/model.ts";
import { hfLoraOf } from "../../models/hf/train.ts";
import { LoraError, type LoraSettings } from "../../models/tinyvlm/adapters.ts";
import { RaterUnavailable } from "../../raters/protocol.ts";
import type { Progress } from "../log.ts";
import { defineExecutor, type ExecContext, NodeError, type StoredInput } from "../node-executor.ts";
import { createRater } from "./create-rater.ts";
import { type LoadedModel, loadModelInput } from "./inputs.ts";
import { HfPolicy } from "./online-hf.ts";
import {
  type OnlineAnnotator,
  OnlineError,
  type OnlineHooks,
  type OnlineOptions,
  type OnlinePolicy,
  type OnlinePrompt,
  type OnlineResult,
  type OnlineRoundStats,
  type OnlineStepMetrics,
  trainOnline,
} from "./online-rounds.ts";
import { type AnnotatorSettings, onlineOptionsOf, onlineSettings } from "./online-settings.ts";
import { TinyVlmPolicy } from "./online-tinyvlm.ts";
import { loadSimilarity } from "./similarity.ts";
import { writeMetrics } from "./training-progress.ts";
import { checkPrecisionOnDevice, explainingPrecision, type TrainingSettings, tinyVlmOnly } from "./training-settings.ts";

/** One JSON line per round: OnlineRoundStats. */
export const ROUNDS_FILE = "rounds.jsonl";

/**
 * The start of both online phases: the clock started, the initial policy ("model") loaded. (Their `lora` setting was
 * checked with the rest of their settings, before anything was loaded; settings they do not implement yet —
 * `checkpoint_every`: an online phase has no mid-phase checkpoints to resume from — are declared in
 * src/graph/node-kinds.ts and refused before anything runs: by `check` (ALN3021), and by runGraph.)
 */
export function startOnline(ctx: ExecContext): { id: string; started: number; modelInput: StoredInput; model: LoadedModel } {
  const started = performance.now();
  const modelInput = ctx.input("model");
  return { id: ctx.node.id, started, modelInput, model: loadModelInput(modelInput) };
}

/**
 * The model family's side of the rounds: a TinyVLM or a Hugging Face decoder as the policy, `reference` (of the same
 * family) scoring its answers, LoRA and recomputation as the phase's settings say, the adapters seeded by `seed`.
 */
export function onlinePolicy(
  ctx: ExecContext,
  runtime: Runtime,
  model: LoadedModel,
  reference: LoadedModel | null,
  training: TrainingSettings,
  seed: number,
): OnlinePolicy {
  if (reference && reference.family !== model.family)
    throw new NodeError(
      `${ctx.node.id}: the policy is a ${familyName(model)} and the reference a ${familyName(reference)}; log-probs compare only under one tokenizer, so give a reference of the policy's family`,
    );
  if (model.family === "hf")
    return new HfPolicy(runtime, model.model, (reference?.model as typeof model.model | undefined) ?? null, {
      ...(training.lora ? { lora: hfLoraOf(training.lora) } : {}),
      recompute: training.recompute,
      seed,
      scratch: ctx.scratch,
    });
  tinyVlmOnly(training);
  return new TinyVlmPolicy(runtime, model.model, (reference?.model as typeof model.model | undefined) ?? null, training.lora, seed);
}

const familyName = (m: LoadedModel) => (m.family === "hf" ? `Hugging Face ${m.model.architecture}` : "TinyVLM");

/** What the log says about LoRA, e.g. "; LoRA r = 128, α = 256 on q, v, projector trained fully (lr 2e-6)". */
export function loraNote(lora: LoraSettings | undefined): string {
  if (!lora) return "";
  return `; LoRA r = ${lora.rank}, α = ${lora.alpha} on ${lora.targets.join(", ")}${lora.projectorLr !== undefined ? `, projector trained fully (lr ${lora.projectorLr})` : ""}`;
}

/** The default score expression: the sum of the rater's aspects. */
export function sumOfAspects(aspects: readonly string[]): ScoreExpr {
  if (aspects.length === 0) throw new NodeError("the annotator has no aspects to score");
  const [first, ...rest] = aspects;
  let tree: ScoreExpr["tree"] = { op: "name", name: first as string };
  for (const a of rest) tree = { op: "+", left: tree, right: { op: "name", name: a } };
  return { text: aspects.join(" + "), tree };
}

/** The annotator (a rater, with its score and margin) or online BDHS (with its similarity), from the phase's settings. */
export async function annotatorOf(
  ctx: ExecContext,
  settings: AnnotatorSettings,
  device: string | undefined,
  runtime: Runtime,
): Promise<{ annotator: OnlineAnnotator; name: string }> {
  if (settings.kind === "bdhs") {
    const similarity = loadSimilarity(ctx.input(settings.input), runtime);
    return { name: `bdhs (${similarity.name})`, annotator: { kind: "bdhs", similarity, options: settings.options } };
  }
  const raterInput = ctx.input(settings.input);
  const raterNode = raterInput.node;
  const rater = await createRater(
    raterNode,
    ctx.entryDir,
    ctx.log.stderrOf(raterNode.id),
    // A model judge annotates on the phase's device.
    { storedRater: raterInput, runtime: () => ctx.runtime(device) },
  );
  const score = settings.score ?? sumOfAspects(rater.info.aspects);
  return { name: raterNode.id, annotator: { kind: "rater", rater, score, margin: settings.margin } };
}

/** The reference model for online answers: the initial policy (precomputed), none, or the model of the input it names. */
export function onlineReferenceOf(ctx: ExecContext, reference: "precomputed" | "none" | InputRef, model: LoadedModel): LoadedModel | null {
  if (reference === "none") return null;
  if (reference === "precomputed") return model;
  return loadModelInput(ctx.input(reference.input));
}

/** Prompts as the policy takes them (TinyVLM: images at its size), from a stored dataset of any kind (each record's item). */
export function promptsOf(dir: string, policy: OnlinePolicy): Promise<OnlinePrompt[]> {
  const dataset = readDataset(dir);
  return policy.prompts(dataset.records.map((r) => itemOf(dataset.kind, r)));
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
const fixed = (v: number | undefined, digits = 3): string => (v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits));

/** Progress over rounds (round, step, loss, accuracy, KL), metrics rows as they come, a log line per round. */
function onlineHooks(ctx: ExecContext, progress: Progress, rounds: number): OnlineHooks & { recent: OnlineStepMetrics[] } {
  const recent: OnlineStepMetrics[] = [];
  let done = 0;
  let last: Partial<OnlineStepMetrics> = {};
  const detail = (round: number, what: string) =>
    `round ${round}/${rounds} ${what} · step ${last.step ?? 0} · loss ${fixed(mean(recent.map((r) => r.loss)))} · acc ${fixed(
      mean(recent.map((r) => r["rewards/accuracies"] as number)),
      2,
    )} · kl ${fixed(last["objective/kl"])}`;
  return {
    recent,
    onPhase(round, phase) {
      progress.update(done, detail(round, phase));
    },
    onSteps(rows) {
      ctx.metrics(rows);
      recent.push(...rows);
      recent.splice(0, Math.max(0, recent.length - 20));
      last = rows.at(-1) ?? last;
      progress.update(done, detail(last.round ?? done + 1, "training"));
    },
    onRound(s: OnlineRoundStats) {
      done = s.round;
      if (s["objective/kl"] !== undefined) last = { ...last, "objective/kl": s["objective/kl"] };
      progress.update(done, detail(s.round, "done"));
      const t = s.seconds;
      ctx.log.detail(
        `${ctx.node.id}: round ${s.round}: ${s.pairs} pairs (${s.online_pairs} online), ${s.steps} steps, kl ${fixed(s["objective/kl"])}` +
          `${s["objective/scores"] !== undefined ? `, scores ${fixed(s["objective/scores"])}, margin ${fixed(s["objective/scores_margin"])}` : ""}; ` +
          `sampling ${t.sampling.toFixed(2)}s, annotating ${t.annotating.toFixed(2)}s, reference ${t.reference.toFixed(2)}s, training ${t.training.toFixed(2)}s`,
      );
      if (s.too_long > 0)
        ctx.log.line(`${ctx.node.id}: round ${s.round}: ${s.too_long} online pair(s) left out, an answer too long for the model's text context`);
      if (s.steps === 0) ctx.log.line(`${ctx.node.id}: round ${s.round} made no pair; it trained no step`);
    },
  };
}

/**
 * trainOnline under a progress line over the rounds ("<id>: <what>", left to the caller to finish), with the errors
 * whose message says what to change as NodeErrors; the result and the last 20 steps' rows.
 */
export async function trainRounds(
  ctx: ExecContext,
  what: string,
  train: { policy: OnlinePolicy; prompts: readonly OnlinePrompt[]; options: OnlineOptions },
): Promise<{ result: OnlineResult; recent: OnlineStepMetrics[]; progress: Progress }> {
  const progress = ctx.log.progress(`${ctx.node.id}: ${what}`, train.options.rounds, "rounds");
  const hooks = onlineHooks(ctx, progress, train.options.rounds);
  const result = await asNodeErrors(ctx.node.id, () =>
    explainingPrecision(train.options.mixedPrecision, ctx.node.id, () => trainOnline(train.policy, train.prompts, train.options, hooks)),
  );
  return { result, recent: hooks.recent, progress };
}

/** What the summary says of the reference model: the initial policy, another model, or none. */
export function referenceName(reference: LoadedModel | null, model: LoadedModel): string {
  return reference ? (reference === model ? "initial policy" : "model") : "none";
}

/** Runs `train` and turns the errors whose message says what to change into NodeErrors (shown without a stack). */
async function asNodeErrors<T>(id: string, train: () => Promise<T>): Promise<T> {
  try {
    return await train();
  } catch (e) {
    if (e instanceof RaterUnavailable) throw new NodeError(`${id}: the annotator cannot run: ${e.message}\n  fix the rater and run again.`, { cause: e });
    if (
      e instanceof OnlineError ||
      e instanceof ScoreError ||
      e instanceof SampleError ||
      e instanceof SimilarityError ||
      e instanceof LoraError ||
      e instanceof HfCheckpointError
    )
      throw new NodeError(`${id}: ${e.message}`, { cause: e });
    // runBdhs checks its options with RangeErrors that name the setting.
    if (e instanceof RangeError && e.message.startsWith("bdhs:")) throw new NodeError(`${id}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Writes the checkpoint (with LoRA, the adapter files beside the merged weights), metrics.jsonl and rounds.jsonl; the summary both phases report. */
export function finishOnline(ctx: ExecContext, policy: OnlinePolicy, result: OnlineResult, started: number): Record<string, unknown> {
  policy.save(ctx.out);
  writeMetrics(ctx.out, result.rows);
  writeFileSync(path.join(ctx.out, ROUNDS_FILE), result.rounds.map((r) => `${JSON.stringify(r)}\n`).join(""));
  const tail = result.rows.slice(-Math.min(result.rows.length, 20));
  const sum = (f: (r: OnlineRoundStats) => number) => result.rounds.reduce((a, r) => a + f(r), 0);
  const last = result.rounds.at(-1);
  const summary: Record<string, unknown> = {
    rounds: result.rounds.length,
    pairs: sum((r) => r.pairs),
    online_pairs: sum((r) => r.online_pairs),
    dropped: sum((r) => r.dropped),
    too_long: sum((r) => r.too_long),
    steps: result.rows.length,
    loss: mean(tail.map((r) => r.loss)),
    "rewards/accuracies": mean(tail.map((r) => r["rewards/accuracies"] as number)),
    "rewards/margins": mean(tail.map((r) => r["rewards/margins"] as number)),
  };
  for (const key of ["objective/kl", "objective/scores", "objective/scores_margin", "bdhs/similarity", "bdhs/accepted"] as const)
    if (last?.[key] !== undefined) summary[key] = last[key];
  const lora = policy.loraSummary();
  if (lora) summary.lora = lora;
  summary.seconds = {
    sampling: sum((r) => r.seconds.sampling),
    annotating: sum((r) => r.seconds.annotating),
    reference: sum((r) => r.seconds.reference),
    training: sum((r) => r.seconds.training),
    total: (performance.now() - started) / 1000,
  };
  return summary;
}

/** The prompts to sample on; online BDHS rewrites ground truths, so it skips prompts without one. */
async function promptsToSample(ctx: ExecContext, input: StoredInput, policy: OnlinePolicy, bdhs: boolean): Promise<OnlinePrompt[]> {
  const all = await promptsOf(input.dir, policy);
  const prompts = bdhs ? all.filter((x) => x.item.answer.trim() !== "") : all;
  if (prompts.length < all.length)
    ctx.log.line(`${ctx.node.id}: skipped ${all.length - prompts.length} prompt(s) without a ground-truth answer (online BDHS rewrites it)`);
  if (prompts.length === 0) throw new NodeError(`${ctx.node.id}: ${input.node.id} holds no prompts${bdhs ? " with a ground-truth answer" : ""} to sample on`);
  return prompts;
}

export const trainOnlineExecutor = defineExecutor({
  ...nodeKind("train.online"),
  usesDevice: true,
  settings: (p) => ({ ...onlineSettings(p), reference: p.reference }),
  async run(ctx, s) {
    const { id, started, model } = startOnline(ctx);
    const { device, lora } = s.training;
    const runtime = await ctx.runtime(device);
    const reference = onlineReferenceOf(ctx, s.reference, model);
    const { annotator, name } = await annotatorOf(ctx, s.annotator, device, runtime);
    const { budget, ...options } = onlineOptionsOf(id, s, annotator);
    checkPrecisionOnDevice(options, runtime, id);
    const policy = onlinePolicy(ctx, runtime, model, reference, s.training, options.seed);
    try {
      const promptsInput = ctx.input("prompts");
      const prompts = await asNodeErrors(id, () => promptsToSample(ctx, promptsInput, policy, s.annotator.kind === "bdhs"));
      ctx.log.line(
        `${id}: ${options.rounds} rounds of ${options.promptsPerRound} prompts from ${promptsInput.node.id}, annotated by ${name}; at most ${budget.perRound} step${budget.perRound === 1 ? "" : "s"} per round${loraNote(lora)}`,
      );
      const { result, recent: tail, progress } = await trainRounds(ctx, "online DPO", { policy, prompts, options });
      progress.finish(
        `${result.rows.length} steps · loss ${fixed(mean(tail.map((r) => r.loss)))} · reward accuracy ${fixed(mean(tail.map((r) => r["rewards/accuracies"] as number)), 2)} · kl ${fixed(result.rounds.at(-1)?.["objective/kl"])}`,
      );
      return { ...finishOnline(ctx, policy, result, started), annotator: name, reference: referenceName(reference, model) };
    } finally {
      await policy.close();
    }
  },
});
