// train.online: online DPO and online BDHS (src/runtime/pipeline/executors/online-rounds.ts, docs/online-dpo.md). Inputs: the initial
// policy ("model"), the prompts ("prompts"), and either the annotator's rater node ("annotator") or the similarity
// of online BDHS ("bdhs.similarity"); with `reference: <model>` that model ("reference"). Each round the current
// policy samples, the annotator (or BDHS) makes pairs, and DPO steps on them with the optimizer state carried over.
// The output is the trained model as a checkpoint directory, with metrics.jsonl (one row per step) and rounds.jsonl
// (one row per round: pairs, objective/*, the time split) beside it. With `lora` the phase trains adapters over the
// frozen initial policy (docs/lora.md); the checkpoint holds the merged weights and the adapter files beside them, as
// train.dpo writes them.
//
// The helpers below are shared with train.mixed (train-mixed.ts).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import type { BdhsNoise } from "../../data/prefdata/bdhs.ts";
import { itemOf, readDataset } from "../../data/prefdata/records.ts";
import { SampleError } from "../../data/prefdata/sample.ts";
import { ScoreError, type ScoreExpr, scoreExprOf } from "../../data/prefdata/score.ts";
import type { CutUnit } from "../../data/prefdata/sentences.ts";
import { SimilarityError } from "../../data/prefdata/similarity.ts";
import type { Runtime } from "../../engine/session.ts";
import { LoraError, type LoraSettings } from "../../models/tinyvlm/adapters.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import type { VlmModel } from "../../models/tinyvlm/model.ts";
import { RaterUnavailable } from "../../raters/protocol.ts";
import type { Progress } from "../log.ts";
import { type ExecContext, NodeError, type NodeExecutor, type StoredInput } from "../node-executor.ts";
import { createRater } from "./create-rater.ts";
import { loadModel } from "./inputs.ts";
import {
  type OnlineAnnotator,
  OnlineError,
  type OnlineHooks,
  type OnlineOptions,
  type OnlinePrompt,
  type OnlineResult,
  type OnlineRoundStats,
  type OnlineStepMetrics,
  onlineStepBudget,
  pairsPerRoundAtMost,
  trainOnline,
} from "./online-rounds.ts";
import { loadSimilarity } from "./similarity.ts";
import { objectiveOf } from "./train-dpo.ts";
import { writeTrained } from "./training-progress.ts";
import { checkPrecisionOnDevice, explainingPrecision, loopOf, loraOf, optimizerOf, scheduleOf } from "./training-settings.ts";

/** One JSON line per round: OnlineRoundStats. */
export const ROUNDS_FILE = "rounds.jsonl";

type Params = Record<string, unknown>;

