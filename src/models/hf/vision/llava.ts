// LLaVA and LLaVA-NeXT as tensor programs: the image features (tower.ts) merged into the decoder's token embeddings
// at the image tokens (decoder.ts DecoderInputs.images), then the decoder as for text. An image is one tile (LLaVA)
// or up to `maxTilesPerImage` (NeXT's anyres tiles, anyres.ts); every program reads a fixed number of image slots of
// that many tiles, unused tiles zero. The features of all tiles, then NeXT's `image_newline`, form one table; the host
// finds the image-token positions and passes, per position, the table row it takes (`image_index`), so the programs
// have no data-dependent shapes and one program serves images of every size.
//
// Tensor names of every generation map to the programs' canonical names: the decoder's through ../weights.ts
// (language_model.model.* of hub files and transformers 5 saves, model.language_model.* of v5 runtime paths); the
// tower's `vision_tower.vision_model.*` (hub), `vision_tower.*` (v5 save) and `model.vision_tower.*` (v5 runtime) all to
// `vision_tower.*`; the projector's `multi_modal_projector.*` and `model.multi_modal_projector.*` to the former.
import type { Tensor } from "../../../tensor/ir/graph.ts";
import { Builder } from "../../../tensor/ops/builder.ts";
import * as op from "../../../tensor/ops/index.ts";
import type { TensorSpec } from "../../../tensor/program/train-program.ts";
import { buildHfLogProbProgram, type DecoderShape, decoderLogits, type ProgramSize, weightInitializers } from "../decoder.ts";
import { buildHfGenerateProgram, type HfGenerateSpec } from "../generate.ts";
import type { HfLlavaConfig } from "../llava-config.ts";
import type { HfAdapterValues } from "../lora.ts";
import { canonicalDecoderName, decoderProgramName } from "../weights.ts";
import { anyresFeatureRows, type ImageSize, maxTilesPerImage } from "./anyres.ts";
import { featuresPerTile, IMAGE_NEWLINE, imageFeatures, inFloat32, type VisionWeights, visionInitializers } from "./tower.ts";

/** The program name of a LLaVA checkpoint's tensor (any naming generation), or undefined when it is none of its weights. */
export function llavaProgramName(name: string): string | undefined {
  const decoder = canonicalDecoderName(name);
  if (decoder) return decoderProgramName(decoder.canonical);
  for (const [from, to] of [
    ["model.vision_tower.", "vision_tower."],
    ["vision_tower.vision_model.", "vision_tower."],
    ["vision_tower.", "vision_tower."],
    ["model.multi_modal_projector.", "multi_modal_projector."],
    ["multi_modal_projector.", "multi_modal_projector."],
  ] as const)
    if (name.startsWith(from)) return to + name.slice(from.length);
  if (name === IMAGE_NEWLINE || name === `model.${IMAGE_NEWLINE}`) return IMAGE_NEWLINE;
  return undefined;
}

/**
 * Per position of a [B, T] batch, the feature-table row it takes, or `tableRows` (past the last row) for text: row r's
 * k-th image token takes `rowFeatures[r][k]` (null: the row shows no image; the chosen and rejected rows of a pair
 * name the same rows, so their image's features are computed once). Image tokens past the image's feature rows are
 * text: a row that continues its generation (generation-rounds.ts) carries what it generated, and a model may have
 * said the image token, which transformers embeds as a token. Throws when a row has fewer image tokens than its image's
 * feature rows, or a row without an image has any.
 */
export function imageIndex(
  ids: readonly (readonly number[])[],
  imageTokenId: number,
  rowFeatures: readonly (readonly number[] | null)[],
  tableRows: number,
): BigInt64Array {
  const out = new BigInt64Array(ids.length * (ids[0]?.length ?? 0)).fill(BigInt(tableRows));
  ids.forEach((row, r) => {
    const features = rowFeatures[r] ?? null;
    let k = 0;
    row.forEach((id, t) => {
      if (id !== imageTokenId) return;
      if (features === null) throw new RangeError(`llava: row ${r} has image tokens but no image`);
      if (k < features.length) out[r * row.length + t] = BigInt(features[k++] as number);
    });
    if (features !== null && k !== features.length) throw new RangeError(`llava: row ${r} has ${k} image tokens for an image of ${features.length} features`);
  });
  return out;
}

/**
 * `image_index` for id rows whose image tokens show image slots: row r shows slot `rowSlot[r]` (null: none), slot k
 * holds an image of `slotSizes[k]` (null: empty; a LLaVA's features do not depend on it) in tiles k · maxTiles onwards.
 */
export function slotImageIndex(
  c: HfLlavaConfig,
  ids: readonly (readonly number[])[],
  rowSlot: readonly (number | null)[],
  slotSizes: readonly (ImageSize | null)[],
): BigInt64Array {
  const table = featureTableRows(c, slotSizes.length);
  const tiles = maxTilesPerImage(c);
  // NeXT's newline row is the table's last.
  const slotRows = slotSizes.map((size, k) => (size ? anyresFeatureRows(c, size, k * tiles, table - 1) : null));
  return imageIndex(
    ids,
    c.imageTokenId,
    rowSlot.map((k) => (k === null ? null : (slotRows[k] ?? null))),
    table,
  );
}

/** Rows of the feature table of `images` image slots: every tile's features, then NeXT's newline row. */
export const featureTableRows = (c: HfLlavaConfig, images: number) => images * maxTilesPerImage(c) * featuresPerTile(c) + (c.pinpoints ? 1 : 0);

