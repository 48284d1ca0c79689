// A float64 reference of the Hugging Face text decoder (Llama / Qwen2 / Mistral, docs/hf-models.md) in plain
// TypeScript, written from transformers' modeling code independently of src/models/hf/ (its own RoPE frequencies,
// its own attention loops), and a minimal config.json reader for tests. Slow and simple: for tiny models only.
import type { DecoderShape } from "../../src/models/hf/decoder.ts";
import type { RopeScaling } from "../../src/models/hf/rope.ts";
import type { TensorData } from "../../src/tensor/ir/graph.ts";

type Weights = ReadonlyMap<string, TensorData>;

/** Float64 copy of a weight, [rows, cols] row-major. */
function mat(w: Weights, name: string): { data: Float64Array; rows: number; cols: number } {
  const t = w.get(name);
  if (!t) throw new Error(`reference: no weight ${name}`);
  const cols = t.shape[t.shape.length - 1]!;
  return { data: Float64Array.from(t.data as Float32Array), rows: t.data.length / cols, cols };
}

/** y[n, out] = x[n, in]·Wᵀ + b, W [out, in]. */
function linear(x: Float64Array, n: number, w: Weights, name: string, bias?: string): Float64Array {
  const W = mat(w, name);
  const b = bias ? mat(w, bias).data : undefined;
  const y = new Float64Array(n * W.rows);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < W.rows; o++) {
      let s = b ? b[o]! : 0;
      for (let k = 0; k < W.cols; k++) s += x[i * W.cols + k]! * W.data[o * W.cols + k]!;
      y[i * W.rows + o] = s;
    }
  return y;
}

function rmsNorm(x: Float64Array, n: number, d: number, g: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let ms = 0;
    for (let k = 0; k < d; k++) ms += x[i * d + k]! ** 2;
    const inv = 1 / Math.sqrt(ms / d + eps);
    for (let k = 0; k < d; k++) y[i * d + k] = g[k]! * x[i * d + k]! * inv;
  }
  return y;
}

/** inv_freq in float64: default, linear, llama3 (transformers' `_compute_llama3_parameters`, without float32 rounding). */
export function referenceInvFreq(headDim: number, theta: number, scaling: RopeScaling): number[] {
  const base = Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));
  if (scaling.type === "default") return base;
  if (scaling.type === "linear") return base.map((f) => f / scaling.factor);
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: original } = scaling;
  return base.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < original / high) return f;
    if (wavelen > original / low) return f / factor;
    const smooth = (original / wavelen - low) / (high - low);
    return ((1 - smooth) * f) / factor + smooth * f;
  });
}

/** rotate_half RoPE on one head vector at `position`. */
function rope(v: Float64Array, at: number, hd: number, invFreq: readonly number[], position: number): void {
  const half = hd / 2;
  for (let i = 0; i < half; i++) {
    const a = position * invFreq[i]!;
    const [c, s] = [Math.cos(a), Math.sin(a)];
    const x1 = v[at + i]!;
    const x2 = v[at + half + i]!;
    v[at + i] = x1 * c - x2 * s;
    v[at + half + i] = x2 * c + x1 * s;
  }
}

/**
 * Logits [B][T][V] in float64. Keys where `mask` is 0, later positions and (sliding-window layers) keys W or more
 * positions back are hidden; a query row that sees no key
 * (a padding position) attends uniformly to what it would see without the padding mask, as no caller reads it.
 */
