// SFT and offline DPO of a Hugging Face decoder: the seeded data order of ../tinyvlm/sft-schedule.ts, K optimizer steps
// per ONNX Runtime run through the shared loop (../tinyvlm/train-loop.ts), one program per (padded length, scored
// slots, K) with the state handed from program to program. LoRA trains PEFT-named adapters over frozen weights that
// stay in the checkpoint's files (external data: only the adapters and their optimizer state cross host↔device);
// full fine-tuning trains every decoder tensor in float32 (widened from the checkpoint's dtype). The trained model is
// written as a Hugging Face directory (checkpoint-io.ts), with the PEFT adapter beside it for LoRA.

import { HF_LORA_MODULES, type HfLoraModule } from "../../../models/hf/config.ts";
import { decoderWeightSpecs, type Recompute, type WeightSpec } from "../../../models/hf/decoder.ts";
import { type AdapterSpec, adapterSpecs, type HfAdapterValues, type HfLora } from "../../../models/hf/lora.ts";
import { type HfLossOptions, hfDpoBatch, hfDpoLoss, hfSequenceBatch, hfSftLoss } from "../../../models/hf/train.ts";
import { llavaBatchImages, llavaLossImages } from "../../../models/hf/vision/llava.ts";
import { IMAGE_NEWLINE, visionWeightSpecs } from "../../../models/hf/vision/tower.ts";
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
import { peftAdapterFiles, readTensorFloat32, saveHfDirectory } from "./checkpoint-io.ts";
import { type ScoredSequence, sequenceFeeds } from "./feeds.ts";
import { ImageFeeds } from "./images.ts";
import { HfCheckpointError, type HfModel } from "./model.ts";

/** The loop settings of SFT and DPO (TrainingOptions without TinyVLM's LoRA block) and LoRA as PEFT has it. */
export interface HfTrainingOptions extends Omit<TrainingOptions, "lora"> {
  lora?: HfLora;
  /** Recompute in the backward (memory for compute): whole decoder layers (true), or their attention cores. */
  recompute?: Recompute;
}

const PAD_STEP = 8;
const padded = (n: number) => Math.ceil(n / PAD_STEP) * PAD_STEP;

/** The LoRA targets of a phase's settings as Hugging Face modules; TinyVLM's names are refused (check refuses them first). */
export function hfLoraOf(settings: { rank: number; alpha: number; targets: readonly string[]; projectorLr?: number } | undefined): HfLora | undefined {
  if (!settings) return undefined;
  const wrong = settings.targets.filter((t) => !(HF_LORA_MODULES as readonly string[]).includes(t));
  if (wrong.length > 0)
    throw new HfCheckpointError(`LoRA targets ${wrong.join(", ")} are not modules of a Hugging Face decoder (${HF_LORA_MODULES.join(", ")})`);
  const lora: HfLora = { rank: settings.rank, alpha: settings.alpha, targets: settings.targets as HfLoraModule[] };
  if (settings.projectorLr !== undefined) lora.projectorLr = settings.projectorLr;
  return lora;
}

/** A projector weight of a LLaVA (trained fully with projector_lr, or in full fine-tuning). */
const isProjector = (name: string) => name.startsWith("multi_modal_projector.");

/**
 * A Hugging Face model's trainers: LoRA adapters over weights in place (a LLaVA's projector trained fully beside them
 * with projector_lr), or every language-model weight (and a LLaVA's projector). A LLaVA's vision tower is always
 * frozen, read in place, as LLaVA's recipes keep it.
 */
export class HfTrainerPool extends TrainerHandoff {
  readonly adapters: AdapterSpec[];
  /** Weights trained whole, in float32: the decoder's and the projector (full fine-tuning), the projector (LoRA with projector_lr), or none. */
  readonly fullyTrained: WeightSpec[];
  /** A vision-language model's pixel feeds; undefined for a decoder. */
  readonly images: ImageFeeds | undefined;

