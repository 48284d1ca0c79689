// A small decoder-only transformer language model: token + position embeddings, pre-norm blocks, a final norm and
// an unembedding. The architecture is a function of a config; parameters are a flat, named list so the same model
// runs with trainable, frozen or LoRA-wrapped weights (the caller passes `weight(name)`).
import type { DType } from "../ir/dtype.ts";
import type { Tensor, TensorData } from "../ir/graph.ts";
import { transformerBlock } from "../layers/blocks.ts";
import * as op from "../ops/index.ts";
import { normal, ones, zeros } from "../params/init.ts";
import type { Rng } from "../params/random.ts";

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

/** Parameter names and initial values (GPT-2 style: N(0, 0.02), residual projections scaled by 1/√(2·layers)). */
export function initDecoder(c: DecoderConfig, rng: Rng): NamedInit[] {
  const dtype = c.dtype ?? "float32";
  const hidden = c.hidden ?? 4 * c.width;
  const std = 0.02;
  const resid = std / Math.sqrt(2 * c.layers);
  const out: NamedInit[] = [];
  const add = (name: string, data: TensorData) => out.push({ name, data });
  add("embed.tokens", normal(rng.fork("embed.tokens"), [c.vocab, c.width], std, 0, dtype));
  add("embed.positions", normal(rng.fork("embed.positions"), [c.context, c.width], std, 0, dtype));
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}`;
    add(`${p}.norm1.scale`, ones([c.width], dtype));
    add(`${p}.norm1.bias`, zeros([c.width], dtype));
    for (const w of ["q", "k", "v"]) add(`${p}.attn.${w}`, normal(rng.fork(`${p}.attn.${w}`), [c.width, c.width], std, 0, dtype));
    add(`${p}.attn.o`, normal(rng.fork(`${p}.attn.o`), [c.width, c.width], resid, 0, dtype));
    add(`${p}.norm2.scale`, ones([c.width], dtype));
    add(`${p}.norm2.bias`, zeros([c.width], dtype));
    add(`${p}.mlp.up`, normal(rng.fork(`${p}.mlp.up`), [c.width, hidden], std, 0, dtype));
    add(`${p}.mlp.up_bias`, zeros([hidden], dtype));
    add(`${p}.mlp.down`, normal(rng.fork(`${p}.mlp.down`), [hidden, c.width], resid, 0, dtype));
    add(`${p}.mlp.down_bias`, zeros([c.width], dtype));
  }
  add("final_norm.scale", ones([c.width], dtype));
  add("final_norm.bias", zeros([c.width], dtype));
  add("unembed", normal(rng.fork("unembed"), [c.width, c.vocab], std, 0, dtype));
  return out;
}

/** tokens: int64 [B, T] (T ≤ context) → logits [B, T, vocab]. `keyMask` [B, T] (0/1) hides padding. */
export function decoderLogits(c: DecoderConfig, weight: (name: string) => Tensor, tokens: Tensor, keyMask?: Tensor): Tensor {
  const t = tokens.shape[1];
  if (typeof t !== "number" || t > c.context) throw new Error(`decoder: sequence length ${t} exceeds the context ${c.context}`);
  const positions = op.slice(weight("embed.positions"), [0], [t], [0]);
  let x = op.add(op.gather(weight("embed.tokens"), tokens, 0), positions);
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}`;
    x = transformerBlock(
      x,
      {
        norm1: { scale: weight(`${p}.norm1.scale`), bias: weight(`${p}.norm1.bias`) },
        attention: { q: weight(`${p}.attn.q`), k: weight(`${p}.attn.k`), v: weight(`${p}.attn.v`), o: weight(`${p}.attn.o`) },
        norm2: { scale: weight(`${p}.norm2.scale`), bias: weight(`${p}.norm2.bias`) },
        mlp: { up: weight(`${p}.mlp.up`), upBias: weight(`${p}.mlp.up_bias`), down: weight(`${p}.mlp.down`), downBias: weight(`${p}.mlp.down_bias`) },
      },
      c.heads,
      keyMask,
    );
  }
  x = op.layerNorm(x, weight("final_norm.scale"), weight("final_norm.bias"));
  return op.matmul(x, weight("unembed"));
}
