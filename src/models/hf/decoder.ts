// The text decoder of Hugging Face's LlamaForCausalLM, Qwen2ForCausalLM and MistralForCausalLM as a tensor program
// (the math of transformers' modeling_llama.py and modeling_qwen2.py, written out in docs/hf-models.md). Weights keep their canonical HF names and HF's [out, in] layout: every
// projection is Gemm(transB = 1) on [B·T, in] activations, so a frozen weight stays the initializer it was loaded as
// (ONNX Runtime folds MatMul(x, Transpose(W)) into a transposed copy, docs/hf-models.md). The residual stream is
// kept as [B·T, D] for the same reason; only attention reshapes it into heads.
//
//   h = E[ids]
//   per layer:  h += o_proj(attention(rope(q_proj(x)), rope(k_proj(x)), v_proj(x)))      x = RMSNorm(h; input_layernorm)
//               h += down_proj(silu(gate_proj(x')) ⊙ up_proj(x'))                       x' = RMSNorm(h; post_attention_layernorm)
//   logits = lm_head(RMSNorm(h; norm))                                                  lm_head = E when tied
//
// RMSNorm's inner part, the attention softmax and the log-softmax run in float32 whatever the activation dtype (as
// transformers); RoPE's cos/sin tables come from the host (rope.ts) as program inputs.

import type { DType } from "../../tensor/ir/dtype.ts";
import type { ExternalTensorData, Tensor, TensorData } from "../../tensor/ir/graph.ts";
import { ShapeError } from "../../tensor/ir/shape.ts";
import { Builder, builderOf } from "../../tensor/ops/builder.ts";
import * as op from "../../tensor/ops/index.ts";
import { recomputed } from "../../tensor/ops/recompute.ts";
import { causalMask, hiddenBias } from "../layers/attention.ts";
import { adapterInitializers, type HfAdapterValues } from "./lora.ts";
import type { RopeShape } from "./rope.ts";
import type { HfExternalWeights } from "./weights.ts";

/** A decoder's weights: loaded tensors under the program's names, or references in place (weights.ts, `externalHfWeights`). */
export type DecoderWeights = ReadonlyMap<string, TensorData | ExternalTensorData> | HfExternalWeights;

/** What the decoder's forward needs of a model's config (a normalised `config.json`). */
export interface DecoderShape {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rmsEps: number;
  rope: RopeShape;
  /** `tie_word_embeddings`: the head is the embedding table and the file has no `lm_head.weight`. */
  tiedEmbeddings: boolean;
  /** q/k/v projections have biases (Qwen2; Llama's `attention_bias`). */
  qkvBias: boolean;
  /** o_proj has a bias (Llama's `attention_bias`; default false). */
  outputBias?: boolean;
  /** gate/up/down projections have biases (Llama's `mlp_bias`; default false). */
  mlpBias?: boolean;
  /** Sliding-window attention: a query at position i sees keys i − W < j ≤ i (transformers' mask); null/absent: full attention. */
  slidingWindow?: number | null;
  /** The layers that attend through the window (absent: every layer, when there is a window). */
  slidingLayers?: readonly number[];
}

export interface WeightSpec {
  name: string;
  shape: number[];
}

