// The loop SFT and DPO share: a schedule of runs (sft-schedule.ts), one compiled training program per (padded
// length, K) whose Trainer takes over the parameters and optimizer state from the last one, a run's batches
// staged and trained in one ONNX Runtime run. The pool outlives one schedule (online DPO trains round after round
// with the same optimizer state), and a run's end is where checkpoints are taken and resumed from: a resumed loop
// skips the runs a checkpoint covers and restores its state, so it ends where an uninterrupted one ends.
// With LoRA (adapters.ts) the pool trains the adapters (and the projector with projector_lr) over frozen base
// weights, and `trained()` merges them back into a plain model.
import type { TensorData } from "../../../tensor/ir/graph.ts";
import type { OptimizerConfig, ScheduleConfig } from "../../../tensor/optim/types.ts";
import {
  AMP_METRICS,
  buildTrainProgram,
  type LossFn,
  type MixedPrecision,
  type TensorSpec,
  type TrainProgramSpec,
} from "../../../tensor/program/train-program.ts";
import type { Runtime } from "../../engine/session.ts";
import { type StepMetrics, Trainer, type TrainerState } from "../../engine/trainer.ts";
import { saveCheckpoint } from "../checkpoint.ts";
import type { LoraSettings, TrainedAdapters, VlmAdapters } from "./adapters.ts";
import { modelToCheckpoint, type VlmModel } from "./model.ts";
import type { SftRun } from "./sft-schedule.ts";

/**
 * Trainers by program shape, with the parameters and optimizer state carried from one to the next: the trainer of a
 * new shape starts from the current one's state, and the one left behind drops its copy (memory grows with the state,
 * not with the shapes). Models' pools extend it with what their programs train (TrainerPool below; Hugging Face
 * decoders in ../hf/train.ts).
 */
export abstract class TrainerHandoff {
  private readonly trainers = new Map<string, Trainer>();
  private current?: Trainer;
  private pending?: TrainerState;

  constructor(protected readonly runtime: Runtime) {}

  /** The parameters' values before the first run. */
  protected abstract initial(): ReadonlyMap<string, TensorData>;

  /** Writes the model with the current parameters into `dir` as its family's checkpoint directory (a mid-phase checkpoint). */
  abstract saveModel(dir: string): void;

  /** The trainer for a program shape, holding the current state. */
  trainer(key: string, spec: () => TrainProgramSpec): Trainer {
    let t = this.trainers.get(key);
    if (!t) {
      const s = spec();
      t = new Trainer(this.runtime, buildTrainProgram(s), s, this.current?.parameters() ?? this.initial());
      this.trainers.set(key, t);
    }
    const previous = this.current && this.current !== t ? this.current : undefined;
    const from = this.pending ?? previous?.snapshot();
    if (from) t.restore(from);
    previous?.dropState();
    this.pending = undefined;
    this.current = t;
    return t;
  }

  /** Optimizer steps done so far. */
  get step(): number {
    return this.pending?.step ?? this.current?.step ?? 0;
  }

  /** Everything a continuation depends on (undefined before the first run). */
  snapshot(): TrainerState | undefined {
    return this.pending ?? this.current?.snapshot();
  }

  /** Continue from `state` (a checkpoint's): the next trainer used starts from it. */
  restore(state: TrainerState): void {
    this.pending = state;
  }

  /** Trained parameters' current values by name (none before the first run). */
  protected currentParams(): Map<string, TensorData> {
    // The current trainer copies out its parameters only (its optimizer moments may stay on the GPU).
    if (!this.pending && this.current) return this.current.parameters();
    const out = new Map<string, TensorData>();
    if (this.pending) for (const [name, t] of this.pending.state) if (name.startsWith("param/")) out.set(name.slice("param/".length), t);
    return out;
  }
}

/** A TinyVLM's trainers: every weight trained, or LoRA adapters over frozen weights. */
export class TrainerPool extends TrainerHandoff {
  constructor(
    runtime: Runtime,
    private readonly model: VlmModel,
    /** LoRA: train these adapters instead of every weight. */
    readonly lora?: VlmAdapters,
  ) {
    super(runtime);
  }

  protected initial(): ReadonlyMap<string, TensorData> {
    return this.lora?.initial() ?? this.model.params;
  }

