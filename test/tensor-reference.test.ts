// Round trips: graphs built with the op constructors are serialized, run in ONNX Runtime (graph optimizations off,
// then on), and compared with the reference evaluator (src/tensor/evaluate.ts). float64 where ORT's CPU
// provider has the kernels, float32 otherwise; tolerances (TOLERANCE below) are relative to max(1, |expected|).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import { causalSelfAttention } from "../src/models/layers/attention.ts";
import { transformerBlock } from "../src/models/layers/blocks.ts";
import { dpoSigmoidLoss, maskedCrossEntropy, sequenceLogProbs, tokenLogProbs } from "../src/models/layers/losses.ts";
import { evaluate } from "../src/tensor/evaluate.ts";
import { grad } from "../src/tensor/grad.ts";
import { allocate, type DType, toNumbers } from "../src/tensor/ir/dtype.ts";
import type { Tensor, TensorData } from "../src/tensor/ir/graph.ts";
import type { Dim } from "../src/tensor/ir/shape.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { Builder } from "../src/tensor/ops/builder.ts";
import * as op from "../src/tensor/ops/index.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { buildTrainProgram } from "../src/tensor/program/train-program.ts";
import { erf } from "../src/tensor/reference/erf.ts";
import { mulberry32 } from "../src/util/random.ts";

type FloatType = "float64" | "float32";

/** A graph input: random floats in (-2, 2) unless `values`, `positive` (0.5..2) or `int`/`bool` say otherwise. */
interface In {
  name: string;
  shape: number[];
  kind?: "float" | "positive" | "int" | "bool";
  /** Exclusive bound of "int" inputs (may be negative-inclusive with `min`). */
  max?: number;
  min?: number;
  values?: number[];
  /** The declared shape when it differs from the fed one (named dimensions). */
  dims?: Dim[];
}

interface Case {
  name: string;
  inputs: In[];
  /** Returns the tensors to compare, by output name. */
  build: (b: Builder, x: Record<string, Tensor>, dtype: FloatType) => Record<string, Tensor>;
  /** Overrides of the default tolerances (say why). */
  tolerance?: Partial<Record<FloatType, number>>;
  /** Run in this float type only (float32 variants check the reference's per-node rounding). */
  only?: FloatType;
}

type Level = "disabled" | "all";
/**
 * With graph optimizations off, ORT runs the serialized ops as written, so float64 must agree to rounding. With
 * them on (the runtime's default), fusions may carry constants through float32 attributes (e.g. a Mul by 1/√d folded
 * into FusedMatMul's float `alpha`), which costs float64 about 1e-8.
 */
const TOLERANCE: Record<Level, Record<FloatType, number>> = { disabled: { float64: 1e-12, float32: 1e-5 }, all: { float64: 1e-7, float32: 1e-5 } };
const ORT_TYPE: Partial<Record<DType, ort.Tensor.Type>> = { float64: "float64", float32: "float32", int64: "int64", bool: "bool", int32: "int32" };

function makeFeeds(inputs: In[], dtype: FloatType, seed: number): Record<string, TensorData> {
  const rand = mulberry32(seed);
  const feeds: Record<string, TensorData> = {};
  for (const i of inputs) {
    const kind = i.kind ?? "float";
    const t: DType = kind === "int" ? "int64" : kind === "bool" ? "bool" : dtype;
    const n = i.shape.reduce((p, d) => p * d, 1);
    const data = allocate(t, n);
    for (let k = 0; k < n; k++) {
      const u = rand();
      const v =
        i.values?.[k] ??
        (kind === "int"
          ? (i.min ?? 0) + Math.floor(u * ((i.max ?? 3) - (i.min ?? 0)))
          : kind === "bool"
            ? u < 0.5
              ? 1
              : 0
            : kind === "positive"
              ? 0.5 + 1.5 * u
              : 4 * u - 2);
      if (data instanceof BigInt64Array) data[k] = BigInt(v);
      else (data as Float64Array)[k] = v;
    }
    feeds[i.name] = { dtype: t, shape: i.shape, data };
  }
  return feeds;
}