/** Every tensor the decoder reads, by its canonical HF name, with its shape ([out, in] for projections). */
export function decoderWeightSpecs(s: DecoderShape): WeightSpec[] {
  checkShape(s);
  const { hidden: d, intermediate: i, headDim: hd } = s;
  const specs: WeightSpec[] = [{ name: "model.embed_tokens.weight", shape: [s.vocab, d] }];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    specs.push({ name: `${p}.input_layernorm.weight`, shape: [d] });
    for (const [w, heads] of [
      ["q", s.heads],
      ["k", s.kvHeads],
      ["v", s.kvHeads],
    ] as const) {
      specs.push({ name: `${p}.self_attn.${w}_proj.weight`, shape: [heads * hd, d] });
      if (s.qkvBias) specs.push({ name: `${p}.self_attn.${w}_proj.bias`, shape: [heads * hd] });
    }
    specs.push({ name: `${p}.self_attn.o_proj.weight`, shape: [d, s.heads * hd] });
    if (s.outputBias) specs.push({ name: `${p}.self_attn.o_proj.bias`, shape: [d] });
    specs.push({ name: `${p}.post_attention_layernorm.weight`, shape: [d] });
    for (const [w, out, inp] of [
      ["gate", i, d],
      ["up", i, d],
      ["down", d, i],
    ] as const) {
      specs.push({ name: `${p}.mlp.${w}_proj.weight`, shape: [out, inp] });
      if (s.mlpBias) specs.push({ name: `${p}.mlp.${w}_proj.bias`, shape: [out] });
    }
  }
  specs.push({ name: "model.norm.weight", shape: [d] });
  if (!s.tiedEmbeddings) specs.push({ name: "lm_head.weight", shape: [s.vocab, d] });
  return specs;
}

function checkShape(s: DecoderShape): void {
  for (const key of ["vocab", "hidden", "intermediate", "layers", "heads", "kvHeads", "headDim"] as const) {
    const v = s[key];
    if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`hf decoder: ${key} must be a positive integer, got ${v}`);
  }
  if (s.heads % s.kvHeads !== 0) throw new ShapeError(`hf decoder: ${s.heads} attention heads are not a multiple of ${s.kvHeads} key/value heads`);
  if (s.headDim % 2 !== 0) throw new ShapeError(`hf decoder: head_dim ${s.headDim} must be even for RoPE`);
  if (!(s.rmsEps > 0)) throw new ShapeError(`hf decoder: rms_norm_eps must be positive, got ${s.rmsEps}`);
}

/**
 * Checks that `tensors` hold every weight of `s` with its shape, in one floating-point dtype; names outside the
 * decoder (rotary buffers, a vision tower) are ignored. Returns that dtype. Errors name the tensor.
 */
export function checkDecoderWeights(s: DecoderShape, tensors: ReadonlyMap<string, Pick<TensorData, "dtype" | "shape">>): DType {
  let dtype: DType | undefined;
  const problems: string[] = [];
  for (const spec of decoderWeightSpecs(s)) {
    const t = tensors.get(spec.name);
    if (!t) {
      problems.push(`${spec.name} is missing`);
      continue;
    }
    if (t.shape.length !== spec.shape.length || t.shape.some((v, i) => v !== spec.shape[i]))
      problems.push(`${spec.name} has shape [${t.shape.join(", ")}], expected [${spec.shape.join(", ")}]`);
    if (dtype === undefined) dtype = t.dtype;
    else if (t.dtype !== dtype) problems.push(`${spec.name} is ${t.dtype}, the other weights ${dtype}`);
  }
  if (problems.length > 0)
    throw new ShapeError(`hf decoder weights: ${problems.slice(0, 8).join("; ")}${problems.length > 8 ? ` (and ${problems.length - 8} more)` : ""}`);
  if (dtype !== "float32" && dtype !== "float16" && dtype !== "bfloat16" && dtype !== "float64")
    throw new ShapeError(`hf decoder weights: expected floating-point weights, got ${dtype}`);
  return dtype;
}

// ── parameters ──

/**
 * A LoRA update of one linear module in PEFT's layout — A [r, in], B [out, r] — computed as y = x·Wᵀ + b +
 * scale·(x·Aᵀ)·Bᵀ (scale = α/r), so W stays frozen and is never merged into a copy.
 */
export interface LoraSite {
  a: Tensor;
  b: Tensor;
  scale: number;
}

/** What the forward reads: weights by HF name, and the LoRA update of a module (`model.layers.0.self_attn.q_proj`) if it has one. */
export interface DecoderParams {
  weight(name: string): Tensor;
  lora?(module: string): LoraSite | undefined;
  /**
   * true: recompute each decoder layer in the backward instead of keeping its activations; "attention": only each
   * layer's attention core, scores to attended values (tensor/ops/recompute.ts).
   */
  recompute?: Recompute;
}

