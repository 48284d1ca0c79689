// SFT and offline DPO of a Hugging Face decoder: the seeded data order of ../tinyvlm/sft-schedule.ts, K optimizer steps
// per ONNX Runtime run through the shared loop (../tinyvlm/train-loop.ts), one program per (padded length, scored
// slots, K) with the state handed from program to program. LoRA trains PEFT-named adapters over frozen weights that
// stay in the checkpoint's files (external data: only the adapters and their optimizer state cross host↔device);
// full fine-tuning trains every decoder tensor in float32 (widened from the checkpoint's dtype). The trained model is
// written as a Hugging Face directory (checkpoint-io.ts), with the PEFT adapter beside it for LoRA.

import { HF_LORA_MODULES, type HfLoraModule } from "../../../models/hf/config.ts";
import { decoderWeightSpecs } from "../../../models/hf/decoder.ts";
import { type AdapterSpec, adapterSpecs, type HfAdapterValues, type HfLora } from "../../../models/hf/lora.ts";
import { type HfLossOptions, hfDpoBatch, hfDpoLoss, hfSequenceBatch, hfSftLoss } from "../../../models/hf/train.ts";
import type { PreferenceObjective } from "../../../models/layers/preference.ts";
import { DPO_METRICS } from "../../../models/layers/preference.ts";
import { allocate } from "../../../tensor/ir/dtype.ts";
import type { ExternalTensorData, TensorData } from "../../../tensor/ir/graph.ts";
import type { OptimizerConfig } from "../../../tensor/optim/types.ts";
import type { ExternalFrozenParam, LossFn, ParamSpec, TensorSpec, TrainProgramSpec } from "../../../tensor/program/train-program.ts";
import { Rng } from "../../../util/random.ts";
import type { Runtime } from "../../engine/session.ts";
import type { ResumePoint, SftStepMetrics } from "../tinyvlm/sft.ts";
import { sftSchedule } from "../tinyvlm/sft-schedule.ts";
import { ampColumns, type LoopHooks, loopSpec, TrainerHandoff, type TrainingOptions, trainRuns } from "../tinyvlm/train-loop.ts";
import { readTensorFloat32, saveHfDirectory } from "./checkpoint-io.ts";
import { type ScoredSequence, sequenceFeeds } from "./feeds.ts";
import { HfCheckpointError, type HfModel } from "./model.ts";

/** The loop settings of SFT and DPO (TrainingOptions without TinyVLM's LoRA block) and LoRA as PEFT has it. */
export interface HfTrainingOptions extends Omit<TrainingOptions, "lora"> {
  lora?: HfLora;
  /** Recompute each decoder layer in the backward (memory for compute: about one more forward per step). */
  recompute?: boolean;
}

const PAD_STEP = 8;
const padded = (n: number) => Math.ceil(n / PAD_STEP) * PAD_STEP;

/** The LoRA targets of a phase's settings as Hugging Face modules; TinyVLM's names are refused (check refuses them first). */
export function hfLoraOf(settings: { rank: number; alpha: number; targets: readonly string[] } | undefined): HfLora | undefined {
  if (!settings) return undefined;
  const wrong = settings.targets.filter((t) => !(HF_LORA_MODULES as readonly string[]).includes(t));
  if (wrong.length > 0)
    throw new HfCheckpointError(`LoRA targets ${wrong.join(", ")} are not modules of a Hugging Face decoder (${HF_LORA_MODULES.join(", ")})`);
  return { rank: settings.rank, alpha: settings.alpha, targets: settings.targets as HfLoraModule[] };
}

/** A Hugging Face decoder's trainers: LoRA adapters over weights in place, or every decoder tensor. */
export class HfTrainerPool extends TrainerHandoff {
  readonly adapters: AdapterSpec[];

  constructor(
    runtime: Runtime,
    readonly model: HfModel,
    readonly lora: HfLora | undefined,
    private readonly seed: number,
  ) {
    super(runtime);
    this.adapters = lora ? adapterSpecs(model.shape, lora) : [];
  }

  /**
   * LoRA: A ~ U(−1/√in, 1/√in) (PEFT's default, kaiming-uniform with a = √5), seeded per tensor; B = 0, so training
   * starts at the base model. Full: every decoder tensor read from the checkpoint, widened to float32.
   */
  protected initial(): ReadonlyMap<string, TensorData> {
    const out = new Map<string, TensorData>();
    if (this.lora) {
      const rng = new Rng(this.seed).fork("hf-lora");
      for (const a of this.adapters) {
        const r = rng.fork(a.a);
        const bound = 1 / Math.sqrt(a.in);
        out.set(a.a, {
          dtype: "float32",
          shape: [this.lora.rank, a.in],
          data: Float32Array.from({ length: this.lora.rank * a.in }, () => (2 * r.uniform() - 1) * bound),
        });
        out.set(a.b, { dtype: "float32", shape: [a.out, this.lora.rank], data: allocate("float32", a.out * this.lora.rank) });
      }
      return out;
    }
    for (const spec of decoderWeightSpecs(this.model.shape)) {
      const ref = this.model.weights.tensors.get(spec.name) as ExternalTensorData;
      out.set(spec.name, { dtype: "float32", shape: spec.shape, data: readTensorFloat32(this.model, ref, spec.name) });
    }
    return out;
  }

