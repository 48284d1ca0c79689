// A training phase's settings: the decoded params every phase has (src/graph/params.ts: checked and defaulted, so
// this is plain conversion) turned into the tensor compiler's optimizer and schedule configurations, the LoRA settings
// and the numbers of the training loop.
import type { LoraBlock, Optimizer, Params, Schedule } from "../../../graph/params.ts";
import { HF_LORA_MODULES } from "../../../models/hf/config.ts";
import type { Recompute } from "../../../models/hf/decoder.ts";
import { adamw, type OptimizerConfig, type ScheduleConfig, sgd } from "../../../tensor/optim/types.ts";
import type { MixedPrecision } from "../../../tensor/program/train-program.ts";
import type { Runtime } from "../../engine/session.ts";
import { checkLoraSettings, LoraError, type LoraSettings } from "../../models/tinyvlm/adapters.ts";
import { stepsForEpochs } from "../../models/tinyvlm/sft.ts";
import { stepsPerRunFor } from "../checkpoints.ts";
import { NodeError } from "../node-executor.ts";

/** The settings every training phase has (sft, dpo, online and mixed alike). */
export type TrainingParams = Pick<
  Params<"train.sft">,
  | "optimizer"
  | "schedule"
  | "lora"
  | "epochs"
  | "steps"
  | "batch"
  | "accumulation"
  | "grad_clip"
  | "steps_per_run"
  | "precision"
  | "device"
  | "checkpoint_every"
  | "recompute"
  | "seed"
>;

/** Optimizer steps in one ONNX Runtime run when `steps_per_run` is not set (the catalog leaves it to the runtime). */
export const STEPS_PER_RUN = 25;

/** A schedule before the phase's length is known; warmup is a number of steps (≥ 1) or a share of all steps. */
export type ScheduleSettings = { kind: "constant" | "linear"; warmup: number } | { kind: "cosine"; warmup: number; minRatio: number };

export interface TrainingSettings {
  /** The phase's device; absent: alignc run --device. */
  device: string | undefined;
  batch: number;
  accumulation: number;
  /** Optimizer steps; absent: `epochs` passes over the data. */
  steps: number | undefined;
  /** Passes over the data when `steps` is not set (1 unless given). */
  epochs: number;
  /** Optimizer steps per ONNX Runtime run, as asked. */
  stepsPerRun: number;
  checkpointEvery: number | undefined;
  clipNorm: number;
  seed: number;
  /** `precision: fp16 | bf16` (docs/gpu.md, "Mixed precision"); absent for fp32. */
  mixedPrecision: MixedPrecision | undefined;
  optimizer: OptimizerConfig;
  schedule: ScheduleSettings;
  /** Absent: every weight is trained. */
  lora: LoraSettings | undefined;
  /** Recompute in the backward — true: whole decoder layers; "attention": their attention cores (Hugging Face models; check refuses it on TinyVLM). */
  recompute: Recompute;
}

/** A phase's training settings; a `lora` setting that cannot be used fails here, before anything is loaded. */
export function trainingSettings(p: TrainingParams): TrainingSettings {
  return {
    device: p.device,
    batch: p.batch,
    accumulation: p.accumulation,
    steps: p.steps,
    epochs: p.epochs ?? 1,
    stepsPerRun: p.steps_per_run ?? STEPS_PER_RUN,
    checkpointEvery: p.checkpoint_every,
    clipNorm: p.grad_clip,
    seed: p.seed,
    mixedPrecision: mixedPrecisionOf(p.precision),
    optimizer: optimizerOf(p.optimizer),
    schedule: scheduleSettingsOf(p.schedule),
    lora: loraOf(p.lora),
    recompute: p.recompute === "attention" ? "attention" : p.recompute === true,
  };
}

/** TinyVLM's training programs keep every activation: `recompute` is refused for them (check refuses it first). */
export function tinyVlmOnly(t: Pick<TrainingSettings, "recompute">): void {
  if (t.recompute)
    throw new NodeError(`recompute: ${t.recompute} is for Hugging Face models; TinyVLM's training programs keep every activation (write recompute: false)`);
}

export function optimizerOf(o: Optimizer): OptimizerConfig {
  switch (o.type) {
    case "adamw":
      return adamw({ lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weight_decay });
    case "sgd":
      return sgd({ lr: o.lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weight_decay });
  }
}

export function scheduleSettingsOf(s: Schedule): ScheduleSettings {
  return s.type === "cosine" ? { kind: "cosine", warmup: s.warmup, minRatio: s.min_ratio } : { kind: s.type, warmup: s.warmup };
}

/** The schedule over `totalSteps`: warmup is a number of steps (an integer ≥ 1) or a share of all steps. */
export function scheduleOf(s: ScheduleSettings, totalSteps: number): ScheduleConfig {
  const w = s.warmup;
  const warmupSteps = Number.isInteger(w) && w >= 1 ? w : Math.round(w * totalSteps);
  if (s.kind === "cosine") return { kind: "cosine", warmupSteps, totalSteps, minRatio: s.minRatio };
  if (s.kind === "linear") return { kind: "linear", warmupSteps, totalSteps };
  return { kind: "constant", warmupSteps };
}

