// `npm run bench -- hf-online`: online-DPO rounds (sample → annotate → train) of a Hugging Face model at real
// dimensions — the LLaVAs llava-interleave-0.5b and llava-1.5-7b above all — alignc against PyTorch + PEFT eager on the
// same weights, prompts and images, in one run.
//
// Per shape: bench/pytorch/hf_bench.py `make` writes a random-weight checkpoint with the model's real config (as for
// `npm run bench -- hf`), P prompts (a LLaVA's: its image's tokens, then L text tokens) and, for a LLaVA, P
// random-pixel PNG files that both sides read through their image processors. A round, as alignc's online phase runs
// one (src/runtime/pipeline/executors/online-rounds.ts with online-hf.ts's policy), on token ids — the fixtures'
// tokenizer stands in for the model's and does not cover its vocabulary, so answers are not decoded and re-encoded:
//   1. generation: the sampler is the policy as of now (the checkpoint before any step, then the checkpoint with the
//      LoRA adapters and projector as trained) — HfGenerator, n samples per prompt at temperature 1, at most A new
//      tokens in passes of 16 (ROUND_TOKENS, as sampling does); PyTorch: generate(do_sample, temperature 1, top-k and
//      top-p off) on the PEFT model. Both stop at the model's stop ids (and a LLaVA's image token: see stopIdsOf); an
//      answer is its tokens without the stop token, then EOS (as alignc's answers and TRL's end);
//   2. annotation: a rater both sides compute identically — an answer's score is how many of its token ids are even —
//      and per prompt the pair best vs worst (alignc's pairIndices: margin 0, first best, lowest below it);
//   3. reference: every sample's summed log-prob under the reference (the checkpoint; PyTorch: adapters disabled) and
//      under the sampler (for the KL), as the online phase scores them;
//   4. training: one DPO step on the round's pairs (LoRA r, alpha 2r on the seven modules of the language model, the
//      projector trained fully, sigmoid beta 0.1 on summed log-probs, clipping at 1, AdamW lr 1e-5, bf16 compute in a
//      half dtype) through the phase's HfTrainerPool (trainHfDpo), optimizer state carried to the next round.
// Round 1 pays for every ONNX Runtime session; from round 2 the sampler's generation and log-prob programs are built
// again (the adapters are their initializers) while the reference's and the trainer's are reused.
//
// Reported per round: seconds of each part and of the round, tokens generated per second of generation, trained
// tokens (2·prompt + chosen + rejected per pair) per second of the step, pairs, loss, KL; alignc's session creation
// seconds per part (Runtime.load: ONNX Runtime's graph optimisation and the weights' upload; graph build and
// serialisation are in the part's time) and generation's run seconds; the model load (alignc: loadHfModel, weights in
// place; PyTorch: from_pretrained + PEFT); peak memory over all rounds (alignc: nvidia-smi's memory.used peak minus the
// reading before, or on CPU the RSS peak; PyTorch: torch.cuda.max_memory_allocated, or on CPU its process's maxrss).
// Results: bench/results/hf-online-<provider>.json, rewritten after each shape.
//
// Options: --shapes a,b (llava-interleave-0.5b)  --provider cpu|cuda (cuda)  --dtype bfloat16|float16|float32
//          (bfloat16)  --prompts P (8)  --samples n (4)  --answer A (64)  --prompt L (32 text tokens)  --rounds R (2)
//          --rank R (16)  --seed S (0)  --python PATH ($ALIGNC_PYTHON or python3)  --torch-modes eager|none (eager)
//          --torch-checkpointing (PyTorch recomputes layers)  --recompute (alignc recomputes each decoder layer)
//          --recompute-attention (alignc recomputes each layer's attention core)
//          --out FILE  --keep DIR (keep the checkpoints)
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Recompute } from "../src/models/hf/decoder.ts";
import { pairIndices } from "../src/runtime/data/prefdata/pairing.ts";
import { ROUND_TOKENS } from "../src/runtime/data/prefdata/sample.ts";
import { type Provider, requireProvider } from "../src/runtime/engine/providers.ts";
import type { RuntimeOptions } from "../src/runtime/engine/session.ts";
import { Runtime } from "../src/runtime/engine/session.ts";
import type { ScoredSequence } from "../src/runtime/models/hf/feeds.ts";
import { HfGenerator } from "../src/runtime/models/hf/generate.ts";
import { hfAnswerLogProbs } from "../src/runtime/models/hf/logprobs.ts";
import { type HfModel, loadHfModel } from "../src/runtime/models/hf/model.ts";
import { type HfPair, HfTrainerPool, trainHfDpo } from "../src/runtime/models/hf/train.ts";
import { Rng } from "../src/util/random.ts";
import { GpuMemory, measured } from "./gpu-memory.ts";
import { BENCH_OBJECTIVE, type BenchDtype, benchLora, benchTraining, eachShape, hfBenchPython, makeCheckpoint } from "./hf-setup.ts";
import { engineInfo, engineOptions, fmt, intOption, machineInfo, printTable, repoRoot, round, timed } from "./support.ts";