  /** Trainable and frozen parameters of a program: adapters over weights in place, or every weight trainable. */
  params(_optimizer: OptimizerConfig): Pick<TrainProgramSpec, "trainable" | "frozen" | "externalFolder"> {
    const specs = decoderWeightSpecs(this.model.shape);
    if (!this.lora) return { trainable: specs.map((s): ParamSpec => ({ name: s.name, dtype: "float32", shape: s.shape })) };
    const rank = this.lora.rank;
    const trainable = this.adapters.flatMap((a): ParamSpec[] => [
      { name: a.a, dtype: "float32", shape: [rank, a.in] },
      { name: a.b, dtype: "float32", shape: [a.out, rank] },
    ]);
    const frozen = specs.map((s): ExternalFrozenParam => {
      const ref = this.model.weights.tensors.get(s.name) as ExternalTensorData;
      return { name: s.name, dtype: ref.dtype, shape: s.shape, external: ref };
    });
    return { trainable, frozen, externalFolder: this.model.weights.folder };
  }

  /** What the loss of this pool's programs trains, and whether it recomputes its layers. */
  lossOptions(o: Pick<HfTrainingOptions, "recompute">): HfLossOptions {
    return { ...(this.lora ? { lora: this.lora, adapters: this.adapters } : {}), recompute: o.recompute === true };
  }

  spec(o: HfTrainingOptions, batch: Record<string, TensorSpec>, steps: number, loss: LossFn): TrainProgramSpec {
    if (this.lora && this.model.dtype !== "float32" && !o.mixedPrecision)
      throw new HfCheckpointError(
        `${this.model.dir}: the weights are ${this.model.dtype}; train with precision: ${this.model.dtype === "bfloat16" ? "bf16" : "fp16"} (fp32 compute over ${this.model.dtype} weights read in place is not supported)`,
      );
    return { ...this.params(o.optimizer), ...loopSpec(o, batch, steps), loss };
  }

  /** The trained parameters (initial ones before any run). */
  currentValues(): Map<string, TensorData> {
    const now = this.currentParams();
    return now.size > 0 ? now : new Map(this.initial());
  }

  /** The merged weights to write: W + (α/r)·B·A per adapted module (LoRA), or every trained tensor. */
  mergedWeights(): Map<string, Float32Array> {
    const params = this.currentValues();
    const out = new Map<string, Float32Array>();
    if (!this.lora) {
      for (const [name, t] of params) out.set(name, t.data as Float32Array);
      return out;
    }
    const scale = this.lora.alpha / this.lora.rank;
    const r = this.lora.rank;
    for (const a of this.adapters) {
      const name = `${a.module}.weight`;
      const w = readTensorFloat32(this.model, this.model.weights.tensors.get(name) as ExternalTensorData, name); // a fresh array
      const A = params.get(a.a)?.data as Float32Array; // [r, in]
      const B = params.get(a.b)?.data as Float32Array; // [out, r]
      for (let o = 0; o < a.out; o++)
        for (let k = 0; k < r; k++) {
          const bok = (B[o * r + k] as number) * scale;
          if (bok === 0) continue;
          const row = o * a.in;
          for (let i = 0; i < a.in; i++) w[row + i] = (w[row + i] as number) + bok * (A[k * a.in + i] as number);
        }
      out.set(name, w);
    }
    return out;
  }

  /** With LoRA: the adapters' current values (the initial ones before any run); otherwise undefined. */
  adapterValues(): HfAdapterValues | undefined {
    if (!this.lora) return undefined;
    return { lora: this.lora, tensors: new Map([...this.currentValues()].filter(([n]) => n.includes(".lora_"))) };
  }

  /**
   * Writes the current model into `dir` as a Hugging Face directory: merged weights in the source's dtype (or
   * `dtype`: float32 keeps the trained values exactly), with LoRA the PEFT adapter beside them.
   */
  saveModel(dir: string, dtype?: "float32"): void {
    const values = this.adapterValues();
    const adapter = values ? { rank: values.lora.rank, alpha: values.lora.alpha, targets: values.lora.targets, tensors: values.tensors } : undefined;
    saveHfDirectory(dir, this.model, this.mergedWeights(), adapter, dtype);
  }
}

