// A training program: K optimizer steps in one ONNX Runtime run. Parameters and optimizer state are loop-carried;
// mini-batches are staged as one tensor per field ([K·A, ...] for A accumulation micro-batches) and sliced inside
// the Loop body; per-step loss, metrics, gradient norm and learning rate come out as scan outputs. The runtime feeds
// the final state back in for the next run, with `step_offset` advanced by K.
import { grad } from "../autodiff/grad.ts";
import { zerosLike } from "../autodiff/helpers.ts";
import type { DType, TypedArray } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { ShapeError } from "../ir/shape.ts";
import { Builder } from "../ops/builder.ts";
import * as op from "../ops/index.ts";
import { clipByGlobalNorm, globalNorm } from "../optim/clip.ts";
import { scheduleFactorTensor } from "../optim/schedule.ts";
import { type OptimizerConfig, type ScheduleConfig, stateNames } from "../optim/types.ts";
import { applyUpdate } from "../optim/update.ts";

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

export interface FrozenParam extends ParamSpec {
  data: TypedArray;
}

/** The model's loss on one micro-batch. Metrics must be scalars. */
export type LossFn = (params: Record<string, Tensor>, batch: Record<string, Tensor>) => { loss: Tensor; metrics?: Record<string, Tensor> };

export interface TrainProgramSpec {
  trainable: ParamSpec[];
  frozen?: FrozenParam[];
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
}

/** Names of the program's inputs and outputs: the contract with the runtime. */
export const io = {
  param: (name: string) => `param/${name}`,
  state: (kind: string, name: string) => `${kind}/${name}`,
  batch: (field: string) => `batch/${field}`,
  stepOffset: "step_offset",
  next: (input: string) => `next/${input}`,
  metric: (name: string) => `metric/${name}`,
};

export interface TrainProgram {
  builder: Builder;
  /** Input names of the loop-carried state, in order: parameters, then each parameter's optimizer state. */
  stateInputs: string[];
  batchInputs: string[];
  metricOutputs: string[];
}

