// Global gradient-norm clipping (PyTorch's clip_grad_norm_): all gradients scaled by min(1, max/(‖g‖ + 1e-6)).
import type { Tensor } from "../ir/graph.ts";
import * as op from "../ops/index.ts";

/** ‖g‖ over all of `grads`: one ReduceSumSquare per tensor (pass the update groups' joined gradients: one per group). */
export function globalNorm(grads: readonly Tensor[]): Tensor {
  const squares = grads.map((g) => op.reduceSumSquare(g));
  const total = squares.length === 1 ? squares[0]! : op.builderOf(squares[0]!).emit("Sum", squares, [{ dtype: squares[0]!.dtype, shape: [] }])[0]!;
  return op.sqrt(total);
}

/** The factor every gradient is multiplied by: min(1, max/(‖g‖ + 1e-6)). */
export function clipScale(norm: Tensor, maxNorm: number): Tensor {
  return op.min(op.div(maxNorm, op.add(norm, 1e-6)), 1);
}

export function clipByGlobalNorm(grads: readonly Tensor[], maxNorm: number): { grads: Tensor[]; norm: Tensor } {
  const norm = globalNorm(grads);
  const scale = clipScale(norm, maxNorm);
  return { grads: grads.map((g) => op.mul(g, scale)), norm };
}