/** The `precision` setting: fp32 (nothing), fp16 or bf16 compute with float32 master weights. */
function mixedPrecisionOf(precision: TrainingParams["precision"]): MixedPrecision | undefined {
  if (precision === "fp16") return { compute: "float16" };
  if (precision === "bf16") return { compute: "bfloat16" };
  return undefined;
}

/**
 * The `lora` block as the adapters take it (α defaults to 2·r), checked for what only the runtime refuses (the
 * projector both adapted and trained fully): a LoraError becomes a NodeError naming what to change.
 */
export function loraOf(block: LoraBlock | undefined): LoraSettings | undefined {
  if (!block) return undefined;
  // The setting's type takes Hugging Face module names too (q_proj …), which check allows only on hf models (their
  // adapters check them, runtime/models/hf/train.ts `hfLoraOf`); TinyVLM's adapters refuse any other name.
  const targets = block.targets as LoraSettings["targets"];
  const s: LoraSettings = { rank: block.rank, alpha: block.alpha ?? 2 * block.rank, targets, dropout: block.dropout };
  if (block.projector_lr !== undefined) s.projectorLr = block.projector_lr;
  if (targets.every((t) => (HF_LORA_MODULES as readonly string[]).includes(t))) return s;
  try {
    checkLoraSettings(s);
  } catch (e) {
    if (e instanceof LoraError) throw new NodeError(`lora: ${e.message}`, { cause: e });
    throw e;
  }
  return s;
}

export interface LoopSettings {
  batch: number;
  accumulation: number;
  steps: number;
  stepsPerRun: number;
  clipNorm: number;
  seed: number;
  /** checkpoint_every (docs/preference-training.md, "Checkpoints and resuming"); stepsPerRun then divides it, so runs end where checkpoints are taken. */
  checkpointEvery?: number;
  /** Why stepsPerRun is lower than asked (checkpoint_every), for the log. */
  stepsPerRunNote?: string;
  /** `precision: fp16 | bf16` (docs/gpu.md, "Mixed precision"); absent for fp32. */
  mixedPrecision?: MixedPrecision;
}

/** Batch, accumulation and the number of optimizer steps (from `steps`, or `epochs` over `examples`). */
export function loopOf(t: TrainingSettings, examples: number, what: string): LoopSettings {
  const { batch, accumulation, checkpointEvery } = t;
  if (batch > examples) throw new NodeError(`batch ${batch} is larger than the ${examples} examples of ${what}; lower batch or use more data`);
  if (batch * accumulation > examples)
    throw new NodeError(
      `batch ${batch} × accumulation ${accumulation} = ${batch * accumulation} examples per step is more than the ${examples} examples of ${what}; lower batch or accumulation`,
    );
  const steps = t.steps ?? stepsForEpochs(examples, batch, accumulation, t.epochs);
  const asked = Math.min(steps, t.stepsPerRun);
  // Checkpoints are taken at run ends: runs of K steps, K the largest divisor of checkpoint_every not above the asked K.
  const stepsPerRun = stepsPerRunFor(checkpointEvery, steps, asked);
  return {
    batch,
    accumulation,
    steps,
    stepsPerRun,
    clipNorm: t.clipNorm,
    seed: t.seed,
    ...(t.mixedPrecision ? { mixedPrecision: t.mixedPrecision } : {}),
    ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
    ...(stepsPerRun !== asked
      ? {
          stepsPerRunNote: `${stepsPerRun} steps per run instead of ${asked}, so that runs end on the checkpoints every ${checkpointEvery} steps (a checkpoint_every that is a multiple of steps_per_run keeps it)`,
        }
      : {}),
  };
}

/**
 * Refuses a precision the device cannot run, before anything is trained: ONNX Runtime's CPU provider has no bfloat16
 * kernels (float16 runs there, most ops computed in float32 behind inserted casts — correct, but no faster).
 */
export function checkPrecisionOnDevice(loop: Pick<LoopSettings, "mixedPrecision">, runtime: Runtime, phase: string): void {
  if (loop.mixedPrecision?.compute === "bfloat16" && runtime.options.provider !== "cuda")
    throw new NodeError(
      `${phase}: precision bf16 needs CUDA (ONNX Runtime's CPU provider has no bfloat16 kernels); run with --device cuda, or use precision fp16 or fp32 on CPU`,
    );
}

/**
 * Runs a phase's training; under mixed precision, ONNX Runtime's refusal to place a node (no kernel for the compute
 * type on any provider) becomes a message saying which op and what to use instead.
 */
export async function explainingPrecision<T>(mixedPrecision: MixedPrecision | undefined, phase: string, train: () => Promise<T>): Promise<T> {
  try {
    return await train();
  } catch (e) {
    const op = mixedPrecision && /Provider type for (\w+) node/.exec(e instanceof Error ? e.message : String(e))?.[1];
    if (!op || !mixedPrecision) throw e;
    const precision = mixedPrecision.compute === "bfloat16" ? "bf16" : "fp16";
    throw new NodeError(
      `${phase}: precision ${precision}: ONNX Runtime's ${precision === "bf16" ? "CUDA " : ""}provider has no ${mixedPrecision.compute} kernel for ${op}, which this model's training program uses; use precision ${precision === "bf16" ? "fp16" : "fp32"} (docs/gpu.md, "Mixed precision")`,
    );
  }
}