/** A DPO pair as token ids: the prompt, the chosen and rejected answers, the pair's weight and reference log-probs. */
export interface HfPair {
  promptIds: readonly number[];
  chosenIds: readonly number[];
  rejectedIds: readonly number[];
  weight: number;
  refChosen: number;
  refRejected: number;
}

export type HfStepMetrics = Record<string, number> & { step: number; epoch: number; loss: number };

/** Stacks per-micro-batch feeds along a new leading axis: [n, ...shape] per field. */
export function stage(parts: readonly Record<string, TensorData>[]): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  for (const field of Object.keys(parts[0] ?? {})) {
    const first = (parts[0] as Record<string, TensorData>)[field] as TensorData;
    const n = first.data.length;
    const data = allocate(first.dtype, n * parts.length);
    parts.forEach((p, i) => {
      (data as Float32Array).set((p[field] as TensorData).data as Float32Array, i * n);
    });
    out[field] = { dtype: first.dtype, shape: [parts.length, ...first.shape], data };
  }
  return out;
}

function runSize(seqs: readonly ScoredSequence[]): RunSize {
  let length = PAD_STEP;
  let scored = PAD_STEP;
  for (const s of seqs) {
    length = Math.max(length, padded(s.promptIds.length + s.answerIds.length));
    scored = Math.max(scored, padded(s.answerIds.length));
  }
  return { length, scored };
}

type RunSize = { length: number; scored: number };

/** The columns every step has: step, epoch, loss, grad_norm, learning_rate, tokens_per_second (and mixed precision's). */
function stepRow(m: { step: number[]; values: Record<string, number[]> }, i: number, epoch: number, tokens: number) {
  return {
    step: m.step[i] as number,
    epoch,
    loss: m.values.loss?.[i] ?? Number.NaN,
    grad_norm: m.values.grad_norm?.[i] ?? Number.NaN,
    learning_rate: m.values.lr?.[i] ?? Number.NaN,
    tokens_per_second: tokens,
    ...ampColumns(m, i),
  };
}

/** SFT on (prompt, answer) token rows: mean cross-entropy over the answer tokens of each micro-batch. */
export async function trainHfSft(
  runtime: Runtime,
  model: HfModel,
  examples: readonly ScoredSequence[],
  o: HfTrainingOptions & { lengthBuckets?: number; lossAverage?: "token" | "example" },
  onRun?: (rows: SftStepMetrics[]) => void,
  more: { onRunEnd?: LoopHooks<SftStepMetrics>["onRunEnd"]; resume?: ResumePoint } = {},
): Promise<{ pool: HfTrainerPool; rows: SftStepMetrics[] }> {
  if (examples.length === 0) throw new HfCheckpointError("no examples to train on");
  const pool = new HfTrainerPool(runtime, model, o.lora, o.seed);
  const perEpoch = examples.length / (o.batch * o.accumulation);
  const runs = sftSchedule(
    examples.map((e) => padded(e.promptIds.length + e.answerIds.length)),
    { perStep: o.batch * o.accumulation, steps: o.steps, stepsPerRun: o.stepsPerRun, buckets: o.lengthBuckets ?? 1, seed: o.seed },
  );
  if (more.resume) pool.restore(more.resume.state);
  const sizeOf = (run: { examples: number[] }) => runSize(run.examples.map((i) => examples[i] as ScoredSequence));
  const rows = await trainRunsBySize(pool, runs, sizeOf, {
    spec: (run, { length, scored }) =>
      pool.spec(
        o,
        hfSequenceBatch(model.shape, o.batch, length, scored),
        run.steps,
        hfSftLoss(model.shape, { ...pool.lossOptions(o), average: o.lossAverage }),
      ),
    feeds: (run, { length, scored }) => {
      const parts: Record<string, TensorData>[] = [];
      for (let at = 0; at < run.examples.length; at += o.batch) {
        const rowsOf = run.examples.slice(at, at + o.batch).map((i) => examples[i] as ScoredSequence);
        parts.push(sequenceFeeds(model.shape, rowsOf, o.batch, length, scored, model.padId));
      }
      return stage(parts);
    },
    rows: (m, run, seconds, { length }) =>
      m.step.map(
        (step, i): SftStepMetrics => ({
          ...stepRow(m, i, step / perEpoch, (o.batch * o.accumulation * length * run.steps) / seconds),
          token_accuracy: m.values.token_accuracy?.[i] ?? Number.NaN,
        }),
      ),
    hooks: { onRun, onRunEnd: more.onRunEnd },
    firstRun: more.resume?.runsDone ?? 0,
  });
  return { pool, rows };
}