const missingKernel = (e: unknown) => /NOT_IMPLEMENTED|Could not find an implementation|not implemented/i.test(String(e));

async function runOrt(b: Builder, feeds: Record<string, TensorData>, level: Level = "disabled"): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(serializeModel(b.root), { logSeverityLevel: 3, graphOptimizationLevel: level });
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, v] of Object.entries(feeds)) inputs[name] = new ort.Tensor(ORT_TYPE[v.dtype]!, v.data as never, v.shape);
    return await session.run(inputs);
  } finally {
    await session.release();
  }
}

/** Largest error of `got` against `want`, relative to max(1, |want|); NaNs must match NaNs. */
function compare(name: string, got: ort.Tensor, want: TensorData): number {
  assert.deepEqual([...got.dims], want.shape, `${name}: ORT shape [${got.dims}] vs reference [${want.shape}]`);
  assert.equal(got.type, ORT_TYPE[want.dtype], `${name}: dtype`);
  const g = toNumbers(got.data as never);
  const w = toNumbers(want.data);
  let worst = 0;
  w.forEach((v, i) => {
    const o = g[i]!;
    if (Number.isNaN(v) || Number.isNaN(o)) {
      assert.ok(Number.isNaN(v) && Number.isNaN(o), `${name}[${i}]: ORT ${o} vs reference ${v}`);
      return;
    }
    if (v === o) return; // also equal infinities
    worst = Math.max(worst, Math.abs(o - v) / Math.max(1, Math.abs(v)));
  });
  return worst;
}

/**
 * Builds the case in float64 (float32 where ORT has no float64 kernel), runs it in ORT with graph optimizations off
 * and on, and compares every output with the reference. Returns a note of the float type and worst errors.
 */
async function roundTrip(c: Case, seed = 7): Promise<string> {
  let fallback = "";
  for (const dtype of c.only ? [c.only] : (["float64", "float32"] as const)) {
    const b = new Builder(c.name.replace(/\W+/g, "_"));
    const x: Record<string, Tensor> = {};
    const feeds = makeFeeds(c.inputs, dtype, seed);
    for (const i of c.inputs) x[i.name] = b.input(i.name, feeds[i.name]!.dtype, i.dims ?? i.shape);
    const outs = Object.entries(c.build(b, x, dtype));
    for (const [name, t] of outs) b.output(t, name);
    const want = evaluate(b.root, feeds);
    const notes: string[] = [`${dtype}${fallback}`];
    for (const level of ["disabled", "all"] as const) {
      let got: Record<string, ort.Tensor>;
      try {
        got = await runOrt(b, feeds, level);
      } catch (e) {
        if (dtype !== "float64" || !missingKernel(e)) throw e;
        fallback = ` (no float64 ${/implementation for (\w+)/.exec(String(e))?.[1] ?? "kernel"})`;
        break;
      }
      const tolerance = Math.max(c.tolerance?.[dtype] ?? 0, TOLERANCE[level][dtype]);
      let worst = 0;
      for (const [name] of outs) {
        const err = compare(`${c.name} (${dtype}, optimizations ${level}) ${name}`, got[name]!, want[name]!);
        assert.ok(err <= tolerance, `${c.name} (${dtype}, optimizations ${level}) ${name}: error ${err} > ${tolerance}`);
        worst = Math.max(worst, err);
      }
      notes.push(`${level}: ${worst.toExponential(1)}`);
    }
    if (notes.length === 3) return notes.join(", ");
  }
  throw new Error("unreachable");
}

/** Registers each case as a test, noting the float type it ran in. */
function cases(title: string, list: Case[]): void {
  describe(title, () => {
    for (const c of list)
      test(c.name, async (t) => {
        t.diagnostic(await roundTrip(c));
      });
  });
}

const f = (name: string, shape: number[], extra: Partial<In> = {}): In => ({ name, shape, ...extra });