/** What the backward recomputes rather than keeps: nothing (false), whole layers (true), or the attention cores. */
export type Recompute = boolean | "attention";

/** Either a weight lookup (no adapters) or full decoder parameters. */
export type DecoderWeightsFn = ((name: string) => Tensor) | DecoderParams;

export function paramsOf(w: DecoderWeightsFn): DecoderParams {
  return typeof w === "function" ? { weight: w } : w;
}

/** The linear module `module` (`…q_proj`) of the decoder on x [N, in], its bias and LoRA update included. */
export function moduleLinear(p: DecoderParams, module: string, x: Tensor, hasBias: boolean): Tensor {
  const y = hfLinear(x, p.weight(`${module}.weight`), hasBias ? p.weight(`${module}.bias`) : undefined);
  const site = p.lora?.(module);
  if (!site) return y;
  const down = hfLinear(x.dtype === site.a.dtype ? x : op.cast(x, site.a.dtype), site.a); // [N, r]
  let up = hfLinear(down, site.b); // [N, out]
  up = op.mul(up, site.scale);
  return op.add(y, up.dtype === y.dtype ? up : op.cast(up, y.dtype));
}

// ── layers ──

/** `x·Wᵀ + b` with W [out, in] (HF's nn.Linear) on 2-D x [N, in]. */
export function hfLinear(x: Tensor, w: Tensor, bias?: Tensor): Tensor {
  return op.gemm(x, w, bias ?? null, { transB: true });
}

/** LlamaRMSNorm: g ⊙ cast_back(x / √(mean(x²) + eps)), the inner part in float32. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const x32 = x.dtype === "float32" ? x : op.cast(x, "float32");
  const variance = op.reduceMean(op.mul(x32, x32), [-1], true);
  const normed = op.mul(x32, op.reciprocal(op.sqrt(op.add(variance, eps))));
  return op.mul(weight, normed.dtype === x.dtype ? normed : op.cast(normed, x.dtype));
}

/** rotate_half along the last axis: [x1, x2] → [−x2, x1] (halves, not interleaved pairs). */
export function rotateHalf(x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  if (typeof d !== "number" || d % 2 !== 0) throw new ShapeError(`rotate_half: the last dimension must be static and even, got ${d}`);
  const [x1, x2] = op.split(x, -1, [d / 2, d / 2]) as [Tensor, Tensor];
  return op.concat([op.neg(x2), x1], -1);
}

/** x·cos + rotate_half(x)·sin, cos/sin broadcast to x. */
export function applyRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return op.add(op.mul(x, cos), op.mul(rotateHalf(x), sin));
}

export interface AttentionContext {
  batch: number;
  length: number;
  /** [B, T, 1, hd] in the activation dtype. */
  cos: Tensor;
  sin: Tensor;
  /** Additive float32 bias [B, 1, 1, T, T]: causal plus padding. */
  bias: Tensor;
}

/**
 * Grouped-query self-attention on x [B·T, D] → [B·T, D]. Query head j reads key/value head ⌊j/G⌋ (G = H/KV) by
 * broadcasting: q is [B, KV, G, T, hd], k and v [B, KV, 1, T, hd], so K and V are never copied per query head.
 */
export function gqaAttention(x: Tensor, s: DecoderShape, p: DecoderParams, prefix: string, c: AttentionContext): Tensor {
  const { q, k, v } = projectQkv(s, p, prefix, x, c.batch, c.length, c.cos, c.sin);
  return attendAndProject(s, p, prefix, q, k, v, c.bias, c.batch, c.length);
}

/**
 * q [B, KV, G, T, hd], k and v [B, KV, 1, T, hd] of x [B·T, D], RoPE applied to q and k with cos/sin broadcastable to
 * [B, T, 1, hd]. Keys stay by position (a generation cache writes them there).
 */
