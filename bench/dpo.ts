// `npm run bench -- dpo`: preference training of a nano TinyVLM on CPU through the code paths the `dpo` phase uses:
//   pairs       a world of N prompts written with writeWorld, pairs = (ground truth, corruptItems' corrupted answer)
//   reference   answerLogProbs of every chosen and rejected answer with the initial model ("computed once")
//   train       trainDpo (sigmoid, β 0.1, summed log-probs, AdamW lr 1e-5 constant, clip 1), policy forward and
//               backward on chosen + rejected, the reference cached, for each batch × K (optimizer steps per ONNX
//               Runtime run); tokens count two sequences per pair, image tokens included, as trainDpo's
//               tokens_per_second does
//   online      rounds of online DPO (trainOnline, src/runtime/pipeline/executors/online-rounds.ts) on the world's prompts with the grounded
//               rater as annotator, each round's time split as trainOnline reports it: sampling (generation),
//               annotating (rating + pairing), reference (log-probs for the reference and the KL), training;
//               round 1 includes the generation, log-prob and training programs' compiles; later rounds compile only
//               programs of shapes not seen before (the sessions each round creates are counted)
// Per (batch, K), the training program's compile (program build, ONNX serialization, ONNX Runtime session) is timed
// apart, then one warm-up run, then the measured runs on the same TrainerPool. Prints tables, writes
// bench/results/dpo.json.
//
// The model: a trained checkpoint when one of CHECKPOINTS (bench/support.ts) exists, else a randomly initialised
// nano TinyVLM with a tokenizer trained on the world's text (what model.init makes), so the benchmark runs on a fresh
// clone.
//
// Options: --prompts N (128)  --batch B[,B…] (16,32)  --k K[,K…] (1,10,25)  --runs R (3)  --min-steps S (25: K=1
//          gets max(R, ⌈S/K⌉) runs)  --online-rounds R (3; 0: skip)  --model DIR | --random-init
//          --provider cpu|cuda (cpu)  --seed S (0)  --out FILE
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { PreferenceObjective } from "../src/models/layers/preference.ts";
import { imageTokens } from "../src/models/tinyvlm/config.ts";
import { dpoBatch, dpoLoss } from "../src/models/tinyvlm/dpo.ts";
import { CORRUPT_OPS, corruptItems } from "../src/runtime/data/prefdata/corrupt.ts";
import type { Provider } from "../src/runtime/engine/providers.ts";
import { Runtime } from "../src/runtime/engine/session.ts";
import { type DpoOptions, type DpoStepMetrics, trainDpo } from "../src/runtime/models/tinyvlm/dpo.ts";
import { type PairExample, pairLengths } from "../src/runtime/models/tinyvlm/dpo-feeds.ts";
import { examplesOf } from "../src/runtime/models/tinyvlm/examples.ts";
import type { Example } from "../src/runtime/models/tinyvlm/feeds.ts";
import { answerLogProbs } from "../src/runtime/models/tinyvlm/logprobs.ts";
import type { VlmModel } from "../src/runtime/models/tinyvlm/model.ts";
import { TrainerPool } from "../src/runtime/models/tinyvlm/train-loop.ts";
import { type OnlineOptions, type OnlineRoundStats, trainOnline } from "../src/runtime/pipeline/executors/online-rounds.ts";
import { TinyVlmPolicy } from "../src/runtime/pipeline/executors/online-tinyvlm.ts";
import { sumOfAspects } from "../src/runtime/pipeline/executors/train-online.ts";
import { createGroundedRater } from "../src/runtime/raters/grounded.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { adamw, type ScheduleConfig } from "../src/tensor/optim/types.ts";
import { buildTrainProgram } from "../src/tensor/program/train-program.ts";
import { fmt as f, GROUNDED, intOption, loadAverageText, median, printTable, repoRoot, round, setUp, timed, vlmReport, writeResults } from "./support.ts";

/** Li et al.'s objective, as in docs/preference-training.md. */
const OBJECTIVE: PreferenceObjective = { loss: "sigmoid", beta: 0.1, labelSmoothing: 0, logps: "sum", sftWeight: 0 };
const OPTIMIZER = adamw({ lr: 1e-5 });
const SCHEDULE: ScheduleConfig = { kind: "constant", warmupSteps: 0 };
const CLIP_NORM = 1;
const CORRUPT = { ops: CORRUPT_OPS, edits: 1, seed: 0 };
const REFERENCE_BATCH = 32;
/** Online DPO as the `online` phase's defaults have it (samples 2, prompts_per_round 64, refresh 1, margin 0), sampling as the prefdata bench. */
const ONLINE = { promptsPerRound: 64, samples: 2, refresh: 1, margin: 0, batch: 16, stepsPerRun: 25, temperature: 1, maxTokens: 48 };

