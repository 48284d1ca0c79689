// Estimates of what one optimizer step of a Hugging Face training phase costs on a GPU — peak GPU memory and time —
// from config.json and the phase's settings alone (docs/hf-models.md, "Sizing a recipe"). Estimates, not measurements:
// the terms are alignc's own (its ONNX Runtime programs), and the constants in FIT are fitted to the LoRA DPO steps
// docs/performance.md measured on an H100 (test/hf-estimate.test.ts keeps the fit within ±35 % of each of them).
//
// Memory:  peak ≈ ω·W + f·N, where W is the frozen weights as stored, ω the copies of them a run holds, and N the bytes
//   a micro-batch's step holds live by the formula below — the training state; the activations each decoder layer
//   keeps for the backward (per token: seven projections' inputs and the MLP's products in the compute precision, the
//   attention scores and probabilities in float32, 8 B per head per key) or, with recompute, each layer's input and one
//   layer's worth; the backward's working set (one layer's gradients beside its activations: twice one layer's worth);
//   the scored positions' float32 logits with their log-softmax and gradient; the vision tower's largest layer (forward
//   only); the K steps' inputs staged at once — and f the factor ONNX Runtime's CUDA arena takes over it (it grows in
//   powers of two, keeps what it took and cannot place a large tensor in the free space of a smaller region).
// Time:  s ≈ copies/K + A·L·h·(1 + ρ·recompute) + FLOPs/(peak·u): the per-run copies of the trained state in and out
//   of host memory, over K steps per run; a host-bound floor per decoder layer per micro-batch (ONNX Runtime launches
//   every node from the host); the matmul FLOPs over the GPU's dense peak times the share of it reached.
import { hfLoraModules } from "../config.ts";
import type { Recompute } from "../decoder.ts";
import type { HfModelConfig } from "../model-config.ts";
import { imageTokenCount, maxTilesPerImage } from "../vision/anyres.ts";
import { featuresPerTile, towerPositions } from "../vision/tower.ts";
import { parameterCounts, trainableCount } from "./parameters.ts";

export const GiB = 2 ** 30;

/**
 * GPUs `alignc plan --gpu` knows: memory as the card reports it (nvidia-smi's memory.total) and the dense (no
 * sparsity) peak matmul throughput in TFLOP/s for bf16/fp16 and for float32 through TF32, from NVIDIA's datasheets
 * (H100 SXM5 80GB, H200 SXM 141GB, A100 SXM4 80GB, L40S 48GB).
 */
export const GPUS = {
  h100: { name: "H100 80GB", memoryGiB: 79.6, tflops16: 989, tflops32: 494 },
  h200: { name: "H200 141GB", memoryGiB: 140.4, tflops16: 989, tflops32: 494 },
  a100: { name: "A100 80GB", memoryGiB: 80, tflops16: 312, tflops32: 156 },
  l40s: { name: "L40S 48GB", memoryGiB: 45, tflops16: 362, tflops32: 183 },
} as const;
export type GpuName = keyof typeof GPUS;
export const GPU_NAMES = Object.keys(GPUS) as GpuName[];

/**
 * The fitted constants (docs/hf-models.md lists the measurements they come from: docs/performance.md's LoRA DPO steps,
 * bench/results/hf-cuda-*.json, one H100 80GB, ONNX Runtime 1.29).
 */
export const FIT = {
  /** ω: copies of the frozen weights a run holds on the GPU (fitted: one copy leaves 26.6 GiB unexplained at 7B and 512 tokens). */
  weightCopies: 2,
  /** f: what the CUDA arena takes per byte the formula holds live. */
  arena: 2.9,
  /** Host ↔ GPU bytes per second of the per-run state copies (docs/performance.md: 3 × 422 MB each way cost ~0.8 s). */
  copyBytesPerSecond: 3.2e9,
  /** h: host-bound seconds per decoder layer per micro-batch, forward and backward (~7 µs per executed node). */
  hostPerLayer: 0.008,
  /** ρ: the share of h that recompute's extra forward adds. */
  recomputeHost: 0.2,
  /** u: the share of the GPU's dense peak the matmuls reach. */
  utilisation: 0.3,
} as const;
export type Fit = { readonly [K in keyof typeof FIT]: number };

/** What one optimizer step of a phase processes. */
export interface StepShape {
  /** Sequences per micro-batch (a DPO micro-batch of B pairs is 2B sequences) and micro-batches per optimizer step. */
  sequences: number;
  accumulation: number;
  /** Text tokens per sequence before the answer (a LLaVA's image tokens are added here), and answer (scored) tokens. */
  promptTokens: number;
  answerTokens: number;
  /** Images per micro-batch (a DPO pair's image is computed once for both its rows). */
  images: number;
  lora?: { rank: number; targets: readonly string[]; projector: boolean };
  precision: "fp32" | "fp16" | "bf16";
  /** true: whole layers; "attention": each layer's attention core (models/hf/decoder.ts). */
  recompute: Recompute;
  /** K: optimizer steps per ONNX Runtime run. */
  stepsPerRun: number;
  /** Bytes per stored weight (2 for bfloat16/float16 checkpoints). */
  weightBytes: number;
}

