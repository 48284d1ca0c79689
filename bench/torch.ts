// `npm run bench -- torch`: alignc against a PyTorch implementation of the same TinyVLM (bench/pytorch/), on the
// same weights and the same batches, in one run:
//   (a) sft       one AdamW training step of masked next-token cross-entropy
//   (b) dpo       one AdamW step of DPO (sigmoid, β 0.1, summed log-probs): policy forward and backward on chosen +
//                 rejected, the reference log-probs precomputed (fixed numbers in the batch, the same on both sides)
//   (c) generate  N new tokens (64) for 64 prompts, greedy, with a KV cache (alignc: one Loop run of
//                 buildGenerateProgram; PyTorch: preallocated per-layer caches, one position per step)
// alignc runs each training workload at every K of --k (optimizer steps per ONNX Runtime run), PyTorch eager and
// torch.compile. Reported per size and workload: tokens/s, the ratios alignc / eager and alignc / compile, model
// FLOPs utilisation against the GPU's dense peak, peak memory, and agreement of the first step's loss and gradient
// norm (and of the greedy tokens) between the two, with tolerances. Results: bench/results/torch-<provider>.json.
//
// How one size runs: alignc initialises the model (initTinyVlm, seed --seed, a fixed vocabulary of VOCAB tokens),
// writes it with its safetensors writer into an exchange directory together with the batches (sft.safetensors,
// dpo.safetensors, generate.safetensors: deterministic random pixels and tokens from alignc's Rng, [M, B, ...] per
// field, M = the largest K, and both sides step through the M batches in order) and config.json; times its own
// workloads; then runs `python bench/pytorch/bench.py --dir <exchange>` and merges that JSON.
//   alignc, per K: a warm-up run of K steps from the initial weights (its session's first run, not timed), then
//     timed runs of K steps, up to --runs of them but stopping once they add up to MEASURE_SECONDS; the median run.
//     The largest K's warm-up gives the per-step loss and grad norm of steps 1…M that are compared.
//   PyTorch: a warm-up unit of M steps from the initial weights (compared; with torch.compile it includes the compile,
//     and a second warm-up unit follows), then --runs timed units of M steps; the median unit.
//   generation: a warm-up run, then --runs timed runs on both sides; the median.
// The results file is rewritten after each size, so a run cut short keeps the sizes it finished.
//
// Options: --provider cpu|cuda (cpu)  --sizes nano,small,base (small,base)  --precision fp32[,fp16] (fp32)
//          --batch B  --length L (text tokens per SFT/DPO sequence)  --prompts N (64)  --prompt-length T
//          --new-tokens N (64)  (defaults per size and provider: SIZE_DEFAULTS)  --runs R (3)
//          --k K[,K…] (alignc's optimizer steps per run; DEFAULT_KS: 1,10, base 1,4)
//          --python PATH ($ALIGNC_PYTHON or python3)  --torch-modes eager,compile (both; "none" skips PyTorch)
//          --compile-mode MODE (torch.compile's mode, default)  --seed S (0)  --device-id N (0)
//          --out FILE (bench/results/torch-<provider>.json)  --keep DIR (keep the exchange directories, DIR/<size>)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { saveSafetensors } from "../src/formats/safetensors.ts";
import type { PreferenceObjective } from "../src/models/layers/preference.ts";
import { imageTokens, parameterCount, SIZES, type SizeName, type TinyVlmConfig, tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { dpoBatch, dpoLoss } from "../src/models/tinyvlm/dpo.ts";
import { buildGenerateProgram } from "../src/models/tinyvlm/generate.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { sftBatch, sftLoss } from "../src/models/tinyvlm/programs.ts";
import { onnxruntimePackageDir, type Provider, requireProvider } from "../src/runtime/engine/providers.ts";
import { Runtime, type RuntimeOptions } from "../src/runtime/engine/session.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import type { Graph, TensorData } from "../src/tensor/ir/graph.ts";
import { toHalfBits } from "../src/tensor/ir/half.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { type AdamWConfig, adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram, type TrainProgramSpec } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { GpuMemory, type Memory, measured } from "./gpu-memory.ts";
import { engineInfo, engineOptions, fmt, intOption, machineInfo, median, printTable, repoRoot, round, timed, writeResults } from "./support.ts";

/** The vocabulary of every size here (no tokenizer: tokens are random ids below it). */
const VOCAB = 512;
const SFT_OPTIMIZER: AdamWConfig = adamw({ lr: 1e-4 });
const DPO_OPTIMIZER: AdamWConfig = adamw({ lr: 1e-5 });
const CLIP_NORM = 1;
/** alignc's timed runs of one measurement stop once they add up to this many seconds (at least one run, at most --runs). */
const MEASURE_SECONDS = 10;
const OBJECTIVE: PreferenceObjective = { loss: "sigmoid", beta: 0.1, labelSmoothing: 0, logps: "sum", sftWeight: 0 };

type Precision = "fp32" | "fp16";
type Workload = "sft" | "dpo" | "generate";
type TorchMode = "eager" | "compile";

interface SizeSettings {
  /** SFT examples / DPO pairs per optimizer step. */
  batch: number;
  /** Text tokens per SFT or DPO sequence (image tokens come on top). */
  length: number;
  prompts: number;
  /** Prompt tensor width for generation (examples' prompt lengths vary below it). */
  promptLength: number;
  newTokens: number;
}

/** Per size: GPU settings (kept so that base fits an 80 GB GPU and the whole run a few minutes), and smaller CPU ones. */
const SIZE_DEFAULTS: Record<SizeName, Record<"gpu" | "cpu", SizeSettings>> = {
  nano: {
    gpu: { batch: 32, length: 64, prompts: 64, promptLength: 16, newTokens: 48 },
    cpu: { batch: 4, length: 32, prompts: 64, promptLength: 16, newTokens: 48 },
  },
  small: {
    gpu: { batch: 32, length: 128, prompts: 64, promptLength: 32, newTokens: 64 },
    cpu: { batch: 4, length: 32, prompts: 64, promptLength: 32, newTokens: 64 },
  },
  base: {
    gpu: { batch: 16, length: 256, prompts: 64, promptLength: 64, newTokens: 64 },
    cpu: { batch: 2, length: 32, prompts: 64, promptLength: 64, newTokens: 64 },
  },
};

interface Options {
  /** --engine and the CUDA settings (bench/support.ts engineOptions). */
  engine: Pick<RuntimeOptions, "engine" | "cuda">;
  provider: Provider;
  sizes: SizeName[];
  precisions: Precision[];
  overrides: Partial<SizeSettings>;
  runs: number;
  /** alignc's K values; null: DEFAULT_KS of each size. */
  ks: number[] | null;
  python: string;
  torchModes: TorchMode[];
  compileMode: string;
  seed: number;
  deviceId: number;
  out: string;
  keep: string | null;
}

/**
 * alignc's K values (optimizer steps per ONNX Runtime run) per size when --k is not given: K=1 and a larger K. base's
 * larger K is 4, not 10: at ~3 s per alignc step on an H100 (measured 2026-11-22), a warm-up and a timed run of 10
 * steps per workload and precision would take most of the bench's time.
 */
const DEFAULT_KS: Record<SizeName, number[]> = { nano: [1, 10], small: [1, 10], base: [1, 4] };

/** Every K must divide the largest, which is the number of staged batches (M) both sides step through. */
function checkKs(ks: number[]): void {
  const m = Math.max(...ks);
  const odd = ks.find((k) => m % k !== 0);
  if (odd !== undefined) throw new Error(`torch: every K must divide the largest (${m} staged batches); ${odd} does not`);
}

function parse(argv: string[]): Options {
  const { engine, rest: args } = engineOptions("torch", argv);
  const o: Options = {
    engine,
    provider: "cpu",
    sizes: ["small", "base"],
    precisions: ["fp32"],
    overrides: {},
    runs: 3,
    ks: null,
    python: process.env.ALIGNC_PYTHON || "python3",
    torchModes: ["eager", "compile"],
    compileMode: "default",
    seed: 0,
    deviceId: 0,
    out: "",
    keep: null,
  };
  const int = (flag: string, v: string | undefined, min: number) => intOption("torch", flag, v, min);
  const list = (flag: string, v: string | undefined, allowed: readonly string[]) => {
    const items = (v ?? "").split(",").filter((x) => x !== "");
    const bad = items.find((x) => !allowed.includes(x));
    if (items.length === 0 || bad !== undefined) throw new Error(`torch: ${flag} takes a comma-separated list of ${allowed.join(", ")}, got ${v}`);
    return [...new Set(items)];
  };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === "--provider" && (value === "cpu" || value === "cuda")) o.provider = value;
    else if (flag === "--sizes") o.sizes = list(flag, value, Object.keys(SIZES)) as SizeName[];
    else if (flag === "--precision" || flag === "--precisions") o.precisions = list(flag, value, ["fp32", "fp16"]) as Precision[];
    else if (flag === "--batch") o.overrides.batch = int(flag, value, 1);
    else if (flag === "--length") o.overrides.length = int(flag, value, 2);
    else if (flag === "--prompts") o.overrides.prompts = int(flag, value, 1);
    else if (flag === "--prompt-length") o.overrides.promptLength = int(flag, value, 1);
    else if (flag === "--new-tokens") o.overrides.newTokens = int(flag, value, 1);
    else if (flag === "--runs") o.runs = int(flag, value, 1);
    else if (flag === "--k") o.ks = [...new Set((value ?? "").split(",").map((x) => int(flag, x, 1)))].sort((a, b) => a - b);
    else if (flag === "--python" && value) o.python = value;
    else if (flag === "--torch-modes") o.torchModes = value === "none" ? [] : (list(flag, value, ["eager", "compile"]) as TorchMode[]);
    else if (flag === "--compile-mode" && value) o.compileMode = value;
    else if (flag === "--seed") o.seed = int(flag, value, 0);
    else if (flag === "--device-id") o.deviceId = int(flag, value, 0);
    else if (flag === "--out" && value) o.out = path.resolve(value);
    else if (flag === "--keep" && value) o.keep = path.resolve(value);
    else throw new Error(`torch: unknown or incomplete option ${flag}`);
  }
  if (o.ks) checkKs(o.ks);
  o.out ||= path.join(repoRoot, `bench/results/torch-${o.provider}.json`);
  return o;
}

