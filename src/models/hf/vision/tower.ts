// LLaVA's image features as a tensor program: a CLIP or SigLIP vision transformer up to the deepest feature layer,
// the selected hidden states, and the projector into the language model's width (transformers'
// LlavaModel.get_image_features). The patch convolution (kernel = stride = P) is a matmul over flattened patches
// (order channel, row, column: the weight's own [D, 3, P, P] layout), so no convolution op is needed; a side that is
// not a multiple of P loses its last pixels, as the convolution does. Layers past the deepest feature layer are not
// built (with CLIP's −2 the last layer would get no gradient anyway), nor is `post_layernorm`, which LLaVA never reads.
//
// Weight names (canonical, transformers 5's save layout): vision_tower.embeddings.{patch_embedding.{weight,bias},
// class_embedding, position_embedding.weight}, vision_tower.pre_layrnorm.* (CLIP), vision_tower.encoder.layers.{i}.
// {layer_norm1, layer_norm2, self_attn.{q,k,v,out}_proj, mlp.fc1, mlp.fc2}.{weight,bias}, multi_modal_projector.
// linear_{1,2}.{weight,bias}.
import type { ExternalTensorData, Tensor, TensorData } from "../../../tensor/ir/graph.ts";
import { ShapeError } from "../../../tensor/ir/shape.ts";
import { Builder } from "../../../tensor/ops/builder.ts";
import * as op from "../../../tensor/ops/index.ts";
import { hfLinear } from "../decoder.ts";
import type { HfLlavaConfig, HfVisionTowerConfig } from "../llava-config.ts";

export interface VisionWeightSpec {
  name: string;
  shape: number[];
}

/** The tower layers built: up to the deepest feature layer (hidden_states index, negatives from the end). */
export function towerDepth(c: HfLlavaConfig): number {
  return Math.max(...c.featureLayers.map((l) => (l < 0 ? c.vision.layers + 1 + l : l)));
}

/** Positions the tower sees: the patches, and CLIP's class token. */
export const towerPositions = (v: HfVisionTowerConfig) => v.grid * v.grid + (v.classToken ? 1 : 0);

/** Feature rows (image tokens) of one tile — a LLaVA's whole image: the positions, less the class token with strategy `default`. */
export const featuresPerTile = (c: HfLlavaConfig) => towerPositions(c.vision) - (c.selectStrategy === "default" ? 1 : 0);

/** Every weight the image features read, with its shape. */
export function visionWeightSpecs(c: HfLlavaConfig): VisionWeightSpec[] {
  const v = c.vision;
  const D = v.hidden;
  const out: VisionWeightSpec[] = [{ name: "vision_tower.embeddings.patch_embedding.weight", shape: [D, 3, v.patchSize, v.patchSize] }];
  if (v.patchBias) out.push({ name: "vision_tower.embeddings.patch_embedding.bias", shape: [D] });
  if (v.classToken) out.push({ name: "vision_tower.embeddings.class_embedding", shape: [D] });
  out.push({ name: "vision_tower.embeddings.position_embedding.weight", shape: [towerPositions(v), D] });
  if (v.classToken) out.push({ name: "vision_tower.pre_layrnorm.weight", shape: [D] }, { name: "vision_tower.pre_layrnorm.bias", shape: [D] });
  for (let l = 0; l < towerDepth(c); l++) {
    const p = `vision_tower.encoder.layers.${l}`;
    for (const n of ["layer_norm1", "layer_norm2"]) out.push({ name: `${p}.${n}.weight`, shape: [D] }, { name: `${p}.${n}.bias`, shape: [D] });
    for (const n of ["q", "k", "v", "out"])
      out.push({ name: `${p}.self_attn.${n}_proj.weight`, shape: [D, D] }, { name: `${p}.self_attn.${n}_proj.bias`, shape: [D] });
    out.push(
      { name: `${p}.mlp.fc1.weight`, shape: [v.intermediate, D] },
      { name: `${p}.mlp.fc1.bias`, shape: [v.intermediate] },
      { name: `${p}.mlp.fc2.weight`, shape: [D, v.intermediate] },
      { name: `${p}.mlp.fc2.bias`, shape: [D] },
    );
  }
  const T = c.text.hiddenSize;
  out.push({ name: "multi_modal_projector.linear_1.weight", shape: [T, D * c.featureLayers.length] });
  if (c.projectorBias) out.push({ name: "multi_modal_projector.linear_1.bias", shape: [T] });
  out.push({ name: "multi_modal_projector.linear_2.weight", shape: [T, T] });
  if (c.projectorBias) out.push({ name: "multi_modal_projector.linear_2.bias", shape: [T] });
  if (c.pinpoints) out.push({ name: IMAGE_NEWLINE, shape: [T] });
  return out;
}