export interface StepEstimate {
  /** Tokens per sequence (image tokens included), and image tokens per image (LLaVA-NeXT: the largest pinpoint's). */
  tokens: number;
  imageTokens: number;
  /** Bytes. `live`: ω·W + N; `peak`: ω·W + f·N. */
  memory: {
    weights: number;
    state: number;
    activations: number;
    working: number;
    logits: number;
    tower: number;
    staging: number;
    live: number;
    peak: number;
  };
  /** FLOPs per optimizer step. */
  flops: number;
  /** Seconds per optimizer step, and its parts. */
  seconds: { copies: number; host: number; compute: number; total: number };
}

/** Image tokens one image takes: a LLaVA's features per tile; LLaVA-NeXT's worst case, an image the size of its largest pinpoint. */
export function imageTokensPerImage(c: HfModelConfig): number {
  const l = c.llava;
  if (!l) return 0;
  if (!l.pinpoints) return featuresPerTile(l);
  return Math.max(...l.pinpoints.map(([height, width]) => imageTokenCount(l, { height, width })));
}

/** The estimate of one optimizer step (see the file comment). */
export function estimateStep(c: HfModelConfig, s: StepShape, gpu: GpuName, fit: Fit = FIT): StepEstimate {
  const t = c.text;
  const counts = parameterCounts(c);
  const parameters = counts.language + counts.tower + counts.projector;
  const trainable = trainableCount(c, s.lora);
  const imageTokens = imageTokensPerImage(c);
  const T = s.promptTokens + imageTokens + s.answerTokens;
  const tokens = s.sequences * T;
  const scored = s.sequences * s.answerTokens;
  const cb = s.precision === "fp32" ? 4 : 2;
  const D = t.hiddenSize;
  const L = t.numHiddenLayers;
  const q = t.numAttentionHeads * t.headDim;
  const kv = t.numKeyValueHeads * t.headDim;

  // Memory. Frozen weights as stored (full fine-tuning trains the language model and projector: their float32
  // masters are state). State per trained parameter: its gradient and, fed in and carried out of the run, the master
  // and AdamW's two moments (4 + 2·12 B).
  const frozen = parameters - (s.lora ? 0 : counts.language + counts.projector);
  const weights = frozen * s.weightBytes;
  const state = trainable * 28;
  const attention = tokens * 8 * t.numAttentionHeads * T;
  const layer = tokens * cb * (7 * D + 2 * kv + 3 * t.intermediateSize) + attention;
  // recompute: attention keeps a layer's [T, S] scores and probabilities only while its backward runs.
  const activations = s.recompute === true ? tokens * cb * D * L + layer : s.recompute === "attention" ? (layer - attention) * L + attention : layer * L;
  const working = 2 * layer;
  const logits = scored * t.vocabSize * 4 * 3;
  const tiles = c.llava ? maxTilesPerImage(c.llava) : 0;
  let tower = 0;
  let towerFlops = 0;
  let staging = s.stepsPerRun * tokens * 8 * 3; // int64 ids, mask, positions
  if (c.llava) {
    const v = c.llava.vision;
    const n = towerPositions(v);
    const crops = s.images * tiles;
    tower = crops * n * (cb * (4 * v.hidden + v.intermediate) + 8 * v.heads * n);
    towerFlops = 2 * counts.tower * crops * n + 4 * v.layers * crops * n * n * v.hidden;
    staging += s.stepsPerRun * crops * 3 * v.imageSize * v.imageSize * 4;
  }
  const N = state + activations + working + logits + tower + staging;
  const live = fit.weightCopies * weights + N;
  const peak = fit.weightCopies * weights + fit.arena * N;

  // FLOPs per micro-batch: forward 2 per weight per token (the head at the scored positions only) and attention's
  // 4·T·q per token per layer; the backward's input gradients as much again (attention's twice), the trained weights'
  // gradients 2 per weight per token more; recompute one more forward of the layers; the tower forward only.
  const linear = hfLoraModules(t).reduce((n, m) => n + m.count * m.in * m.out, 0);
  const head = t.vocabSize * D;
  const layersForward = 2 * linear * tokens + 4 * T * q * L * tokens;
  const forward = layersForward + 2 * head * scored;
  const trainedGradients = s.lora ? 6 * (trainable - (s.lora.projector ? counts.projector : 0)) * tokens : 2 * linear * tokens + 2 * head * scored;
  const backward = forward + 4 * T * q * L * tokens + trainedGradients;
  const recomputed = s.recompute === true ? layersForward : s.recompute === "attention" ? 2 * T * q * L * tokens : 0;
  const micro = forward + backward + recomputed + towerFlops;
  const flops = micro * s.accumulation;

  const g = GPUS[gpu];
  const copies = (2 * trainable * 12) / fit.copyBytesPerSecond / s.stepsPerRun;
  const towerLayers = c.llava ? c.llava.vision.layers / 3 : 0; // forward only: about a third of a trained layer's nodes
  // The attention core is about a quarter of a layer's nodes (not measured: the estimate's guess).
  const rho = s.recompute === true ? fit.recomputeHost : s.recompute === "attention" ? fit.recomputeHost / 4 : 0;
  const host = s.accumulation * fit.hostPerLayer * (L * (1 + rho) + towerLayers);
  const compute = flops / ((s.precision === "fp32" ? g.tflops32 : g.tflops16) * 1e12 * fit.utilisation);
  return {
    tokens: T,
    imageTokens,
    memory: { weights, state, activations, working, logits, tower, staging, live, peak },
    flops,
    seconds: { copies, host, compute, total: copies + host + compute },
  };
}