// ── the FLOP model ──

/**
 * Model FLOPs, the numerator of MFU, the same for both implementations (what the model needs, not what either
 * computes): per token, 2 FLOPs per matmul parameter it passes through (2·(parameters touched)), plus attention's two
 * matmuls, q·kᵀ and the weighted sum of the values, 2·width FLOPs each per attended key: 4·layers·width·(attended
 * length). Causal attention attends to the positions up to and including its own (the masked upper triangle is not
 * counted), the vision encoder's to all P image tokens. The unembedding counts at the positions whose logits are
 * used (every text position in training, one position per step in generation); embedding lookups, norms, softmax,
 * GELU and the loss are not counted. A training step is 3× its forward (the backward pass is 2× the forward).
 * Tokens (the tokens/s numerator) are image + text tokens per sequence, chosen + rejected for DPO (as bench/dpo.ts);
 * generation counts new tokens only.
 */
export function flopModel(c: TinyVlmConfig) {
  const p = imageTokens(c);
  const v = c.vision;
  const t = c.text;
  const patchIn = c.patch * c.patch * 3;
  const blockParams = (s: typeof v) => 4 * s.width * s.width + 2 * s.width * s.hidden;
  /** Forward FLOPs of one image through the encoder and the projector. */
  const image = p * 2 * (patchIn * v.width + v.layers * blockParams(v) + v.width * t.width) + 4 * v.layers * v.width * p * p;
  /** Forward FLOPs of n causal positions through the text blocks (no unembedding). */
  const textPrefix = (n: number) => n * 2 * t.layers * blockParams(t) + 4 * t.layers * t.width * ((n * (n + 1)) / 2);
  const unembed = (positions: number) => positions * 2 * t.width * c.vocab;
  /** Forward FLOPs of one training sequence of `length` text tokens (logits at every text position). */
  const sequence = (length: number) => image + textPrefix(p + length) + unembed(length);
  return {
    sftStep: (batch: number, length: number) => 3 * batch * sequence(length),
    dpoStep: (batch: number, length: number) => 3 * 2 * batch * sequence(length),
    /** Prefill of [image][prompt width] (logits at one position), then one position per new token after the first. */
    generate: (prompts: number, promptWidth: number, newTokens: number) => {
      let decode = 0;
      for (let n = 1; n < newTokens; n++) decode += 2 * t.layers * blockParams(t) + 4 * t.layers * t.width * (p + promptWidth + n) + unembed(1);
      return prompts * (image + textPrefix(p + promptWidth) + unembed(1) + decode);
    },
  };
}

/** Dense peak of the GPU (TFLOP/s) for a precision: fp32 runs compare with the TF32 peak (ONNX Runtime's CUDA provider and the PyTorch side both use TF32). */
function gpuPeak(name: string | null, precision: Precision): { tflops: number; what: string } | null {
  if (!name) return null;
  const table: { match: RegExp; label: string; fp16: number; tf32: number }[] = [
    { match: /H200/i, label: "H200", fp16: 989.4, tf32: 494.7 },
    { match: /H100.*PCIe/i, label: "H100 PCIe", fp16: 756, tf32: 378 },
    { match: /H100.*(SXM|HBM3)/i, label: "H100 SXM", fp16: 989.4, tf32: 494.7 },
  ];
  const gpu = table.find((g) => g.match.test(name));
  if (!gpu) return null;
  return precision === "fp16"
    ? { tflops: gpu.fp16, what: `${gpu.label} dense fp16 peak ${gpu.fp16} TFLOP/s` }
    : { tflops: gpu.tf32, what: `${gpu.label} dense TF32 peak ${gpu.tf32} TFLOP/s` };
}