  /** The parameters of a program spec: every weight trainable, or (LoRA) the adapters trainable and the rest frozen. */
  params(optimizer: OptimizerConfig): Pick<TrainProgramSpec, "trainable" | "frozen"> {
    if (this.lora) return { trainable: this.lora.trainable(optimizer), frozen: this.lora.frozen() };
    return { trainable: [...this.model.params].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] })) };
  }

  /** The program's loss: `base` itself, or (LoRA) `base` over the adapted weights W + (α/r)·A·B. */
  loss(base: LossFn): LossFn {
    return this.lora ? this.lora.loss(base) : base;
  }

  /** A run's program: the pool's parameters and loss wrapper, the loop settings of `o`, this batch layout and K. */
  spec(o: TrainingOptions, batch: Record<string, TensorSpec>, steps: number, loss: LossFn): TrainProgramSpec {
    return { ...this.params(o.optimizer), ...loopSpec(o, batch, steps), loss: this.loss(loss) };
  }

  /** The model with the current parameters (the initial ones before any run); with LoRA, the adapters merged in. */
  trained(): VlmModel {
    const current = this.currentParams();
    if (this.lora) return { ...this.model, params: this.lora.merge(current) };
    const params = new Map(this.model.params);
    for (const [name, t] of current) params.set(name, t);
    return { ...this.model, params };
  }

  /** With LoRA: the adapters' current values and the checkpoint files that keep them; otherwise undefined. */
  adapters(): TrainedAdapters | undefined {
    return this.lora?.trained(this.currentParams());
  }

  saveModel(dir: string): void {
    saveCheckpoint(dir, modelToCheckpoint(this.trained()));
  }
}

/** The loop part of a program spec: the batch layout, K, accumulation, optimizer, schedule, clipping, precision. */
export function loopSpec(
  o: Omit<TrainingOptions, "lora">,
  batch: Record<string, TensorSpec>,
  steps: number,
): Omit<TrainProgramSpec, "trainable" | "frozen" | "loss"> {
  return {
    batch,
    steps,
    accumulation: o.accumulation,
    optimizer: o.optimizer,
    schedule: o.schedule,
    clipNorm: o.clipNorm,
    ...(o.mixedPrecision ? { mixedPrecision: o.mixedPrecision } : {}),
  };
}

/** The loop settings SFT and DPO share (SftOptions, DpoOptions). */
export interface TrainingOptions {
  batch: number;
  accumulation: number;
  /** Total optimizer steps. */
  steps: number;
  /** Optimizer steps per ONNX Runtime run (K). */
  stepsPerRun: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  clipNorm: number;
  /** Seeds the data order (and LoRA's A). */
  seed: number;
  /** Train LoRA adapters (seeded by `seed`) instead of every weight; the returned model has them merged in. */
  lora?: LoraSettings;
  /** Half-precision compute with float32 master weights and loss scaling. */
  mixedPrecision?: MixedPrecision;
}

export interface LoopHooks<Row> {
  /** Rows of one run's steps, as they come. */
  onRun?: (rows: Row[]) => void;
  /** After each run: its index in the schedule, the pool (for snapshots and checkpoints). */
  onRunEnd?: (runIndex: number, pool: TrainerHandoff) => void | Promise<void>;
}

/**
 * Trains through `runs` in order, starting at run `firstRun` (a resumed loop: the pool already holds the state
 * after run firstRun − 1). `spec(run)` describes a run's program, `feeds(run)` stages its batches, `rows` turns a
 * run's step metrics into rows.
 */
export async function trainRuns<Row>(
  pool: TrainerHandoff,
  runs: readonly SftRun[],
  make: {
    spec: (run: SftRun) => TrainProgramSpec;
    feeds: (run: SftRun) => Record<string, TensorData> | Promise<Record<string, TensorData>>;
    rows: (m: StepMetrics, run: SftRun, seconds: number) => Row[];
    /** The run's program shape (default: its padded length and K). */
    key?: (run: SftRun) => string;
  },
  hooks: LoopHooks<Row> = {},
  firstRun = 0,
): Promise<Row[]> {
  const out: Row[] = [];
  for (let i = firstRun; i < runs.length; i++) {
    const run = runs[i] as SftRun;
    const trainer = pool.trainer(make.key?.(run) ?? `${run.length}/${run.steps}`, () => make.spec(run));
    const feeds = await make.feeds(run);
    const t0 = performance.now();
    const m = await trainer.run(feeds);
    const these = make.rows(m, run, (performance.now() - t0) / 1000);
    out.push(...these);
    hooks.onRun?.(these);
    await hooks.onRunEnd?.(i, pool);
  }
  return out;
}

/** Mixed precision's per-step columns (the loss scale used, 1 where the step was skipped); none under fp32. */
export function ampColumns(m: StepMetrics, i: number): { "amp/loss_scale"?: number; "amp/skipped"?: number } {
  const out: { "amp/loss_scale"?: number; "amp/skipped"?: number } = {};
  for (const name of AMP_METRICS) {
    const v = m.values[name]?.[i];
    if (v !== undefined) out[name] = v;
  }
  return out;
}
