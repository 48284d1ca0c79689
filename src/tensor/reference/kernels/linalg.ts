// MatMul (numpy semantics, batch axes broadcast) and Gemm. Sums accumulate in float64, in index order.
import { input, type Kernel, type KernelArgs, numAttr, optionalInput } from "../kernel.ts";
import { broadcast, broadcastOffset, size, strides, unravel } from "../strided.ts";
import { makeValue, type Value } from "../value.ts";

function matmul(a: KernelArgs): Value[] {
  let x = input(a, 0);
  let y = input(a, 1);
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
function gemm(a: KernelArgs): Value[] {
  const A = input(a, 0);
  const B = input(a, 1);
  const C = optionalInput(a, 2);
  const transA = numAttr(a, "transA", 0) === 1;
  const transB = numAttr(a, "transB", 0) === 1;
  const alpha = numAttr(a, "alpha", 1);
  const beta = numAttr(a, "beta", 1);
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

export const linalgKernels: Record<string, Kernel> = { MatMul: matmul, Gemm: gemm };