/** Relative tolerance of loss and grad-norm agreement. */
function tolerance(provider: Provider, precision: Precision): { rel: number; why: string } {
  if (precision === "fp16") return { rel: 5e-2, why: "fp16 compute" };
  return provider === "cuda" ? { rel: 2e-2, why: "TF32 matmuls on GPU" } : { rel: 1e-4, why: "fp32 on CPU" };
}

// ── data ──

const f32 = (shape: number[], data?: Float32Array): TensorData => ({
  dtype: "float32",
  shape,
  data: data ?? new Float32Array(shape.reduce((a, b) => a * b, 1)),
});
const i64 = (shape: number[]): TensorData => ({ dtype: "int64", shape, data: new BigInt64Array(shape.reduce((a, b) => a * b, 1)) });

function pixels(rng: Rng, shape: number[]): TensorData {
  const t = f32(shape);
  const d = t.data as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = rng.uniform();
  return t;
}

const randInt = (rng: Rng, n: number) => Math.floor(rng.uniform() * n);

/** Image tokens all visible, except the last 4 of every second example (BDHS-style masking, exercising the key mask). */
function imageKeep(rows: number, p: number): TensorData {
  const t = f32([rows, p]);
  const d = t.data as Float32Array;
  d.fill(1);
  for (let r = 1; r < rows; r += 2) d.fill(0, r * p + p - 4, r * p + p);
  return t;
}

/** One text sequence per row: `length` positions, the first `length − pad` real, the loss on the answer part after a quarter-length prompt. */
function fillSequence(
  rng: Rng,
  vocab: number,
  row: number,
  length: number,
  real: number,
  promptTokens: bigint[] | null,
  out: Record<string, TensorData>,
  prefix = "",
) {
  const tokens = out[`${prefix}tokens`]!.data as BigInt64Array;
  const labels = out[`${prefix}labels`]!.data as BigInt64Array;
  const loss = out[`${prefix}loss_mask`]!.data as Float32Array;
  const text = out[`${prefix}text_mask`]!.data as Float32Array;
  const prompt = Math.max(1, Math.floor(length / 4));
  for (let i = 0; i < length; i++) {
    const at = row * length + i;
    const isReal = i < real;
    tokens[at] = isReal ? (i < prompt && promptTokens ? promptTokens[i]! : BigInt(randInt(rng, vocab))) : 0n;
    labels[at] = isReal ? BigInt(randInt(rng, vocab)) : 0n;
    loss[at] = isReal && i >= prompt ? 1 : 0;
    text[at] = isReal ? 1 : 0;
  }
}

/** M staged SFT batches: [M, B, ...] per field of sftBatch. */
function sftData(c: TinyVlmConfig, rng: Rng, steps: number, batch: number, length: number): Record<string, TensorData> {
  const rows = steps * batch;
  const p = imageTokens(c);
  const out: Record<string, TensorData> = {
    pixels: pixels(rng, [rows, c.imageSize, c.imageSize, 3]),
    image_keep: imageKeep(rows, p),
    tokens: i64([rows, length]),
    labels: i64([rows, length]),
    loss_mask: f32([rows, length]),
    text_mask: f32([rows, length]),
  };
  for (let r = 0; r < rows; r++) fillSequence(rng, c.vocab, r, length, length - randInt(rng, Math.max(1, Math.floor(length / 8))), null, out);
  for (const t of Object.values(out)) t.shape = [steps, batch, ...t.shape.slice(1)];
  return out;
}

/**
 * M staged DPO batches with the fields dpoBatch wants. Chosen and rejected share the prompt and the image; their
 * lengths differ (padding). The reference log-probs are fixed numbers, −(scored tokens)·ln(vocab) + U(−4, 4): about
 * where a fresh model's summed log-probs are, so the first step's loss is not exactly ln 2.
 */
function dpoData(c: TinyVlmConfig, rng: Rng, steps: number, batch: number, length: number): Record<string, TensorData> {
  const rows = steps * batch;
  const p = imageTokens(c);
  const out: Record<string, TensorData> = {
    pixels: pixels(rng, [rows, c.imageSize, c.imageSize, 3]),
    image_keep: imageKeep(rows, p),
    ref_chosen: f32([rows]),
    ref_rejected: f32([rows]),
    weight: f32([rows], new Float32Array(rows).fill(1)),
  };
  for (const side of ["chosen_", "rejected_"]) {
    out[`${side}tokens`] = i64([rows, length]);
    out[`${side}labels`] = i64([rows, length]);
    out[`${side}loss_mask`] = f32([rows, length]);
    out[`${side}text_mask`] = f32([rows, length]);
  }
  const pad = Math.max(1, Math.floor(length / 8));
  for (let r = 0; r < rows; r++) {
    const prompt = Array.from({ length: Math.max(1, Math.floor(length / 4)) }, () => BigInt(randInt(rng, c.vocab)));
    for (const side of ["chosen_", "rejected_"]) {
      fillSequence(rng, c.vocab, r, length, length - randInt(rng, pad), prompt, out, side);
      const mask = (out[`${side}loss_mask`]!.data as Float32Array).subarray(r * length, (r + 1) * length);
      const scored = mask.reduce((a, b) => a + b, 0);
      (out[side === "chosen_" ? "ref_chosen" : "ref_rejected"]!.data as Float32Array)[r] = -scored * Math.log(c.vocab) + (rng.uniform() * 8 - 4);
    }
  }
  for (const t of Object.values(out)) t.shape = [steps, batch, ...t.shape.slice(1)];
  return out;
}

/** Prompts for generation: pixels, right-padded prompts whose lengths vary in (¾·width, width], image_keep. */
function generateData(c: TinyVlmConfig, rng: Rng, prompts: number, width: number): Record<string, TensorData> {
  const prompt = i64([prompts, width]);
  const lengths = i64([prompts]);
  const tokens = prompt.data as BigInt64Array;
  for (let r = 0; r < prompts; r++) {
    const n = width - randInt(rng, Math.max(1, Math.floor(width / 4)));
    (lengths.data as BigInt64Array)[r] = BigInt(n);
    for (let i = 0; i < width; i++) tokens[r * width + i] = i < n ? BigInt(randInt(rng, c.vocab)) : 0n;
  }
  return { pixels: pixels(rng, [prompts, c.imageSize, c.imageSize, 3]), prompt, prompt_length: lengths, image_keep: imageKeep(prompts, imageTokens(c)) };
}

/** Steps [from, from + k) of staged feeds [M, B, ...] (views, no copy). */
function stepsOf(staged: Record<string, TensorData>, from: number, k: number): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  for (const [name, t] of Object.entries(staged)) {
    const per = t.data.length / t.shape[0]!;
    out[name] = { dtype: t.dtype, shape: [k, ...t.shape.slice(1)], data: t.data.subarray(from * per, (from + k) * per) as TensorData["data"] };
  }
  return out;
}

