// An evaluation program: the training program's forward pass without backward or optimizer. N staged batches
// are evaluated in one run (a Loop with only scan outputs); parameters are inputs, so a Trainer's current state
// can be fed directly.
import { ShapeError } from "../../src/tensor/ir/shape.ts";
import { Builder } from "../../src/tensor/ops/builder.ts";
import * as op from "../../src/tensor/ops/index.ts";
import { type FrozenParam, io, type LossFn, type ParamSpec, type TensorSpec } from "../../src/tensor/program/train-program.ts";

export interface EvalProgramSpec {
  params: ParamSpec[];
  frozen?: FrozenParam[];
  batch: Record<string, TensorSpec>;
  /** Batches per run (N). */
  batches: number;
  /** The same function as training's; its loss is reported as the metric "loss". */
  loss: LossFn;
}

export interface EvalProgram {
  builder: Builder;
  paramInputs: string[];
  metricOutputs: string[];
}

export function buildEvalProgram(spec: EvalProgramSpec): EvalProgram {
  if (!Number.isInteger(spec.batches) || spec.batches < 1) throw new ShapeError(`eval program: batches must be a positive integer, got ${spec.batches}`);
  const b = new Builder("eval");
  const named: Record<string, ReturnType<Builder["input"]>> = {};
  for (const f of spec.frozen ?? []) named[f.name] = b.data(f.dtype, f.data, f.shape, `frozen/${f.name}`);
  for (const p of spec.params) named[p.name] = b.input(io.param(p.name), p.dtype, p.shape);
  const staged = Object.fromEntries(Object.entries(spec.batch).map(([field, s]) => [field, b.input(io.batch(field), s.dtype, [spec.batches, ...s.shape])]));
  let names: string[] = [];
  const result = op.loop(
    b,
    spec.batches,
    [],
    (iteration) => {
      const index = op.reshape(iteration, [1]);
      // Gather rather than Slice, whose start would be copied to the host every iteration on CUDA.
      const at = op.reshape(index, []);
      const batch = Object.fromEntries(Object.entries(staged).map(([field, t]) => [field, op.gather(t, at, 0)]));
      const { loss, metrics = {} } = spec.loss(named, batch);
      names = ["loss", ...Object.keys(metrics)];
      return { carried: [], scans: [loss, ...Object.values(metrics)] };
    },
    { name: "eval" },
  );
  result.scans.forEach((t, i) => {
    b.output(t, io.metric(names[i]!));
  });
  return { builder: b, paramInputs: spec.params.map((p) => io.param(p.name)), metricOutputs: names.map(io.metric) };
}