/** LLaVA-NeXT's learned row after each row of tile features (vision/anyres.ts), in the language model's width. */
export const IMAGE_NEWLINE = "image_newline";

function activation(x: Tensor, act: HfVisionTowerConfig["act"]): Tensor {
  if (act === "quick_gelu") return op.mul(x, op.sigmoid(op.mul(x, 1.702)));
  return op.gelu(x, act === "gelu_pytorch_tanh" ? "tanh" : "none");
}

/** One encoder layer on h [B·N, D]: h + out_proj(MHA(LN1 h)), then h + fc2(act(fc1(LN2 h))). */
function encoderLayer(v: HfVisionTowerConfig, weight: (name: string) => Tensor, l: number, h: Tensor, b: number, n: number): Tensor {
  const p = `vision_tower.encoder.layers.${l}`;
  const w = (name: string) => weight(`${p}.${name}`);
  const ln = (x: Tensor, name: string) => op.layerNorm(x, w(`${name}.weight`), w(`${name}.bias`), -1, v.layerNormEps);
  const x = ln(h, "layer_norm1");
  const heads = (name: string) =>
    op.transpose(op.reshape(hfLinear(x, w(`self_attn.${name}_proj.weight`), w(`self_attn.${name}_proj.bias`)), [b, n, v.heads, v.headDim]), [0, 2, 1, 3]);
  const scores = op.mul(op.matmul(heads("q"), op.transpose(heads("k"), [0, 1, 3, 2])), v.headDim ** -0.5);
  const attended = op.matmul(op.softmax(scores, -1), heads("v")); // [B, H, N, hd]
  const merged = op.reshape(op.transpose(attended, [0, 2, 1, 3]), [b * n, v.hidden]);
  const a = op.add(h, hfLinear(merged, w("self_attn.out_proj.weight"), w("self_attn.out_proj.bias")));
  const mlp = hfLinear(activation(hfLinear(ln(a, "layer_norm2"), w("mlp.fc1.weight"), w("mlp.fc1.bias")), v.act), w("mlp.fc2.weight"), w("mlp.fc2.bias"));
  return op.add(a, mlp);
}

/** `weight` widened to float32 where stored in another dtype (the tower, projector and image_newline compute in float32). */
export const inFloat32 =
  (weight: (name: string) => Tensor) =>
  (name: string): Tensor => {
    const t = weight(name);
    return t.dtype === "float32" ? t : op.cast(t, "float32");
  };