/** float32 → float16 (bits) for the float16 generation program's inputs. */
function half(t: TensorData): TensorData {
  return t.dtype === "float32" ? { dtype: "float16", shape: t.shape, data: toHalfBits(t.data as Float32Array, "float16") } : t;
}

// ── alignc ──

type Failure = { ok: false; error: string };

interface TrainFigures {
  ok: true;
  /** Optimizer steps per ONNX Runtime run. */
  k: number;
  tokens_per_step: number;
  compile: { build_seconds: number; serialize_seconds: number; session_seconds: number; onnx_bytes: number };
  /** The first run (K steps from the initial weights; session warm-up), not timed into the figures. */
  warmup_seconds: number;
  /** The timed runs, K steps each. */
  run_seconds: number[];
  median_run_seconds: number;
  step_seconds: number;
  tokens_per_second: number;
  /** Per-step loss and pre-clip gradient norm of the warm-up run (steps 1…K from the initial weights). */
  losses: number[];
  grad_norms: number[];
  /** Mixed precision: the loss scale each warm-up step used, and 1 where the step was skipped (overflow). */
  amp?: { loss_scale: number[]; skipped: number[] };
  memory: Memory;
}

interface GenerateFigures {
  ok: true;
  compile: { build_seconds: number; serialize_seconds: number; session_seconds: number; onnx_bytes: number };
  warmup_seconds: number;
  run_seconds: number[];
  median_run_seconds: number;
  new_tokens: number;
  tokens_per_second: number;
  tokens: number[][];
  memory: Memory;
}

const failure = (e: unknown): Failure => ({ ok: false, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });

/** Whether any MatMul of the graph (or of its Loop bodies) computes in `dtype`. */
function matmulIn(graph: Graph, dtype: string): boolean {
  for (const node of graph.nodes) {
    if (node.op === "MatMul" && node.inputs.some((t) => t?.dtype === dtype)) return true;
    for (const a of Object.values(node.attrs)) if (a.type === "graph" && matmulIn(a.value, dtype)) return true;
  }
  return false;
}

interface SizeContext {
  size: SizeName;
  c: TinyVlmConfig;
  params: { name: string; data: TensorData }[];
  s: SizeSettings;
  steps: number;
  sft: Record<string, TensorData>;
  dpo: Record<string, TensorData>;
  generate: Record<string, TensorData>;
  runtime: Runtime;
  gpu: GpuMemory | null;
  o: Options;
}

async function alignTrain(x: SizeContext, workload: "sft" | "dpo", precision: Precision, k: number): Promise<TrainFigures | Failure> {
  const { c, s } = x;
  const tokensPerStep = (workload === "dpo" ? 2 : 1) * s.batch * (imageTokens(c) + s.length);
  const spec: TrainProgramSpec = {
    trainable: x.params.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: [...p.data.shape] })),
    batch: workload === "sft" ? sftBatch(c, s.batch, s.length) : dpoBatch(c, s.batch, s.length),
    steps: k,
    optimizer: workload === "sft" ? SFT_OPTIMIZER : DPO_OPTIMIZER,
    clipNorm: CLIP_NORM,
    loss: workload === "sft" ? sftLoss(c) : dpoLoss(c, OBJECTIVE),
    ...(precision === "fp16" ? { mixedPrecision: { compute: "float16" as const } } : {}),
  };
  try {
    const build = await timed(() => buildTrainProgram(spec));
    if (precision === "fp16" && !matmulIn(build.value.builder.root, "float16"))
      throw new Error("unsupported: the training program has no float16 MatMul (TrainProgramSpec.mixedPrecision not honoured)");
    const bytes = await timed(() => serializeModel(build.value.builder.root));
    const staged = workload === "sft" ? x.sft : x.dpo;
    const result = await measured(x.gpu, async () => {
      const session = await timed(() => x.runtime.load(bytes.value));
      const trainer = new Trainer(x.runtime, build.value, spec, new Map(x.params.map((p) => [p.name, p.data])));
      // Runs of K steps through the M staged batches in order, wrapping around.
      let next = 0;
      const runOnce = async () => {
        const m = await trainer.run(stepsOf(staged, next, k));
        next = (next + k) % x.steps;
        return m.values;
      };
      const warm = await timed(runOnce);
      const times: number[] = [];
      let spent = 0;
      while (times.length < x.o.runs && (times.length === 0 || spent < MEASURE_SECONDS)) {
        const t = (await timed(runOnce)).s;
        times.push(t);
        spent += t;
      }
      return { session, warm, times };
    });
    const { session, warm, times } = result.value;
    const med = median(times);
    const figures: TrainFigures = {
      ok: true,
      k,
      tokens_per_step: tokensPerStep,
      compile: { build_seconds: round(build.s), serialize_seconds: round(bytes.s), session_seconds: round(session.s), onnx_bytes: bytes.value.length },
      warmup_seconds: round(warm.s),
      run_seconds: times.map((t) => round(t, 4)),
      median_run_seconds: round(med, 4),
      step_seconds: round(med / k, 5),
      tokens_per_second: round((tokensPerStep * k) / med, 1),
      losses: warm.value.loss ?? [],
      grad_norms: warm.value.grad_norm ?? [],
      memory: result.memory,
    };
    if (warm.value["amp/loss_scale"]) figures.amp = { loss_scale: warm.value["amp/loss_scale"], skipped: warm.value["amp/skipped"] ?? [] };
    return figures;
  } catch (e) {
    return failure(e);
  } finally {
    await x.runtime.release();
  }
}

async function alignGenerate(x: SizeContext, precision: Precision): Promise<GenerateFigures | Failure> {
  const { s } = x;
  const h = precision === "fp16";
  // fp16: the whole generation program in float16 (config dtype float16, weights and float inputs converted).
  const c = h ? tinyVlmConfig(x.size, VOCAB, "float16") : x.c;
  try {
    const build = await timed(() =>
      buildGenerateProgram(
        c,
        x.params.map((p) => ({ name: p.name, shape: p.data.shape })),
        { batch: s.prompts, promptLength: s.promptLength, steps: s.newTokens, temperature: 0, seed: 0, stopTokens: [], pad: 0 },
      ),
    );
    const bytes = await timed(() => serializeModel(build.value.root));
    const feeds: Record<string, TensorData> = {};
    for (const [name, t] of Object.entries(x.generate)) feeds[name] = h ? half(t) : t;
    for (const p of x.params) feeds[`param/${p.name}`] = h ? half(p.data) : p.data;
    const result = await measured(x.gpu, async () => {
      const session = await timed(() => x.runtime.load(bytes.value));
      const warm = await timed(() => x.runtime.run(session.value, feeds, ["tokens"]));
      const times: number[] = [];
      for (let r = 0; r < x.o.runs; r++) times.push((await timed(() => x.runtime.run(session.value, feeds, ["tokens"]))).s);
      return { session, warm, times };
    });
    const { session, warm, times } = result.value;
    const out = warm.value.tokens!;
    const flat = Array.from(out.data as BigInt64Array, Number);
    const n = out.shape[1]!;
    const med = median(times);
    return {
      ok: true,
      compile: { build_seconds: round(build.s), serialize_seconds: round(bytes.s), session_seconds: round(session.s), onnx_bytes: bytes.value.length },
      warmup_seconds: round(warm.s),
      run_seconds: times.map((t) => round(t, 4)),
      median_run_seconds: round(med, 4),
      new_tokens: s.prompts * s.newTokens,
      tokens_per_second: round((s.prompts * s.newTokens) / med, 1),
      tokens: Array.from({ length: out.shape[0]! }, (_, r) => flat.slice(r * n, (r + 1) * n)),
      memory: result.memory,
    };
  } catch (e) {
    return failure(e);
  } finally {
    await x.runtime.release();
  }
}