const UNARY: [string, (x: Tensor) => Tensor, In["kind"]][] = [
  ["Neg", op.neg, "float"],
  ["Abs", op.abs, "float"],
  ["Sign", op.sign, "float"],
  ["Sqrt", op.sqrt, "positive"],
  ["Reciprocal", op.reciprocal, "float"],
  ["Exp", op.exp, "float"],
  ["Log", op.log, "positive"],
  ["Tanh", op.tanh, "float"],
  ["Sigmoid", op.sigmoid, "float"],
  ["Softplus", op.softplus, "float"],
  ["Erf", op.erf, "float"],
  ["Relu", op.relu, "float"],
  ["Floor", op.floor, "float"],
  ["Cos", op.cos, "float"],
  ["Sin", op.sin, "float"],
  ["Identity", op.identity, "float"],
  ["Gelu none", (x) => op.gelu(x, "none"), "float"],
  ["Gelu tanh", (x) => op.gelu(x, "tanh"), "float"],
];

cases("elementwise", [
  ...UNARY.map(
    ([name, fn, kind]): Case => ({
      name,
      // Exact zeros and integers check Sign, Relu and Floor at their edges.
      inputs: [f("x", [3, 4], { kind, values: kind === "float" ? [0, -1, 2, -0.5] : undefined })],
      build: (_b, x) => ({ y: fn(x.x!) }),
      // ORT has no float64 Gelu kernel and expands the ONNX function body, whose constants 0.044715 and 2/π are
      // float32 literals: about 5e-9 from the exact formula the reference computes.
      tolerance: name === "Gelu tanh" ? { float64: 1e-8 } : undefined,
    }),
  ),
  {
    name: "Erf over a wide range",
    inputs: [f("x", [12], { values: [-6, -3.5, -2.5, -1, -1e-3, 0, 1e-8, 0.3, 1.7, 2.9, 3.1, 5] })],
    build: (_b, x) => ({ y: op.erf(x.x!) }),
  },
  {
    name: "arithmetic with broadcasting",
    inputs: [f("x", [2, 3]), f("y", [3]), f("col", [2, 1]), f("row", [1, 3]), f("p", [2, 3], { kind: "positive" })],
    build: (b, { x, y, col, row, p }) => ({
      add: op.add(x!, y!),
      sub: op.sub(col!, row!),
      mul: op.mul(x!, col!),
      div: op.div(y!, p!),
      pow: op.pow(p!, y!),
      max: op.max(x!, row!),
      min: op.min(col!, 0.25),
      scalar: op.sub(1, op.mul(x!, 3)),
      // Sum is only emitted by autodiff (gradient fan-out), so it is built directly here.
      sum: b.emit("Sum", [x!, y!, col!], [{ dtype: x!.dtype, shape: [2, 3] }])[0]!,
    }),
  },
  {
    name: "comparisons, logic and Where",
    inputs: [f("x", [2, 3], { values: [1, 2, 3, -1, 0, 5] }), f("y", [3], { values: [1, 0, 4] }), f("c", [2, 3], { kind: "bool" })],
    build: (_b, { x, y, c }) => ({
      eq: op.equal(x!, y!),
      lt: op.less(x!, y!),
      gt: op.greater(x!, y!),
      le: op.lessOrEqual(x!, y!),
      ge: op.greaterOrEqual(x!, y!),
      and: op.and(c!, op.less(x!, y!)),
      or: op.or(c!, op.equal(x!, y!)),
      not: op.not(c!),
      where: op.where(c!, x!, y!),
      whereScalar: op.where(op.greater(x!, 0), x!, -1),
    }),
  },
  {
    name: "Cast between float, int64 and bool",
    inputs: [f("x", [6], { values: [-2.7, -0.5, 0, 0.4, 1.9, 3] }), f("i", [4], { kind: "int", min: -3, max: 3 }), f("c", [4], { kind: "bool" })],
    build: (_b, { x, i, c }, dtype) => ({
      toInt: op.cast(x!, "int64"),
      toBool: op.cast(x!, "bool"),
      toFloat32: op.cast(x!, "float32"),
      fromInt: op.cast(i!, dtype),
      fromBool: op.cast(c!, dtype),
      boolToInt: op.cast(c!, "int64"),
    }),
  },
  {
    name: "int64 arithmetic (Div truncates toward zero)",
    inputs: [f("i", [6], { kind: "int", values: [-7, 7, -7, 7, 0, 9] }), f("j", [6], { kind: "int", values: [2, 2, -2, -2, 3, 4] })],
    build: (_b, { i, j }) => ({ add: op.add(i!, j!), sub: op.sub(i!, j!), mul: op.mul(i!, j!), div: op.div(i!, j!), max: op.max(i!, j!), neg: op.neg(i!) }),
  },
]);