export function referenceLogits(s: DecoderShape, w: Weights, ids: number[][], mask: number[][], positions: number[][]): number[][][] {
  const B = ids.length;
  const T = ids[0]!.length;
  const { hidden: D, heads: H, kvHeads: KV, headDim: hd } = s;
  const G = H / KV;
  const N = B * T;
  const invFreq = referenceInvFreq(hd, s.rope.theta, s.rope.scaling);
  const E = mat(w, "model.embed_tokens.weight");
  let h = new Float64Array(N * D);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) h.set(E.data.subarray(ids[b]![t]! * D, ids[b]![t]! * D + D), (b * T + t) * D);
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    const window = s.slidingWindow != null && (s.slidingLayers?.includes(l) ?? true) ? s.slidingWindow : Number.POSITIVE_INFINITY;
    const x = rmsNorm(h, N, D, mat(w, `${p}.input_layernorm.weight`).data, s.rmsEps);
    const bias = (n: string) => (s.qkvBias ? `${p}.self_attn.${n}_proj.bias` : undefined);
    const q = linear(x, N, w, `${p}.self_attn.q_proj.weight`, bias("q"));
    const k = linear(x, N, w, `${p}.self_attn.k_proj.weight`, bias("k"));
    const v = linear(x, N, w, `${p}.self_attn.v_proj.weight`, bias("v"));
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const row = b * T + t;
        for (let j = 0; j < H; j++) rope(q, row * H * hd + j * hd, hd, invFreq, positions[b]![t]!);
        for (let j = 0; j < KV; j++) rope(k, row * KV * hd + j * hd, hd, invFreq, positions[b]![t]!);
      }
    const a = new Float64Array(N * H * hd);
    for (let b = 0; b < B; b++)
      for (let j = 0; j < H; j++) {
        const kvh = Math.floor(j / G);
        for (let tq = 0; tq < T; tq++) {
          const qo = (b * T + tq) * H * hd + j * hd;
          // Sliding-window layers see the keys tq − W < tk ≤ tq (by index, as transformers' mask counts).
          const lo = Math.max(0, tq - window + 1);
          const scores: number[] = [];
          const visible: number[] = [];
          for (let tk = lo; tk <= tq; tk++) {
            let d = 0;
            for (let e = 0; e < hd; e++) d += q[qo + e]! * k[(b * T + tk) * KV * hd + kvh * hd + e]!;
            scores.push(d / Math.sqrt(hd));
            if (mask[b]![tk] !== 0) visible.push(tk - lo);
          }
          const keys = visible.length > 0 ? visible : scores.map((_, i) => i);
          const m = Math.max(...keys.map((i) => scores[i]!));
          const e = keys.map((i) => Math.exp(scores[i]! - m));
          const z = e.reduce((x1, x2) => x1 + x2, 0);
          keys.forEach((i, n) => {
            const tk = lo + i;
            for (let c = 0; c < hd; c++) a[qo + c] = a[qo + c]! + (e[n]! / z) * v[(b * T + tk) * KV * hd + kvh * hd + c]!;
          });
        }
      }
    const o = linear(a, N, w, `${p}.self_attn.o_proj.weight`, s.outputBias ? `${p}.self_attn.o_proj.bias` : undefined);
    h = h.map((y, i) => y + o[i]!);
    const x2 = rmsNorm(h, N, D, mat(w, `${p}.post_attention_layernorm.weight`).data, s.rmsEps);
    const mlpBias = (n: string) => (s.mlpBias ? `${p}.mlp.${n}_proj.bias` : undefined);
    const gate = linear(x2, N, w, `${p}.mlp.gate_proj.weight`, mlpBias("gate"));
    const up = linear(x2, N, w, `${p}.mlp.up_proj.weight`, mlpBias("up"));
    const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
    const down = linear(act, N, w, `${p}.mlp.down_proj.weight`, mlpBias("down"));
    h = h.map((y, i) => y + down[i]!);
  }
  const logits = linear(rmsNorm(h, N, D, mat(w, "model.norm.weight").data, s.rmsEps), N, w, s.tiedEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");
  const V = s.vocab;
  return Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => Array.from(logits.subarray((b * T + t) * V, (b * T + t + 1) * V))));
}

/** log-softmax of one logits row, float64. */
export function logSoftmax(row: readonly number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
  return row.map((x) => x - lse);
}

/** A DecoderShape from a config.json of either layout (v4 `rope_theta` + `rope_scaling`, v5 `rope_parameters`). */
export function shapeFromConfig(c: Record<string, unknown>): DecoderShape {
  const num = (k: string, fallback?: number): number => {
    const v = c[k] ?? fallback;
    if (typeof v !== "number") throw new Error(`config.json: ${k} is not a number`);
    return v;
  };
  const heads = num("num_attention_heads");
  const rp = (c.rope_parameters ?? c.rope_scaling ?? {}) as Record<string, number | string>;
  const type = (rp.rope_type ?? rp.type ?? "default") as string;
  const theta = Number(rp.rope_theta ?? c.rope_theta ?? 10000);
  let scaling: RopeScaling;
  if (type === "default") scaling = { type: "default" };
  else if (type === "linear") scaling = { type: "linear", factor: Number(rp.factor) };
  else if (type === "llama3")
    scaling = {
      type: "llama3",
      factor: Number(rp.factor),
      lowFreqFactor: Number(rp.low_freq_factor),
      highFreqFactor: Number(rp.high_freq_factor),
      originalMaxPositionEmbeddings: Number(rp.original_max_position_embeddings),
    };
  else throw new Error(`config.json: rope type ${type} is not supported here`);
  // transformers: Mistral windows every layer; Qwen2 with use_sliding_window the layers its layer_types name
  // "sliding_attention", else those from max_window_layers (default 28) on.
  const window = c.model_type === "mistral" || c.use_sliding_window === true ? ((c.sliding_window as number | null) ?? null) : null;
  const layers = Array.from({ length: num("num_hidden_layers") }, (_, i) => i);
  const types = c.layer_types as string[] | undefined;
  const slidingLayer = (i: number) => c.model_type === "mistral" || (types ? types[i] === "sliding_attention" : i >= num("max_window_layers", 28));
  return {
    vocab: num("vocab_size"),
    hidden: num("hidden_size"),
    intermediate: num("intermediate_size"),
    layers: num("num_hidden_layers"),
    heads,
    kvHeads: num("num_key_value_heads", heads),
    headDim: typeof c.head_dim === "number" ? c.head_dim : num("hidden_size") / heads,
    rmsEps: num("rms_norm_eps"),
    rope: { theta, scaling },
    tiedEmbeddings: c.tie_word_embeddings === true,
    qkvBias: c.model_type === "qwen2" || c.attention_bias === true,
    outputBias: c.model_type === "llama" && c.attention_bias === true,
    mlpBias: c.model_type === "llama" && c.mlp_bias === true,
    slidingWindow: window,
    slidingLayers: window === null ? [] : layers.filter((i) => slidingLayer(i)),
  };
}
