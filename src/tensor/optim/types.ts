// Optimizer and schedule configurations (the .align `optimizer:` and `schedule:` settings map onto these).
export interface AdamWConfig {
  kind: "adamw";
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface SgdConfig {
  kind: "sgd";
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

export type OptimizerConfig = AdamWConfig | SgdConfig;

export const adamw = (o: Partial<Omit<AdamWConfig, "kind">> = {}): AdamWConfig => ({
  kind: "adamw",
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  ...o,
});
export const sgd = (o: Partial<Omit<SgdConfig, "kind">> = {}): SgdConfig => ({
  kind: "sgd",
  lr: 1e-2,
  momentum: 0,
  dampening: 0,
  nesterov: false,
  weightDecay: 0,
  ...o,
});

/** Learning-rate schedules with the definitions of Hugging Face's `get_*_schedule_with_warmup` (what TRL uses). */
export type ScheduleConfig =
  | { kind: "constant"; warmupSteps: number }
  | { kind: "linear"; warmupSteps: number; totalSteps: number }
  | { kind: "cosine"; warmupSteps: number; totalSteps: number; cycles?: number /** Final multiplier (default 0). */; minRatio?: number };

/** Names of the per-parameter state tensors each optimizer keeps. */
export function stateNames(o: OptimizerConfig): string[] {
  return o.kind === "adamw" ? ["m", "v"] : o.momentum > 0 ? ["momentum"] : [];
}