// ── PyTorch ──

interface TorchTrain {
  ok: boolean;
  error?: string;
  tokens_per_second?: number;
  step_seconds?: number;
  losses?: number[];
  grad_norms?: number[];
  compile_seconds?: number;
  memory?: { kind: string; bytes: number; reserved_bytes?: number };
}

interface TorchGenerate {
  ok: boolean;
  error?: string;
  tokens_per_second?: number;
  median_run_seconds?: number;
  tokens?: number[][];
  compile_seconds?: number;
  memory?: { kind: string; bytes: number; reserved_bytes?: number };
}

interface TorchReport {
  environment: { torch: string; python: string; device: string; device_name?: string; cuda?: string; threads: number; tf32: Record<string, boolean> };
  compile_mode: string;
  seconds: number;
  results: Record<string, Record<string, { sft?: TorchTrain; dpo?: TorchTrain; generate?: TorchGenerate }>>;
}

/** Why the Python side cannot run (torch or safetensors missing), or null. */
async function torchProblem(python: string): Promise<string | null> {
  const r = await execa(python, ["-c", "import torch, safetensors"], { reject: false });
  if (!r.failed) return null;
  const last = String(r.stderr ?? "")
    .trim()
    .split("\n")
    .pop();
  return `${python} cannot import torch and safetensors (${last || r.shortMessage || `exit ${r.exitCode}`}); set --python or ALIGNC_PYTHON`;
}

async function runTorch(o: Options, dir: string): Promise<{ ok: true; report: TorchReport; wall_seconds: number } | Failure> {
  const out = path.join(dir, "torch.json");
  const args = [
    path.join(repoRoot, "bench/pytorch/bench.py"),
    "--dir",
    dir,
    "--out",
    out,
    "--device",
    o.provider,
    "--modes",
    o.torchModes.join(","),
    "--precisions",
    o.precisions.join(","),
    "--compile-mode",
    o.compileMode,
  ];
  const env = o.provider === "cuda" ? { CUDA_VISIBLE_DEVICES: process.env.CUDA_VISIBLE_DEVICES ?? String(o.deviceId) } : {};
  const t0 = performance.now();
  const r = await execa(o.python, args, { stdio: ["ignore", "inherit", "inherit"], reject: false, env });
  const wall = (performance.now() - t0) / 1000;
  if (r.failed || !existsSync(out)) return { ok: false, error: `bench/pytorch/bench.py failed: ${r.shortMessage ?? `exit ${r.exitCode}`}` };
  return { ok: true, report: JSON.parse(readFileSync(out, "utf8")) as TorchReport, wall_seconds: round(wall, 1) };
}

// ── merging ──

interface Row {
  workload: Workload;
  precision: Precision;
  implementation: string;
  ok: boolean;
  error?: string;
  tokens_per_second: number | null;
  /** Seconds per optimizer step (training) or per generation run. */
  seconds: number | null;
  model_tflops: number | null;
  mfu: number | null;
  memory: Memory | null;
  /** alignc rows: alignc tokens/s ÷ PyTorch's. */
  vs_eager: number | null;
  vs_compile: number | null;
  compile_seconds: number | null;
}

interface Agreement {
  workload: Workload;
  precision: Precision;
  against: string;
  quantity: string;
  alignc: number | null;
  torch: number | null;
  rel_diff: number | null;
  tolerance: number | null;
  asserted: boolean;
  pass: boolean | null;
  note?: string;
}

const relDiff = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

function trainAgreement(
  workload: Workload,
  precision: Precision,
  against: string,
  a: TrainFigures,
  t: TorchTrain,
  tol: { rel: number; why: string },
  asserted: boolean,
): Agreement[] {
  const out: Agreement[] = [];
  const base = { workload, precision, against, tolerance: tol.rel };
  const la = a.losses[0];
  const lt = t.losses?.[0];
  if (la !== undefined && lt !== undefined) {
    const d = relDiff(la, lt);
    out.push({ ...base, quantity: "loss, step 1", alignc: la, torch: lt, rel_diff: d, asserted, pass: d <= tol.rel });
  }
  const ga = a.grad_norms[0];
  const gt = t.grad_norms?.[0];
  if (ga !== undefined && gt !== undefined) {
    const skipped = a.amp?.skipped[0] === 1;
    if (skipped || !Number.isFinite(gt)) {
      const both = skipped && !Number.isFinite(gt);
      out.push({
        ...base,
        quantity: "grad norm, step 1 (pre-clip)",
        alignc: ga,
        torch: Number.isFinite(gt) ? gt : null,
        rel_diff: null,
        asserted,
        pass: both,
        note: both ? "step skipped by the loss scaler on both sides" : `overflow on one side only (alignc skipped: ${skipped})`,
      });
    } else {
      const d = relDiff(ga, gt);
      out.push({ ...base, quantity: "grad norm, step 1 (pre-clip)", alignc: ga, torch: gt, rel_diff: d, asserted, pass: d <= tol.rel });
    }
  }
  // Later steps go through AdamW and clipping too: reported, not asserted (differences compound).
  const later = a.losses.slice(1).map((l, i) => ({ l, t: t.losses?.[i + 1] }));
  const diffs = later.filter((p) => p.t !== undefined).map((p) => relDiff(p.l, p.t!));
  if (diffs.length > 0) {
    const worst = diffs.indexOf(Math.max(...diffs));
    out.push({
      ...base,
      quantity: `loss, steps 2–${diffs.length + 1} (worst)`,
      alignc: later[worst]!.l,
      torch: later[worst]!.t!,
      rel_diff: diffs[worst]!,
      asserted: false,
      pass: null,
      note: "after AdamW updates; reported, not asserted",
    });
  }
  return out;
}

