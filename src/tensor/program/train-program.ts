// A training program: K optimizer steps in one ONNX Runtime run. Parameters and optimizer state are loop-carried;
// mini-batches are staged as one tensor per field ([K·A, ...] for A accumulation micro-batches) and picked inside
// the Loop body; per-step loss, metrics, gradient norm and learning rate come out as scan outputs. The runtime feeds
// the final state back in for the next run, with `step_offset` advanced by K.
//
// Mixed precision (`mixedPrecision`): parameters stay float32 (the master weights, updated in float32); the loss
// function sees float16 or bfloat16 copies, so the forward and backward passes compute in half precision. The
// loss is multiplied by a loss scale before differentiation and the gradients divided by it after, so small
// float16 gradients do not flush to zero; a step whose gradients overflow (inf/NaN) is skipped — parameters and
// optimizer state unchanged — and halves the scale, and every `growthInterval` finite steps in a row double it
// (PyTorch's GradScaler). The scale and that count are loop-carried state like the optimizer's.
import { grad } from "../grad.ts";
import type { DType, TypedArray } from "../ir/dtype.ts";
import type { ExternalTensorData, Tensor, TensorData } from "../ir/graph.ts";
import { toHalfBits } from "../ir/half.ts";
import { ShapeError } from "../ir/shape.ts";
import { Builder } from "../ops/builder.ts";
import type { LoopBodyResult, LoopResult } from "../ops/control.ts";
import * as op from "../ops/index.ts";
import { zerosLike } from "../ops/shape-ops.ts";
import { clipScale, globalNorm } from "../optim/clip.ts";
import { scheduleFactorTensor } from "../optim/schedule.ts";
import { type OptimizerConfig, type ScheduleConfig, stateNames } from "../optim/types.ts";
import { applyUpdate, type StepScalars, stepScalars } from "../optim/update.ts";

export interface TensorSpec {
  dtype: DType;
  shape: number[];
}

export interface ParamSpec extends TensorSpec {
  name: string;
  /**
   * Multiplies the learning rate of this parameter (trainable ones only): AdamW and SGD use lr·lrScale, the
   * schedule scaling both (a separate projector learning rate is projector_lr / lr). Omitted: 1, and the program
   * is exactly what it was without the setting.
   */
  lrScale?: number;
}

/** A frozen weight with its bytes in memory. */
export interface FrozenParam extends ParamSpec {
  data: TypedArray;
}

/** A frozen weight whose bytes stay in a file, as ONNX external data (see `externalFolder`). */
export interface ExternalFrozenParam extends ParamSpec {
  external: ExternalTensorData;
}

/** Compute in float16 or bfloat16 with float32 master weights and (dynamic) loss scaling. */
export interface MixedPrecision {
  compute: "float16" | "bfloat16";
  /** The first loss scale (default 2^16 for float16, as PyTorch's GradScaler; 1 for bfloat16, whose range is float32's). */
  initialScale?: number;
  /** Finite steps in a row before the scale doubles (default 2000; 0 = the scale never grows). */
  growthInterval?: number;
}

/** The model's loss on one micro-batch. Metrics must be scalars. */
export type LossFn = (params: Record<string, Tensor>, batch: Record<string, Tensor>) => { loss: Tensor; metrics?: Record<string, Tensor> };

export interface TrainProgramSpec {
  trainable: ParamSpec[];
  frozen?: (FrozenParam | ExternalFrozenParam)[];
  /** The folder external frozen weights' locations are relative to (the runtime hands it to ONNX Runtime). */
  externalFolder?: string;
  /** One micro-batch's fields. */
  batch: Record<string, TensorSpec>;
  /** Optimizer steps per run (K). */
  steps: number;
  /** Micro-batches per optimizer step (A); gradients are averaged over them. */
  accumulation?: number;
  optimizer: OptimizerConfig;
  schedule?: ScheduleConfig;
  clipNorm?: number;
  loss: LossFn;
  /** The float type of the step counter, learning rate and metrics (that of the parameters). */
  dtype?: DType;
  /** Half-precision compute; the trainable parameters must be float32. */
  mixedPrecision?: MixedPrecision;
}