export function projectQkv(s: DecoderShape, p: DecoderParams, prefix: string, x: Tensor, b: number, t: number, cos: Tensor, sin: Tensor) {
  const { heads, kvHeads: kv, headDim: hd } = s;
  const g = heads / kv;
  const proj = (name: string) => moduleLinear(p, `${prefix}.${name}_proj`, x, s.qkvBias);
  // [B·T, H·hd] → [B, T, H, hd] → rope → [B, T, KV, G, hd] → [B, KV, G, T, hd]
  const q = op.transpose(op.reshape(applyRope(op.reshape(proj("q"), [b, t, heads, hd]), cos, sin), [b, t, kv, g, hd]), [0, 2, 3, 1, 4]);
  const k = op.unsqueeze(op.transpose(applyRope(op.reshape(proj("k"), [b, t, kv, hd]), cos, sin), [0, 2, 1, 3]), [2]);
  const v = op.unsqueeze(op.transpose(op.reshape(proj("v"), [b, t, kv, hd]), [0, 2, 1, 3]), [2]);
  return { q, k, v };
}

/**
 * softmax(q·kᵀ·hd^−½ + bias)·v with the softmax in float32 (HF eager: softmax(…, dtype=float32).to(query dtype)),
 * heads merged back to [B·T, H·hd], then o_proj. q [B, KV, G, T, hd], k/v [B, KV, 1, S, hd], bias broadcastable to
 * [B, KV, G, T, S].
 */
export function attendAndProject(
  s: DecoderShape,
  p: DecoderParams,
  prefix: string,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  bias: Tensor,
  b: number,
  t: number,
): Tensor {
  const hd = s.headDim;
  const core = (): Tensor => {
    const scores = op.mul(op.matmul(q, op.transpose(k, [0, 1, 2, 4, 3])), hd ** -0.5); // HF: scaling = head_dim ** -0.5
    const scores32 = scores.dtype === "float32" ? scores : op.cast(scores, "float32");
    const probs32 = op.softmax(op.add(scores32, bias), -1);
    if (probs32.dtype === q.dtype) return op.matmul(probs32, v);
    // In half precision the backward needs the float32 probabilities (softmax's rule) and their half copy (the
    // product's rule): the copy is recomputed from the float32 ones instead of kept — the same bits, a third less
    // attention memory ([B, H, T, S] × 2 bytes a layer). Not inside a recomputed layer or core (segments do not nest).
    const attend = (): Tensor => op.matmul(op.cast(probs32, q.dtype), v);
    return p.recompute ? attend() : recomputed(probs32, attend);
  };
  // recompute: attention keeps none of the [B, H, T, S] tensors: the backward makes them again from q, k and the bias.
  const attended = p.recompute === "attention" ? recomputed(q, core) : core();
  const merged = op.reshape(op.transpose(attended, [0, 3, 1, 2, 4]), [b * t, s.heads * hd]);
  return moduleLinear(p, `${prefix}.o_proj`, merged, s.outputBias === true);
}

/** SiLU-gated MLP: down(silu(gate(x)) ⊙ up(x)). */
export function swigluMlp(x: Tensor, s: DecoderShape, p: DecoderParams, prefix: string): Tensor {
  const proj = (name: string, input: Tensor) => moduleLinear(p, `${prefix}.${name}_proj`, input, s.mlpBias === true);
  const gate = proj("gate", x);
  // SiLU's sigmoid is recomputed in the backward from the gate (kept anyway) rather than kept: the same bits, one
  // [B·T, intermediate] tensor a layer less between forward and backward (PyTorch's SiLU keeps only its input too).
  const silu = () => op.mul(gate, op.sigmoid(gate));
  return proj("down", op.mul(p.recompute === true ? silu() : recomputed(gate, silu), proj("up", x)));
}

// ── the forward ──

