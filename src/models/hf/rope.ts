// Rotary position embeddings of Hugging Face decoders (LlamaRotaryEmbedding and its Qwen2/Mistral copies), computed on
// the host in float32 exactly as transformers does and fed to the program as cos/sin tables:
//   inv_freq_i = 1 / θ^(2i/d)  (i < d/2, in float32)      — modeling_rope_utils `_compute_default_rope_parameters`
//   linear:  inv_freq / factor                             — `_compute_linear_scaling_rope_parameters`
//   llama3:  per-frequency interpolation by wavelength     — `_compute_llama3_parameters`
//   angle = position·inv_freq (float32); cos = cos([angle, angle]), sin likewise (length head_dim: halves, not pairs).
// Every intermediate is rounded to float32 (Math.fround) where PyTorch holds a float32 tensor.

import type { TensorData } from "../../tensor/ir/graph.ts";

/** `rope_type` and its parameters (the same shape as config.ts's `HfRopeScaling`). */
export type RopeScaling =
  | { type: "default" }
  | { type: "linear"; factor: number }
  /** Llama 3.1/3.2: `factor`, `low_freq_factor`, `high_freq_factor`, `original_max_position_embeddings`. */
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export interface RopeShape {
  /** `rope_theta`. */
  theta: number;
  scaling: RopeScaling;
}

/** What RoPE needs of a decoder's shape (the rotary dimension is the whole head: partial_rotary_factor 1). */
export interface RopeHost {
  headDim: number;
  rope: RopeShape;
}

const f32 = Math.fround;

/** The inverse frequencies, float32, length headDim/2 — transformers' `inv_freq` for the shape's rope type. */
export function ropeInvFreq(shape: RopeHost): Float32Array {
  const dim = shape.headDim;
  if (!Number.isInteger(dim) || dim <= 0 || dim % 2 !== 0) throw new RangeError(`rope: head_dim must be a positive even integer, got ${dim}`);
  const { theta, scaling } = shape.rope;
  if (!(theta > 0)) throw new RangeError(`rope: rope_theta must be positive, got ${theta}`);
  const base = f32(theta);
  // 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)): a float32 exponent, a float32 power, a float32 reciprocal.
  const invFreq = Float32Array.from({ length: dim / 2 }, (_, i) => f32(1 / f32(base ** f32((2 * i) / dim))));
  switch (scaling.type) {
    case "default":
      return invFreq;
    case "linear":
      checkFactor(scaling.factor);
      return invFreq.map((v) => f32(v / scaling.factor));
    case "llama3":
      return llama3(invFreq, scaling);
  }
}

function checkFactor(factor: number): void {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`rope: the scaling factor must be a positive number, got ${factor}`);
}

/** `_compute_llama3_parameters`, line for line, with float32 tensors rounded as PyTorch rounds them. */
function llama3(invFreq: Float32Array, s: Extract<RopeScaling, { type: "llama3" }>): Float32Array {
  checkFactor(s.factor);
  const { lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: original } = s;
  if (!(high > low) || !(low > 0)) throw new RangeError(`rope: llama3 needs 0 < low_freq_factor < high_freq_factor, got ${low} and ${high}`);
  if (!(original > 0)) throw new RangeError(`rope: llama3 needs a positive original_max_position_embeddings, got ${original}`);
  // Python floats (double precision) until they meet a tensor.
  const lowFreqWavelen = original / low;
  const highFreqWavelen = original / high;
  // PyTorch divides a Python number by a tensor as reciprocal(tensor)·number (`Tensor.__rtruediv__`), the number in float32.
  const rdiv = (num: number, t: number) => f32(f32(1 / t) * f32(num));
  return invFreq.map((inv) => {
    const wavelen = rdiv(2 * Math.PI, inv);
    // torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    const llama = wavelen > lowFreqWavelen ? f32(inv / s.factor) : inv;
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (!isMedium) return llama;
    // smooth = (old_context_len / wavelen - low) / (high - low); (1 - smooth)·inv_llama/factor + smooth·inv_llama
    const smooth = f32(f32(rdiv(original, wavelen) - low) / (high - low));
    return f32(f32(f32(1 - smooth) * f32(llama / s.factor)) + f32(smooth * llama));
  });
}

export interface RopeTables {
  /** float32 [B, T, headDim]. */
  cos: TensorData;
  sin: TensorData;
}

/**
 * cos/sin tables for `positions` (int [B][T], or one row [T] shared by the batch of `batch` rows): the program's `cos`
 * and `sin` inputs. `LlamaRotaryEmbedding.forward`: freqs = inv_freq·position (float32), emb = [freqs, freqs].
 */
export function ropeTables(shape: RopeHost, positions: readonly (readonly number[])[]): RopeTables {
  const invFreq = ropeInvFreq(shape);
  const half = invFreq.length;
  const hd = shape.headDim;
  const batch = positions.length;
  const length = positions[0]?.length ?? 0;
  const cos = new Float32Array(batch * length * hd);
  const sin = new Float32Array(batch * length * hd);
  positions.forEach((row, b) => {
    if (row.length !== length) throw new RangeError(`rope: position rows differ in length (${row.length} vs ${length})`);
    row.forEach((p, t) => {
      if (!Number.isInteger(p)) throw new RangeError(`rope: positions must be integers, got ${p}`);
      const at = (b * length + t) * hd;
      const pos = f32(p);
      for (let i = 0; i < half; i++) {
        const angle = f32(invFreq[i]! * pos);
        const c = f32(Math.cos(angle));
        const s = f32(Math.sin(angle));
        cos[at + i] = c;
        cos[at + half + i] = c;
        sin[at + i] = s;
        sin[at + half + i] = s;
      }
    });
  });
  const dims = [batch, length, hd];
  return { cos: { dtype: "float32", shape: dims, data: cos }, sin: { dtype: "float32", shape: dims, data: sin } };
}

/** Positions 0…T−1 for every row (what transformers uses when no position_ids are given). */
export function arangePositions(batch: number, length: number): number[][] {
  return Array.from({ length: batch }, () => Array.from({ length }, (_, t) => t));
}

/**
 * Positions of left-padded rows as `generate` makes them: cumsum(attention_mask) − 1, and 1 where the mask is 0
 * (`position_ids.masked_fill_(attention_mask == 0, 1)`); the padding's positions do not matter, they are hidden.
 */
export function positionsFromMask(mask: readonly (readonly number[])[]): number[][] {
  return mask.map((row) => {
    let seen = 0;
    return row.map((m) => {
      if (m === 0) return 1;
      return seen++;
    });
  });
}