/** Names of the program's inputs and outputs: the contract with the runtime. */
export const io = {
  param: (name: string) => `param/${name}`,
  state: (kind: string, name: string) => `${kind}/${name}`,
  batch: (field: string) => `batch/${field}`,
  stepOffset: "step_offset",
  next: (input: string) => `next/${input}`,
  metric: (name: string) => `metric/${name}`,
  /** Mixed precision's loop-carried loss scale and count of finite steps since it last changed. */
  lossScale: "amp/loss_scale",
  finiteSteps: "amp/finite_steps",
};

/** Mixed precision's metrics, one value per step: the loss scale the step used, and 1 where it was skipped. */
export const AMP_METRICS = ["amp/loss_scale", "amp/skipped"] as const;

export interface TrainProgram {
  builder: Builder;
  /** Input names of the loop-carried state, in order: parameters, then each parameter's optimizer state. */
  stateInputs: string[];
  batchInputs: string[];
  metricOutputs: string[];
  /** Starting values of state inputs that are not parameters or optimizer state (mixed precision's loss scale). */
  initialState: Record<string, TensorData>;
}

export function buildTrainProgram(spec: TrainProgramSpec): TrainProgram {
  const loop = checkSpec(spec);
  const b = new Builder("train");
  const frozen = declareFrozen(b, spec);
  const inputs = declareInputs(b, spec, loop);
  const ctx: StepContext = { b, spec, loop, frozen, inputs, metricNames: [] };
  const result = op.loop(b, loop.steps, inputs.carried, (iteration, carried) => trainStep(ctx, iteration, carried), { name: "train" });
  return declareOutputs(ctx, result);
}

/** The sizes of the program's loops, and the float type of its step counter, learning rate and metrics. */
interface LoopShape {
  /** Optimizer steps per run (K). */
  steps: number;
  /** Micro-batches per step (A). */
  accumulation: number;
  dtype: DType;
}

interface ProgramInputs {
  params: Tensor[];
  /**
   * The loop-carried state, in the order of `stateInputs`: parameters, each one's optimizer state, then mixed
   * precision's loss scale and count of finite steps.
   */
  carried: Tensor[];
  stepOffset: Tensor;
  /** Staged micro-batches by field, [K·A, ...]. */
  batches: Record<string, Tensor>;
}

/** What the Loop body reads from the program around it. */
interface StepContext {
  b: Builder;
  spec: TrainProgramSpec;
  loop: LoopShape;
  /** Frozen weights by parameter name. */
  frozen: Record<string, Tensor>;
  inputs: ProgramInputs;
  /** The model's metric names, known once the loss function has been traced. */
  metricNames: string[];
}

function checkSpec(spec: TrainProgramSpec): LoopShape {
  const accumulation = spec.accumulation ?? 1;
  const k = spec.steps;
  if (!Number.isInteger(k) || k < 1) throw new ShapeError(`train program: steps must be a positive integer, got ${k}`);
  if (!Number.isInteger(accumulation) || accumulation < 1) throw new ShapeError(`train program: accumulation must be a positive integer, got ${accumulation}`);
  const dtype = spec.dtype ?? spec.trainable[0]?.dtype ?? "float32";
  for (const p of spec.trainable)
    if (p.lrScale !== undefined && !(Number.isFinite(p.lrScale) && p.lrScale >= 0))
      throw new ShapeError(`train program: lrScale of "${p.name}" must be a finite number ≥ 0, got ${p.lrScale}`);
  if (spec.mixedPrecision) {
    const wrong = spec.trainable.find((p) => p.dtype !== "float32");
    if (wrong) throw new ShapeError(`train program: mixed precision keeps float32 master weights, but "${wrong.name}" is ${wrong.dtype}`);
  }
  return { steps: k, accumulation, dtype };
}

/**
 * Frozen weights as initializers, keyed by the parameter's name (the builder may suffix the initializer's graph name
 * to keep it unique). Under mixed precision they are stored in the compute type: never updated, so no master copy.
 */