export interface DecoderInputs {
  /** int64 [B, T]. */
  inputIds: Tensor;
  /** [B, T], 1 = real token, 0 = padding (int64 as transformers takes it, or a float type). */
  attentionMask: Tensor;
  /** float32 [B, T, headDim] from `ropeTables`. */
  cos: Tensor;
  sin: Tensor;
  /**
   * Image features merged into the token embeddings (LLaVA): `features` [M, D] and `index` int64 [B·T], the feature
   * row each position takes (M: a text position, which keeps its token's embedding) — transformers' masked_scatter of
   * the k-th feature row into the k-th image-token position, with the positions found on the host.
   */
  images?: { features: Tensor; index: Tensor };
}

/**
 * The additive float32 attention bias [B, 1, 1, T, T]: causal (within `window` W, if given: query i sees keys
 * i − W < j ≤ i), and keys hidden where the attention mask is 0.
 */
export function attentionBias(mask: Tensor, length: number, window?: number): Tensor {
  const m = mask.dtype === "float32" ? mask : op.cast(mask, "float32");
  const padding = op.unsqueeze(op.mul(op.sub(m, 1), -hiddenBias("float32")), [1, 2, 3]); // [B, 1, 1, 1, T]
  return op.add(causalMask(padding, length, window), padding);
}

/**
 * Layer l's attention window when it changes anything for `length` positions (the window is shorter), else undefined.
 * Positions are counted from each row's first token, so the window compares cache or sequence indices.
 */
export function layerWindow(s: DecoderShape, l: number, length: number): number | undefined {
  const w = s.slidingWindow;
  if (w == null || length <= w) return undefined;
  return s.slidingLayers === undefined || s.slidingLayers.includes(l) ? w : undefined;
}

/** Final hidden states before the last norm, [B·T, D], in the weights' dtype. */
export function decoderHidden(s: DecoderShape, weights: DecoderWeightsFn, inputs: DecoderInputs): Tensor {
  checkShape(s);
  const p = paramsOf(weights);
  const w = p.weight;
  const [b, t] = inputs.inputIds.shape;
  if (typeof b !== "number" || typeof t !== "number") throw new ShapeError("hf decoder: batch and sequence length must be static");
  for (const [name, table] of [
    ["cos", inputs.cos],
    ["sin", inputs.sin],
  ] as const) {
    if (table.rank !== 3 || table.shape[0] !== b || table.shape[1] !== t || table.shape[2] !== s.headDim)
      throw new ShapeError(`hf decoder: ${name} must be [${b}, ${t}, ${s.headDim}], got [${table.shape.join(", ")}]`);
  }
  const embed = w("model.embed_tokens.weight");
  const dtype = embed.dtype;
  const table = (x: Tensor) => op.unsqueeze(x.dtype === dtype ? x : op.cast(x, dtype), [2]); // [B, T, 1, hd]
  const full: AttentionContext = { batch: b, length: t, cos: table(inputs.cos), sin: table(inputs.sin), bias: attentionBias(inputs.attentionMask, t) };
  // Sliding-window layers hide the keys W or more positions behind a query (one bias for all of them).
  const window = s.slidingWindow ?? undefined;
  const windowed = window !== undefined && t > window ? { ...full, bias: attentionBias(inputs.attentionMask, t, window) } : full;
  let h = op.reshape(op.gather(embed, inputs.inputIds, 0), [b * t, s.hidden]);
  if (inputs.images) h = mergeImageFeatures(h, inputs.images);
  for (let l = 0; l < s.layers; l++) {
    const layer = `model.layers.${l}`;
    const ctx = layerWindow(s, l, t) === undefined ? full : windowed;
    const block = (x: Tensor) => {
      const a = op.add(x, gqaAttention(rmsNorm(x, w(`${layer}.input_layernorm.weight`), s.rmsEps), s, p, `${layer}.self_attn`, ctx));
      return op.add(a, swigluMlp(rmsNorm(a, w(`${layer}.post_attention_layernorm.weight`), s.rmsEps), s, p, `${layer}.mlp`));
    };
    const input = h;
    h = p.recompute === true ? recomputed(input, () => block(input)) : block(input);
  }
  return h;
}