/** The feature table [featureTableRows, D] of `pixels` [I · tiles, 3, S, S]: the tiles' projected features, then (NeXT) `image_newline`. */
function featureTable(c: HfLlavaConfig, weight: (name: string) => Tensor, pixels: Tensor): Tensor {
  const tiles = pixels.shape[0] as number;
  const rows = op.reshape(imageFeatures(c, weight, pixels), [tiles * featuresPerTile(c), c.text.hiddenSize]);
  if (!c.pinpoints) return rows;
  // The features are float32 (imageFeatures); the newline joins them so, and meets the language model's dtype with them.
  return op.concat([rows, op.reshape(inFloat32(weight)(IMAGE_NEWLINE), [1, c.text.hiddenSize])], 0);
}

/** The images of a LLaVA training or log-prob batch (HfLossOptions.images): `pixel_values` through the tower and projector, `image_index` as given. */
export function llavaLossImages(c: HfLlavaConfig) {
  return (params: Record<string, Tensor>, batch: Record<string, Tensor>) => {
    const weight = (name: string) => {
      const t = params[name];
      if (!t) throw new RangeError(`llava training program: no parameter "${name}"`);
      return t;
    };
    return { features: featureTable(c, weight, batch.pixel_values as Tensor), index: batch.image_index as Tensor };
  };
}

/** The image fields of a batch of `rows` sequences of `length` tokens showing `images` images (each up to maxTilesPerImage tiles). */
export function llavaBatchImages(c: HfLlavaConfig, rows: number, length: number, images: number): Record<string, TensorSpec> {
  const s = c.vision.imageSize;
  return {
    pixel_values: { dtype: "float32", shape: [images * maxTilesPerImage(c), 3, s, s] },
    image_index: { dtype: "int64", shape: [rows * length] },
  };
}

/** The language model's weights among a LLaVA's (program names): everything but the tower and the projector. */
export function llavaDecoderWeights(weights: VisionWeights): VisionWeights {
  return new Map([...weights].filter(([name]) => !name.startsWith("vision_tower.") && !name.startsWith("multi_modal_projector.") && name !== IMAGE_NEWLINE));
}

/** The tower's and projector's weights as initializers of `b`, and the feature table of an `images`-slot input `pixel_values`. */
function imageFeatureRows(b: Builder, c: HfLlavaConfig, weights: VisionWeights, images: number): Tensor {
  const s = c.vision.imageSize;
  return featureTable(c, visionInitializers(b, c, weights), b.input("pixel_values", "float32", [images * maxTilesPerImage(c), 3, s, s]));
}

/**
 * The logits program: inputs `input_ids`, `attention_mask` int64 [B, T], `cos`, `sin` float32 [B, T, headDim],
 * `pixel_values` float32 [I · tiles, 3, S, S], `image_index` int64 [B·T] (imageIndex); output `logits` float32 [B, T, V].
 */
export function buildLlavaLogitsProgram(
  c: HfLlavaConfig,
  shape: DecoderShape,
  weights: VisionWeights,
  size: { batch: number; length: number; images: number },
): Builder {
  const b = new Builder("llava_logits");
  const decoderWeight = weightInitializers(b, shape, llavaDecoderWeights(weights));
  const { batch, length } = size;
  const inputs = {
    inputIds: b.input("input_ids", "int64", [batch, length]),
    attentionMask: b.input("attention_mask", "int64", [batch, length]),
    cos: b.input("cos", "float32", [batch, length, shape.headDim]),
    sin: b.input("sin", "float32", [batch, length, shape.headDim]),
    images: { features: imageFeatureRows(b, c, weights, size.images), index: b.input("image_index", "int64", [batch * length]) },
  };
  b.output(decoderLogits(shape, decoderWeight, inputs), "logits");
  return b;
}

/** `weights` with what `adapters` trained fully (the projector) in place of the checkpoint's tensors. */
function withReplaced(weights: VisionWeights, adapters: HfAdapterValues | undefined): VisionWeights {
  return adapters?.replaced ? new Map([...weights, ...adapters.replaced]) : weights;
}

/**
 * Generation with images (../generate.ts's KV-cache program, the images merged into the prompts' embeddings): its
 * inputs plus `pixel_values` float32 [I · tiles, 3, S, S], `image_index` int64 [B·W] over the padded prompts and
 * `prompt_keep` float32 [B, W] (1 where a prompt token's key is visible; BDHS hides image tokens). With
 * `adapters`, the policy they make (LoRA on the language model, a trained projector).
 */
export function buildLlavaGenerateProgram(
  c: HfLlavaConfig,
  shape: DecoderShape,
  weights: VisionWeights,
  spec: HfGenerateSpec,
  images: number,
  adapters?: HfAdapterValues,
): Builder {
  const all = withReplaced(weights, adapters);
  // Every LLaVA generation program takes `prompt_keep`, so BDHS can hide image tokens without programs of its own.
  return buildHfGenerateProgram(shape, llavaDecoderWeights(all), { ...spec, promptKeep: true }, adapters, (b) => ({
    features: imageFeatureRows(b, c, all, images),
    index: b.input("image_index", "int64", [spec.batch * spec.promptLength]),
  }));
}

/** Answer log-probs with images (../decoder.ts's log-prob program): its inputs plus `pixel_values` and `image_index` [B·T]. */
export function buildLlavaLogProbProgram(
  c: HfLlavaConfig,
  shape: DecoderShape,
  weights: VisionWeights,
  size: ProgramSize & { scored: number; images: number },
  adapters?: HfAdapterValues,
): Builder {
  const all = withReplaced(weights, adapters);
  return buildHfLogProbProgram(shape, llavaDecoderWeights(all), size, adapters, (b) => ({
    features: imageFeatureRows(b, c, all, size.images),
    index: b.input("image_index", "int64", [size.batch * size.length]),
  }));
}