function declareFrozen(b: Builder, spec: TrainProgramSpec): Record<string, Tensor> {
  const mp = spec.mixedPrecision;
  const frozen: Record<string, Tensor> = {};
  for (const f of spec.frozen ?? []) {
    const half = mp && f.dtype === "float32";
    if ("external" in f) {
      if (spec.externalFolder === undefined) throw new ShapeError(`train program: frozen "${f.name}" is external data, but the spec names no externalFolder`);
      // In place: the file's bytes as they are; a float32 file under mixed precision is cast once per run in the graph.
      const t = b.external(f.external, `frozen/${f.name}`);
      frozen[f.name] = half ? op.cast(t, mp.compute) : t;
      continue;
    }
    frozen[f.name] = half
      ? b.data(mp.compute, toHalfBits(f.data as Float32Array, mp.compute), f.shape, `frozen/${f.name}`)
      : b.data(f.dtype, f.data, f.shape, `frozen/${f.name}`);
  }
  return frozen;
}

/** The program's inputs, in interface order (io): parameters, optimizer state, loss scale, step offset, batches. */
function declareInputs(b: Builder, spec: TrainProgramSpec, loop: LoopShape): ProgramInputs {
  const kinds = stateNames(spec.optimizer);
  const params = spec.trainable.map((p) => b.input(io.param(p.name), p.dtype, p.shape));
  const states = spec.trainable.flatMap((p) => kinds.map((kind) => b.input(io.state(kind, p.name), p.dtype, p.shape)));
  const ampState = spec.mixedPrecision ? [b.input(io.lossScale, "float32", []), b.input(io.finiteSteps, "float32", [])] : [];
  const stepOffset = b.input(io.stepOffset, "int64", []);
  const batches: Record<string, Tensor> = {};
  for (const [field, s] of Object.entries(spec.batch)) batches[field] = b.input(io.batch(field), s.dtype, [loop.steps * loop.accumulation, ...s.shape]);
  return { params, carried: [...params, ...states, ...ampState], stepOffset, batches };
}

/** The Loop body: one optimizer step. Scans: loss, gradient norm, learning rate, the model's metrics (+ AMP's). */
function trainStep(ctx: StepContext, iteration: Tensor, carried: Tensor[]): LoopBodyResult {
  const { spec, loop } = ctx;
  const n = ctx.inputs.params.length;
  const kinds = stateNames(spec.optimizer).length;
  const current = carried.slice(0, n);
  const state = carried.slice(n, n + n * kinds);
  const [scale, finiteSteps] = carried.slice(n + n * kinds);
  const groups = updateGroups(spec, current);
  const { loss, metrics, grads } = stepGradients(ctx, groups, iteration, scale);
  const step = op.cast(op.add(op.add(ctx.inputs.stepOffset, iteration), 1), loop.dtype);
  const lr = op.mul(spec.schedule ? scheduleFactorTensor(spec.schedule, op.sub(step, 1)) : op.add(op.mul(step, 0), 1), spec.optimizer.lr);
  // The norm and the clipping factor over the groups' joined gradients: a kernel or two per group, not per tensor.
  const norm = { norm: globalNorm(grads) };
  const clip = spec.clipNorm ? clipScale(norm.norm, spec.clipNorm) : undefined;
  // An overflowed step (mixed precision) leaves parameters and optimizer state as they were.
  const finite = scale ? op.finiteMask(norm.norm) : undefined;
  const next = updateParameters(spec, current, groups, grads, clip, state, step, lr, finite);
  const scans = [op.cast(loss, loop.dtype), norm.norm, lr, ...metrics.map((m) => op.cast(m, loop.dtype))];
  const mp = spec.mixedPrecision;
  if (!scale || !finiteSteps || !finite || !mp) return { carried: next, scans };
  const nextScale = nextLossScale(mp, scale, finiteSteps, finite);
  const skipped = op.cast(op.not(finite), "float32");
  // The reported gradient norm of a skipped step is 0 (its inf/NaN would not survive JSON); amp/skipped marks it.
  scans[1] = op.where(finite, norm.norm, 0);
  return {
    carried: [...next, nextScale.scale, nextScale.finiteSteps],
    scans: [...scans, op.cast(scale, loop.dtype), op.cast(skipped, loop.dtype)],
  };
}

