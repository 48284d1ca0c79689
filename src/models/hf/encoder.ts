// A sentence encoder's forward as one tensor program: BERT (word + position + token-type embeddings) or MPNet (word +
// position embeddings numbered from padding_idx + 1, and a relative position bias shared by every layer's attention),
// post-LN layers with exact GELU, then sentence-transformers' mean pooling over the attention mask. As transformers'
// modeling_bert.py and modeling_mpnet.py compute it (eager, eval). The weights are the checkpoint's own tensors, read in
// place (names without a `bert.`/`mpnet.` prefix; old `gamma`/`beta` LayerNorm names read as weight/bias).
import type { DType } from "../../tensor/ir/dtype.ts";
import type { ExternalTensorData, Tensor, TensorData } from "../../tensor/ir/graph.ts";
import { ShapeError } from "../../tensor/ir/shape.ts";
import { Builder } from "../../tensor/ops/builder.ts";
import * as op from "../../tensor/ops/index.ts";
import { hfLinear } from "./decoder.ts";
import type { HfEncoderConfig } from "./encoder-config.ts";

export type EncoderWeights = ReadonlyMap<string, TensorData | ExternalTensorData>;

const BERT_LAYER =
  /^encoder\.layer\.(\d+)\.(attention\.self\.(?:query|key|value)|attention\.output\.(?:dense|LayerNorm)|intermediate\.dense|output\.(?:dense|LayerNorm))\.(weight|bias)$/;
const MPNET_LAYER =
  /^encoder\.layer\.(\d+)\.(attention\.attn\.(?:q|k|v|o)|attention\.LayerNorm|intermediate\.dense|output\.(?:dense|LayerNorm))\.(weight|bias)$/;
const EMBEDDINGS = /^embeddings\.(word_embeddings|position_embeddings|token_type_embeddings|LayerNorm)\.(weight|bias)$/;

/**
 * The program name of a checkpoint tensor of `family`, or undefined for what the encoder does not read (a pooler, a
 * masked-LM head, the position_ids buffer older files saved).
 */
export function encoderProgramName(family: HfEncoderConfig["family"], name: string): string | undefined {
  let n = name;
  const prefix = family === "mpnet" ? "mpnet." : "bert.";
  if (n.startsWith(prefix)) n = n.slice(prefix.length);
  n = n.replace(/LayerNorm\.gamma$/, "LayerNorm.weight").replace(/LayerNorm\.beta$/, "LayerNorm.bias");
  if (EMBEDDINGS.test(n)) return family === "mpnet" && n.startsWith("embeddings.token_type") ? undefined : n;
  if (family === "mpnet" && n === "encoder.relative_attention_bias.weight") return n;
  const m = (family === "mpnet" ? MPNET_LAYER : BERT_LAYER).exec(n);
  return m && String(Number(m[1])) === m[1] ? n : undefined;
}

/** Module names of one layer, by role. */
function layerNames(c: HfEncoderConfig, l: number) {
  const p = `encoder.layer.${l}.`;
  return c.family === "mpnet"
    ? {
        q: `${p}attention.attn.q`,
        k: `${p}attention.attn.k`,
        v: `${p}attention.attn.v`,
        o: `${p}attention.attn.o`,
        attnNorm: `${p}attention.LayerNorm`,
        up: `${p}intermediate.dense`,
        down: `${p}output.dense`,
        outNorm: `${p}output.LayerNorm`,
      }
    : {
        q: `${p}attention.self.query`,
        k: `${p}attention.self.key`,
        v: `${p}attention.self.value`,
        o: `${p}attention.output.dense`,
        attnNorm: `${p}attention.output.LayerNorm`,
        up: `${p}intermediate.dense`,
        down: `${p}output.dense`,
        outNorm: `${p}output.LayerNorm`,
      };
}

/** Every tensor the encoder reads, with its shape (HF's [out, in] for linear weights). */
export function expectedEncoderTensors(c: HfEncoderConfig): Map<string, number[]> {
  const D = c.hiddenSize;
  const I = c.intermediateSize;
  const out = new Map<string, number[]>();
  out.set("embeddings.word_embeddings.weight", [c.vocabSize, D]);
  out.set("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, D]);
  if (c.family === "bert") out.set("embeddings.token_type_embeddings.weight", [c.typeVocabSize, D]);
  else out.set("encoder.relative_attention_bias.weight", [c.relativeBuckets, c.numAttentionHeads]);
  out.set("embeddings.LayerNorm.weight", [D]);
  out.set("embeddings.LayerNorm.bias", [D]);
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const n = layerNames(c, l);
    for (const m of [n.q, n.k, n.v, n.o]) {
      out.set(`${m}.weight`, [D, D]);
      out.set(`${m}.bias`, [D]);
    }
    out.set(`${n.up}.weight`, [I, D]);
    out.set(`${n.up}.bias`, [I]);
    out.set(`${n.down}.weight`, [D, I]);
    out.set(`${n.down}.bias`, [D]);
    for (const m of [n.attnNorm, n.outNorm]) {
      out.set(`${m}.weight`, [D]);
      out.set(`${m}.bias`, [D]);
    }
  }
  return out;
}

/**
 * MPNet's relative position bucket of key j for query i (transformers' relative_position_bucket, bidirectional,
 * max_distance 128): exact below num_buckets/4, logarithmic above, one half for each direction. The logarithm is
 * computed in float32, as torch computes it, so the buckets agree at their boundaries.
 */
