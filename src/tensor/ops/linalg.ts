// Matrix products: MatMul (numpy batch broadcasting) and Gemm. Reference sums accumulate in float64, in index order.
import { dy, type VjpArgs } from "../autodiff/rule.ts";
import { isFloat } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { broadcastShapes, type Dim, formatShape, ShapeError } from "../ir/shape.ts";
import * as ref from "../reference/kernel.ts";
import { broadcast, broadcastOffset, size, strides, unravel } from "../reference/strided.ts";
import { makeValue, type Value } from "../reference/value.ts";
import { float, int, intAttr } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import * as op from "./index.ts";
import { floatInput as f, type OpDef } from "./op-def.ts";
import { unbroadcast } from "./reduce.ts";

// ── constructors ──

/** MatMul with numpy batch broadcasting; both operands need rank ≥ 2 (unsqueeze vectors first). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2)
    throw new ShapeError(`MatMul: operands need rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}; unsqueeze vectors first`);
  if (a.dtype !== b.dtype || !isFloat(a.dtype)) throw new ShapeError(`MatMul: needs two floating-point operands of one type, got ${a.dtype} and ${b.dtype}`);
  const k1 = a.shape[a.rank - 1]!;
  const k2 = b.shape[b.rank - 2]!;
  if (k1 !== k2) throw new ShapeError(`MatMul: inner dimensions differ: ${formatShape(a.shape)} @ ${formatShape(b.shape)} (${k1} vs ${k2})`);
  const batch = broadcastShapes("MatMul", [a.shape.slice(0, -2), b.shape.slice(0, -2)]);
  const shape: Dim[] = [...batch, a.shape[a.rank - 2]!, b.shape[b.rank - 1]!];
  return builderOf(a).emit("MatMul", [a, b], [{ dtype: a.dtype, shape }])[0]!;
}

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
}

/** Gemm: alpha·op(A)·op(B) + beta·C, A and B 2-D, C broadcast to the result. */
export function gemm(a: Tensor, b: Tensor, c: Tensor | null, o: GemmOptions = {}): Tensor {
  if (a.rank !== 2 || b.rank !== 2) throw new ShapeError(`Gemm: A and B must be 2-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const [m, ka] = o.transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [kb, n] = o.transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (ka !== kb) throw new ShapeError(`Gemm: inner dimensions differ (${ka} vs ${kb})`);
  if (c) broadcastShapes("Gemm", [[m, n], c.shape]);
  const attrs = { transA: int(o.transA ? 1 : 0), transB: int(o.transB ? 1 : 0), alpha: float(o.alpha ?? 1), beta: float(o.beta ?? 1) };
  return builderOf(a).emit("Gemm", c ? [a, b, c] : [a, b], [{ dtype: a.dtype, shape: [m, n] }], attrs)[0]!;
}

// ── VJPs ──

/** Swaps the last two axes. */
function transposeLast2(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  perm[t.rank - 1] = t.rank - 2;
  perm[t.rank - 2] = t.rank - 1;
  return op.transpose(t, perm);
}

/**
 * Y = A·B: dA = dY·Bᵀ, dB = Aᵀ·dY, summed over broadcast batch axes. A matrix B under a batched A (a weight applied to
 * every row) gets its gradient from one product over all rows, Aᵀ·dY with the batch folded into the rows, instead of
 * a product per batch element and their sum: no [batch, K, N] intermediate.
 */
function matmulVjp(a: VjpArgs): (Tensor | null)[] {
  const [A, B] = [a.inputs[0]!, a.inputs[1]!];
  const g = dy(a);
  let dB: Tensor | null = null;
  if (a.needs[1] && B.rank === 2 && A.rank > 2) {
    const [k, n] = [B.shape[0]!, B.shape[1]!];
    dB = op.matmul(op.transpose(op.reshape(A, [-1, k])), op.reshape(g, [-1, n]));
  } else if (a.needs[1]) dB = unbroadcast(op.matmul(transposeLast2(A), g), B.shape);
  return [a.needs[0] ? unbroadcast(op.matmul(g, transposeLast2(B)), A.shape) : null, dB];
}

/** Y = α·op(A)·op(B) + β·C. */
function gemmVjp(a: VjpArgs): (Tensor | null)[] {
  const [A, B, C] = [a.inputs[0]!, a.inputs[1]!, a.inputs[2] ?? null];
  const transA = intAttr(a.node.attrs, "transA", 0) === 1;
  const transB = intAttr(a.node.attrs, "transB", 0) === 1;
  const alpha = intAttr(a.node.attrs, "alpha", 1);
  const beta = intAttr(a.node.attrs, "beta", 1);
  const g = dy(a);
  const opA = transA ? op.transpose(A) : A;
  const opB = transB ? op.transpose(B) : B;
  const scale = (t: typeof g, s: number) => (s === 1 ? t : op.mul(t, s));
  let dA = null;
  let dB = null;
  if (a.needs[0]) {
    const dOpA = scale(op.matmul(g, op.transpose(opB)), alpha);
    dA = transA ? op.transpose(dOpA) : dOpA;
  }
  if (a.needs[1]) {
    const dOpB = scale(op.matmul(op.transpose(opA), g), alpha);
    dB = transB ? op.transpose(dOpB) : dOpB;
  }
  const dC = C && a.needs[2] ? unbroadcast(scale(g, beta), C.shape) : null;
  return [dA, dB, dC];
}

// ── reference kernels ──

function matmulKernel(a: ref.KernelArgs): Value[] {
  let x = ref.input(a, 0);
  let y = ref.input(a, 1);
  // numpy: a 1-D left operand is a row vector, a 1-D right one a column vector; the added axis is dropped after.
  const vecLeft = x.shape.length === 1;
  const vecRight = y.shape.length === 1;
  if (vecLeft) x = { ...x, shape: [1, x.shape[0]!] };
  if (vecRight) y = { ...y, shape: [y.shape[0]!, 1] };
  const [m, k] = x.shape.slice(-2) as [number, number];
  const [k2, n] = y.shape.slice(-2) as [number, number];
  if (k !== k2) throw new Error(`reference MatMul (node ${a.node.name}): inner dimensions ${k} and ${k2} differ`);
  const batch = broadcast("MatMul", [x.shape.slice(0, -2), y.shape.slice(0, -2)]);
  const out = makeValue(x.dtype, [...batch, m, n]);
  const xb = x.shape.slice(0, -2);
  const yb = y.shape.slice(0, -2);
  for (let b = 0; b < size(batch); b++) {
    const idx = unravel(b, batch);
    const xo = broadcastOffset(idx, xb) * m * k;
    const yo = broadcastOffset(idx, yb) * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += x.data[xo + i * k + p]! * y.data[yo + p * n + j]!;
        out.data[b * m * n + i * n + j] = s;
      }
  }
  let shape = out.shape;
  if (vecLeft) shape = [...shape.slice(0, -2), shape[shape.length - 1]!];
  if (vecRight) shape = shape.slice(0, -1);
  return [{ ...out, shape }];
}

/** Y = alpha·op(A)·op(B) + beta·C with C broadcast to [M, N]. */
function gemmKernel(a: ref.KernelArgs): Value[] {
  const A = ref.input(a, 0);
  const B = ref.input(a, 1);
  const C = ref.optionalInput(a, 2);
  const transA = ref.numAttr(a, "transA", 0) === 1;
  const transB = ref.numAttr(a, "transB", 0) === 1;
  const alpha = ref.numAttr(a, "alpha", 1);
  const beta = ref.numAttr(a, "beta", 1);
  const [m, k] = transA ? [A.shape[1]!, A.shape[0]!] : [A.shape[0]!, A.shape[1]!];
  const n = transB ? B.shape[0]! : B.shape[1]!;
  const [as, bs] = [strides(A.shape), strides(B.shape)];
  const at = (i: number, p: number) => A.data[transA ? p * as[0]! + i : i * as[0]! + p]!;
  const bt = (p: number, j: number) => B.data[transB ? j * bs[0]! + p : p * bs[0]! + j]!;
  const out = makeValue(A.dtype, [m, n]);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += at(i, p) * bt(p, j);
      out.data[i * n + j] = alpha * s + (C ? beta * C.data[broadcastOffset([i, j], C.shape)]! : 0);
    }
  return [out];
}

// ── the registry entries ──

export const linalgOps: readonly OpDef[] = [
  {
    onnxType: "MatMul",
    vjp: matmulVjp,
    reference: matmulKernel,
    gradcheck: [
      { case: "[2,3]@[3,4]", inputs: [f("a", [2, 3]), f("b", [3, 4])], build: (_b, i) => matmul(i.a!, i.b!) },
      { case: "batched [2,2,3]@[3,4] (broadcast B)", inputs: [f("a", [2, 2, 3]), f("b", [3, 4])], build: (_b, i) => matmul(i.a!, i.b!) },
      { case: "[2,1,2,3]@[3,3,2]", inputs: [f("a", [2, 1, 2, 3]), f("b", [3, 3, 2])], build: (_b, i) => matmul(i.a!, i.b!) },
      { case: "[2,3]@[2,3,4] (broadcast A)", inputs: [f("a", [2, 3]), f("b", [2, 3, 4])], build: (_b, i) => matmul(i.a!, i.b!) },
    ],
  },
  {
    onnxType: "Gemm",
    vjp: gemmVjp,
    reference: gemmKernel,
    gradcheck: [
      { case: "A·B + C[4]", inputs: [f("a", [2, 3]), f("b", [3, 4]), f("c", [4])], build: (_b, i) => gemm(i.a!, i.b!, i.c!, { alpha: 0.5, beta: 2 }) },
      {
        case: "Aᵀ·Bᵀ + C[2,1]",
        inputs: [f("a", [3, 2]), f("b", [4, 3]), f("c", [2, 1])],
        build: (_b, i) => gemm(i.a!, i.b!, i.c!, { transA: true, transB: true }),
      },
      { case: "0.5·Aᵀ·B", inputs: [f("a", [3, 2]), f("b", [3, 4])], build: (_b, i) => gemm(i.a!, i.b!, null, { transA: true, alpha: 0.5 }) },
      {
        case: "A·Bᵀ·2 + C[2,4]",
        inputs: [f("a", [2, 3]), f("b", [4, 3]), f("c", [2, 4])],
        build: (_b, i) => gemm(i.a!, i.b!, i.c!, { transB: true, alpha: 2 }),
      },
    ],
  },
];
