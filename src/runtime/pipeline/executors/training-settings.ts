// Decoding a training phase's params (docs/execution-graph.md: constructor values are objects with a `type`,
// percentages are fractions) into the tensor compiler's optimizer and schedule configurations.
import { adamw, type OptimizerConfig, type ScheduleConfig, sgd } from "../../../tensor/optim/types.ts";
import type { MixedPrecision } from "../../../tensor/program/train-program.ts";
import type { Runtime } from "../../engine/session.ts";
import { LoraError, type LoraSettings, loraSettingsOf } from "../../models/tinyvlm/adapters.ts";
import { stepsForEpochs } from "../../models/tinyvlm/sft.ts";
import { stepsPerRunFor } from "../checkpoints.ts";
import { type ExecContext, NodeError } from "../node-executor.ts";

type Params = Record<string, unknown>;

const num = (o: Params, key: string, fallback: number): number => (typeof o[key] === "number" ? (o[key] as number) : fallback);

export function optimizerOf(p: unknown): OptimizerConfig {
  const o = (p ?? { type: "adamw" }) as Params;
  if (o.type === "adamw")
    return adamw({
      lr: num(o, "lr", 1e-4),
      beta1: num(o, "beta1", 0.9),
      beta2: num(o, "beta2", 0.999),
      eps: num(o, "eps", 1e-8),
      weightDecay: num(o, "weight_decay", 0),
    });
  if (o.type === "sgd")
    return sgd({ lr: num(o, "lr", 1e-2), momentum: num(o, "momentum", 0.9), nesterov: o.nesterov === true, weightDecay: num(o, "weight_decay", 0) });
  throw new NodeError(`optimizer: unknown type ${JSON.stringify(o.type)}; use adamw or sgd`);
}

/** Warmup is a number of steps (an integer) or a share of all steps (a fraction below 1). */
export function scheduleOf(p: unknown, totalSteps: number): ScheduleConfig {
  const o = (p ?? { type: "constant" }) as Params;
  const w = num(o, "warmup", 0);
  const warmupSteps = Number.isInteger(w) && w >= 1 ? w : Math.round(w * totalSteps);
  if (o.type === "constant") return { kind: "constant", warmupSteps };
  if (o.type === "linear") return { kind: "linear", warmupSteps, totalSteps };
  if (o.type === "cosine") return { kind: "cosine", warmupSteps, totalSteps, minRatio: num(o, "min_ratio", 0) };
  throw new NodeError(`schedule: unknown type ${JSON.stringify(o.type)}; use constant, linear or cosine`);
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
export function loopOf(p: Params, examples: number, what: string): LoopSettings {
  const batch = num(p, "batch", 16);
  const accumulation = num(p, "accumulation", 1);
  if (batch > examples) throw new NodeError(`batch ${batch} is larger than the ${examples} examples of ${what}; lower batch or use more data`);
  if (batch * accumulation > examples)
    throw new NodeError(
      `batch ${batch} × accumulation ${accumulation} = ${batch * accumulation} examples per step is more than the ${examples} examples of ${what}; lower batch or accumulation`,
    );
  const steps = typeof p.steps === "number" ? p.steps : stepsForEpochs(examples, batch, accumulation, num(p, "epochs", 1));
  const asked = Math.min(steps, num(p, "steps_per_run", 25));
  const checkpointEvery = typeof p.checkpoint_every === "number" ? p.checkpoint_every : undefined;
  // Checkpoints are taken at run ends: runs of K steps, K the largest divisor of checkpoint_every not above the asked K.
  const stepsPerRun = stepsPerRunFor(checkpointEvery, steps, asked);
  return {
    batch,
    accumulation,
    steps,
    stepsPerRun,
    clipNorm: num(p, "grad_clip", 1),
    seed: num(p, "seed", 0),
    ...mixedPrecisionOf(p),
    ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
    ...(stepsPerRun !== asked
      ? {
          stepsPerRunNote: `${stepsPerRun} steps per run instead of ${asked}, so that runs end on the checkpoints every ${checkpointEvery} steps (a checkpoint_every that is a multiple of steps_per_run keeps it)`,
        }
      : {}),
  };
}

/** The `precision` setting: fp32 (nothing), fp16 or bf16 compute with float32 master weights. */
function mixedPrecisionOf(p: Params): { mixedPrecision?: MixedPrecision } {
  if (p.precision === undefined || p.precision === "fp32") return {};
  if (p.precision === "fp16") return { mixedPrecision: { compute: "float16" } };
  if (p.precision === "bf16") return { mixedPrecision: { compute: "bfloat16" } };
  throw new NodeError(`precision: unknown value ${JSON.stringify(p.precision)}; use fp32, fp16 or bf16`);
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

/** A training phase's params with `lora` decoded: called first, so that bad settings fail before anything is loaded. */
export function trainingParams(ctx: ExecContext): { p: Params; lora: LoraSettings | undefined } {
  const p = ctx.node.params;
  return { p, lora: loraOf(p.lora) };
}

/** The phase's `lora` setting, checked (a LoraError becomes a NodeError naming what to change). */
export function loraOf(p: unknown): LoraSettings | undefined {
  try {
    return loraSettingsOf(p);
  } catch (e) {
    if (e instanceof LoraError) throw new NodeError(`lora: ${e.message}`);
    throw e;
  }
}