/** Projected image features [B, tokens per image, D_text] of pixel values [B, 3, S, S] (S = the tower's image size). */
export function imageFeatures(c: HfLlavaConfig, weightAsStored: (name: string) => Tensor, pixels: Tensor): Tensor {
  const v = c.vision;
  // The tower and projector compute in float32 whatever the weights' dtype (half-precision weights are widened; a
  // trained projector's master copy is float32 already): LayerNorm, softmax and GELU have no bfloat16 kernels on every
  // provider, and the tower is a small share of a LLaVA's work. The features meet the language model in its dtype
  // (decoder.ts mergeImageFeatures).
  const weight = inFloat32(weightAsStored);
  const [b, channels, height, width] = pixels.shape;
  if (typeof b !== "number" || channels !== 3 || height !== v.imageSize || width !== v.imageSize)
    throw new ShapeError(`llava image features: pixel values must be [B, 3, ${v.imageSize}, ${v.imageSize}], got [${pixels.shape.join(", ")}]`);
  const P = v.patchSize;
  const g = v.grid;
  const px = g * P === v.imageSize ? pixels : op.slice(pixels, [0, 0], [g * P, g * P], [2, 3]);
  const patches = op.reshape(op.transpose(op.reshape(px, [b, 3, g, P, g, P]), [0, 2, 4, 1, 3, 5]), [b * g * g, 3 * P * P]);
  const kernel = op.reshape(weight("vision_tower.embeddings.patch_embedding.weight"), [v.hidden, 3 * P * P]);
  let emb = op.reshape(hfLinear(patches, kernel, v.patchBias ? weight("vision_tower.embeddings.patch_embedding.bias") : undefined), [b, g * g, v.hidden]);
  if (v.classToken) {
    const cls = op.expand(op.reshape(weight("vision_tower.embeddings.class_embedding"), [1, 1, v.hidden]), [b, 1, v.hidden]);
    emb = op.concat([cls, emb], 1);
  }
  const n = towerPositions(v);
  emb = op.add(emb, op.unsqueeze(weight("vision_tower.embeddings.position_embedding.weight"), [0]));
  let h = op.reshape(emb, [b * n, v.hidden]);
  if (v.classToken) h = op.layerNorm(h, weight("vision_tower.pre_layrnorm.weight"), weight("vision_tower.pre_layrnorm.bias"), -1, v.layerNormEps);
  const hidden = [h];
  for (let l = 0; l < towerDepth(c); l++) {
    h = encoderLayer(v, weight, l, h, b, n);
    hidden.push(h);
  }
  const chosen = c.featureLayers.map((l) => hidden[l < 0 ? v.layers + 1 + l : l] as Tensor);
  let feats = op.reshape(chosen.length === 1 ? (chosen[0] as Tensor) : op.concat(chosen, -1), [b, n, v.hidden * chosen.length]);
  if (c.selectStrategy === "default") feats = op.slice(feats, [1], [n], [1]);
  const tokens = featuresPerTile(c);
  const flat = op.reshape(feats, [b * tokens, v.hidden * chosen.length]);
  const bias = (name: string) => (c.projectorBias ? weight(`multi_modal_projector.${name}.bias`) : undefined);
  const projected = hfLinear(
    op.gelu(hfLinear(flat, weight("multi_modal_projector.linear_1.weight"), bias("linear_1")), "none"),
    weight("multi_modal_projector.linear_2.weight"),
    bias("linear_2"),
  );
  return op.reshape(projected, [b, tokens, c.text.hiddenSize]);
}

/** Weights for a program, in memory or read in place (ONNX external data). */
export type VisionWeights = ReadonlyMap<string, TensorData | ExternalTensorData>;

/** What is wrong with `weights` for the image features of `c` — a weight missing, or of another shape — or undefined. */
export function visionWeightProblem(c: HfLlavaConfig, weights: ReadonlyMap<string, { shape: readonly number[] }>): string | undefined {
  for (const spec of visionWeightSpecs(c)) {
    const t = weights.get(spec.name);
    if (!t) return `there is no ${spec.name} (the vision tower or projector the config describes)`;
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i]))
      return `${spec.name} is [${t.shape.join(", ")}], the config says [${spec.shape.join(", ")}]`;
  }
  return undefined;
}

/** The tower's and projector's weights as initializers of `b` (in memory, or references in place), looked up by name. */
export function visionInitializers(b: Builder, c: HfLlavaConfig, weights: VisionWeights): (name: string) => Tensor {
  const problem = visionWeightProblem(c, weights);
  if (problem) throw new ShapeError(`llava: ${problem}`);
  const made = new Map<string, Tensor>();
  for (const { name } of visionWeightSpecs(c)) {
    const t = weights.get(name) as TensorData | ExternalTensorData;
    made.set(name, "location" in t ? b.external(t, name) : b.data(t.dtype, t.data, [...t.shape], name));
  }
  return (name) => {
    const t = made.get(name);
    if (!t) throw new ShapeError(`llava: no weight named ${name}`);
    return t;
  };
}

/** The image-features program: input `pixel_values` float32 [B, 3, S, S], output `image_features` [B, tokens, D_text]. */
export function buildLlavaImageFeaturesProgram(c: HfLlavaConfig, weights: VisionWeights, batch: number): Builder {
  const b = new Builder("llava_image_features");
  const s = c.vision.imageSize;
  b.output(imageFeatures(c, visionInitializers(b, c, weights), b.input("pixel_values", "float32", [batch, 3, s, s])), "image_features");
  return b;
}