export function buildTrainProgram(spec: TrainProgramSpec): TrainProgram {
  const accumulation = spec.accumulation ?? 1;
  const k = spec.steps;
  if (!Number.isInteger(k) || k < 1) throw new ShapeError(`train program: steps must be a positive integer, got ${k}`);
  if (!Number.isInteger(accumulation) || accumulation < 1) throw new ShapeError(`train program: accumulation must be a positive integer, got ${accumulation}`);
  const dtype = spec.dtype ?? spec.trainable[0]?.dtype ?? "float32";
  for (const p of spec.trainable)
    if (p.lrScale !== undefined && !(Number.isFinite(p.lrScale) && p.lrScale >= 0))
      throw new ShapeError(`train program: lrScale of "${p.name}" must be a finite number ≥ 0, got ${p.lrScale}`);
  const b = new Builder("train");

  // Keyed by the parameter's name: the builder may suffix the initializer's graph name to keep it unique.
  const frozen: Record<string, Tensor> = {};
  for (const f of spec.frozen ?? []) frozen[f.name] = b.data(f.dtype, f.data, f.shape, `frozen/${f.name}`);

  const kinds = stateNames(spec.optimizer);
  const params = spec.trainable.map((p) => b.input(io.param(p.name), p.dtype, p.shape));
  const states = spec.trainable.flatMap((p) => kinds.map((kind) => b.input(io.state(kind, p.name), p.dtype, p.shape)));
  const stepOffset = b.input(io.stepOffset, "int64", []);
  const batches: Record<string, Tensor> = {};
  for (const [field, s] of Object.entries(spec.batch)) batches[field] = b.input(io.batch(field), s.dtype, [k * accumulation, ...s.shape]);

  const microBatch = (index: Tensor): Record<string, Tensor> => {
    const out: Record<string, Tensor> = {};
    for (const [field, staged] of Object.entries(batches)) out[field] = op.squeeze(op.dynamicSlice(staged, index, 0, 1), [0]);
    return out;
  };
  const names = spec.trainable.map((p) => p.name);
  let metricNames: string[] = [];

  /** Loss, metrics and gradients of one micro-batch. */
  const forwardBackward = (current: Tensor[], index: Tensor) => {
    const named: Record<string, Tensor> = { ...frozen };
    current.forEach((t, i) => {
      named[names[i]!] = t;
    });
    const { loss, metrics = {} } = spec.loss(named, microBatch(index));
    if (loss.rank !== 0) throw new ShapeError(`train program: the loss must be a scalar, got rank ${loss.rank}`);
    for (const [m, t] of Object.entries(metrics)) if (t.rank !== 0) throw new ShapeError(`train program: metric "${m}" must be a scalar`);
    metricNames = Object.keys(metrics);
    return { loss, metrics: Object.values(metrics), grads: grad(loss, current) };
  };

  const n = params.length;
  const result = op.loop(
    b,
    k,
    [...params, ...states],
    (iteration, carried) => {
      const current = carried.slice(0, n);
      const state = carried.slice(n);
      const first = op.reshape(op.mul(iteration, accumulation), [1]);
      let loss: Tensor;
      let metrics: Tensor[];
      let grads: Tensor[];
      if (accumulation === 1) ({ loss, metrics, grads } = forwardBackward(current, first));
      else ({ loss, metrics, grads } = accumulate(b, current, first, accumulation, forwardBackward));
      const step = op.cast(op.add(op.add(stepOffset, iteration), 1), dtype);
      const lr = op.mul(spec.schedule ? scheduleFactorTensor(spec.schedule, op.sub(step, 1)) : op.add(op.mul(step, 0), 1), spec.optimizer.lr);
      const norm = spec.clipNorm ? clipByGlobalNorm(grads, spec.clipNorm) : { grads, norm: globalNorm(grads) };
      // One scaled learning rate per distinct lrScale; parameters without one use lr itself (no extra op).
      const scaledLr = new Map<number, Tensor>();
      const lrOf = (scale: number | undefined): Tensor => {
        if (scale === undefined || scale === 1) return lr;
        let t = scaledLr.get(scale);
        if (!t) {
          t = op.mul(lr, scale);
          scaledLr.set(scale, t);
        }
        return t;
      };
      const nextParams: Tensor[] = [];
      const nextStates: Tensor[] = [];
      current.forEach((p, i) => {
        const u = applyUpdate(
          spec.optimizer,
          p,
          norm.grads[i]!,
          state.slice(i * kinds.length, (i + 1) * kinds.length),
          op.cast(step, p.dtype),
          op.cast(lrOf(spec.trainable[i]!.lrScale), p.dtype),
        );
        nextParams.push(u.param);
        nextStates.push(...u.state);
      });
      return { carried: [...nextParams, ...nextStates], scans: [op.cast(loss, dtype), norm.norm, lr, ...metrics.map((m) => op.cast(m, dtype))] };
    },
    { name: "train" },
  );
  const stateInputs = [...params, ...states].map((t) => t.name);
  result.carried.forEach((t, i) => {
    b.output(t, io.next(stateInputs[i]!));
  });
  const [loss, norm, lr, ...metrics] = result.scans;
  b.output(loss!, io.metric("loss"));
  b.output(norm!, io.metric("grad_norm"));
  b.output(lr!, io.metric("lr"));
  metrics.forEach((m, i) => {
    b.output(m, io.metric(metricNames[i]!));
  });
  return {
    builder: b,
    stateInputs,
    batchInputs: Object.keys(batches).map(io.batch),
    metricOutputs: ["loss", "grad_norm", "lr", ...metricNames].map(io.metric),
  };
}

/** Gradient accumulation: an inner Loop over A micro-batches, summing loss, metrics and gradients, then averaging. */
function accumulate(
  b: Builder,
  current: Tensor[],
  first: Tensor,
  count: number,
  forwardBackward: (current: Tensor[], index: Tensor) => { loss: Tensor; metrics: Tensor[]; grads: Tensor[] },
) {
  let metricCount = 0;
  const zeroScalar = b.tensor(current[0]!.dtype, 0);
  const init = [...current.map(zerosLike), zeroScalar];
  // Metrics are accumulated as scan outputs and averaged after the loop.
  const inner = op.loop(
    b,
    count,
    init,
    (j, acc) => {
      const index = op.add(first, op.reshape(j, [1]));
      const r = forwardBackward(current, index);
      metricCount = r.metrics.length;
      const sums = r.grads.map((g, i) => op.add(acc[i]!, g));
      return { carried: [...sums, op.add(acc[current.length]!, op.cast(r.loss, zeroScalar.dtype))], scans: r.metrics };
    },
    { name: "accumulate" },
  );
  const grads = inner.carried.slice(0, current.length).map((g) => op.div(g, count));
  const loss = op.div(inner.carried[current.length]!, count);
  const metrics = inner.scans.slice(0, metricCount).map((m) => op.reduceMean(m, [0]));
  return { loss, metrics, grads };
}