export function relativePositionBucket(relative: number, numBuckets: number, maxDistance = 128): number {
  const half = Math.floor(numBuckets / 2);
  const n = -relative;
  let ret = n < 0 ? half : 0;
  const a = Math.abs(n);
  const maxExact = Math.floor(half / 2);
  if (a < maxExact) return ret + a;
  const f = Math.fround;
  const scaled = f(f(f(Math.log(f(f(a) / maxExact))) / f(Math.log(maxDistance / maxExact))) * (half - maxExact));
  ret += Math.min(maxExact + Math.trunc(scaled), half - 1);
  return ret;
}

/** The bucket of every (query, key) pair of a `length`-token sequence, int64 [T, T]. */
export function relativeBucketTable(length: number, numBuckets: number): BigInt64Array {
  const t = new BigInt64Array(length * length);
  for (let i = 0; i < length; i++) for (let j = 0; j < length; j++) t[i * length + j] = BigInt(relativePositionBucket(j - i, numBuckets));
  return t;
}

/**
 * Position ids as the model numbers them: BERT 0, 1, 2, …; MPNet (create_position_ids_from_input_ids) counts the
 * tokens that are not its padding id 1 from 2 on, and gives padding 1.
 */
export function encoderPositionIds(c: HfEncoderConfig, ids: readonly number[], length: number): number[] {
  const out = new Array<number>(length).fill(c.family === "mpnet" ? 1 : 0);
  let seen = 0;
  for (let i = 0; i < length; i++) {
    if (c.family === "bert") out[i] = i;
    else if (i < ids.length && ids[i] !== 1) out[i] = ++seen + 1;
  }
  return out;
}

export interface EncoderSize {
  batch: number;
  length: number;
}

/** The weights' dtype: encoders run in float32 (what sentence-transformers checkpoints hold). */
export function checkEncoderWeights(c: HfEncoderConfig, weights: EncoderWeights): DType {
  for (const [name] of expectedEncoderTensors(c)) {
    const t = weights.get(name);
    if (!t) throw new ShapeError(`hf encoder: no weight named ${name}`);
    if (t.dtype !== "float32") throw new ShapeError(`${name} is ${t.dtype}; alignc computes sentence encoders in float32, so their weights must be float32`);
  }
  return "float32";
}

/**
 * The embedding program. Inputs: `input_ids` and `position_ids` int64 [B, T] (encoderPositionIds), `attention_mask`
 * float32 [B, T] (1 = token, 0 = padding). Output: `embeddings` float32 [B, D], the mean of the last hidden states
 * over the mask. Load it with the weights' external-data folder when they are references.
 */
export function buildEncoderEmbeddingProgram(c: HfEncoderConfig, weights: EncoderWeights, size: EncoderSize): Builder {
  checkEncoderWeights(c, weights);
  const b = new Builder("hf_encoder_embed");
  const made = new Map<string, Tensor>();
  for (const name of expectedEncoderTensors(c).keys()) {
    const t = weights.get(name) as TensorData | ExternalTensorData;
    made.set(name, "location" in t ? b.external(t, name) : b.data(t.dtype, t.data, t.shape, name));
  }
  const w = (name: string) => made.get(name) as Tensor;
  const { batch: B, length: T } = size;
  const ids = b.input("input_ids", "int64", [B, T]);
  const positions = b.input("position_ids", "int64", [B, T]);
  const mask = b.input("attention_mask", "float32", [B, T]);
  const D = c.hiddenSize;
  const H = c.numAttentionHeads;
  const hd = D / H;
  const ln = (x: Tensor, name: string) => op.layerNorm(x, w(`${name}.weight`), w(`${name}.bias`), -1, c.layerNormEps);
  const linear = (x: Tensor, name: string) => hfLinear(x, w(`${name}.weight`), w(`${name}.bias`));

  let e = op.add(op.gather(w("embeddings.word_embeddings.weight"), ids), op.gather(w("embeddings.position_embeddings.weight"), positions));
  if (c.family === "bert") e = op.add(e, op.gather(w("embeddings.token_type_embeddings.weight"), b.data("int64", new BigInt64Array(1), [1])));
  let h = op.reshape(ln(e, "embeddings.LayerNorm"), [B * T, D]);

  // Padding keys get a large negative score; a row's own tokens are all it attends to.
  let bias = op.unsqueeze(op.mul(op.sub(mask, 1), 1e9), [1, 2]); // [B, 1, 1, T]
  if (c.family === "mpnet") {
    const buckets = b.data("int64", relativeBucketTable(T, c.relativeBuckets), [T, T], "relative_buckets");
    const rel = op.unsqueeze(op.transpose(op.gather(w("encoder.relative_attention_bias.weight"), buckets), [2, 0, 1]), [0]); // [1, H, T, T]
    bias = op.add(bias, rel);
  }
  const heads = (x: Tensor) => op.transpose(op.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]); // [B, H, T, hd]
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const n = layerNames(c, l);
    const q = heads(linear(h, n.q));
    const k = heads(linear(h, n.k));
    const v = heads(linear(h, n.v));
    const scores = op.add(op.mul(op.matmul(q, op.transpose(k, [0, 1, 3, 2])), hd ** -0.5), bias);
    const ctx = op.reshape(op.transpose(op.matmul(op.softmax(scores, -1), v), [0, 2, 1, 3]), [B * T, D]);
    const attended = ln(op.add(linear(ctx, n.o), h), n.attnNorm);
    h = ln(op.add(linear(op.gelu(linear(attended, n.up)), n.down), attended), n.outNorm);
  }
  // sentence-transformers: sum(h · mask) / clamp(sum(mask), 1e-9)
  const m = op.unsqueeze(mask, [2]);
  const summed = op.reduceSum(op.mul(op.reshape(h, [B, T, D]), m), [1]);
  b.output(op.div(summed, op.max(op.reduceSum(m, [1]), 1e-9)), "embeddings");
  return b;
}