cases("linear algebra", [
  {
    name: "MatMul 2-D and batched with broadcast batch axes",
    inputs: [f("a", [3, 4]), f("b", [4, 5]), f("x", [2, 1, 3, 4]), f("w", [3, 4, 2])],
    build: (_b, { a, b, x, w }) => ({ plain: op.matmul(a!, b!), batched: op.matmul(x!, w!) }),
  },
  {
    name: "Gemm with transposes, alpha, beta and broadcast C",
    inputs: [f("a", [4, 3]), f("b", [5, 4]), f("c", [5]), f("a2", [3, 4]), f("b2", [4, 5])],
    build: (_b, { a, b, c, a2, b2 }) => ({
      t: op.gemm(a!, b!, c!, { transA: true, transB: true, alpha: 0.5, beta: -2 }),
      plain: op.gemm(a2!, b2!, null),
    }),
  },
]);

cases("data movement", [
  {
    name: "Reshape (0 and -1), Transpose, Squeeze, Unsqueeze",
    inputs: [f("x", [2, 3, 4])],
    build: (_b, { x }) => ({
      reshape: op.reshape(x!, [2, -1]),
      t: op.transpose(x!, [2, 0, 1]),
      tDefault: op.transpose(x!),
      sq: op.squeeze(op.unsqueeze(x!, [0, -1]), [0]),
      un: op.unsqueeze(x!, [1, 3]),
    }),
  },
  {
    name: "Reshape keeps a named dimension (emitted as 0)",
    inputs: [f("x", [2, 3, 4], { dims: ["batch", 3, 4] })],
    build: (_b, { x }) => ({ r: op.reshape(x!, ["batch", -1]), back: op.reshape(op.reshape(x!, ["batch", 12]), ["batch", 2, 6]) }),
  },
  {
    name: "Concat and Split",
    inputs: [f("a", [2, 3]), f("b", [2, 1]), f("c", [2, 2])],
    build: (_b, { a, b, c }) => {
      const cat = op.concat([a!, b!, c!], 1);
      const [p, q, r] = op.split(cat, -1, [1, 4, 1]);
      return { cat, p: p!, q: q!, r: r!, rows: op.concat([a!, a!], 0) };
    },
  },
  {
    name: "Slice with negative indices, steps and huge ends",
    inputs: [f("x", [4, 5])],
    build: (_b, { x }) => ({
      basic: op.slice(x!, [1, 0], [3, 5]),
      neg: op.slice(x!, [-3], [-1], [1]),
      step: op.slice(x!, [0, 4], [4, 0], [0, 1], [2, -2]),
      reverse: op.slice(x!, [-1], [-1e18], [0], [-1]),
      toEnd: op.slice(x!, [2], [1e18], [1]),
    }),
  },
  {
    // Emitted by hand: op.slice infers length 0 here, because it clamps a backward start to [-1, dim-1] instead of
    // the spec's [0, dim-1]; ORT and the reference both return element 0.
    name: "Slice backwards from a start before the beginning",
    inputs: [f("x", [4])],
    build: (b, { x }) => {
      const args = [[-10], [-(2 ** 53)], [0], [-1]].map((v) => b.tensor("int64", v));
      return { y: b.emit("Slice", [x!, ...args], [{ dtype: x!.dtype, shape: [1] }])[0]! };
    },
  },
  {
    name: "Pad (constant), Expand, Shape, ConstantOfShape",
    inputs: [f("x", [2, 3]), f("v", [3, 1])],
    build: (_b, { x, v }) => ({
      pad: op.pad(x!, [1, 0, 0, 2], 0.5),
      expand: op.expand(v!, [2, 3, 4]),
      shape: op.shapeOf(x!),
      full: op.full(x!, [2, 2], 3.5),
      fullInt: op.full(x!, [3], 7, "int64"),
    }),
  },
  {
    name: "Trilu upper and lower with offsets",
    inputs: [f("x", [2, 3, 4])],
    build: (_b, { x }) => ({ up: op.trilu(x!, true), up1: op.trilu(x!, true, 1), low: op.trilu(x!, false), lowNeg: op.trilu(x!, false, -1) }),
  },
  {
    name: "CumSum, exclusive and reverse",
    inputs: [f("x", [3, 4])],
    build: (_b, { x }) => ({
      plain: op.cumSum(x!, 1),
      exclusive: op.cumSum(x!, 1, { exclusive: true }),
      reverse: op.cumSum(x!, 0, { reverse: true }),
      both: op.cumSum(x!, -1, { exclusive: true, reverse: true }),
    }),
  },
]);

