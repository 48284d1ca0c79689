// Small building blocks: linear layers, an MLP, a pre-norm transformer block.
import type { Tensor } from "../../tensor/ir/graph.ts";
import * as op from "../../tensor/ops/index.ts";
import { type AttentionWeights, selfAttention } from "./attention.ts";

export function linear(x: Tensor, w: Tensor, bias?: Tensor): Tensor {
  const y = op.matmul(x, w);
  return bias ? op.add(y, bias) : y;
}

export interface MlpWeights {
  up: Tensor;
  upBias?: Tensor;
  down: Tensor;
  downBias?: Tensor;
}

export function mlp(x: Tensor, w: MlpWeights): Tensor {
  return linear(op.gelu(linear(x, w.up, w.upBias), "tanh"), w.down, w.downBias);
}

export interface BlockWeights {
  norm1: { scale: Tensor; bias: Tensor };
  attention: AttentionWeights;
  norm2: { scale: Tensor; bias: Tensor };
  mlp: MlpWeights;
}

/** Pre-norm residual block around any attention: x + attention(LN(x)), then + mlp(LN(·)). */
export function residualBlock(x: Tensor, w: BlockWeights, attention: (normed: Tensor) => Tensor): Tensor {
  const h = op.add(x, attention(op.layerNorm(x, w.norm1.scale, w.norm1.bias)));
  return op.add(h, mlp(op.layerNorm(h, w.norm2.scale, w.norm2.bias), w.mlp));
}

/** Pre-norm transformer block with self-attention; causal unless told otherwise (vision encoders). */
export function transformerBlock(x: Tensor, w: BlockWeights, heads: number, keyMask?: Tensor, causal = true): Tensor {
  return residualBlock(x, w, (normed) => selfAttention(normed, w.attention, heads, { causal, keyMask }));
}