function parse(args: string[]) {
  const o = {
    prompts: 128,
    batches: [16, 32],
    ks: [1, 10, 25],
    runs: 3,
    minSteps: 25,
    onlineRounds: 3,
    model: null as string | null,
    randomInit: false,
    provider: "cpu" as Provider,
    seed: 0,
    out: path.join(repoRoot, "bench/results/dpo.json"),
  };
  const int = (flag: string, v: string | undefined, min: number) => intOption("dpo", flag, v, min);
  const ints = (flag: string, v: string | undefined) => (v ?? "").split(",").map((x) => int(flag, x, 1));
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    if (flag === "--random-init") o.randomInit = true;
    else {
      i++;
      if (flag === "--prompts") o.prompts = int(flag, value, 1);
      else if (flag === "--batch") o.batches = ints(flag, value);
      else if (flag === "--k") o.ks = ints(flag, value);
      else if (flag === "--runs") o.runs = int(flag, value, 1);
      else if (flag === "--min-steps") o.minSteps = int(flag, value, 1);
      else if (flag === "--online-rounds") o.onlineRounds = int(flag, value, 0);
      else if (flag === "--seed") o.seed = int(flag, value, 0);
      else if (flag === "--model" && value) o.model = path.resolve(value);
      else if (flag === "--provider" && (value === "cpu" || value === "cuda")) o.provider = value;
      else if (flag === "--out" && value) o.out = path.resolve(value);
      else throw new Error(`dpo: unknown or incomplete option ${flag}`);
    }
  }
  return o;
}

interface TrainFigures {
  batch: number;
  k: number;
  length: number;
  tokens_per_step: number;
  compile: { build_seconds: number; serialize_seconds: number; session_seconds: number; seconds: number; onnx_bytes: number };
  /** The warm-up trainDpo call (one run of K steps); `session_reused` says whether it found the compiled session in the runtime's cache. */
  warmup: { seconds: number; run_seconds: number; session_reused: boolean; first_loss: number };
  runs: number;
  steps: number;
  /** Wall-clock of the measured trainDpo call (schedule, feed staging, ONNX Runtime runs). */
  seconds: number;
  /** Time inside ONNX Runtime runs (what trainDpo's tokens_per_second divides by). */
  run_seconds: number;
  steps_per_second: number;
  tokens_per_second: number;
  tokens_per_second_wall: number;
  run_tokens_per_second: { median: number; min: number; max: number };
  last_loss: number;
  last_reward_accuracy: number;
}