interface Options {
  /** --engine and the CUDA settings (bench/support.ts engineOptions). */
  engine: Pick<RuntimeOptions, "engine" | "cuda">;
  shapes: string[];
  provider: Provider;
  dtype: BenchDtype;
  prompts: number;
  samples: number;
  answer: number;
  prompt: number;
  rounds: number;
  rank: number;
  seed: number;
  python: string;
  torch: boolean;
  torchCheckpointing: boolean;
  recompute: Recompute;
  out: string;
  keep: string | undefined;
}

function parse(argv: string[]): Options {
  const { engine, rest: args } = engineOptions("hf-online", argv);
  const o: Options = {
    engine,
    shapes: ["llava-interleave-0.5b"],
    provider: "cuda",
    dtype: "bfloat16",
    prompts: 8,
    samples: 4,
    answer: 64,
    prompt: 32,
    rounds: 2,
    rank: 16,
    seed: 0,
    python: process.env.ALIGNC_PYTHON ?? "python3",
    torch: true,
    torchCheckpointing: false,
    recompute: false,
    out: "",
    keep: undefined,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, v] = [args[i], args[i + 1]];
    const take = () => {
      i++;
      if (v === undefined) throw new Error(`hf-online bench: ${flag} needs a value`);
      return v;
    };
    const int = (min: number) => intOption("hf-online", flag as string, take(), min);
    if (flag === "--shapes") o.shapes = take().split(",");
    else if (flag === "--provider") o.provider = take() as Provider;
    else if (flag === "--dtype") o.dtype = take() as BenchDtype;
    else if (flag === "--prompts") o.prompts = int(1);
    else if (flag === "--samples") o.samples = int(2);
    else if (flag === "--answer") o.answer = int(1);
    else if (flag === "--prompt") o.prompt = int(1);
    else if (flag === "--rounds") o.rounds = int(1);
    else if (flag === "--rank") o.rank = int(1);
    else if (flag === "--seed") o.seed = int(0);
    else if (flag === "--python") o.python = take();
    else if (flag === "--torch-modes") o.torch = take() !== "none";
    else if (flag === "--torch-checkpointing") o.torchCheckpointing = true;
    else if (flag === "--recompute") o.recompute = true;
    else if (flag === "--recompute-attention") o.recompute = "attention";
    else if (flag === "--out") o.out = take();
    else if (flag === "--keep") o.keep = take();
    else throw new Error(`hf-online bench: unknown option ${flag}`);
  }
  o.out ||= path.join(repoRoot, "bench/results", `hf-online-${o.provider}.json`);
  return o;
}

