// A stack of pre-norm transformer blocks with Hugging Face-style parameter names (`<prefix>.<l>.attn.q`, …),
// shared by the decoder LM and TinyVLM's vision encoder and language model.

import type { DType } from "../../tensor/ir/dtype.ts";
import type { Tensor, TensorData } from "../../tensor/ir/graph.ts";
import type { Rng } from "../../util/random.ts";
import { normal, ones, zeros } from "../params/init.ts";
import { type BlockWeights, transformerBlock } from "./blocks.ts";

export interface StackConfig {
  width: number;
  layers: number;
  heads: number;
  /** MLP hidden width. */
  hidden: number;
}

export type AddParam = (name: string, data: TensorData) => void;

/** GPT-2 style init: N(0, 0.02), residual output projections scaled by 1/√(2·layers). */
export function initStack(add: AddParam, prefix: string, c: StackConfig, rng: Rng, dtype: DType): void {
  const std = 0.02;
  const resid = std / Math.sqrt(2 * c.layers);
  for (let l = 0; l < c.layers; l++) {
    const p = `${prefix}.${l}`;
    add(`${p}.norm1.scale`, ones([c.width], dtype));
    add(`${p}.norm1.bias`, zeros([c.width], dtype));
    for (const w of ["q", "k", "v"]) add(`${p}.attn.${w}`, normal(rng.fork(`${p}.attn.${w}`), [c.width, c.width], std, 0, dtype));
    add(`${p}.attn.o`, normal(rng.fork(`${p}.attn.o`), [c.width, c.width], resid, 0, dtype));
    add(`${p}.norm2.scale`, ones([c.width], dtype));
    add(`${p}.norm2.bias`, zeros([c.width], dtype));
    add(`${p}.mlp.up`, normal(rng.fork(`${p}.mlp.up`), [c.width, c.hidden], std, 0, dtype));
    add(`${p}.mlp.up_bias`, zeros([c.hidden], dtype));
    add(`${p}.mlp.down`, normal(rng.fork(`${p}.mlp.down`), [c.hidden, c.width], resid, 0, dtype));
    add(`${p}.mlp.down_bias`, zeros([c.width], dtype));
  }
}

/** The weights of block `l` of the stack at `prefix`. */
export function blockWeights(weight: (name: string) => Tensor, prefix: string, l: number): BlockWeights {
  const p = `${prefix}.${l}`;
  return {
    norm1: { scale: weight(`${p}.norm1.scale`), bias: weight(`${p}.norm1.bias`) },
    attention: { q: weight(`${p}.attn.q`), k: weight(`${p}.attn.k`), v: weight(`${p}.attn.v`), o: weight(`${p}.attn.o`) },
    norm2: { scale: weight(`${p}.norm2.scale`), bias: weight(`${p}.norm2.bias`) },
    mlp: { up: weight(`${p}.mlp.up`), upBias: weight(`${p}.mlp.up_bias`), down: weight(`${p}.mlp.down`), downBias: weight(`${p}.mlp.down_bias`) },
  };
}

export function stack(x: Tensor, weight: (name: string) => Tensor, prefix: string, c: StackConfig, options: { causal: boolean; keyMask?: Tensor }): Tensor {
  let h = x;
  for (let l = 0; l < c.layers; l++) h = transformerBlock(h, blockWeights(weight, prefix, l), c.heads, options.keyMask, options.causal);
  return h;
}