cases("indexing", [
  {
    name: "Gather on axis 0 and 1 with negative indices",
    inputs: [f("x", [4, 3]), f("ids", [2, 2], { kind: "int", values: [0, 3, -1, 2] }), f("cols", [2], { kind: "int", values: [2, -3] })],
    build: (_b, { x, ids, cols }) => ({ byRow: op.gather(x!, ids!, 0), byCol: op.gather(x!, cols!, 1) }),
  },
  {
    name: "GatherElements and ScatterElements (none, add with duplicates)",
    inputs: [f("x", [3, 4]), f("idx", [3, 2], { kind: "int", values: [0, 3, 1, 1, -1, 2] }), f("u", [3, 2])],
    build: (_b, { x, idx, u }) => ({
      gathered: op.gatherElements(x!, idx!, 1),
      scattered: op.scatterElements(x!, op.slice(idx!, [0], [1], [1]), op.slice(u!, [0], [1], [1]), 1),
      added: op.scatterElements(x!, idx!, u!, 1, "add"),
    }),
  },
  {
    name: "ScatterND of rows and of elements (add with duplicates)",
    inputs: [
      f("x", [4, 3]),
      f("rows", [2, 1], { kind: "int", values: [3, 0] }),
      f("ru", [2, 3]),
      f("cells", [3, 2], { kind: "int", values: [0, 0, 2, 1, 0, 0] }),
      f("cu", [3]),
    ],
    build: (_b, { x, rows, ru, cells, cu }) => ({ setRows: op.scatterND(x!, rows!, ru!), add: op.scatterND(x!, cells!, cu!, "add") }),
  },
  {
    name: "OneHot with a negative index and custom off/on values",
    inputs: [f("labels", [2, 3], { kind: "int", values: [0, 4, -1, 2, 1, 3] })],
    build: (_b, { labels }, dtype) => ({ hot: op.oneHot(labels!, 5, dtype, -0.5, 2) }),
  },
]);

cases("reductions", [
  {
    name: "ReduceSum/Mean/Max/Min/LogSumExp over axes, with and without keepdims",
    inputs: [f("x", [2, 3, 4])],
    build: (_b, { x }) => ({
      sumAll: op.reduceSum(x!),
      sum02: op.reduceSum(x!, [0, 2], true),
      mean: op.reduceMean(x!, [-1]),
      max: op.reduceMax(x!, [1], true),
      min: op.reduceMin(x!, [0, 1]),
      lse: op.reduceLogSumExp(x!, [2]),
      lseBig: op.reduceLogSumExp(op.mul(x!, 400), [2]),
    }),
  },
  {
    name: "ReduceSum, ReduceMax of int64",
    inputs: [f("i", [2, 3], { kind: "int", min: -5, max: 5 })],
    build: (_b, { i }) => ({ sum: op.reduceSum(i!, [1]), max: op.reduceMax(i!, [0], true) }),
  },
  {
    name: "ArgMax and TopK with ties",
    inputs: [f("x", [2, 5], { values: [1, 3, 3, -1, 2, 0, 0, 0, -2, 5] })],
    build: (_b, { x }) => {
      const [v, i] = op.topK(x!, 3);
      const [sv, si] = op.topK(x!, 2, 0, false);
      return { arg: op.argMax(x!, 1), argKeep: op.argMax(x!, 0, true), v, i, sv, si };
    },
  },
]);

