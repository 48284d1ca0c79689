// TinyVLM's architecture: a patch-embedding vision encoder (bidirectional transformer), a linear projector, and a
// decoder-only language model that reads the projected image tokens first, then the text. Named sizes are fixed
// here; the vocabulary size comes from the tokenizer.
import type { DType } from "../../tensor/ir/dtype.ts";
import type { StackConfig } from "../layers/stack.ts";

export interface TinyVlmConfig {
  size: string;
  vocab: number;
  /** Square RGB images of imageSize × imageSize pixels, cut into patch × patch tiles (one image token each). */
  imageSize: number;
  patch: number;
  vision: StackConfig;
  text: StackConfig;
  /** Most text tokens per sequence (prompt + answer). */
  textContext: number;
  dtype: DType;
}

type SizeSpec = Omit<TinyVlmConfig, "size" | "vocab" | "dtype">;

const stackOf = (width: number, layers: number, heads: number): StackConfig => ({ width, layers, heads, hidden: 4 * width });

export const SIZES: Readonly<Record<"nano" | "small" | "base", SizeSpec>> = {
  // < 1M parameters: CPU tests and the quickstart.
  nano: { imageSize: 48, patch: 8, vision: stackOf(64, 2, 2), text: stackOf(96, 3, 6), textContext: 64 },
  // ~15M: GPU experiments.
  small: { imageSize: 64, patch: 8, vision: stackOf(256, 4, 4), text: stackOf(384, 6, 6), textContext: 128 },
  // ~100M+: GPU.
  base: { imageSize: 64, patch: 8, vision: stackOf(512, 6, 8), text: stackOf(768, 12, 12), textContext: 256 },
};

export type SizeName = keyof typeof SIZES;

export function tinyVlmConfig(size: SizeName, vocab: number, dtype: DType = "float32"): TinyVlmConfig {
  return { size, vocab, dtype, ...SIZES[size] };
}

export function imageTokens(c: TinyVlmConfig): number {
  if (c.imageSize % c.patch !== 0) throw new Error(`tinyvlm: image size ${c.imageSize} is not a multiple of the patch size ${c.patch}`);
  return (c.imageSize / c.patch) ** 2;
}

/** Parameter count without allocating anything (for size tables and checks). */
export function parameterCount(c: TinyVlmConfig): number {
  const stack = (s: StackConfig) => s.layers * (4 * s.width * s.width + 2 * s.width * s.hidden + s.hidden + 5 * s.width);
  const p = imageTokens(c);
  const patchIn = c.patch * c.patch * 3;
  const vision = patchIn * c.vision.width + c.vision.width + p * c.vision.width + stack(c.vision) + 2 * c.vision.width;
  const projector = c.vision.width * c.text.width + c.text.width;
  const text = 2 * c.vocab * c.text.width + (p + c.textContext) * c.text.width + stack(c.text) + 2 * c.text.width;
  return vision + projector + text;
}
