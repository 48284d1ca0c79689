// The decoder's shape from a normalised config.json (config.ts): what decoder.ts needs, under its own short names.
import { ShapeError } from "../../tensor/ir/shape.ts";
import type { HfDecoderConfig } from "./config.ts";
import type { DecoderShape } from "./decoder.ts";

/** The `DecoderShape` of a checked config; RoPE over part of each head (partial_rotary_factor < 1) is refused. */
export function decoderShapeOf(c: HfDecoderConfig): DecoderShape {
  if (c.partialRotaryFactor !== 1)
    throw new ShapeError(`hf decoder: partial_rotary_factor ${c.partialRotaryFactor} is not supported (RoPE rotates whole heads)`);
  return {
    vocab: c.vocabSize,
    hidden: c.hiddenSize,
    intermediate: c.intermediateSize,
    layers: c.numHiddenLayers,
    heads: c.numAttentionHeads,
    kvHeads: c.numKeyValueHeads,
    headDim: c.headDim,
    rmsEps: c.rmsNormEps,
    rope: c.rope,
    tiedEmbeddings: c.tieWordEmbeddings,
    qkvBias: c.attentionBias,
    outputBias: c.outputBias,
    mlpBias: c.mlpBias,
    slidingWindow: c.slidingWindow,
    slidingLayers: c.slidingLayers,
  };
}
