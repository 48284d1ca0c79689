// The gradient-check cases: at least one per VJP rule, with broadcasting and keepdims variants, plus composite
// blocks the models are made of. Inputs are small so finite differences stay cheap.
import type { Tensor } from "../../../tensor/ir/graph.ts";
import * as op from "../../../tensor/ops/index.ts";
import type { GradCase } from "./types.ts";

const f = (name: string, shape: number[], domain: "any" | "positive" | "awayFromZero" = "any") => ({ name, shape, domain });

function unaryCase(name: string, fn: (x: Tensor) => Tensor, domain: "any" | "positive" | "awayFromZero" = "any"): GradCase {
  return { op: name, case: "[2,3]", inputs: [f("x", [2, 3], domain)], build: (_b, i) => fn(i.x!) };
}

function binaryCases(name: string, fn: (x: Tensor, y: Tensor) => Tensor, domainY: "any" | "positive" | "awayFromZero" = "any"): GradCase[] {
  return [
    { op: name, case: "[2,3] ∘ [2,3]", inputs: [f("x", [2, 3]), f("y", [2, 3], domainY)], build: (_b, i) => fn(i.x!, i.y!) },
    { op: name, case: "[2,3] ∘ [3] (broadcast)", inputs: [f("x", [2, 3]), f("y", [3], domainY)], build: (_b, i) => fn(i.x!, i.y!) },
    { op: name, case: "[2,1] ∘ [1,3] (both broadcast)", inputs: [f("x", [2, 1]), f("y", [1, 3], domainY)], build: (_b, i) => fn(i.x!, i.y!) },
  ];
}

export const elementwiseCases: GradCase[] = [
  ...binaryCases("Add", op.add),
  ...binaryCases("Sub", op.sub),
  ...binaryCases("Mul", op.mul),
  ...binaryCases("Div", op.div, "positive"),
  {
    op: "Pow",
    case: "positive base, broadcast exponent",
    inputs: [f("x", [2, 3], "positive"), f("y", [3])],
    build: (_b, i) => op.pow(i.x!, i.y!),
  },
  {
    op: "Max",
    case: "[2,3] ∘ [3] (no ties)",
    inputs: [f("x", [2, 3]), { name: "y", shape: [3], values: [0.05, -0.35, 0.55] }],
    build: (_b, i) => op.max(i.x!, i.y!),
  },
  {
    op: "Min",
    case: "[2,3] ∘ [3] (no ties)",
    inputs: [f("x", [2, 3]), { name: "y", shape: [3], values: [0.05, -0.35, 0.55] }],
    build: (_b, i) => op.min(i.x!, i.y!),
  },
  {
    op: "Where",
    case: "mask [2,3], operands [2,3] and [3]",
    inputs: [{ name: "m", shape: [2, 3], kind: "bool" }, f("x", [2, 3]), f("y", [3])],
    build: (_b, i) => op.where(i.m!, i.x!, i.y!),
  },
  unaryCase("Neg", op.neg),
  unaryCase("Abs", op.abs, "awayFromZero"),
  unaryCase("Sqrt", op.sqrt, "positive"),
  unaryCase("Reciprocal", op.reciprocal, "positive"),
  unaryCase("Exp", op.exp),
  unaryCase("Log", op.log, "positive"),
  unaryCase("Tanh", op.tanh),
  unaryCase("Sigmoid", op.sigmoid),
  unaryCase("Softplus", op.softplus),
  unaryCase("Erf", op.erf),
  unaryCase("Relu", op.relu, "awayFromZero"),
  { ...unaryCase("Gelu", (x) => op.gelu(x, "none")), case: "erf form" },
  { ...unaryCase("Gelu", (x) => op.gelu(x, "tanh")), case: "tanh form" },
  {
    op: "Cast",
    case: "to float32 and back",
    inputs: [f("x", [2, 3])],
    build: (_b, i, dtype) => op.cast(op.mul(op.cast(i.x!, "float32"), op.cast(i.x!, "float32")), dtype),
    // The round trip through float32 limits precision to ~1e-7, so a larger step and tolerance are needed in float64.
    eps: 1e-2,
    tolerance: 1e-3,
  },
];

export const linalgCases: GradCase[] = [
  { op: "MatMul", case: "[2,3]@[3,4]", inputs: [f("a", [2, 3]), f("b", [3, 4])], build: (_b, i) => op.matmul(i.a!, i.b!) },
  { op: "MatMul", case: "batched [2,2,3]@[3,4] (broadcast B)", inputs: [f("a", [2, 2, 3]), f("b", [3, 4])], build: (_b, i) => op.matmul(i.a!, i.b!) },
  { op: "MatMul", case: "[2,1,2,3]@[3,3,2]", inputs: [f("a", [2, 1, 2, 3]), f("b", [3, 3, 2])], build: (_b, i) => op.matmul(i.a!, i.b!) },
  {
    op: "Gemm",
    case: "A·B + C[4]",
    inputs: [f("a", [2, 3]), f("b", [3, 4]), f("c", [4])],
    build: (_b, i) => op.gemm(i.a!, i.b!, i.c!, { alpha: 0.5, beta: 2 }),
  },
  {
    op: "Gemm",
    case: "Aᵀ·Bᵀ + C[2,1]",
    inputs: [f("a", [3, 2]), f("b", [4, 3]), f("c", [2, 1])],
    build: (_b, i) => op.gemm(i.a!, i.b!, i.c!, { transA: true, transB: true }),
  },
];

