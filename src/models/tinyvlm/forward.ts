// TinyVLM's forward pass. Sequence layout: [P image tokens][T text tokens]. The image tokens come from the vision
// encoder through the projector; `imageKeep` ([B, P], 0/1) hides individual image tokens from attention per
// example — BDHS's image-token masking — and `textMask` ([B, T], 0/1) hides text padding.

import type { Tensor } from "../../tensor/ir/graph.ts";
import { ShapeError } from "../../tensor/ir/shape.ts";
import * as op from "../../tensor/ops/index.ts";
import { zerosLike } from "../../tensor/ops/shape-ops.ts";
import { stack } from "../layers/stack.ts";
import { imageTokens, type TinyVlmConfig } from "./config.ts";

export interface VlmInputs {
  /** float [B, H, W, 3], values in [0, 1]. */
  pixels: Tensor;
  /** int64 [B, T]. */
  tokens: Tensor;
  /** float [B, P], 1 = visible; omitted = all visible. */
  imageKeep?: Tensor;
  /** float [B, T], 1 = real token; omitted = no padding. */
  textMask?: Tensor;
}

/** Image tokens in the language model's width: [B, P, text.width]. */
export function encodeImage(c: TinyVlmConfig, weight: (name: string) => Tensor, pixels: Tensor): Tensor {
  const [b, h, w, ch] = pixels.shape;
  if (h !== c.imageSize || w !== c.imageSize || ch !== 3)
    throw new ShapeError(`tinyvlm: pixels must be [B, ${c.imageSize}, ${c.imageSize}, 3], got [${pixels.shape.join(", ")}]`);
  const g = c.imageSize / c.patch;
  // [0, 1] → [−1, 1]: with all-positive pixels a flat patch embeds to a scaled copy of one vector, and the
  // LayerNorms divide the scale away — object and background would look alike (docs/tinyvlm.md).
  const centered = op.sub(op.mul(op.cast(pixels, weight("vision.patch_embed").dtype), 2), 1);
  const tiles = op.transpose(op.reshape(centered, [b!, g, c.patch, g, c.patch, 3]), [0, 1, 3, 2, 4, 5]);
  const patches = op.reshape(tiles, [b!, g * g, c.patch * c.patch * 3]);
  let x = op.add(op.add(op.matmul(patches, weight("vision.patch_embed")), weight("vision.patch_bias")), weight("vision.positions"));
  x = stack(x, weight, "vision.blocks", c.vision, { causal: false });
  x = op.layerNorm(x, weight("vision.final_norm.scale"), weight("vision.final_norm.bias"));
  return op.add(op.matmul(x, weight("projector.weight")), weight("projector.bias"));
}

/** Final hidden states of the text positions: [B, T, text.width]. */
export function textHidden(c: TinyVlmConfig, weight: (name: string) => Tensor, inputs: VlmInputs): Tensor {
  const p = imageTokens(c);
  const t = inputs.tokens.shape[1];
  if (typeof t !== "number" || t > c.textContext) throw new ShapeError(`tinyvlm: ${t} text tokens exceed the context of ${c.textContext}`);
  const image = encodeImage(c, weight, inputs.pixels);
  const text = op.gather(weight("text.embed.tokens"), inputs.tokens, 0);
  const positions = op.slice(weight("text.embed.positions"), [0], [p + t], [0]);
  const x = op.add(op.concat([image, text], 1), positions);
  let keyMask: Tensor | undefined;
  if (inputs.imageKeep || inputs.textMask) {
    // Ones of the right shape for whichever mask was not given (zerosLike reads only the shape).
    const imageKeep = inputs.imageKeep ? op.cast(inputs.imageKeep, image.dtype) : op.add(zerosLike(op.reduceSum(image, [2])), 1);
    const textMask = inputs.textMask ? op.cast(inputs.textMask, image.dtype) : op.add(zerosLike(op.cast(inputs.tokens, image.dtype)), 1);
    keyMask = op.concat([imageKeep, textMask], 1);
  }
  const h = stack(x, weight, "text.blocks", c.text, { causal: true, keyMask });
  const normed = op.layerNorm(h, weight("text.final_norm.scale"), weight("text.final_norm.bias"));
  return op.slice(normed, [p], [p + t], [1]);
}

/** Next-token logits at the text positions, in the config's dtype: [B, T, vocab]. */
export function vlmLogits(c: TinyVlmConfig, weight: (name: string) => Tensor, inputs: VlmInputs): Tensor {
  return op.cast(op.matmul(textHidden(c, weight, inputs), weight("text.unembed")), c.dtype);
}