interface StepGradients {
  loss: Tensor;
  metrics: Tensor[];
  /** One per update group: the gradients of its parameters joined along the first axis, as the group's values. */
  grads: Tensor[];
}

/** Loss, metrics and gradients of one step: of its micro-batch, or averaged over A; unscaled under mixed precision. */
function stepGradients(ctx: StepContext, groups: readonly UpdateGroup[], iteration: Tensor, scale: Tensor | undefined): StepGradients {
  const count = ctx.loop.accumulation;
  const first = op.reshape(op.mul(iteration, count), [1]);
  const microStep = (index: Tensor) => forwardBackward(ctx, groups, index, scale);
  const r = count === 1 ? microStep(first) : accumulate(ctx.b, groups, first, count, microStep);
  if (!scale) return r;
  const inverse = op.div(1, scale);
  return { ...r, grads: r.grads.map((g) => op.mul(g, inverse)) };
}

/**
 * Loss, metrics and the update groups' gradients of one micro-batch (under mixed precision, gradients of the loss
 * times `lossScale`). Under mixed precision each group's joined values are cast to the compute dtype once and split
 * for the model, so the backward gives the group's joined half gradient (Split's rule is a Concat), cast back once:
 * the same bits as a cast per parameter each way, two kernels per group instead of two per parameter.
 */
function forwardBackward(ctx: StepContext, groups: readonly UpdateGroup[], index: Tensor, lossScale: Tensor | undefined): StepGradients {
  const { spec } = ctx;
  const mp = spec.mixedPrecision;
  const named: Record<string, Tensor> = { ...ctx.frozen };
  const halves = mp ? groups.map((g) => op.cast(g.values, mp.compute)) : undefined;
  groups.forEach((g, k) => {
    const parts = !halves ? g.params : g.members.length === 1 ? [halves[k]!] : op.split(halves[k]!, 0, g.sizes);
    g.members.forEach((i, j) => {
      named[spec.trainable[i]!.name] = parts[j]!;
    });
  });
  const { loss, metrics = {} } = spec.loss(named, microBatch(ctx.inputs.batches, index));
  if (loss.rank !== 0) throw new ShapeError(`train program: the loss must be a scalar, got rank ${loss.rank}`);
  for (const [m, t] of Object.entries(metrics)) if (t.rank !== 0) throw new ShapeError(`train program: metric "${m}" must be a scalar`);
  ctx.metricNames = Object.keys(metrics);
  const differentiated = lossScale ? op.mul(op.cast(loss, "float32"), lossScale) : loss;
  return { loss, metrics: Object.values(metrics), grads: groupGradients(differentiated, groups, halves) };
}

/** Each group's joined gradient: of its half copy, cast back (mixed precision); else its parameters' gradients joined. */
function groupGradients(loss: Tensor, groups: readonly UpdateGroup[], halves: Tensor[] | undefined): Tensor[] {
  if (halves) return grad(loss, halves).map((g, k) => op.cast(g, groups[k]!.values.dtype));
  const each = grad(
    loss,
    groups.flatMap((g) => g.params),
  );
  const grads: Tensor[] = [];
  let at = 0;
  for (const g of groups) {
    grads.push(join(each.slice(at, at + g.members.length)));
    at += g.members.length;
  }
  return grads;
}

/** The micro-batch at `index` ([1], int64) of each staged field. */
function microBatch(batches: Record<string, Tensor>, index: Tensor): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  // Gather, not Slice: Slice reads its start from host memory, which inside the Loop would copy the index from
  // the GPU every step (bench/memcpy.ts); Gather takes it where it is.
  const at = op.reshape(index, []);
  for (const [field, staged] of Object.entries(batches)) out[field] = op.gather(staged, at, 0);
  return out;
}

/**
 * The optimizer's update of every parameter and its state: next parameters, then next state in input order. A step
 * that is not `finite` (mixed precision) keeps both.
 *
 * Parameters of one dtype, shape and learning rate are updated as one tensor: their values, gradients and state
 * concatenated along the first axis, one set of update kernels, split back. The update is elementwise, so every
 * element gets exactly the operations it got alone (the same bits), while the program runs a few dozen kernels per
 * group instead of per tensor — on a GPU each kernel launch costs host time whatever its size (docs/cuda-engine.md).
 */