export const shapeCases: GradCase[] = [
  { op: "Reshape", case: "[2,3,2]→[3,4]", inputs: [f("x", [2, 3, 2])], build: (_b, i) => op.reshape(i.x!, [3, -1]) },
  { op: "Transpose", case: "perm [2,0,1]", inputs: [f("x", [2, 3, 4])], build: (_b, i) => op.transpose(i.x!, [2, 0, 1]) },
  { op: "Squeeze", case: "axis 1", inputs: [f("x", [2, 1, 3])], build: (_b, i) => op.squeeze(i.x!, [1]) },
  { op: "Unsqueeze", case: "axes 0,-1", inputs: [f("x", [2, 3])], build: (_b, i) => op.unsqueeze(i.x!, [0, -1]) },
  { op: "Concat", case: "axis 1", inputs: [f("x", [2, 3]), f("y", [2, 2])], build: (_b, i) => op.concat([i.x!, op.exp(i.y!), i.x!], 1) },
  {
    op: "Split",
    case: "axis 1, one part unused",
    inputs: [f("x", [2, 5])],
    build: (_b, i) => {
      const [p, , r] = op.split(i.x!, 1, [2, 1, 2]);
      return op.mul(p!, r!);
    },
  },
  { op: "Slice", case: "negative indices", inputs: [f("x", [3, 4])], build: (_b, i) => op.slice(i.x!, [1, -3], [3, -1], [0, 1]) },
  { op: "Pad", case: "both sides", inputs: [f("x", [2, 3])], build: (_b, i) => op.pad(i.x!, [1, 0, 0, 2], 0.5) },
  { op: "Expand", case: "[3,1]→[2,3,4]", inputs: [f("x", [3, 1])], build: (_b, i) => op.expand(i.x!, [2, 3, 4]) },
  {
    op: "Gather",
    case: "embedding rows with repeats",
    inputs: [f("table", [5, 3]), { name: "ids", shape: [2, 3], kind: "int", values: [0, 4, 4, 1, 0, 2] }],
    build: (_b, i) => op.gather(i.table!, i.ids!, 0),
  },
  {
    op: "GatherElements",
    case: "axis 1",
    inputs: [f("x", [2, 4]), { name: "idx", shape: [2, 3], kind: "int", values: [0, 3, 3, 1, 1, 2] }],
    build: (_b, i) => op.gatherElements(i.x!, i.idx!, 1),
  },
  { op: "CumSum", case: "axis 1", inputs: [f("x", [2, 4])], build: (_b, i) => op.cumSum(i.x!, 1) },
  { op: "CumSum", case: "exclusive reverse", inputs: [f("x", [2, 4])], build: (_b, i) => op.cumSum(i.x!, 1, { exclusive: true, reverse: true }) },
  { op: "Trilu", case: "lower", inputs: [f("x", [3, 3])], build: (_b, i) => op.trilu(i.x!, false) },
];

export const reduceCases: GradCase[] = [
  { op: "ReduceSum", case: "axis 1", inputs: [f("x", [2, 3, 2])], build: (_b, i) => op.reduceSum(i.x!, [1]) },
  { op: "ReduceSum", case: "axes 0,2 keepdims", inputs: [f("x", [2, 3, 2])], build: (_b, i) => op.reduceSum(i.x!, [0, 2], true) },
  { op: "ReduceSum", case: "all", inputs: [f("x", [2, 3])], build: (_b, i) => op.reduceSum(i.x!) },
  { op: "ReduceMean", case: "axis -1", inputs: [f("x", [2, 3])], build: (_b, i) => op.reduceMean(i.x!, [-1]) },
  { op: "ReduceMean", case: "axis 0 keepdims", inputs: [f("x", [2, 3])], build: (_b, i) => op.reduceMean(i.x!, [0], true) },
  { op: "ReduceMax", case: "axis 1", inputs: [f("x", [2, 3])], build: (_b, i) => op.reduceMax(i.x!, [1]) },
  { op: "ReduceMax", case: "axis 0 keepdims", inputs: [f("x", [3, 2])], build: (_b, i) => op.reduceMax(i.x!, [0], true) },
  { op: "ReduceLogSumExp", case: "axis 1", inputs: [f("x", [2, 3])], build: (_b, i) => op.reduceLogSumExp(i.x!, [1]) },
  { op: "ReduceLogSumExp", case: "axis 0 keepdims", inputs: [f("x", [2, 3])], build: (_b, i) => op.reduceLogSumExp(i.x!, [0], true) },
];

export const nnCases: GradCase[] = [
  { op: "Softmax", case: "axis -1", inputs: [f("x", [2, 4])], build: (_b, i) => op.softmax(i.x!, -1) },
  { op: "Softmax", case: "axis 0", inputs: [f("x", [3, 2])], build: (_b, i) => op.softmax(i.x!, 0) },
  { op: "LogSoftmax", case: "axis -1", inputs: [f("x", [2, 4])], build: (_b, i) => op.logSoftmax(i.x!, -1) },
  { op: "LogSoftmax", case: "[2,3,4] axis 1", inputs: [f("x", [2, 3, 4])], build: (_b, i) => op.logSoftmax(i.x!, 1) },
  {
    op: "LayerNormalization",
    case: "last axis, scale and bias",
    inputs: [f("x", [3, 4]), f("g", [4]), f("bias", [4])],
    build: (_b, i) => op.layerNorm(i.x!, i.g!, i.bias!, -1, 1e-5),
  },
  {
    op: "LayerNormalization",
    case: "axis 1 of [2,2,3]",
    inputs: [f("x", [2, 2, 3]), f("g", [2, 3])],
    build: (_b, i) => op.layerNorm(i.x!, i.g!, null, 1, 1e-5),
  },
];