async function benchTrain(
  runtime: Runtime,
  model: VlmModel,
  pairs: readonly PairExample[],
  batch: number,
  k: number,
  runs: number,
  length: number,
  seed: number,
) {
  const tokensPerStep = 2 * batch * (length + imageTokens(model.config));
  const options = (steps: number): DpoOptions => ({
    objective: OBJECTIVE,
    batch,
    accumulation: 1,
    steps,
    stepsPerRun: k,
    optimizer: OPTIMIZER,
    schedule: SCHEDULE,
    clipNorm: CLIP_NORM,
    seed,
  });
  // Compile apart: the same spec trainDpo builds, its ONNX bytes and the session (cached by the runtime by content,
  // so the warm-up's trainer finds it when the bytes are the same).
  // The spec trainDpo's pool builds (TrainerPool.spec), so the compile timed here is the one the warm-up reuses.
  const spec = new TrainerPool(runtime, model).spec(options(k), dpoBatch(model.config, batch, length), k, dpoLoss(model.config, OBJECTIVE));
  const build = await timed(() => buildTrainProgram(spec));
  const serialized = await timed(() => serializeModel(build.value.builder.root));
  const sessionsBefore = runtime.size;
  const session = await timed(() => runtime.load(serialized.value));
  const sessionsAfterCompile = runtime.size;

  const runSeconds = (rows: DpoStepMetrics[]) => (tokensPerStep * rows.length) / ((rows[0]?.tokens_per_second as number) || Number.NaN);
  const pool = new TrainerPool(runtime, model);
  const warm = await timed(() => trainDpo(runtime, model, pairs, options(k), undefined, { pool }));
  const sessionReused = runtime.size === sessionsAfterCompile;

  const perRun: { rows: DpoStepMetrics[]; s: number }[] = [];
  const measured = await timed(() => trainDpo(runtime, model, pairs, options(k * runs), (rows) => perRun.push({ rows, s: runSeconds(rows) }), { pool }));
  const rows = measured.value.rows;
  const runS = perRun.reduce((a, r) => a + r.s, 0);
  const runTps = perRun.map((r) => (tokensPerStep * r.rows.length) / r.s);
  const tail = rows.slice(-Math.min(rows.length, 10));
  const mean = (key: string) => tail.reduce((a, r) => a + (r[key] ?? Number.NaN), 0) / tail.length;
  const figures: TrainFigures = {
    batch,
    k,
    length,
    tokens_per_step: tokensPerStep,
    compile: {
      build_seconds: round(build.s),
      serialize_seconds: round(serialized.s),
      session_seconds: round(session.s),
      seconds: round(build.s + serialized.s + session.s),
      onnx_bytes: serialized.value.length,
    },
    warmup: {
      seconds: round(warm.s),
      run_seconds: round(runSeconds(warm.value.rows)),
      session_reused: sessionReused && sessionsAfterCompile > sessionsBefore,
      first_loss: round(warm.value.rows[0]?.loss ?? Number.NaN, 5),
    },
    runs,
    steps: rows.length,
    seconds: round(measured.s),
    run_seconds: round(runS),
    steps_per_second: round(rows.length / runS, 3),
    tokens_per_second: round((tokensPerStep * rows.length) / runS, 1),
    tokens_per_second_wall: round((tokensPerStep * rows.length) / measured.s, 1),
    run_tokens_per_second: { median: round(median(runTps), 1), min: round(Math.min(...runTps), 1), max: round(Math.max(...runTps), 1) },
    last_loss: round(mean("loss"), 5),
    last_reward_accuracy: round(mean("rewards/accuracies"), 3),
  };
  return figures;
}

/** `rounds` rounds of online DPO with the grounded rater as annotator; trainOnline's per-round statistics. */
async function benchOnline(runtime: Runtime, model: VlmModel, items: readonly WorldItem[], rounds: number, seed: number) {
  const policy = new TinyVlmPolicy(runtime, model, model, undefined, seed);
  const prompts = await policy.prompts(items);
  const o: OnlineOptions = {
    rounds,
    promptsPerRound: ONLINE.promptsPerRound,
    samples: ONLINE.samples,
    refresh: ONLINE.refresh,
    sampling: { temperature: ONLINE.temperature, topP: 1, topK: 0, maxTokens: ONLINE.maxTokens },
    annotator: { kind: "rater", rater: createGroundedRater(GROUNDED), score: sumOfAspects(GROUNDED.aspects), margin: ONLINE.margin },
    objective: OBJECTIVE,
    batch: ONLINE.batch,
    accumulation: 1,
    stepsPerRun: ONLINE.stepsPerRun,
    optimizer: OPTIMIZER,
    schedule: SCHEDULE,
    clipNorm: CLIP_NORM,
    seed,
  };
  // ONNX Runtime sessions created in each round (generation, log-prob and training programs of new shapes).
  const sessions: number[] = [];
  let before = runtime.size;
  const result = await timed(() =>
    trainOnline(policy, prompts, o, {
      onRound() {
        sessions.push(runtime.size - before);
        before = runtime.size;
      },
    }).finally(() => policy.close()),
  );
  return { seconds: result.s, rounds: result.value.rounds, steps: result.value.rows.length, sessions };
}