  constructor(
    runtime: Runtime,
    readonly model: HfModel,
    readonly lora: HfLora | undefined,
    private readonly seed: number,
  ) {
    super(runtime);
    this.adapters = lora ? adapterSpecs(model.shape, lora) : [];
    const vision = model.vision;
    if (lora?.projectorLr !== undefined && !vision)
      throw new HfCheckpointError(`${model.dir}: lora.projector_lr trains a multimodal projector, and ${model.architecture} has none`);
    const projector = vision ? visionWeightSpecs(vision.config).filter((w) => isProjector(w.name)) : [];
    // Full fine-tuning also trains LLaVA-NeXT's image_newline (a parameter, not a module: a PEFT adapter cannot save it, so LoRA leaves it frozen).
    const newline = vision ? visionWeightSpecs(vision.config).filter((w) => w.name === IMAGE_NEWLINE) : [];
    this.fullyTrained = lora ? (lora.projectorLr !== undefined ? projector : []) : [...decoderWeightSpecs(model.shape), ...projector, ...newline];
    this.images = vision ? new ImageFeeds(vision) : undefined;
  }

  /**
   * LoRA: A ~ U(−1/√in, 1/√in) (PEFT's default, kaiming-uniform with a = √5), seeded per tensor; B = 0, so training
   * starts at the base model. Weights trained whole: read from the checkpoint, widened to float32.
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
    }
    for (const spec of this.fullyTrained) {
      const ref = this.model.weights.tensors.get(spec.name) as ExternalTensorData;
      out.set(spec.name, { dtype: "float32", shape: spec.shape, data: readTensorFloat32(this.model, ref, spec.name) });
    }
    return out;
  }

  /** Trainable parameters (adapters, weights trained whole) and frozen ones (every other weight the programs read, in place). */
  params(optimizer: OptimizerConfig): Pick<TrainProgramSpec, "trainable" | "frozen" | "externalFolder"> {
    const whole = new Set(this.fullyTrained.map((w) => w.name));
    const projectorLr = this.lora?.projectorLr;
    if (projectorLr !== undefined && !(optimizer.lr > 0))
      throw new HfCheckpointError(
        `lora.projector_lr ${projectorLr} needs a learning rate above 0 to scale (the projector's follows the schedule as the adapters' does)`,
      );
    const lrScale = projectorLr !== undefined ? { lrScale: projectorLr / optimizer.lr } : {};
    const rank = this.lora?.rank ?? 0;
    const trainable: ParamSpec[] = [
      ...this.adapters.flatMap((a): ParamSpec[] => [
        { name: a.a, dtype: "float32", shape: [rank, a.in] },
        { name: a.b, dtype: "float32", shape: [a.out, rank] },
      ]),
      ...this.fullyTrained.map((w): ParamSpec => ({ name: w.name, dtype: "float32", shape: w.shape, ...(isProjector(w.name) ? lrScale : {}) })),
    ];
    const vision = this.model.vision;
    const read = [...decoderWeightSpecs(this.model.shape), ...(vision ? visionWeightSpecs(vision.config) : [])];
    const frozen = read
      .filter((w) => !whole.has(w.name))
      .map((w): ExternalFrozenParam => {
        const ref = this.model.weights.tensors.get(w.name) as ExternalTensorData;
        return { name: w.name, dtype: ref.dtype, shape: w.shape, external: ref };
      });
    return frozen.length > 0 ? { trainable, frozen, externalFolder: this.model.weights.folder } : { trainable };
  }

  /** What the loss of this pool's programs trains, whether it recomputes its layers, and (a LLaVA) how its images meet the text. */
  lossOptions(o: Pick<HfTrainingOptions, "recompute">): HfLossOptions {
    const vision = this.model.vision;
    return {
      ...(this.lora ? { lora: this.lora, adapters: this.adapters } : {}),
      recompute: o.recompute ?? false,
      ...(vision ? { images: llavaLossImages(vision.config) } : {}),
    };
  }