cases("neural-network ops", [
  {
    name: "Softmax and LogSoftmax on two axes",
    inputs: [f("x", [2, 3, 4])],
    build: (_b, { x }) => ({ sm: op.softmax(x!), sm0: op.softmax(x!, 0), lsm: op.logSoftmax(x!), lsm1: op.logSoftmax(op.mul(x!, 50), 1) }),
  },
  {
    name: "LayerNormalization over the last axis and the last two",
    inputs: [f("x", [2, 3, 4]), f("g", [4]), f("bias", [4]), f("g2", [3, 4])],
    build: (_b, { x, g, bias, g2 }) => ({ last: op.layerNorm(x!, g!, bias!), two: op.layerNorm(x!, g2!, null, 1, 1e-3) }),
  },
]);

cases("layers", [
  {
    name: "causal self-attention with a key mask",
    inputs: [f("x", [2, 3, 4]), f("q", [4, 4]), f("k", [4, 4]), f("v", [4, 4]), f("o", [4, 4]), f("keep", [2, 3], { values: [1, 1, 1, 1, 1, 0] })],
    build: (_b, i) => ({ y: causalSelfAttention(i.x!, { q: i.q!, k: i.k!, v: i.v!, o: i.o! }, 2, i.keep!) }),
  },
  {
    name: "pre-norm transformer block",
    inputs: [
      f("x", [1, 4, 4]),
      ...["q", "k", "v", "o"].map((n) => f(n, [4, 4])),
      f("up", [4, 8]),
      f("down", [8, 4]),
      f("ub", [8]),
      f("s1", [4]),
      f("b1", [4]),
      f("s2", [4]),
      f("b2", [4]),
    ],
    build: (_b, i) => ({
      y: transformerBlock(
        i.x!,
        {
          norm1: { scale: i.s1!, bias: i.b1! },
          attention: { q: i.q!, k: i.k!, v: i.v!, o: i.o! },
          norm2: { scale: i.s2!, bias: i.b2! },
          mlp: { up: i.up!, upBias: i.ub!, down: i.down! },
        },
        2,
      ),
    }),
    tolerance: { float64: 1e-8 }, // its MLP uses Gelu(tanh); see the Gelu tanh case
  },
]);

cases("float32", [
  {
    name: "causal self-attention with a key mask, float32",
    only: "float32",
    inputs: [f("x", [2, 3, 4]), f("q", [4, 4]), f("k", [4, 4]), f("v", [4, 4]), f("o", [4, 4]), f("keep", [2, 3], { values: [1, 1, 1, 1, 1, 0] })],
    build: (_b, i) => ({ y: causalSelfAttention(i.x!, { q: i.q!, k: i.k!, v: i.v!, o: i.o! }, 2, i.keep!) }),
  },
  {
    ...withGrads(
      "gradients of a LayerNorm + Gelu(erf) MLP, float32",
      [f("x", [3, 4]), f("g", [4]), f("bias", [4]), f("up", [4, 6]), f("down", [6, 2])],
      (x) => {
        const y = op.matmul(op.gelu(op.matmul(op.layerNorm(x.x!, x.g!, x.bias!), x.up!)), x.down!);
        return op.reduceSum(op.mul(y, y));
      },
    ),
    only: "float32",
  },
]);