function tokenAgreement(precision: Precision, against: string, a: number[][], t: number[][], expect: string): Agreement[] {
  let same = 0;
  let total = 0;
  let prefix = 0;
  a.forEach((row, r) => {
    const other = t[r] ?? [];
    let p = 0;
    while (p < row.length && row[p] === other[p]) p++;
    prefix += row.length > 0 ? p / row.length : 1;
    row.forEach((tok, i) => {
      total++;
      if (tok === other[i]) same++;
    });
  });
  const base = { workload: "generate" as const, precision, against, tolerance: null, rel_diff: null, asserted: false, pass: null, torch: null };
  return [
    { ...base, quantity: "greedy tokens identical (share)", alignc: total > 0 ? same / total : null, note: `reported, not asserted (${expect})` },
    { ...base, quantity: "greedy tokens: common prefix (mean share)", alignc: a.length > 0 ? prefix / a.length : null, note: "reported, not asserted" },
  ];
}

// ── one size ──

async function benchSize(size: SizeName, o: Options, gpuName: string | null, problem: string | null) {
  const c = tinyVlmConfig(size, VOCAB);
  const s: SizeSettings = { ...SIZE_DEFAULTS[size][o.provider === "cuda" ? "gpu" : "cpu"], ...o.overrides };
  if (s.length > c.textContext) throw new Error(`torch: --length ${s.length} exceeds ${size}'s text context of ${c.textContext}`);
  if (s.promptLength + s.newTokens > c.textContext)
    throw new Error(`torch: prompt width ${s.promptLength} + ${s.newTokens} new tokens exceed ${size}'s text context of ${c.textContext}`);
  const ks = o.ks ?? DEFAULT_KS[size];
  checkKs(ks);
  const steps = Math.max(...ks);
  const flops = flopModel(c);
  const p = imageTokens(c);
  console.log(
    `torch: TinyVLM ${size} (vocab ${VOCAB}, ${fmt(parameterCount(c))} parameters, ${p} image tokens), provider ${o.provider}` +
      `${gpuName ? ` (${gpuName})` : ""}; batch ${s.batch}, ${s.length} text tokens per sequence; ${s.prompts} prompts × ${s.newTokens} new tokens`,
  );

  // ── exchange directory ──
  const dir = o.keep ? path.join(o.keep, size) : mkdtempSync(path.join(os.tmpdir(), `alignc-bench-torch-${size}-`));
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(o.seed);
  const params = initTinyVlm(c, rng.fork("weights"));
  const setup = await timed(() => {
    const sft = sftData(c, rng.fork("sft"), steps, s.batch, s.length);
    const dpo = dpoData(c, rng.fork("dpo"), steps, s.batch, s.length);
    const generate = generateData(c, rng.fork("generate"), s.prompts, s.promptLength);
    saveSafetensors(path.join(dir, "model.safetensors"), new Map(params.map((w) => [w.name, w.data])), { format: "pt", producer: "alignc bench/torch.ts" });
    saveSafetensors(path.join(dir, "sft.safetensors"), sft);
    saveSafetensors(path.join(dir, "dpo.safetensors"), dpo);
    saveSafetensors(path.join(dir, "generate.safetensors"), generate);
    return { sft, dpo, generate };
  });
  const tokens = { sft: s.batch * (p + s.length), dpo: 2 * s.batch * (p + s.length) };
  const exchange = {
    format: "alignc-torch-bench",
    version: 1,
    size,
    config: { vocab: c.vocab, imageSize: c.imageSize, patch: c.patch, vision: c.vision, text: c.text, textContext: c.textContext },
    device: o.provider,
    precisions: o.precisions,
    modes: o.torchModes,
    compile_mode: o.compileMode,
    steps_per_unit: steps,
    runs: o.runs,
    sft: { file: "sft.safetensors", batch: s.batch, length: s.length, tokens_per_step: tokens.sft, optimizer: SFT_OPTIMIZER, clip_norm: CLIP_NORM },
    dpo: {
      file: "dpo.safetensors",
      batch: s.batch,
      length: s.length,
      tokens_per_step: tokens.dpo,
      beta: OBJECTIVE.beta,
      loss: OBJECTIVE.loss,
      logps: OBJECTIVE.logps,
      optimizer: DPO_OPTIMIZER,
      clip_norm: CLIP_NORM,
      reference: "fixed numbers in the batch (ref_chosen, ref_rejected)",
    },
    generate: { file: "generate.safetensors", prompts: s.prompts, prompt_width: s.promptLength, new_tokens: s.newTokens, runs: o.runs, greedy: true },
  };
  writeFileSync(path.join(dir, "config.json"), `${JSON.stringify(exchange, null, 2)}\n`);

  // ── alignc ──
  const runtime = new Runtime({ provider: o.provider, deviceId: o.deviceId, ...o.engine });
  const gpu = o.provider === "cuda" ? new GpuMemory(process.env.CUDA_VISIBLE_DEVICES?.split(",")[0] ?? String(o.deviceId)) : null;
  const x: SizeContext = { size, c, params, s, steps, ...setup.value, runtime, gpu, o };
  const alignc: Record<
    string,
    { sft: Record<string, TrainFigures | Failure>; dpo: Record<string, TrainFigures | Failure>; generate: GenerateFigures | Failure }
  > = {};
  const t0 = performance.now();
  for (const precision of o.precisions) {
    const r = {
      sft: {} as Record<string, TrainFigures | Failure>,
      dpo: {} as Record<string, TrainFigures | Failure>,
      generate: null as unknown as GenerateFigures | Failure,
    };
    for (const workload of ["sft", "dpo"] as const)
      for (const k of ks) {
        const f = await alignTrain(x, workload, precision, k);
        r[workload][`K=${k}`] = f;
        console.log(
          `  alignc ${precision} ${workload} K=${k}: ${f.ok ? `${fmt(f.tokens_per_second)} tokens/s (session ${fmt(f.compile.session_seconds, 1)} s)` : f.error.split("\n")[0]}`,
        );
      }
    r.generate = await alignGenerate(x, precision);
    const g = r.generate;
    console.log(
      `  alignc ${precision} generate: ${g.ok ? `${fmt(g.tokens_per_second)} tokens/s (session ${fmt(g.compile.session_seconds, 1)} s)` : g.error.split("\n")[0]}`,
    );
    alignc[precision] = r;
  }
  const aligncSeconds = (performance.now() - t0) / 1000;
  await runtime.release();

  // ── PyTorch ──
  const torch: { ok: true; report: TorchReport; wall_seconds: number } | Failure =
    o.torchModes.length === 0 ? { ok: false, error: "skipped (--torch-modes none)" } : problem ? { ok: false, error: problem } : await runTorch(o, dir);
  if (!torch.ok) console.log(`  torch: ${torch.error}`);

  // ── merge ──
  const rows: Row[] = [];
  const agreement: Agreement[] = [];
  const perSecond = {
    sft: flops.sftStep(s.batch, s.length),
    dpo: flops.dpoStep(s.batch, s.length),
    generate: flops.generate(s.prompts, s.promptLength, s.newTokens),
  };
  for (const precision of o.precisions) {
    const peak = o.provider === "cuda" ? gpuPeak(gpuName, precision) : null;
    const tol = tolerance(o.provider, precision);
    const torchOf = (mode: TorchMode) => (torch.ok ? torch.report.results[precision]?.[mode] : undefined);
    for (const workload of ["sft", "dpo", "generate"] as const) {
      const work = perSecond[workload];
      const rate = (seconds: number | null) => (seconds ? work / seconds / 1e12 : null);
      const torchRows = o.torchModes.map((mode) => {
        const t = torchOf(mode)?.[workload] as (TorchTrain & TorchGenerate) | undefined;
        const seconds = t?.ok ? (workload === "generate" ? (t.median_run_seconds ?? null) : (t.step_seconds ?? null)) : null;
        const tf = rate(seconds);
        const row: Row = {
          workload,
          precision,
          implementation: `torch ${mode}`,
          ok: t?.ok ?? false,
          error: t ? t.error : torch.ok ? "not run" : torch.error,
          tokens_per_second: t?.ok ? (t.tokens_per_second ?? null) : null,
          seconds,
          model_tflops: tf,
          mfu: tf !== null && peak ? tf / peak.tflops : null,
          memory: t?.memory ? { kind: t.memory.kind, bytes: t.memory.bytes } : null,
          vs_eager: null,
          vs_compile: null,
          compile_seconds: t?.compile_seconds ?? null,
        };
        return row;
      });
      const tps = (mode: TorchMode) => torchRows.find((r) => r.implementation === `torch ${mode}`)?.tokens_per_second ?? null;
      const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? a / b : null);
      const a = alignc[precision]!;
      const aligncRuns: [string, TrainFigures | GenerateFigures | Failure][] =
        workload === "generate" ? [["alignc", a.generate]] : ks.map((k) => [`alignc K=${k}`, a[workload][`K=${k}`]!]);
      for (const [name, f] of aligncRuns) {
        const seconds = f.ok ? ("step_seconds" in f ? f.step_seconds : f.median_run_seconds) : null;
        const tf = rate(seconds);
        const mine = f.ok ? f.tokens_per_second : null;
        rows.push({
          workload,
          precision,
          implementation: name,
          ok: f.ok,
          error: f.ok ? undefined : f.error,
          tokens_per_second: mine,
          seconds,
          model_tflops: tf,
          mfu: tf !== null && peak ? tf / peak.tflops : null,
          memory: f.ok ? f.memory : null,
          vs_eager: ratio(mine, tps("eager")),
          vs_compile: ratio(mine, tps("compile")),
          compile_seconds: f.ok ? f.compile.build_seconds + f.compile.serialize_seconds + f.compile.session_seconds : null,
        });
      }
      rows.push(...torchRows);

      // Agreement with each PyTorch mode.
      for (const mode of o.torchModes) {
        const t = torchOf(mode)?.[workload];
        if (!t?.ok) continue;
        if (workload === "generate") {
          if (a.generate.ok && (t as TorchGenerate).tokens)
            agreement.push(
              ...tokenAgreement(
                precision,
                `torch ${mode}`,
                a.generate.tokens,
                (t as TorchGenerate).tokens!,
                o.provider === "cpu" && precision === "fp32" ? "~100% expected on CPU fp32" : "ties and TF32/fp16 rounding can flip a token",
              ),
            );
        } else {
          // The largest K's warm-up run: steps 1…M from the initial weights (step 1 is the same whatever K).
          const f = [...ks]
            .reverse()
            .map((k) => a[workload][`K=${k}`]!)
            .find((g) => g.ok);
          if (f?.ok) agreement.push(...trainAgreement(workload, precision, `torch ${mode}`, f, t as TorchTrain, tol, true));
        }
      }
    }
  }
  if (!o.keep) rmSync(dir, { recursive: true, force: true });
  return {
    size,
    date: new Date().toISOString(),
    config: { vocab: c.vocab, imageSize: c.imageSize, imageTokens: p, patch: c.patch, vision: c.vision, text: c.text, textContext: c.textContext },
    parameters: parameterCount(c),
    settings: { ...s, staged_steps: steps, runs: o.runs, ks },
    tokens_per_step: tokens,
    model_flops: { sft_step: perSecond.sft, dpo_step: perSecond.dpo, generate_run: perSecond.generate },
    exchange_dir: o.keep ? dir : null,
    setup_seconds: round(setup.s, 2),
    alignc_seconds: round(aligncSeconds, 1),
    alignc: withoutTokens(alignc),
    torch: torch.ok ? { ...withoutTokens(torch.report), wall_seconds: torch.wall_seconds } : { error: torch.error },
    rows,
    agreement,
  };
}

