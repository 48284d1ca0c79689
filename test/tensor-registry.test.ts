// The op registry (src/tensor/ops/registry.ts) and the provider dtype policy (src/tensor/onnx/provider-policy.ts):
// every op type TinyVLM's programs emit is registered, and every op the policy lists is computed in the wider dtype
// by its constructor.
import assert from "node:assert/strict";
import { test } from "node:test";
import { tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { dpoBatch, dpoLoss } from "../src/models/tinyvlm/dpo.ts";
import { buildGenerateProgram } from "../src/models/tinyvlm/generate.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { buildLogProbProgram, sftBatch, sftLoss } from "../src/models/tinyvlm/programs.ts";
import type { Graph, Tensor } from "../src/tensor/ir/graph.ts";
import { DTYPE_GAPS, kernelDtype } from "../src/tensor/onnx/provider-policy.ts";
import { Builder } from "../src/tensor/ops/builder.ts";
import * as op from "../src/tensor/ops/index.ts";
import { OPS } from "../src/tensor/ops/registry.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram, type MixedPrecision } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";

/** Op types of a graph and its Loop/If bodies. */
function opTypes(g: Graph, into = new Set<string>()): Set<string> {
  for (const n of g.nodes) {
    into.add(n.op);
    for (const a of Object.values(n.attrs)) if (a.type === "graph") opTypes(a.value, into);
  }
  return into;
}

test("every op type of TinyVLM's programs has a registry entry", () => {
  const c = tinyVlmConfig("nano", 32);
  const params = initTinyVlm(c, new Rng(0));
  const shapes = params.map((p) => ({ name: p.name, shape: p.data.shape }));
  const trainable = params.map((p) => ({ name: p.name, dtype: p.data.dtype, shape: p.data.shape }));
  const objective = { loss: "sigmoid" as const, beta: 0.1, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0.5 };
  const train = (mixedPrecision?: MixedPrecision) => [
    buildTrainProgram({ trainable, batch: sftBatch(c, 2, 8), steps: 2, accumulation: 2, optimizer: adamw(), clipNorm: 1, loss: sftLoss(c), mixedPrecision })
      .builder.root,
    buildTrainProgram({ trainable, batch: dpoBatch(c, 2, 8), steps: 2, optimizer: adamw(), loss: dpoLoss(c, objective), mixedPrecision }).builder.root,
  ];
  const graphs = [
    ...train(),
    ...train({ compute: "float16" }),
    ...train({ compute: "bfloat16" }),
    buildLogProbProgram(c, shapes, 2, 8).root,
    buildGenerateProgram(c, shapes, { batch: 2, promptLength: 4, steps: 4, temperature: 0.7, topK: 3, topP: 0.9, seed: 1, stopTokens: [3], pad: 0 }).root,
  ];
  const used = new Set<string>();
  for (const g of graphs) opTypes(g, used);
  assert.deepEqual(
    [...used].filter((t) => !OPS.has(t)),
    [],
  );
  assert.ok(used.size > 40, `only ${used.size} op types`);
});

/** Builds one op from a [2, 3] input through its constructor (the op types the provider policy may list). */
const BUILD: Record<string, (x: Tensor) => Tensor> = {
  Pad: (x) => op.pad(x, [0, 1, 0, 1]),
  Reciprocal: op.reciprocal,
  Sqrt: op.sqrt,
  Exp: op.exp,
  Log: op.log,
  Erf: op.erf,
  Tanh: op.tanh,
  Sigmoid: op.sigmoid,
  Softplus: op.softplus,
  ReduceSum: (x) => op.reduceSum(x, [1]),
  ReduceMean: (x) => op.reduceMean(x, [1]),
  ReduceMax: (x) => op.reduceMax(x, [1]),
  ReduceMin: (x) => op.reduceMin(x, [1]),
  ReduceLogSumExp: (x) => op.reduceLogSumExp(x, [1]),
  ReduceSumSquare: (x) => op.reduceSumSquare(x, [1]),
  ReduceProd: (x) => op.reduce("ReduceProd", x, [1]),
};

test("each op the provider policy lists is computed in the wider dtype, between casts, by its constructor", () => {
  const listed = Object.values(DTYPE_GAPS).flatMap((gaps) => gaps.flatMap((g) => g.ops.map((o) => ({ op: o, dtype: g.dtype }))));
  assert.ok(listed.length > 0);
  for (const { op: type, dtype } of listed) {
    const build = BUILD[type];
    assert.ok(build, `add a way to build ${type} to BUILD in this test`);
    const b = new Builder();
    const y = build(b.input("x", dtype, [2, 3]));
    const wide = kernelDtype(type, dtype);
    const ops = b.root.nodes.map((n) => `${n.op}:${n.outputs[0]!.dtype}`);
    assert.deepEqual(ops, [`Cast:${wide}`, `${type}:${wide}`, `Cast:${dtype}`], type);
    assert.equal(y.dtype, dtype);
  }
});

test("ops the policy does not list keep their dtype", () => {
  const b = new Builder();
  const x = b.input("x", "bfloat16", [2, 3]);
  op.softmax(op.neg(x));
  op.sqrt(b.input("h", "float16", [2]));
  assert.deepEqual(
    b.root.nodes.map((n) => `${n.op}:${n.outputs[0]!.dtype}`),
    ["Neg:bfloat16", "Softmax:bfloat16", "Sqrt:float16"],
  );
});