cases("control flow", [
  {
    name: "Loop with carried state, scan outputs and outer-scope reads",
    inputs: [f("h0", [1, 3]), f("w", [3, 3]), f("xs", [4, 3])],
    build: (b, { h0, w, xs }) => {
      const r = op.loop(b, 4, [h0!], (i, [h]) => {
        const xi = op.gather(xs!, op.reshape(i, [1]), 0); // [1, 3], read by reference from the outer graph
        const next = op.tanh(op.add(op.matmul(h!, w!), xi));
        return { carried: [next], scans: [op.reduceSum(next), op.cast(op.mul(i, i), "float64")] };
      });
      return { h: r.carried[0]!, sums: r.scans[0]!, squares: r.scans[1]! };
    },
  },
  {
    name: "Loop with a trip count fed at run time",
    inputs: [f("h0", [2]), f("trips", [], { kind: "int", values: [3] })],
    build: (b, { h0, trips }) => {
      const r = op.loop(b, 3, [h0!], (_i, [h]) => ({ carried: [op.add(op.mul(h!, 0.5), 1)], scans: [h!] }), { tripsInput: trips! });
      return { h: r.carried[0]!, history: r.scans[0]! };
    },
  },
  {
    name: "If on a runtime condition, both branches",
    inputs: [f("x", [2, 3]), f("y", [3])],
    build: (_b, { x, y }) => {
      const pick = (c: Tensor) =>
        op.cond(
          c,
          () => [op.add(x!, y!), op.reduceMax(x!, [1])],
          () => [op.mul(x!, 2), op.reduceMin(x!, [1])],
        );
      const [t1, t2] = pick(op.greater(op.reduceSum(y!), -100));
      const [e1, e2] = pick(op.less(op.reduceSum(y!), -100));
      return { t1: t1!, t2: t2!, e1: e1!, e2: e2! };
    },
  },
]);

/** loss and its gradients with respect to every float input that is not listed in `constants`. */
function withGrads(name: string, inputs: In[], loss: (x: Record<string, Tensor>) => Tensor, constants: string[] = []): Case {
  return {
    name,
    inputs,
    build: (_b, x) => {
      const l = loss(x);
      const wrt = inputs.filter((i) => (i.kind ?? "float") === "float" && !constants.includes(i.name)).map((i) => x[i.name]!);
      const out: Record<string, Tensor> = { loss: l };
      grad(l, wrt).forEach((g, k) => {
        out[`grad_${wrt[k]!.name}`] = g;
      });
      return out;
    },
  };
}

cases("gradients", [
  withGrads(
    "cross-entropy of an embedding + LayerNorm + MLP model",
    [
      f("emb", [6, 4]),
      f("ids", [2, 3], { kind: "int", max: 6 }),
      f("labels", [2, 3], { kind: "int", max: 6 }),
      f("mask", [2, 3], { values: [0, 1, 1, 1, 1, 0] }),
      f("g", [4]),
      f("bias", [4]),
      f("up", [4, 5]),
      f("down", [5, 6]),
    ],
    (x) => {
      const h = op.layerNorm(op.gather(x.emb!, x.ids!, 0), x.g!, x.bias!);
      const logits = op.matmul(op.gelu(op.matmul(h, x.up!), "tanh"), x.down!);
      return maskedCrossEntropy(logits, x.labels!, x.mask!);
    },
    ["mask"],
  ),
  withGrads("attention block under a squared loss", [f("x", [2, 3, 4]), f("q", [4, 4]), f("k", [4, 4]), f("v", [4, 4]), f("o", [4, 4])], (x) => {
    const y = causalSelfAttention(x.x!, { q: x.q!, k: x.k!, v: x.v!, o: x.o! }, 2);
    return op.reduceMean(op.mul(y, y));
  }),
  withGrads(
    "DPO loss through slices, pads, cumsum and max",
    [
      f("chosen", [2, 3, 5]),
      f("rejected", [2, 3, 5]),
      f("yc", [2, 3], { kind: "int", max: 5 }),
      f("yr", [2, 3], { kind: "int", max: 5 }),
      f("mask", [2, 3], { values: [0, 1, 1, 0, 1, 1] }),
      f("w", [2, 3]),
    ],
    (x) => {
      const c = sequenceLogProbs(tokenLogProbs(x.chosen!, x.yc!, x.mask!), x.mask!, "mean");
      const r = sequenceLogProbs(tokenLogProbs(x.rejected!, x.yr!, x.mask!), x.mask!);
      const extra = op.reduceSum(op.max(op.cumSum(op.pad(op.slice(x.w!, [0, 1], [2, 3]), [0, 1, 0, 0]), 1), 0.1));
      return op.add(dpoSigmoidLoss(c, r, op.mul(c, 0.9), op.mul(r, 1.1), 0.5), op.mul(extra, 0.01));
    },
    ["mask"],
  ),
]);