function number(p: Params, key: string, fallback: number, where = ""): number {
  const v = p[key] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new NodeError(`${where}${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * The start of both online phases: the `lora` setting checked before anything is loaded (undefined: every weight is
 * trained), the clock started, the initial policy ("model") loaded. Settings they do not implement yet
 * (`checkpoint_every`: an online phase has no mid-phase checkpoints to resume from) are declared in
 * src/graph/node-kinds.ts and refused before anything runs: by `check` (ALN3021), and by runGraph.
 */
export function startOnline(ctx: ExecContext): {
  p: Params;
  id: string;
  lora: LoraSettings | undefined;
  started: number;
  modelInput: StoredInput;
  model: VlmModel;
} {
  const p = ctx.node.params;
  const id = ctx.node.id;
  const lora = loraOf(p.lora);
  const started = performance.now();
  const modelInput = ctx.input("model");
  return { p, id, lora, started, modelInput, model: loadModel(modelInput) };
}

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

/** The annotator (a rater, with its score and margin) or online BDHS (with its similarity), from the phase's params. */
export async function annotatorOf(ctx: ExecContext, runtime: Runtime): Promise<{ annotator: OnlineAnnotator; name: string }> {
  const p = ctx.node.params;
  const id = ctx.node.id;
  if (p.bdhs !== undefined && p.annotator !== undefined) throw new NodeError(`${id}: set annotator (online DPO) or bdhs (online BDHS), not both`);
  if (p.bdhs !== undefined) {
    const b = (p.bdhs ?? {}) as Params;
    const cut = (b.cut ?? "words") as CutUnit;
    const noise = (b.noise ?? "latent") as BdhsNoise;
    if (!["tokens", "words", "characters"].includes(cut))
      throw new NodeError(`${id}: bdhs.cut must be tokens, words or characters, got ${JSON.stringify(cut)}`);
    if (!["latent", "pixels"].includes(noise)) throw new NodeError(`${id}: bdhs.noise must be latent or pixels, got ${JSON.stringify(noise)}`);
    const ref = b.similarity as { input?: unknown } | undefined;
    const input = ctx.input(typeof ref?.input === "string" ? ref.input : "bdhs.similarity");
    const similarity = loadSimilarity(input, runtime);
    const where = `${id}: bdhs.`;
    return {
      name: `bdhs (${similarity.name})`,
      annotator: {
        kind: "bdhs",
        similarity,
        options: {
          rho: number(b, "rho", 0.99, where),
          epsilon: number(b, "epsilon", 0.97, where),
          tries: number(b, "tries", 5, where),
          yesNoFlip: number(b, "yes_no_flip", 0.5, where),
          cut,
          noise,
          temperature: number(b, "temperature", 1, where),
          maxTokens: number(b, "max_tokens", 64, where),
        },
      },
    };
  }
  if (p.annotator === undefined) throw new NodeError(`${id}: needs an annotator (online DPO) or bdhs (online BDHS)`);
  const ref = p.annotator as { input?: unknown };
  const raterInput = ctx.input(typeof ref?.input === "string" ? ref.input : "annotator");
  const raterNode = raterInput.node;
  const rater = await createRater(
    raterNode,
    ctx.entryDir,
    ctx.log.stderrOf(raterNode.id),
    // A model judge annotates on the phase's device.
    { storedRater: raterInput, runtime: () => ctx.runtime(ctx.node.params.device) },
  );
  let score: ScoreExpr;
  try {
    score = p.score === undefined || p.score === null ? sumOfAspects(rater.info.aspects) : scoreExprOf(p.score);
  } catch (e) {
    if (e instanceof ScoreError) throw new NodeError(`${id}: ${e.message}`);
    throw e;
  }
  return { name: raterNode.id, annotator: { kind: "rater", rater, score, margin: number(p, "margin", 0, `${id}: `) } };
}

/** The reference model for online answers: the initial policy (precomputed), none, or the model in role `reference`. */
export function onlineReferenceOf(ctx: ExecContext, model: VlmModel): VlmModel | null {
  const r = ctx.node.params.reference ?? "precomputed";
  if (r === "none") return null;
  if (r === "precomputed") return model;
  if (typeof r === "object" && r !== null && typeof (r as { input?: unknown }).input === "string") return loadModel(ctx.input((r as { input: string }).input));
  throw new NodeError(`${ctx.node.id}: reference must be precomputed, none or a model, got ${JSON.stringify(r)}`);
}

/** Prompts with their images at the model's size, from a stored dataset of any kind (each record's item). */
export function promptsOf(dir: string, model: VlmModel): OnlinePrompt[] {
  const dataset = readDataset(dir);
  const items = dataset.records.map((r) => itemOf(dataset.kind, r));
  const examples = examplesOf("", items, model.config.imageSize);
  return items.map((item, i) => ({ item, rgb: examples[i]?.rgb ?? null }));
}

/**
 * The options every online phase shares (everything but `reference` and `mixed`), checked: a batch larger than the
 * pairs a round can make is an error before anything runs.
 */
export function onlineOptionsOf(
  ctx: ExecContext,
  annotator: OnlineAnnotator,
): Omit<OnlineOptions, "reference" | "mixed"> & { budget: { perRound: number; total: number } } {
  const p = ctx.node.params;
  const id = ctx.node.id;
  const where = `${id}: `;
  const rounds = number(p, "rounds", 1, where);
  const promptsPerRound = number(p, "prompts_per_round", 64, where);
  const batch = number(p, "batch", 16, where);
  const accumulation = number(p, "accumulation", 1, where);
  const most = pairsPerRoundAtMost({ promptsPerRound });
  if (batch * accumulation > most)
    throw new NodeError(
      `batch ${batch}${accumulation > 1 ? ` × accumulation ${accumulation}` : ""} is larger than the ${most} pairs a round of ${id} can make ` +
        `(prompts_per_round ${promptsPerRound}, at most one pair per prompt); lower batch or raise prompts_per_round`,
    );
  const loop = loopOf(p, most, `a round of ${id}`);
  const stepsPerRound = typeof p.steps === "number" ? p.steps : undefined;
  const epochs = typeof p.epochs === "number" ? p.epochs : 1;
  const budget = onlineStepBudget({ batch, accumulation, stepsPerRound, epochs, rounds, promptsPerRound });
  const topK = number(p, "top_k", 0, where);
  const topP = number(p, "top_p", 1, where);
  return {
    rounds,
    promptsPerRound,
    samples: number(p, "samples", 2, where),
    refresh: number(p, "refresh", 1, where),
    sampling: { temperature: number(p, "temperature", 1, where), topP, topK, maxTokens: number(p, "max_tokens", 64, where) },
    annotator,
    objective: objectiveOf(p.objective),
    batch,
    accumulation,
    ...(stepsPerRound !== undefined ? { stepsPerRound } : {}),
    epochs,
    stepsPerRun: loop.stepsPerRun,
    optimizer: optimizerOf(p.optimizer),
    schedule: scheduleOf(p.schedule, budget.total),
    clipNorm: loop.clipNorm,
    seed: loop.seed,
    ...(loop.mixedPrecision ? { mixedPrecision: loop.mixedPrecision } : {}),
    budget,
  };
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
  train: { runtime: Runtime; model: VlmModel; prompts: readonly OnlinePrompt[]; options: OnlineOptions },
): Promise<{ result: OnlineResult; recent: OnlineStepMetrics[]; progress: Progress }> {
  const progress = ctx.log.progress(`${ctx.node.id}: ${what}`, train.options.rounds, "rounds");
  const hooks = onlineHooks(ctx, progress, train.options.rounds);
  const result = await asNodeErrors(ctx.node.id, () =>
    explainingPrecision(train.options.mixedPrecision, ctx.node.id, () => trainOnline(train.runtime, train.model, train.prompts, train.options, hooks)),
  );
  return { result, recent: hooks.recent, progress };
}

/** What the summary says of the reference model: the initial policy, another model, or none. */
export function referenceName(reference: VlmModel | null, model: VlmModel): string {
  return reference ? (reference === model ? "initial policy" : "model") : "none";
}

/** Runs `train` and turns the errors whose message says what to change into NodeErrors (shown without a stack). */
async function asNodeErrors<T>(id: string, train: () => Promise<T>): Promise<T> {
  try {
    return await train();
  } catch (e) {
    if (e instanceof RaterUnavailable) throw new NodeError(`${id}: the annotator cannot run: ${e.message}\n  fix the rater and run again.`);
    if (e instanceof OnlineError || e instanceof ScoreError || e instanceof SampleError || e instanceof SimilarityError || e instanceof LoraError)
      throw new NodeError(`${id}: ${e.message}`);
    // runBdhs checks its options with RangeErrors that name the setting.
    if (e instanceof RangeError && e.message.startsWith("bdhs:")) throw new NodeError(`${id}: ${e.message}`);
    throw e;
  }
}

/** Writes the checkpoint (with LoRA, the adapter files beside the merged weights), metrics.jsonl and rounds.jsonl; the summary both phases report. */
export function finishOnline(ctx: ExecContext, result: OnlineResult, started: number): Record<string, unknown> {
  writeTrained(ctx.out, result.model, result.adapters, result.rows);
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
  if (result.adapters)
    summary.lora = {
      rank: result.adapters.settings.rank,
      alpha: result.adapters.settings.alpha,
      weights: result.adapters.weights.length,
      trainable_parameters: result.adapters.trainableParameters,
    };
  summary.seconds = {
    sampling: sum((r) => r.seconds.sampling),
    annotating: sum((r) => r.seconds.annotating),
    reference: sum((r) => r.seconds.reference),
    training: sum((r) => r.seconds.training),
    total: (performance.now() - started) / 1000,
  };
  return summary;
}

export const trainOnlineExecutor: NodeExecutor = {
  ...nodeKind("train.online"),
  usesDevice: true,
  async run(ctx) {
    const { p, id, lora, started, model } = startOnline(ctx);
    const promptsInput = ctx.input("prompts");
    let prompts = promptsOf(promptsInput.dir, model);
    if (p.bdhs !== undefined) {
      const all = prompts.length;
      prompts = prompts.filter((x) => x.item.answer.trim() !== "");
      if (prompts.length < all) ctx.log.line(`${id}: skipped ${all - prompts.length} prompt(s) without a ground-truth answer (online BDHS rewrites it)`);
    }
    if (prompts.length === 0)
      throw new NodeError(`${id}: ${promptsInput.node.id} holds no prompts${p.bdhs !== undefined ? " with a ground-truth answer" : ""} to sample on`);
    const runtime = await ctx.runtime(p.device);
    const { annotator, name } = await annotatorOf(ctx, runtime);
    const { budget, ...options } = onlineOptionsOf(ctx, annotator);
    checkPrecisionOnDevice(options, runtime, id);
    const reference = onlineReferenceOf(ctx, model);
    ctx.log.line(
      `${id}: ${options.rounds} rounds of ${options.promptsPerRound} prompts from ${promptsInput.node.id}, annotated by ${name}; at most ${budget.perRound} step${budget.perRound === 1 ? "" : "s"} per round${loraNote(lora)}`,
    );
    const { result, recent: tail, progress } = await trainRounds(ctx, "online DPO", { runtime, model, prompts, options: { ...options, reference, lora } });
    progress.finish(
      `${result.rows.length} steps · loss ${fixed(mean(tail.map((r) => r.loss)))} · reward accuracy ${fixed(mean(tail.map((r) => r["rewards/accuracies"] as number)), 2)} · kl ${fixed(result.rounds.at(-1)?.["objective/kl"])}`,
    );
    return { ...finishOnline(ctx, result, started), annotator: name, reference: referenceName(reference, model) };
  },
};