/** One round's figures, the same fields on both sides (hf_bench.py online writes them too). */
interface RoundFigures {
  round: number;
  generate_seconds: number;
  generated_tokens: number;
  annotate_seconds: number;
  reference_seconds: number;
  train_seconds: number;
  trained_tokens: number;
  round_seconds: number;
  pairs: number;
  /** null (JSON) or NaN when the round had no pairs to train on. */
  loss: number | null;
  kl: number;
  mean_score: number;
  /** alignc: session creation seconds per part, and generation's run seconds. */
  sessions_seconds?: { generate: number; reference: number; train: number };
  generate_run_seconds?: number;
}

interface SideFigures {
  load_seconds: number;
  rounds: RoundFigures[];
  peak_bytes: number | null;
  peak_kind: string;
}

/**
 * Where generation stops: the model's stop ids and, for a LLaVA, its image token — random weights sample it now and
 * then, and transformers' forward refuses a sequence holding more image tokens than the image has features (alignc
 * reads the extra one as text); a trained model never writes it, so stopping there changes nothing for one.
 */
const stopIdsOf = (model: HfModel) => [...new Set([...model.stopIds, ...(model.vision ? [model.vision.imageTokenId] : [])])];

/** The EOS an answer ends with (prompts.ts answerIds). */
const eosOf = (model: HfModel) => model.tokenizer.eosId ?? (model.stopIds[0] as number);

/** The bench's rater (hf_bench.py even_score): how many token ids of the answer are even. */
const evenScore = (ids: readonly number[]) => ids.filter((t) => t % 2 === 0).length;

/**
 * Seconds spent in Runtime.load — session creation, for every Runtime (a generator has its own) — since the last
 * take(). Patched onto the prototype for the bench's run, since the programs load deep inside the code timed.
 */
function sessionClock(): { take(): number; stop(): void } {
  const load = Runtime.prototype.load;
  let seconds = 0;
  Runtime.prototype.load = function (this: Runtime, ...args: Parameters<Runtime["load"]>) {
    const t0 = performance.now();
    const loading = load.apply(this, args);
    loading.then(
      () => {
        seconds += (performance.now() - t0) / 1000;
      },
      () => {},
    );
    return loading;
  };
  return {
    take() {
      const s = seconds;
      seconds = 0;
      return round(s, 3);
    },
    stop() {
      Runtime.prototype.load = load;
    },
  };
}