describe("whole programs", () => {
  test("an AdamW training program: nested Loops, runtime slices, accumulation", async () => {
    const program = buildTrainProgram({
      trainable: [{ name: "w", dtype: "float64", shape: [3] }],
      batch: { c: { dtype: "float64", shape: [3] } },
      steps: 3,
      accumulation: 2,
      optimizer: adamw({ lr: 0.1 }),
      schedule: { kind: "linear", warmupSteps: 1, totalSteps: 5 },
      clipNorm: 1,
      loss: (p, b) => ({ loss: op.add(op.reduceSum(op.mul(b.c!, p.w!)), op.mul(op.reduceSum(op.mul(p.w!, p.w!)), 0.5)) }),
    });
    const f64 = (shape: number[], values: number[]): TensorData => ({ dtype: "float64", shape, data: Float64Array.from(values) });
    const feeds: Record<string, TensorData> = {
      "param/w": f64([3], [0.3, -0.2, 1.5]),
      "m/w": f64([3], [0, 0, 0]),
      "v/w": f64([3], [0, 0, 0]),
      step_offset: { dtype: "int64", shape: [], data: BigInt64Array.of(2n) },
      "batch/c": f64(
        [6, 3],
        Array.from({ length: 18 }, (_, i) => Math.sin(i + 1)),
      ),
    };
    const want = evaluate(program.builder.root, feeds);
    for (const level of ["disabled", "all"] as const) {
      const got = await runOrt(program.builder, feeds, level);
      assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
      for (const name of Object.keys(want)) assert.ok(compare(name, got[name]!, want[name]!) <= TOLERANCE[level].float64, `${name} (optimizations ${level})`);
    }
  });
});

describe("the reference evaluator itself", () => {
  test("erf is accurate to a few ulps", () => {
    // Values from mpmath at 30 digits.
    const known: [number, number][] = [
      [1e-10, 1.1283791670955126e-10],
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [4, 0.9999999845827421],
      [-1.5, -0.9661051464753108],
    ];
    for (const [x, v] of known) assert.ok(Math.abs(erf(x) - v) <= 4e-16 * Math.abs(v), `erf(${x}) = ${erf(x)}, want ${v}`);
  });

  test("an op without a kernel is reported with the node", () => {
    const b = new Builder();
    const x = b.input("x", "float32", [2]);
    b.output(b.emit("Hardmax", [x], [{ dtype: "float32", shape: [2] }])[0]!, "y");
    assert.throws(() => evaluate(b.root, { x: { dtype: "float32", shape: [2], data: new Float32Array(2) } }), /no kernel for op Hardmax \(node n_Hardmax/);
  });

  test("a node whose declared shape disagrees with its computed one is reported (a shape-inference bug)", () => {
    const b = new Builder();
    const x = b.input("x", "float64", [2]);
    b.output(b.emit("Add", [x, x], [{ dtype: "float64", shape: [3] }])[0]!, "y");
    assert.throws(
      () => evaluate(b.root, { x: { dtype: "float64", shape: [2], data: new Float64Array(2) } }),
      /output "add" of node n_Add \(Add\) in graph "main" is float64\[2\], the IR says float64\[3\] \(dimension 0\)/,
    );
  });

  test("feeds are checked against the declared shapes, and named dimensions must agree", () => {
    const b = new Builder();
    const x = b.input("x", "float64", ["batch", 2]);
    const y = b.input("y", "float64", ["batch"]);
    b.output(op.add(op.reduceSum(x, [1]), y), "z");
    const v = (shape: number[]): TensorData => ({ dtype: "float64", shape, data: new Float64Array(shape.reduce((p, d) => p * d, 1)) });
    assert.throws(() => evaluate(b.root, { x: v([3, 3]), y: v([3]) }), /input "x" .* is float64\[3, 3\], the IR says float64\[batch, 2\] \(dimension 1\)/);
    assert.throws(() => evaluate(b.root, { x: v([3, 2]), y: v([4]) }), /"batch" was 3 elsewhere/);
    assert.throws(() => evaluate(b.root, { x: v([3, 2]) }), /no value fed for input "y"/);
    const feeds = new Map([
      [x, v([3, 2])],
      [y, v([3])],
    ]);
    assert.deepEqual(evaluate(b.root, feeds).z!.shape, [3]);
  });
});