/** A copy with every generation's `tokens` ([prompts][new tokens]) cut to its first rows, as `tokens_sample`: the agreement figures cover them all. */
function withoutTokens<T>(value: T): T {
  const cut = (_key: string, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v) && Array.isArray((v as { tokens?: unknown }).tokens)) {
      const { tokens, ...rest } = v as { tokens: unknown[] };
      return { ...rest, tokens_sample: tokens.slice(0, 4) };
    }
    return v;
  };
  return JSON.parse(JSON.stringify(value, cut)) as T;
}

// ── report ──

const mib = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? "n/a" : `${fmt(bytes / 2 ** 20)} MiB`);
const sci = (x: number | null) => (x === null ? "—" : x === 0 ? "0" : x.toExponential(1));

function printSize(r: Awaited<ReturnType<typeof benchSize>>, o: Options, gpuName: string | null): void {
  const s = r.settings;
  const P = r.config.imageTokens;
  console.log("");
  console.log(
    `TinyVLM ${r.size}: ${fmt(r.parameters)} parameters, vocab ${r.config.vocab}; ${s.staged_steps} staged batches; alignc K ${s.ks.join(", ")}: a warm-up run, then the median of up to ${s.runs} runs of K steps (stopping after ${MEASURE_SECONDS} s); PyTorch: the median of ${s.runs} units of ${s.staged_steps} steps` +
      `${r.torch && "environment" in r.torch ? `; PyTorch ${r.torch.environment.torch} (${r.torch.environment.device_name ?? r.torch.environment.device})` : ""}`,
  );
  console.log(
    `  sft: batch ${s.batch} × (${P} image + ${s.length} text) = ${fmt(r.tokens_per_step.sft)} tokens/step, AdamW lr ${SFT_OPTIMIZER.lr} wd ${SFT_OPTIMIZER.weightDecay}, clip ${CLIP_NORM}`,
  );
  console.log(
    `  dpo: ${s.batch} pairs × 2 × (${P} + ${s.length}) = ${fmt(r.tokens_per_step.dpo)} tokens/step, sigmoid β ${OBJECTIVE.beta}, summed log-probs, AdamW lr ${DPO_OPTIMIZER.lr}`,
  );
  console.log(`  generate: ${s.prompts} prompts (width ${s.promptLength}) × ${s.newTokens} new tokens, greedy, KV cache; tokens/s counts new tokens`);
  const peaks = o.precisions.map((p) =>
    o.provider === "cuda" ? (gpuPeak(gpuName, p)?.what ?? `${gpuName ?? "unknown GPU"}: peak unknown, MFU n/a`) : "CPU: MFU n/a",
  );
  console.log(`  MFU against: ${[...new Set(peaks)].join("; ")}`);
  const kinds = [...new Set(r.rows.filter((x) => x.memory).map((x) => `${x.implementation.startsWith("alignc") ? "alignc" : "torch"}: ${x.memory!.kind}`))];
  console.log(`  peak memory: ${kinds.join("; ")}`);
  const table: string[][] = [
    ["workload", "precision", "implementation", "tokens/s", "ms/step (gen: /run)", "÷ eager", "÷ compile", "TFLOP/s", "MFU", "peak memory", "compile s"],
  ];
  for (const row of r.rows)
    table.push([
      row.workload,
      row.precision,
      row.implementation,
      row.ok ? fmt(row.tokens_per_second ?? 0) : `failed: ${(row.error ?? "").split("\n")[0]!.slice(0, 70)}`,
      row.seconds !== null ? fmt(row.seconds * 1000, 2) : "",
      row.vs_eager !== null ? fmt(row.vs_eager, 2) : "",
      row.vs_compile !== null ? fmt(row.vs_compile, 2) : "",
      row.model_tflops !== null ? fmt(row.model_tflops, row.model_tflops < 1 ? 3 : 1) : "",
      row.mfu !== null ? `${fmt(row.mfu * 100, 1)}%` : row.ok ? "n/a" : "",
      row.ok ? mib(row.memory?.bytes) : "",
      row.compile_seconds !== null ? fmt(row.compile_seconds, 1) : "",
    ]);
  console.log("");
  printTable(table, (col) => col >= 3);
  if (r.agreement.length > 0) {
    const ag: string[][] = [["workload", "precision", "against", "quantity", "alignc", "torch", "rel. diff", "tolerance", "result"]];
    for (const a of r.agreement)
      ag.push([
        a.workload,
        a.precision,
        a.against,
        a.quantity,
        a.alignc === null ? "—" : a.quantity.startsWith("greedy") ? `${fmt(a.alignc * 100, 1)}%` : a.alignc.toPrecision(7),
        a.torch === null ? "—" : a.torch.toPrecision(7),
        sci(a.rel_diff),
        a.tolerance === null ? "—" : sci(a.tolerance),
        a.pass === null ? (a.note ?? "") : `${a.pass ? "pass" : "FAIL"}${a.note ? ` (${a.note})` : ""}`,
      ]);
    console.log("");
    printTable(ag, (col) => col >= 4 && col <= 7);
  }
}

