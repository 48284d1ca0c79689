// The Hugging Face tokenizer.json shape alignc writes, and the text pipeline its trained tokenizers use.
//
// The pipeline is spelled as HF components so that any HF loader (@huggingface/tokenizers here, the Rust/Python
// `tokenizers` library elsewhere) runs it identically; the trainer pre-tokenizes with the same rules.

/** The special tokens every alignc tokenizer carries. Trained tokenizers give them ids 0..4 in this order. */
export const SPECIAL_TOKENS = { pad: "<pad>", bos: "<bos>", eos: "<eos>", unk: "<unk>", image: "<image>" } as const;
export type SpecialName = keyof typeof SPECIAL_TOKENS;
export const SPECIAL_ORDER: readonly SpecialName[] = ["pad", "bos", "eos", "unk", "image"];

/** Metaspace's word-boundary marker (U+2581): "red cube" pre-tokenizes to "▁red", "▁cube". */
export const WORD_MARK = "\u2581";

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface BpeModelJson {
  type: "BPE";
  dropout: null;
  unk_token: string;
  continuing_subword_prefix: null;
  end_of_word_suffix: null;
  fuse_unk: boolean;
  byte_fallback: boolean;
  ignore_merges: boolean;
  vocab: Record<string, number>;
  merges: [string, string][];
}

/** A tokenizer.json as written by HF `tokenizers` (version "1.0"); components are kept as plain JSON. */
export interface TokenizerJson {
  version: "1.0";
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: BpeModelJson;
}

/**
 * NFKC (fold compatibility forms: full-width letters, ligatures), lowercase (the world's words carry no case),
 * turn any literal "▁" into a space (so it cannot be mistaken for a word boundary), collapse whitespace runs to
 * one space, strip the ends. decode(encode(s)) returns exactly this normal form of s.
 */
export const NORMALIZER = {
  type: "Sequence",
  normalizers: [
    { type: "NFKC" },
    { type: "Lowercase" },
    { type: "Replace", pattern: { String: WORD_MARK }, content: " " },
    { type: "Replace", pattern: { Regex: "\\s+" }, content: " " },
    { type: "Strip", strip_left: true, strip_right: true },
  ],
};

/** Punctuation as HF defines it (Rust `is_ascii_punctuation || is_punctuation`), as a class body. */
const PUNCT = "\\p{P}\\x21-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7E";

/**
 * A pre-token: one punctuation character, or "▁" and the non-punctuation run after it, or such a run alone (after
 * punctuation inside a word: "x.y"). Valid in Oniguruma (HF's Rust/Python) and in JS with the "u" flag.
 */
export const WORD_PATTERN = `[${PUNCT}]|${WORD_MARK}[^${WORD_MARK}${PUNCT}]*|[^${WORD_MARK}${PUNCT}]+`;

/**
 * Spaces become "▁" and every word starts with one (Metaspace, prepend "always"); then WORD_PATTERN cuts words and
 * isolates each punctuation character, so "red?" and "red" share the token "▁red" and "?" never merges with a
 * letter. The Split step also gives tokenizers.js, whose Metaspace does not split, the same pieces as Rust's.
 */
export const PRE_TOKENIZER = {
  type: "Sequence",
  pretokenizers: [
    { type: "Metaspace", replacement: WORD_MARK, prepend_scheme: "always", split: true },
    { type: "Split", pattern: { Regex: WORD_PATTERN }, behavior: "Isolated", invert: false },
  ],
};

/** Turns "▁" back into spaces and drops the one the pre-tokenizer prepended. */
export const DECODER = { type: "Metaspace", replacement: WORD_MARK, prepend_scheme: "always", split: true };

export function addedToken(id: number, content: string): AddedTokenJson {
  // normalized: false — matched in the raw text before lowercasing, so "<image>" in a prompt is the image slot.
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}