function updateParameters(
  spec: TrainProgramSpec,
  current: Tensor[],
  groups: readonly UpdateGroup[],
  grads: readonly Tensor[],
  clip: Tensor | undefined,
  state: Tensor[],
  step: Tensor,
  lr: Tensor,
  finite: Tensor | undefined,
): Tensor[] {
  const kinds = stateNames(spec.optimizer).length;
  const keepIfSkipped = (next: Tensor, before: Tensor) => (finite ? op.where(finite, next, before) : next);
  const lrOf = scaledLearningRates(lr);
  const casts = new Map<string, Tensor>();
  const castOnce = (t: Tensor, dtype: DType, key: string) => {
    const cached = casts.get(`${key}/${dtype}`);
    if (cached) return cached;
    const c = op.cast(t, dtype);
    casts.set(`${key}/${dtype}`, c);
    return c;
  };
  // A step's shared scalars, once per dtype and learning rate.
  const scalars = new Map<string, StepScalars>();
  const scalarsOf = (dtype: DType, lrScale: number | undefined): StepScalars => {
    const key = `${dtype}/${lrScale ?? 1}`;
    const made = scalars.get(key) ?? stepScalars(spec.optimizer, castOnce(step, dtype, "step"), castOnce(lrOf(lrScale), dtype, `lr${lrScale ?? 1}`));
    scalars.set(key, made);
    return made;
  };
  const nextParams: Tensor[] = new Array(current.length);
  const nextStates: Tensor[] = new Array(current.length * kinds);
  for (const [k, { members, sizes, values: p }] of groups.entries()) {
    const g = grads[k]!;
    const first = current[members[0]!]!;
    const part = (t: Tensor) => (members.length === 1 ? [t] : op.split(t, 0, sizes));
    const own = Array.from({ length: kinds }, (_, k) => join(members.map((i) => state[i * kinds + k]!)));
    const lrScale = spec.trainable[members[0]!]!.lrScale;
    const u = applyUpdate(spec.optimizer, p, clip ? op.mul(g, castOnce(clip, first.dtype, "clip")) : g, own, scalarsOf(first.dtype, lrScale));
    part(keepIfSkipped(u.param, p)).forEach((t, j) => {
      nextParams[members[j]!] = t;
    });
    u.state.forEach((t, k) => {
      part(keepIfSkipped(t, own[k]!)).forEach((s, j) => {
        nextStates[members[j]! * kinds + k] = s;
      });
    });
  }
  return [...nextParams, ...nextStates];
}

/** Parameters updated together: their indices, values, sizes along the first axis, and values joined along it. */
interface UpdateGroup {
  members: number[];
  params: Tensor[];
  sizes: number[];
  values: Tensor;
}

const join = (ts: Tensor[]) => (ts.length === 1 ? ts[0]! : op.concat(ts, 0));

/** Parameters updated together: same dtype, shape and learning-rate scale (scalars alone: they cannot be concatenated). */
function updateGroups(spec: TrainProgramSpec, current: Tensor[]): UpdateGroup[] {
  const groups = new Map<string, number[]>();
  current.forEach((p, i) => {
    const key = p.rank === 0 ? `scalar ${i}` : JSON.stringify([p.dtype, p.shape, spec.trainable[i]!.lrScale ?? 1]);
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });
  return [...groups.values()].map((members) => {
    const params = members.map((i) => current[i]!);
    return { members, params, sizes: params.map((t) => t.shape[0] as number), values: join(params) };
  });
}

/** The learning rate of a parameter with `lrScale`: one product per distinct scale; lr itself without one (no extra op). */
function scaledLearningRates(lr: Tensor): (scale: number | undefined) => Tensor {
  const scaled = new Map<number, Tensor>();
  return (scale) => {
    if (scale === undefined || scale === 1) return lr;
    let t = scaled.get(scale);
    if (!t) {
      t = op.mul(lr, scale);
      scaled.set(scale, t);
    }
    return t;
  };
}