async function gpuNameOf(o: Options): Promise<string | null> {
  if (o.provider !== "cuda") return null;
  const index = process.env.CUDA_VISIBLE_DEVICES?.split(",")[0] ?? String(o.deviceId);
  const r = await execa("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader", "-i", index], { reject: false });
  return r.failed ? null : String(r.stdout).trim() || null;
}

function ortVersion(): string {
  const dir = onnxruntimePackageDir();
  if (!dir) return "unknown";
  return (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version?: string }).version ?? "unknown";
}

export async function run(args: string[]): Promise<void> {
  const o = parse(args);
  // Fails early when CUDA is not usable; on CUDA its probe session also creates the CUDA context, so that the first
  // workload's memory reading (taken before its session loads) does not count the context either.
  await requireProvider(o.provider);
  const gpuName = await gpuNameOf(o);
  const problem = o.torchModes.length > 0 ? await torchProblem(o.python) : null;
  if (problem) console.log(`torch: the PyTorch side will not run: ${problem}`);
  const t0 = performance.now();
  const sizes: Awaited<ReturnType<typeof benchSize>>[] = [];
  for (const size of o.sizes) {
    const r = await benchSize(size, o, gpuName, problem);
    sizes.push(r);
    printSize(r, o, gpuName);
    console.log("");
    save(o, gpuName, sizes, (performance.now() - t0) / 1000);
  }
  const failed = sizes.flatMap((r) =>
    r.agreement.filter((a) => a.asserted && a.pass === false).map((a) => `${r.size} ${a.precision} ${a.workload} ${a.quantity} vs ${a.against}`),
  );
  if (failed.length > 0) console.log(`torch: agreement outside tolerance: ${failed.join("; ")}`);
}

/**
 * Writes the results file with the sizes done so far. Sizes that an earlier run of this bench wrote into the same
 * file with the same provider and GPU, and that this run does not measure, are kept (each size carries its own date),
 * so `--sizes small` and `--sizes base` run one after the other fill one file.
 */
function save(o: Options, gpuName: string | null, sizes: Awaited<ReturnType<typeof benchSize>>[], seconds: number): void {
  const kept: { size: string }[] = [];
  try {
    const before = JSON.parse(readFileSync(o.out, "utf8")) as {
      benchmark?: string;
      options?: { provider?: string };
      machine?: { gpu?: string | null };
      sizes?: { size: string }[];
    };
    if (before.benchmark === "torch" && before.options?.provider === o.provider && (before.machine?.gpu ?? null) === gpuName)
      kept.push(...(before.sizes ?? []).filter((x) => !o.sizes.includes(x.size as SizeName)));
  } catch {
    // no earlier results
  }
  writeResults(o.out, {
    benchmark: "torch",
    date: new Date().toISOString(),
    machine: { ...machineInfo(), onnxruntime: ortVersion(), gpu: gpuName },
    engine: engineInfo(o.engine),
    options: { ...o, python: o.python },
    vocab: VOCAB,
    optimizers: { sft: SFT_OPTIMIZER, dpo: DPO_OPTIMIZER, clip_norm: CLIP_NORM, objective: OBJECTIVE },
    flop_model:
      "per token forward 2·(matmul parameters touched) + 4·layers·width·(attended length) (causal: positions up to its own; vision: all image tokens); " +
      "unembedding at the positions whose logits are used; training = 3× forward; DPO runs 2B sequences (the image twice); generation = prefill + one position per new token",
    peaks: Object.fromEntries(o.precisions.map((p) => [p, o.provider === "cuda" ? (gpuPeak(gpuName, p)?.what ?? null) : null])),
    tolerances: Object.fromEntries(o.precisions.map((p) => [p, tolerance(o.provider, p)])),
    memory_note:
      o.provider === "cuda"
        ? "alignc: nvidia-smi memory.used (polled every 50 ms) minus the reading before the session loaded — ONNX Runtime's arena reservations, not the CUDA context; torch: max_memory_allocated (max_memory_reserved in the raw results)"
        : "peak RSS of each process (VmHWM, reset before each workload), weights and runtime included",
    measure_seconds: MEASURE_SECONDS,
    seconds: round(seconds, 1),
    sizes: [...kept, ...sizes],
  });
}