/** Offline DPO on token pairs (2B sequences per micro-batch: the chosen answers, then the rejected ones). */
export async function trainHfDpo(
  runtime: Runtime,
  model: HfModel,
  pairs: readonly HfPair[],
  o: HfTrainingOptions & { objective: PreferenceObjective },
  onRun?: (rows: HfStepMetrics[]) => void,
  more: { onRunEnd?: LoopHooks<HfStepMetrics>["onRunEnd"]; resume?: ResumePoint; pool?: HfTrainerPool } = {},
): Promise<{ pool: HfTrainerPool; rows: HfStepMetrics[] }> {
  if (pairs.length === 0) throw new HfCheckpointError("no pairs to train on");
  // A given pool continues its state (online DPO's rounds); the epoch then counts from this call's start.
  const pool = more.pool ?? new HfTrainerPool(runtime, model, o.lora, o.seed);
  const stepOffset = pool.step;
  const perEpoch = pairs.length / (o.batch * o.accumulation);
  const seqs = (p: HfPair): ScoredSequence[] => [
    { promptIds: p.promptIds, answerIds: p.chosenIds },
    { promptIds: p.promptIds, answerIds: p.rejectedIds },
  ];
  const runs = sftSchedule(
    pairs.map((p) => padded(p.promptIds.length + Math.max(p.chosenIds.length, p.rejectedIds.length))),
    { perStep: o.batch * o.accumulation, steps: o.steps, stepsPerRun: o.stepsPerRun, buckets: 1, seed: o.seed },
  );
  if (more.resume) pool.restore(more.resume.state);
  const sizeOf = (run: { examples: number[] }) => runSize(run.examples.flatMap((i) => seqs(pairs[i] as HfPair)));
  const rows = await trainRunsBySize(pool, runs, sizeOf, {
    spec: (run, { length, scored }) =>
      pool.spec(o, hfDpoBatch(model.shape, o.batch, length, scored), run.steps, hfDpoLoss(model.shape, o.objective, pool.lossOptions(o))),
    feeds: (run, { length, scored }) => {
      const parts: Record<string, TensorData>[] = [];
      for (let at = 0; at < run.examples.length; at += o.batch) {
        const batch = run.examples.slice(at, at + o.batch).map((i) => pairs[i] as HfPair);
        // Chosen rows first, then the rejected ones, each side padded to the batch (a short last batch weighs 0).
        const side = (k: 0 | 1) => Array.from({ length: o.batch }, (_, j) => seqs(batch[Math.min(j, batch.length - 1)] as HfPair)[k] as ScoredSequence);
        const f = sequenceFeeds(model.shape, [...side(0), ...side(1)], 2 * o.batch, length, scored, model.padId);
        const per = (pick: (p: HfPair) => number) => ({
          dtype: "float32" as const,
          shape: [o.batch],
          data: Float32Array.from({ length: o.batch }, (_, j) => (j < batch.length ? pick(batch[j] as HfPair) : 0)),
        });
        parts.push({ ...f, ref_chosen: per((p) => p.refChosen), ref_rejected: per((p) => p.refRejected), weight: per((p) => p.weight) });
      }
      return stage(parts);
    },
    rows: (m, run, seconds, { length }) =>
      m.step.map((step, i) => {
        const row: HfStepMetrics = stepRow(m, i, (step - stepOffset) / perEpoch, (2 * o.batch * o.accumulation * length * run.steps) / seconds);
        for (const name of DPO_METRICS) if (!(name === "nll_loss" && o.objective.sftWeight === 0)) row[name] = m.values[name]?.[i] ?? Number.NaN;
        return row;
      }),
    hooks: { onRun, onRunEnd: more.onRunEnd },
    firstRun: more.resume?.runsDone ?? 0,
  });
  return { pool, rows };
}

/** trainRuns with programs keyed by each run's (length, scored slots, K). */
function trainRunsBySize<Row, Size extends RunSize>(
  pool: HfTrainerPool,
  runs: ReturnType<typeof sftSchedule>,
  sizeOf: (run: { examples: number[] }) => Size,
  make: {
    spec: (run: { steps: number }, size: Size) => TrainProgramSpec;
    feeds: (run: { examples: number[] }, size: Size) => Record<string, TensorData>;
    rows: (m: { step: number[]; values: Record<string, number[]> }, run: { steps: number }, seconds: number, size: Size) => Row[];
    hooks: LoopHooks<Row>;
    firstRun: number;
  },
): Promise<Row[]> {
  const sizes = new Map(runs.map((run) => [run, sizeOf(run)]));
  const size = (run: (typeof runs)[number]) => sizes.get(run) as Size;
  return trainRuns<Row>(
    pool,
    runs,
    {
      spec: (run) => make.spec(run, size(run)),
      feeds: (run) => make.feeds(run, size(run)),
      rows: (m, run, seconds) => make.rows(m, run, seconds, size(run)),
      key: (run) => `${size(run).length}/${size(run).scored}/${run.steps}`,
    },
    make.hooks,
    make.firstRun,
  );
}
