// A small decoder-only transformer language model: token + position embeddings, pre-norm blocks, a final norm and
// an unembedding. Parameters are a flat, named list so the same model runs with trainable, frozen or LoRA-wrapped
// weights (the caller passes `weight(name)`).

import { initStack, stack } from "../../src/models/layers/stack.ts";
import { normal, ones, zeros } from "../../src/models/params/init.ts";
import type { DType } from "../../src/tensor/ir/dtype.ts";
import type { Tensor, TensorData } from "../../src/tensor/ir/graph.ts";
import * as op from "../../src/tensor/ops/index.ts";
import type { Rng } from "../../src/util/random.ts";

export interface DecoderConfig {
  vocab: number;
  context: number;
  width: number;
  layers: number;
  heads: number;
  /** MLP hidden width (default 4 × width). */
  hidden?: number;
  dtype?: DType;
}

export interface NamedInit {
  name: string;
  data: TensorData;
}

const stackOf = (c: DecoderConfig) => ({ width: c.width, layers: c.layers, heads: c.heads, hidden: c.hidden ?? 4 * c.width });

export function initDecoder(c: DecoderConfig, rng: Rng): NamedInit[] {
  const dtype = c.dtype ?? "float32";
  const out: NamedInit[] = [];
  const add = (name: string, data: TensorData) => {
    out.push({ name, data });
  };
  add("embed.tokens", normal(rng.fork("embed.tokens"), [c.vocab, c.width], 0.02, 0, dtype));
  add("embed.positions", normal(rng.fork("embed.positions"), [c.context, c.width], 0.02, 0, dtype));
  initStack(add, "blocks", stackOf(c), rng, dtype);
  add("final_norm.scale", ones([c.width], dtype));
  add("final_norm.bias", zeros([c.width], dtype));
  add("unembed", normal(rng.fork("unembed"), [c.width, c.vocab], 0.02, 0, dtype));
  return out;
}

/** tokens: int64 [B, T] (T ≤ context) → logits [B, T, vocab]. `keyMask` [B, T] (0/1) hides padding. */
export function decoderLogits(c: DecoderConfig, weight: (name: string) => Tensor, tokens: Tensor, keyMask?: Tensor): Tensor {
  const t = tokens.shape[1];
  if (typeof t !== "number" || t > c.context) throw new Error(`decoder: sequence length ${t} exceeds the context ${c.context}`);
  const positions = op.slice(weight("embed.positions"), [0], [t], [0]);
  const x = stack(op.add(op.gather(weight("embed.tokens"), tokens, 0), positions), weight, "blocks", stackOf(c), { causal: true, keyMask });
  return op.matmul(op.layerNorm(x, weight("final_norm.scale"), weight("final_norm.bias")), weight("unembed"));
}