  /** A micro-batch's fields: the sequences', and a LLaVA's images (`images` feature slots). */
  batch(fields: Record<string, TensorSpec>, rows: number, length: number, images: number): Record<string, TensorSpec> {
    const vision = this.model.vision;
    return vision ? { ...fields, ...llavaBatchImages(vision.config, rows, length, images) } : fields;
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

  /** The weights to write: every weight trained whole, and with LoRA W + (α/r)·B·A per adapted module. */
  mergedWeights(): Map<string, Float32Array> {
    const params = this.currentValues();
    const out = new Map<string, Float32Array>();
    for (const w of this.fullyTrained) out.set(w.name, params.get(w.name)?.data as Float32Array);
    if (!this.lora) return out;
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

  /** With LoRA: the adapters' current values (the initial ones before any run) and a projector trained beside them; otherwise undefined. */
  adapterValues(): HfAdapterValues | undefined {
    if (!this.lora) return undefined;
    const now = this.currentValues();
    const values: HfAdapterValues = { lora: this.lora, tensors: new Map([...now].filter(([n]) => n.includes(".lora_"))) };
    if (this.fullyTrained.length > 0) values.replaced = new Map(this.fullyTrained.map((w) => [w.name, now.get(w.name) as TensorData]));
    return values;
  }

  /**
   * Writes the current model into `dir` as a Hugging Face directory: merged weights in the source's dtype (or
   * `dtype`: float32 keeps the trained values exactly), with LoRA the PEFT adapter beside them.
   */
  saveModel(dir: string, dtype?: "float32"): void {
    const values = this.adapterValues();
    saveHfDirectory(dir, this.model, this.mergedWeights(), values ? peftAdapterFiles(this.model, values) : undefined, dtype);
  }
}

/** A DPO pair as token ids: the prompt, the chosen and rejected answers, the pair's weight and reference log-probs. */
export interface HfPair {
  promptIds: readonly number[];
  /** The image a vision-language model sees with the prompt (a file path). */
  image?: string;
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
        pool.batch(hfSequenceBatch(model.shape, o.batch, length, scored), o.batch, length, o.batch),
        run.steps,
        hfSftLoss(model.shape, { ...pool.lossOptions(o), average: o.lossAverage }),
      ),
    feeds: async (run, { length, scored }) => {
      const parts: Record<string, TensorData>[] = [];
      for (let at = 0; at < run.examples.length; at += o.batch) {
        const rowsOf = run.examples.slice(at, at + o.batch).map((i) => examples[i] as ScoredSequence);
        const f = sequenceFeeds(model.shape, rowsOf, o.batch, length, scored, model.padId);
        // Row r shows its own image in slot r (the padding rows repeat the last example, image and all).
        const shown = Array.from({ length: o.batch }, (_, r) => (rowsOf[Math.min(r, rowsOf.length - 1)] as ScoredSequence).image);
        parts.push({ ...f, ...(await pool.images?.rowFeeds(f.input_ids as TensorData, shown)) });
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
      pool.spec(
        o,
        pool.batch(hfDpoBatch(model.shape, o.batch, length, scored), 2 * o.batch, length, o.batch),
        run.steps,
        hfDpoLoss(model.shape, o.objective, pool.lossOptions(o)),
      ),
    feeds: async (run, { length, scored }) => {
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
        // Pair j's image in slot j, which its chosen row j and rejected row B + j both show (its features computed once).
        const shown = Array.from({ length: o.batch }, (_, j) => (batch[Math.min(j, batch.length - 1)] as HfPair).image);
        const rowSlot = Array.from({ length: 2 * o.batch }, (_, r) => (shown[r % o.batch] ? r % o.batch : null));
        const images = await pool.images?.feeds(f.input_ids as TensorData, rowSlot, shown, o.batch);
        parts.push({ ...f, ...images, ref_chosen: per((p) => p.refChosen), ref_rejected: per((p) => p.refRejected), weight: per((p) => p.weight) });
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
    feeds: (run: { examples: number[] }, size: Size) => Promise<Record<string, TensorData>>;
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