/** alignc's rounds over `prompts` (token ids, and a LLaVA's image files). */
async function aligncRounds(o: Options, model: HfModel, prompts: ScoredSequence[], gpu: GpuMemory | null): Promise<Omit<SideFigures, "load_seconds">> {
  const runtime = new Runtime({ provider: o.provider, ...o.engine });
  const clock = sessionClock();
  const lora = benchLora(o.rank, model.vision !== undefined);
  const stopTokens = stopIdsOf(model);
  const stops = new Set(stopTokens);
  const eos = eosOf(model);
  const seconds = (t: number) => round((performance.now() - t) / 1000, 4);
  try {
    const { value, memory } = await measured(gpu, async () => {
      const pool = new HfTrainerPool(runtime, model, lora, o.seed);
      const rounds: RoundFigures[] = [];
      let generator: HfGenerator | undefined;
      for (let r = 1; r <= o.rounds; r++) {
        const t0 = performance.now();
        // 1. The sampler refreshed to the current policy (online-hf.ts: the previous one's sessions released first).
        await generator?.close();
        const adapters = pool.step === 0 ? undefined : pool.adapterValues();
        generator = new HfGenerator(runtime, model, adapters);
        const rows = prompts.flatMap((p) => Array.from({ length: o.samples }, () => p));
        const generated = await generator.generate(
          rows.map((p) => ({ promptIds: p.promptIds, ...(p.image ? { image: p.image } : {}) })),
          { maxTokens: o.answer, temperature: 1, seed: o.seed + r, roundTokens: ROUND_TOKENS, stopTokens },
        );
        const sessionsGenerate = clock.take();
        const generateSeconds = seconds(t0);
        // 2. Annotation: scores, then best vs worst per prompt.
        const t1 = performance.now();
        const answers: ScoredSequence[] = generated.map((g, j) => ({
          ...(rows[j] as ScoredSequence),
          answerIds: [...g.tokens.filter((t) => !stops.has(t)), eos],
        }));
        const scores = answers.map((a) => evenScore(a.answerIds));
        const picks = prompts.flatMap((_, i) => {
          const at = i * o.samples;
          const picked = pairIndices(
            scores.slice(at, at + o.samples),
            undefined,
            { margin: 0, rejected: "worst", ties: "first", per_prompt: 1 },
            () => new Rng(0),
          );
          return typeof picked === "string" ? [] : [{ chosen: at + picked.chosen, rejected: at + (picked.rejected[0] as number) }];
        });
        const annotateSeconds = seconds(t1);
        // 3. Every sample under the reference, and under the sampler for the KL.
        const t2 = performance.now();
        const ref = await hfAnswerLogProbs(runtime, model, answers);
        const sampled = await hfAnswerLogProbs(runtime, model, answers, adapters ? { adapters } : {});
        const sessionsReference = clock.take();
        const referenceSeconds = seconds(t2);
        // 4. One DPO step on the round's pairs.
        const t3 = performance.now();
        const pairs: HfPair[] = picks.map(({ chosen, rejected }) => {
          const c = answers[chosen] as ScoredSequence;
          return {
            promptIds: c.promptIds,
            ...(c.image ? { image: c.image } : {}),
            chosenIds: c.answerIds,
            rejectedIds: (answers[rejected] as ScoredSequence).answerIds,
            weight: 1,
            refChosen: (ref[chosen] as { sum: number }).sum,
            refRejected: (ref[rejected] as { sum: number }).sum,
          };
        });
        let loss = Number.NaN;
        if (pairs.length > 0) {
          const training = { ...benchTraining(o, lora), seed: o.seed, batch: pairs.length, steps: 1, stepsPerRun: 1, objective: BENCH_OBJECTIVE };
          const { rows: steps } = await trainHfDpo(runtime, model, pairs, training, undefined, { pool });
          loss = steps[0]?.loss ?? Number.NaN;
        }
        const trainSeconds = seconds(t3);
        const figures: RoundFigures = {
          round: r,
          generate_seconds: generateSeconds,
          generated_tokens: generated.reduce((n, g) => n + g.tokens.length, 0),
          annotate_seconds: annotateSeconds,
          reference_seconds: referenceSeconds,
          train_seconds: trainSeconds,
          trained_tokens: pairs.reduce((n, p) => n + 2 * p.promptIds.length + p.chosenIds.length + p.rejectedIds.length, 0),
          round_seconds: seconds(t0),
          pairs: pairs.length,
          loss,
          kl: sampled.reduce((s, lp, j) => s + lp.sum - (ref[j] as { sum: number }).sum, 0) / sampled.length,
          mean_score: scores.reduce((a, b) => a + b, 0) / scores.length,
          sessions_seconds: { generate: sessionsGenerate, reference: sessionsReference, train: clock.take() },
          generate_run_seconds: round(generator.stats.seconds, 4),
        };
        rounds.push(figures);
        console.log(
          `alignc round ${r}: generate ${figures.generate_seconds} s (${figures.generated_tokens} tokens), reference ${figures.reference_seconds} s, train ${figures.train_seconds} s (${pairs.length} pairs), loss ${loss}`,
        );
      }
      await generator?.close();
      return rounds;
    });
    return { rounds: value, peak_bytes: memory.bytes, peak_kind: memory.kind };
  } finally {
    clock.stop();
    await runtime.release();
  }
}

