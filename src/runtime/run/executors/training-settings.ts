// Decoding a training phase's params (docs/execution-graph.md: constructor values are objects with a `type`,
// percentages are fractions) into the tensor compiler's optimizer and schedule configurations.
import { adamw, type OptimizerConfig, type ScheduleConfig, sgd } from "../../../compiler/tensor/optim/types.ts";
import { stepsForEpochs } from "../../vlm/sft.ts";
import { NodeError } from "./types.ts";

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
}

/** Batch, accumulation and the number of optimizer steps (from `steps`, or `epochs` over `examples`). */
export function loopOf(p: Params, examples: number, what: string): LoopSettings {
  const batch = num(p, "batch", 16);
  const accumulation = num(p, "accumulation", 1);
  if (batch > examples) throw new NodeError(`batch ${batch} is larger than the ${examples} examples of ${what}; lower batch or use more data`);
  const steps = typeof p.steps === "number" ? p.steps : stepsForEpochs(examples, batch, accumulation, num(p, "epochs", 1));
  return {
    batch,
    accumulation,
    steps,
    stepsPerRun: Math.min(steps, num(p, "steps_per_run", 25)),
    clipNorm: num(p, "grad_clip", 1),
    seed: num(p, "seed", 0),
  };
}

/** Settings this runtime does not implement yet are refused, never silently ignored. */
export function refuseUnsupported(p: Params, phase: string): void {
  if (p.precision !== undefined && p.precision !== "fp32")
    throw new NodeError(`${phase}: precision ${String(p.precision)} is not supported by alignc run yet; use precision: fp32`);
  if (p.lora !== undefined) throw new NodeError(`${phase}: lora is not supported for this phase yet; remove it to train all weights`);
  if (p.checkpoint_every !== undefined)
    throw new NodeError(`${phase}: checkpoint_every is not supported for this phase yet (the phase's final weights are always stored); remove it`);
}
