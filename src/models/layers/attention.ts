// Multi-head causal self-attention from standard ops. Weights are passed in, so the same code serves plain,
// frozen and LoRA-wrapped parameters.
import { type DType, fromNumbers } from "../../tensor/ir/dtype.ts";
import type { Tensor } from "../../tensor/ir/graph.ts";
import { ShapeError } from "../../tensor/ir/shape.ts";
import { builderOf } from "../../tensor/ops/builder.ts";
import * as op from "../../tensor/ops/index.ts";

export interface AttentionWeights {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  o: Tensor;
}

/**
 * The additive bias that hides a key: negative enough that softmax gives it weight 0, yet finite in the dtype
 * (float16 tops out at 65504, and 0·∞ would make NaN of a key mask's visible entries).
 */
export function hiddenBias(dtype: DType): number {
  return dtype === "float16" ? -1e4 : -1e9;
}

/**
 * A [T, T] additive mask: 0 on and below the diagonal, a large negative value above it. With `window` W (sliding-window
 * attention) also below the band: query i sees keys i − W < j ≤ i.
 */
export function causalMask(like: Tensor, t: number, window?: number): Tensor {
  const b = builderOf(like);
  const data = new Array<number>(t * t).fill(0);
  const hidden = hiddenBias(like.dtype);
  for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) if (j > i || (window !== undefined && j <= i - window)) data[i * t + j] = hidden;
  return b.data(like.dtype, fromNumbers(like.dtype, data), [t, t], window === undefined ? "causal_mask" : "window_mask");
}

/** Query, key and value heads of x: each [B, H, T, hd]. */
export function projectHeads(x: Tensor, w: AttentionWeights, heads: number): { q: Tensor; k: Tensor; v: Tensor } {
  const [batch, t, d] = x.shape;
  if (typeof t !== "number" || typeof d !== "number") throw new ShapeError("attention: sequence length and width must be static");
  if (d % heads !== 0) throw new ShapeError(`attention: width ${d} is not divisible by ${heads} heads`);
  const hd = d / heads;
  const split = (y: Tensor) => op.transpose(op.reshape(y, [batch!, t, heads, hd]), [0, 2, 1, 3]);
  return { q: split(op.matmul(x, w.q)), k: split(op.matmul(x, w.k)), v: split(op.matmul(x, w.v)) };
}

/** softmax(q·kᵀ/√hd + bias)·v with heads merged back and the output projection: [B, Tq, D]. `bias` broadcasts to [B, H, Tq, Tk]. */
export function attend(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | undefined, wo: Tensor): Tensor {
  const [batch, heads, tq, hd] = q.shape as [Tensor["shape"][0], number, number, number];
  let scores = op.mul(op.matmul(q, op.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd));
  if (bias) scores = op.add(scores, bias);
  const attended = op.matmul(op.softmax(scores, -1), v);
  return op.matmul(op.reshape(op.transpose(attended, [0, 2, 1, 3]), [batch!, tq, heads * hd]), wo);
}

/** An additive bias [B, 1, 1, T] that hides keys where `keyMask` ([B, T], 0/1) is 0. */
export function keyMaskBias(keyMask: Tensor): Tensor {
  return op.unsqueeze(op.mul(op.sub(keyMask, 1), -hiddenBias(keyMask.dtype)), [1, 2]);
}

/**
 * Multi-head self-attention, x: [B, T, D] → [B, T, D]. `causal` hides later positions; `keyMask` ([B, T], 0/1 in
 * x's dtype) hides keys per example (padding, or image tokens switched off for BDHS).
 */
export function selfAttention(x: Tensor, w: AttentionWeights, heads: number, options: { causal: boolean; keyMask?: Tensor }): Tensor {
  const { q, k, v } = projectHeads(x, w, heads);
  const t = x.shape[1] as number;
  let bias: Tensor | undefined = options.causal ? causalMask(x, t) : undefined;
  if (options.keyMask) bias = bias ? op.add(bias, keyMaskBias(options.keyMask)) : keyMaskBias(options.keyMask);
  return attend(q, k, v, bias, w.o);
}

/** Causal self-attention (decoders). */
export function causalSelfAttention(x: Tensor, w: AttentionWeights, heads: number, keyMask?: Tensor): Tensor {
  return selfAttention(x, w, heads, { causal: true, keyMask });
}