export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  const load0 = os.loadavg();
  const tmp = mkdtempSync(path.join(os.tmpdir(), "alignc-bench-dpo-"));
  try {
    // ── setup: model, world, corrupted pairs ──
    const setup = await setUp("dpo", o, tmp);
    const { model, description, items } = setup;
    const c = model.config;
    const corrupted = await timed(() => corruptItems(items, CORRUPT));
    const rgbOf = new Map((await examplesOf("", items, c.imageSize)).map((e) => [e.id, e.rgb]));
    const candidates: PairExample[] = corrupted.value.pairs.map((p) => ({
      id: p.id,
      prompt: p.item.prompt,
      chosen: p.chosen,
      rejected: p.rejected,
      rgb: rgbOf.get(p.item.id) ?? null,
      weight: 1,
      refChosen: 0,
      refRejected: 0,
    }));
    // Pairs longer than the model's text context are dropped (trainDpo refuses them).
    const fits = candidates.filter((p) => {
      try {
        pairLengths(model, [p]);
        return true;
      } catch {
        return false;
      }
    });
    const length = Math.max(...pairLengths(model, fits));
    const runtime = new Runtime({ provider: o.provider });

    // ── reference log-probs: computed once, then a second time with the log-prob sessions cached ──
    const answers: Example[] = fits.flatMap((p) => [
      { id: `${p.id}/chosen`, prompt: p.prompt, answer: p.chosen, rgb: p.rgb },
      { id: `${p.id}/rejected`, prompt: p.prompt, answer: p.rejected, rgb: p.rgb },
    ]);
    const reference = await timed(() => answerLogProbs(runtime, model, answers, { batch: REFERENCE_BATCH }));
    const referenceAgain = await timed(() => answerLogProbs(runtime, model, answers, { batch: REFERENCE_BATCH }));
    const answerTokens = [...reference.value.values()].reduce((a, lp) => a + lp.tokens, 0);
    const pairs: PairExample[] = fits.map((p) => ({
      ...p,
      refChosen: reference.value.get(`${p.id}/chosen`)?.sum ?? Number.NaN,
      refRejected: reference.value.get(`${p.id}/rejected`)?.sum ?? Number.NaN,
    }));

    // ── training: every batch × K ──
    const train: TrainFigures[] = [];
    for (const batch of o.batches)
      for (const k of o.ks) {
        if (batch > pairs.length) throw new Error(`dpo: batch ${batch} is larger than the ${pairs.length} pairs; use more --prompts`);
        const runs = Math.max(o.runs, Math.ceil(o.minSteps / k));
        const t = await benchTrain(runtime, model, pairs, batch, k, runs, length, o.seed);
        train.push(t);
        console.log(`  batch ${batch}, K ${k}: ${t.steps} steps, ${t.tokens_per_second.toFixed(0)} tokens/s (compile ${t.compile.seconds.toFixed(2)} s)`);
      }
    // ── online DPO rounds (a fresh TinyVlmPolicy and its TrainerPool, the runtime's compiled sessions shared) ──
    const online = o.onlineRounds > 0 ? await benchOnline(runtime, model, items, o.onlineRounds, o.seed) : null;
    const load1 = os.loadavg();

    // ── report ──
    const stages: string[][] = [
      ...setup.stages,
      [
        "setup: pairs (corrupt)",
        `${corrupted.value.stats.pairs} pairs (${corrupted.value.stats.skipped} items skipped, ${candidates.length - fits.length} too long), padded length ${length}`,
        `${f(corrupted.s * 1000, 1)} ms`,
        "",
      ],
      [
        "reference, computed once",
        `${answers.length} answers (${f(answerTokens)} answer tokens), batch ${REFERENCE_BATCH}, incl. log-prob program builds`,
        `${f(reference.s, 2)} s`,
        `${f(answers.length / reference.s)} answers/s`,
      ],
      [
        "  again, sessions cached",
        "same answers (programs rebuilt, sessions reused)",
        `${f(referenceAgain.s, 2)} s`,
        `${f(answers.length / referenceAgain.s)} answers/s`,
      ],
    ];
    const split = (r: OnlineRoundStats) => {
      const x = r.seconds;
      return `sampling ${f(x.sampling, 2)} s, annotating ${f(x.annotating * 1000, 1)} ms, reference ${f(x.reference, 2)} s, training ${f(x.training, 2)} s`;
    };
    for (const r of online?.rounds ?? [])
      stages.push([
        `online round ${r.round}${r.round === 1 ? " (cold)" : ""}`,
        `${r.prompts} prompts × ${ONLINE.samples}: ${r.responses} responses → ${r.online_pairs} pairs, ${r.steps} steps, ${online?.sessions[r.round - 1] ?? 0} sessions created — ${split(r)}`,
        `${f(r.seconds.total, 2)} s`,
        r.seconds.training > 0 ? `${f(r.steps / r.seconds.training, 2)} steps/s training` : "",
      ]);
    if (!online) stages.push(["online round", "sampling / annotating / training", "—", "not measured (--online-rounds 0)"]);
    const training: string[][] = [
      [
        "batch",
        "K",
        "steps",
        "compile (build + serialize + session)",
        "warm-up",
        "steps/s",
        "tokens/s (ORT runs)",
        "tokens/s (wall)",
        "per-run tokens/s min–max",
      ],
      ...train.map((t) => [
        String(t.batch),
        String(t.k),
        `${t.runs}×${t.k}`,
        `${f(t.compile.seconds, 2)} s (${f(t.compile.build_seconds, 2)} + ${f(t.compile.serialize_seconds, 2)} + ${f(t.compile.session_seconds, 2)})`,
        `${f(t.warmup.seconds, 2)} s`,
        f(t.steps_per_second, 2),
        f(t.tokens_per_second),
        f(t.tokens_per_second_wall),
        `${f(t.run_tokens_per_second.min)}–${f(t.run_tokens_per_second.max)}`,
      ]),
    ];
    console.log(
      `dpo: ${pairs.length} pairs from ${items.length} prompts; ${OBJECTIVE.loss}, β ${OBJECTIVE.beta}, ${OBJECTIVE.logps} log-probs, AdamW lr ${OPTIMIZER.lr}; ` +
        `${imageTokens(c)} image + ${length} text tokens per sequence, 2 sequences per pair; provider ${o.provider}; ` +
        loadAverageText(load0, load1),
    );
    printTable(stages, (col) => col === 2);
    console.log("");
    printTable(training, (col) => col !== 3 && col !== 8);

    const settings = {
      provider: o.provider,
      prompts: items.length,
      world: setup.world,
      corrupt: { ops: [...CORRUPT.ops], edits: CORRUPT.edits, seed: CORRUPT.seed },
      objective: OBJECTIVE,
      optimizer: OPTIMIZER,
      schedule: SCHEDULE,
      clip_norm: CLIP_NORM,
      accumulation: 1,
      batches: o.batches,
      steps_per_run: o.ks,
      runs: o.runs,
      min_steps: o.minSteps,
      reference_batch: REFERENCE_BATCH,
      seed: o.seed,
      online:
        o.onlineRounds > 0
          ? { ...ONLINE, rounds: o.onlineRounds, annotator: "grounded", aspects: GROUNDED.aspects, score: sumOfAspects(GROUNDED.aspects).text }
          : null,
    };
    const figures = {
      setup: { model_load_seconds: round(setup.loadSeconds), world_seconds: round(setup.worldSeconds), corrupt_ms: round(corrupted.s * 1000, 2) },
      pairs: {
        pairs: pairs.length,
        corrupt_stats: corrupted.value.stats,
        dropped_too_long: candidates.length - fits.length,
        padded_length: length,
        image_tokens: imageTokens(c),
        tokens_per_pair: 2 * (length + imageTokens(c)),
      },
      reference: {
        answers: answers.length,
        answer_tokens: answerTokens,
        batch: REFERENCE_BATCH,
        seconds: round(reference.s),
        answers_per_second: round(answers.length / reference.s, 1),
        again_sessions_cached: { seconds: round(referenceAgain.s), answers_per_second: round(answers.length / referenceAgain.s, 1) },
      },
      train,
      online: online
        ? {
            measured: true,
            note:
              "round 1 includes compiling the generation, log-prob and training programs; later rounds reuse the sessions of shapes seen before " +
              "and compile only new ones (sessions_created: ONNX Runtime sessions created during the round, any part)",
            seconds: round(online.seconds),
            steps: online.steps,
            rounds: online.rounds.map((r) => ({
              round: r.round,
              prompts: r.prompts,
              responses: r.responses,
              empty_responses: r.empty_responses,
              dropped: r.dropped,
              online_pairs: r.online_pairs,
              steps: r.steps,
              sessions_created: online.sessions[r.round - 1],
              seconds: Object.fromEntries(Object.entries(r.seconds).map(([k, v]) => [k, round(v)])),
              "objective/kl": r["objective/kl"],
              "objective/scores": r["objective/scores"],
              loss: r.loss,
            })),
          }
        : { measured: false, note: "not measured (--online-rounds 0)" },
    };
    writeResults(o.out, { ...vlmReport("dpo", { start: load0, end: load1 }, description, c), settings, figures });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
