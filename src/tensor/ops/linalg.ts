// Matrix products.
import { isFloat } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { broadcastShapes, type Dim, formatShape, ShapeError } from "../ir/shape.ts";
import { float, int } from "./attrs.ts";
import { builderOf } from "./builder.ts";

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