/** Marks the program's outputs (next state, per-step metrics) and describes its interface. */
function declareOutputs(ctx: StepContext, result: LoopResult): TrainProgram {
  const { b, spec, inputs } = ctx;
  const stateInputs = inputs.carried.map((t) => t.name);
  result.carried.forEach((t, i) => {
    b.output(t, io.next(stateInputs[i]!));
  });
  const [loss, norm, lr, ...metrics] = result.scans;
  b.output(loss!, io.metric("loss"));
  b.output(norm!, io.metric("grad_norm"));
  b.output(lr!, io.metric("lr"));
  const allMetrics = [...ctx.metricNames, ...(spec.mixedPrecision ? AMP_METRICS : [])];
  metrics.forEach((m, i) => {
    b.output(m, io.metric(allMetrics[i]!));
  });
  return {
    builder: b,
    stateInputs,
    batchInputs: Object.keys(inputs.batches).map(io.batch),
    metricOutputs: ["loss", "grad_norm", "lr", ...allMetrics].map(io.metric),
    initialState: initialAmpState(spec.mixedPrecision),
  };
}

/** Starting values of mixed precision's loop-carried state (none without it). */
function initialAmpState(mp: MixedPrecision | undefined): Record<string, TensorData> {
  const initialState: Record<string, TensorData> = {};
  if (mp) {
    const initial = mp.initialScale ?? (mp.compute === "float16" ? 2 ** 16 : 1);
    if (!(Number.isFinite(initial) && initial > 0)) throw new ShapeError(`train program: the initial loss scale must be a finite number > 0, got ${initial}`);
    initialState[io.lossScale] = { dtype: "float32", shape: [], data: new Float32Array([initial]) };
    initialState[io.finiteSteps] = { dtype: "float32", shape: [], data: new Float32Array([0]) };
  }
  return initialState;
}

/**
 * The loss scale after a step: halved after an overflow (count reset); doubled after `growthInterval` finite steps
 * in a row (count reset); else the same, with the count advanced.
 */
function nextLossScale(mp: MixedPrecision, scale: Tensor, finiteSteps: Tensor, finite: Tensor): { scale: Tensor; finiteSteps: Tensor } {
  const interval = mp.growthInterval ?? 2000;
  if (!(Number.isInteger(interval) && interval >= 0)) throw new ShapeError(`train program: growthInterval must be an integer ≥ 0, got ${interval}`);
  const counted = op.add(finiteSteps, 1);
  const grow = interval > 0 ? op.greaterOrEqual(counted, interval) : op.less(counted, 0); // never, when 0
  const afterFinite = op.where(grow, op.mul(scale, 2), scale);
  return {
    scale: op.where(finite, afterFinite, op.mul(scale, 0.5)),
    finiteSteps: op.where(finite, op.where(grow, 0, counted), 0),
  };
}

/** Gradient accumulation: an inner Loop over A micro-batches, summing loss, metrics and gradients, then averaging. */
function accumulate(
  b: Builder,
  groups: readonly UpdateGroup[],
  first: Tensor,
  count: number,
  forwardBackward: (index: Tensor) => StepGradients,
): StepGradients {
  let metricCount = 0;
  const n = groups.length;
  const zeroScalar = b.tensor(groups[0]!.values.dtype, 0);
  const init = [...groups.map((g) => zerosLike(g.values)), zeroScalar];
  // Metrics are accumulated as scan outputs and averaged after the loop.
  const inner = op.loop(
    b,
    count,
    init,
    (j, acc) => {
      const index = op.add(first, op.reshape(j, [1]));
      const r = forwardBackward(index);
      metricCount = r.metrics.length;
      const sums = r.grads.map((g, i) => op.add(acc[i]!, g));
      return { carried: [...sums, op.add(acc[n]!, op.cast(r.loss, zeroScalar.dtype))], scans: r.metrics };
    },
    { name: "accumulate" },
  );
  const grads = inner.carried.slice(0, n).map((g) => op.div(g, count));
  const loss = op.div(inner.carried[n]!, count);
  const metrics = inner.scans.slice(0, metricCount).map((m) => op.reduceMean(m, [0]));
  return { loss, metrics, grads };
}