/** Token embeddings h [B·T, D] with image feature rows in the image positions (DecoderInputs.images). */
export function mergeImageFeatures(h: Tensor, images: { features: Tensor; index: Tensor }): Tensor {
  const [m, d] = images.features.shape as [number, number];
  if (d !== h.shape[1] || images.index.shape[0] !== h.shape[0])
    throw new ShapeError(
      `hf decoder: image features [${images.features.shape.join(", ")}] and index [${images.index.shape.join(", ")}] do not fit embeddings [${h.shape.join(", ")}]`,
    );
  const features = images.features.dtype === h.dtype ? images.features : op.cast(images.features, h.dtype);
  const table = op.concat([features, op.full(h, [1, d], 0, h.dtype)], 0); // row M: nothing (text positions)
  const picked = op.gather(table, images.index, 0);
  return op.where(op.unsqueeze(op.less(images.index, m), [1]), picked, h);
}

/** lm_head(RMSNorm(h)) for hidden rows h [N, D] → float32 logits [N, V] (tied: Gemm transB on the embedding table). */
export function decoderHead(s: DecoderShape, weights: DecoderWeightsFn, h: Tensor): Tensor {
  const w = paramsOf(weights).weight;
  const head = w(s.tiedEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  const logits = hfLinear(rmsNorm(h, w("model.norm.weight"), s.rmsEps), head);
  return logits.dtype === "float32" ? logits : op.cast(logits, "float32");
}

/** Next-token logits, float32 [B, T, V]. */
export function decoderLogits(s: DecoderShape, w: DecoderWeightsFn, inputs: DecoderInputs): Tensor {
  const [b, t] = inputs.inputIds.shape as [number, number];
  return op.reshape(decoderHead(s, w, decoderHidden(s, w, inputs)), [b, t, s.vocab]);
}

/**
 * The logits at the scored positions: for int64 positions [B, S], the hidden rows b·T + positions[b, s] are gathered
 * before the head, so logits are only ever [B·S, V] (never [B·T, V]). Float32 [B·S, V].
 */
export function scoredLogits(s: DecoderShape, w: DecoderWeightsFn, inputs: DecoderInputs, positions: Tensor): Tensor {
  const [b, t] = inputs.inputIds.shape as [number, number];
  const [pb, scored] = positions.shape;
  if (pb !== b || typeof scored !== "number" || positions.rank !== 2)
    throw new ShapeError(`hf decoder: positions must be [${b}, S], got [${positions.shape.join(", ")}]`);
  const h = decoderHidden(s, w, inputs);
  const rowStart = builderOf(h).tensor(
    "int64",
    Array.from({ length: b }, (_, i) => i * t),
    [b, 1],
  );
  const rows = op.reshape(op.add(positions, rowStart), [b * scored]);
  return decoderHead(s, w, op.gather(h, rows, 0));
}

/** log p(labels[b, s]) under the scored logits [B·S, V]: float32 [B, S]. */
export function labelLogProbs(logits: Tensor, labels: Tensor): Tensor {
  const [b, scored] = labels.shape as [number, number];
  const picked = op.gatherElements(op.logSoftmax(logits, -1), op.reshape(labels, [b * scored, 1]), 1);
  return op.reshape(picked, [b, scored]);
}

/**
 * log p(labels[b, s] | tokens up to positions[b, s]) for int64 positions/labels [B, S], logits only at the scored
 * positions (`scoredLogits`). Float32 [B, S].
 */
export function decoderTokenLogProbs(s: DecoderShape, w: DecoderWeightsFn, inputs: DecoderInputs, positions: Tensor, labels: Tensor): Tensor {
  const [b] = inputs.inputIds.shape as [number, number];
  const scored = positions.shape[1];
  if (labels.rank !== 2 || labels.shape[0] !== b || labels.shape[1] !== scored)
    throw new ShapeError(`hf decoder: positions and labels must both be [${b}, S], got [${positions.shape.join(", ")}] and [${labels.shape.join(", ")}]`);
  return labelLogProbs(scoredLogits(s, w, inputs, positions), labels);
}

// ── programs ──

export interface ProgramSize {
  batch: number;
  length: number;
}

/**
 * Initializers for the decoder's weights (only those it reads), under their HF names: data in the model, or external
 * data (ONNX Runtime reads it from the checkpoint's files; the model holds only the references). Both name and order
 * the initializers alike, so the two programs differ only in where the bytes are.
 */
export function weightInitializers(b: Builder, s: DecoderShape, weights: DecoderWeights): (name: string) => Tensor {
  const external = isExternal(weights) ? weights.tensors : undefined;
  checkDecoderWeights(s, external ?? (weights as ReadonlyMap<string, TensorData>));
  const made = new Map<string, Tensor>();
  for (const spec of decoderWeightSpecs(s)) {
    if (external) made.set(spec.name, b.external(external.get(spec.name)!, spec.name));
    else {
      // A map may hold references in place too (a vision-language model's weights, filtered to the decoder's).
      const t = (weights as ReadonlyMap<string, TensorData | ExternalTensorData>).get(spec.name)!;
      made.set(spec.name, "location" in t ? b.external(t, spec.name) : b.data(t.dtype, t.data, t.shape, spec.name));
    }
  }
  return (name) => {
    const t = made.get(name);
    if (!t) throw new ShapeError(`hf decoder: no weight named ${name}`);
    return t;
  };
}

function isExternal(w: DecoderWeights): w is HfExternalWeights {
  return !(w instanceof Map) && "folder" in w && "tensors" in w;
}

function declareInputs(b: Builder, s: DecoderShape, size: ProgramSize): DecoderInputs {
  const { batch, length } = size;
  return {
    inputIds: b.input("input_ids", "int64", [batch, length]),
    attentionMask: b.input("attention_mask", "int64", [batch, length]),
    cos: b.input("cos", "float32", [batch, length, s.headDim]),
    sin: b.input("sin", "float32", [batch, length, s.headDim]),
  };
}

/**
 * The logits program. Inputs: `input_ids` int64 [B, T], `attention_mask` int64 [B, T] (1 = token, 0 = padding),
 * `cos`, `sin` float32 [B, T, headDim] (`ropeTables`). Output: `logits` float32 [B, T, V]. With external weights
 * (`externalHfWeights`), load it with `Runtime.load(bytes, undefined, { folder, files })` of those weights.
 */
export function buildHfLogitsProgram(s: DecoderShape, tensors: DecoderWeights, size: ProgramSize): Builder {
  const b = new Builder("hf_logits");
  const w = weightInitializers(b, s, tensors);
  b.output(decoderLogits(s, w, declareInputs(b, s, size)), "logits");
  return b;
}

/**
 * The per-token log-prob program: the logits program's inputs plus `positions` and `labels`, int64 [B, S] — the
 * logits at `positions[b, s]` score the token `labels[b, s]` (usually input_ids[b, positions[b, s] + 1]). Output:
 * `token_logprobs` float32 [B, S]; slots a row does not use may point anywhere and are the caller's to ignore. With
 * `adapters`, the decoder with those LoRA adapters (a policy mid-training; lora.ts).
 */
export function buildHfLogProbProgram(
  s: DecoderShape,
  tensors: DecoderWeights,
  size: ProgramSize & { scored: number },
  adapters?: HfAdapterValues,
  /** A vision-language model's images, merged into the embeddings (DecoderInputs.images; index [B·T]). */
  images?: (b: Builder) => NonNullable<DecoderInputs["images"]>,
): Builder {
  const b = new Builder("hf_logprobs");
  const weight = weightInitializers(b, s, tensors);
  const w: DecoderParams = adapters ? { weight, lora: adapterInitializers(b, s, adapters) } : { weight };
  const inputs = { ...declareInputs(b, s, size), ...(images ? { images: images(b) } : {}) };
  const positions = b.input("positions", "int64", [size.batch, size.scored]);
  const labels = b.input("labels", "int64", [size.batch, size.scored]);
  b.output(decoderTokenLogProbs(s, w, inputs, positions, labels), "token_logprobs");
  return b;
}