export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  await requireProvider(o.provider);
  const gpu = o.provider === "cuda" ? new GpuMemory(process.env.CUDA_VISIBLE_DEVICES?.split(",")[0] ?? "0") : null;
  const report = (results: Record<string, unknown>[]) => ({
    benchmark: "hf-online",
    date: new Date().toISOString(),
    machine: machineInfo(),
    engine: engineInfo(o.engine),
    options: { ...o, out: undefined },
    shapes: results,
  });
  const results = await eachShape(o, "hf-online", report, async (shape, dir, row) => {
    const sizes = ["--pairs", String(o.prompts), "--prompt", String(o.prompt), "--answer", "1", "--images", String(o.prompts)];
    row.parameters = (await makeCheckpoint(o.python, dir, shape, o.dtype, sizes)).parameters;
    const loaded = await timed(() => loadHfModel(dir));
    const model = loaded.value;
    const batch = JSON.parse(readFileSync(path.join(dir, "batch.json"), "utf8")) as { prompt: number[][] };
    const prompts: ScoredSequence[] = batch.prompt.map((promptIds, i) => ({
      promptIds,
      answerIds: [],
      ...(model.vision ? { image: path.join(dir, "images", `${i}.png`) } : {}),
    }));
    try {
      row.alignc = { load_seconds: round(loaded.s, 2), ...(await aligncRounds(o, model, prompts, gpu)) };
    } catch (e) {
      row.alignc = { error: String((e as Error).message ?? e).slice(0, 2000) };
      console.log(`${shape} alignc: failed: ${(e as Error).message?.slice(0, 400)}`);
    }
    if (o.torch)
      row.torch = await hfBenchPython(o.python, [
        "online",
        "--dir",
        dir,
        "--device",
        o.provider === "cuda" ? "cuda" : "cpu",
        "--prompts",
        String(o.prompts),
        "--samples",
        String(o.samples),
        "--answer",
        String(o.answer),
        "--rounds",
        String(o.rounds),
        "--rank",
        String(o.rank),
        "--seed",
        String(o.seed),
        "--stop-ids",
        JSON.stringify(stopIdsOf(model)),
        "--eos",
        String(eosOf(model)),
        ...(o.torchCheckpointing ? ["--checkpointing"] : []),
      ]);
  });
  printSummary(results);
}

function printSummary(results: Record<string, unknown>[]): void {
  const table = [
    [
      "shape",
      "side",
      "round",
      "gen s",
      "gen tok/s",
      "annot s",
      "ref s",
      "train s",
      "train tok/s",
      "round s",
      "sessions s",
      "pairs",
      "loss",
      "load s",
      "peak GiB",
    ],
  ];
  const gib = (b: number | null) => (b ? (b / 2 ** 30).toFixed(2) : "—");
  for (const r of results)
    for (const side of ["alignc", "torch"] as const) {
      const s = r[side] as (SideFigures & { error?: string }) | undefined;
      if (!s) continue;
      if (s.error) table.push([String(r.shape), side, "failed", ...Array.from({ length: 12 }, () => "")]);
      for (const f of s.rounds ?? []) {
        const sessions = f.sessions_seconds;
        table.push([
          String(r.shape),
          side,
          String(f.round),
          f.generate_seconds.toFixed(2),
          fmt(f.generated_tokens / f.generate_seconds, 1),
          f.annotate_seconds.toFixed(3),
          f.reference_seconds.toFixed(2),
          f.train_seconds.toFixed(2),
          f.pairs > 0 ? fmt(f.trained_tokens / f.train_seconds, 1) : "—",
          f.round_seconds.toFixed(2),
          sessions ? (sessions.generate + sessions.reference + sessions.train).toFixed(2) : "—",
          String(f.pairs),
          f.loss === null || Number.isNaN(f.loss) ? "—" : f.loss.toFixed(4),
          s.load_seconds.toFixed(2),
          gib(s.peak_bytes),
        ]);
      }
    }
  printTable(table, (c) => c >= 2);
}
