// A deterministic byte-pair-encoding trainer that writes a Hugging Face tokenizer.json.
//
// The classic algorithm, as HF's BpeTrainer runs it: split the normalised corpus into words, start from the
// characters, and repeatedly merge the most frequent adjacent pair. Ties go to the pair of lowest (left id, right id),
// with ids assigned specials first, then characters by code point, then merges in order: the result depends only
// on the multiset of words, not on corpus order, hash order or the platform.
import { addedToken, DECODER, NORMALIZER, PRE_TOKENIZER, SPECIAL_ORDER, SPECIAL_TOKENS, type TokenizerJson, WORD_MARK, WORD_PATTERN } from "./format.ts";
import { SequenceNormalizer } from "./hf.ts";

export interface TrainBpeOptions {
  /** Total vocabulary size, specials and alphabet included. Training stops sooner when no pair reaches minFrequency. */
  vocabSize: number;
  /** Further special tokens, given ids 5, 6, ... after the five built-in ones. */
  extraSpecialTokens?: readonly string[];
  /** A pair must occur at least this often to be merged (default 2: a pair seen once does not generalise). */
  minFrequency?: number;
  /** Characters to put in the base alphabet even if the corpus lacks them (normalised first), e.g. all digits. */
  initialAlphabet?: string;
}

/** Pair key: left * PAIR + right, so numeric order on keys is (left id, right id) order. */
const PAIR = 2 ** 24;

export function trainBpe(corpus: Iterable<string>, options: TrainBpeOptions): TokenizerJson {
  const { vocabSize, minFrequency = 2 } = options;
  const specials = [...SPECIAL_ORDER.map((n) => SPECIAL_TOKENS[n]), ...(options.extraSpecialTokens ?? [])];
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > PAIR) throw new RangeError(`vocabSize must be an integer in [1, ${PAIR}], got ${vocabSize}`);
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new RangeError(`minFrequency must be a positive integer, got ${minFrequency}`);
  for (const [i, s] of specials.entries()) {
    if (typeof s !== "string" || s === "") throw new TypeError(`special token ${i} must be a non-empty string`);
    if (specials.indexOf(s) !== i) throw new TypeError(`special token ${JSON.stringify(s)} is listed twice`);
  }

  // Normalise with the library's own implementation of the JSON normaliser, so training sees what encoding sees.
  const normalizer = new SequenceNormalizer(structuredClone(NORMALIZER));
  const splitSpecials = specialSplitter(specials);
  const wordCounts = new Map<string, number>();
  for (const text of corpus) {
    for (const piece of splitSpecials(text)) {
      for (const w of preTokenize(normalizer.normalize(piece))) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
    }
  }

  const tokens: string[] = [];
  const ids = new Map<string, number>();
  const intern = (t: string): number => {
    let id = ids.get(t);
    if (id === undefined) {
      id = tokens.length;
      ids.set(t, id);
      tokens.push(t);
    }
    return id;
  };
  specials.forEach(intern);
  const chars = new Set<string>([WORD_MARK]);
  for (const w of wordCounts.keys()) for (const ch of w) chars.add(ch);
  for (const ch of normalizer.normalize(options.initialAlphabet ?? "")) if (ch !== " ") chars.add(ch);
  [...chars].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!).forEach(intern);
  if (tokens.length > vocabSize) {
    throw new RangeError(`vocabSize ${vocabSize} is below the ${specials.length} special tokens plus the ${chars.size}-character alphabet`);
  }

  const words = [...wordCounts].map(([w, count]) => ({ syms: Array.from(w, (ch) => ids.get(ch)!), count }));
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  // Adds (sign 1) or removes (sign -1) one word's pairs; word sets may go stale, which only costs a no-op revisit.
  const countPairs = (wi: number, sign: 1 | -1): void => {
    const { syms, count } = words[wi]!;
    for (let i = 0; i + 1 < syms.length; i++) {
      const key = syms[i]! * PAIR + syms[i + 1]!;
      const c = (pairCount.get(key) ?? 0) + sign * count;
      if (c === 0) pairCount.delete(key);
      else pairCount.set(key, c);
      if (sign === 1) {
        const set = pairWords.get(key);
        if (set) set.add(wi);
        else pairWords.set(key, new Set([wi]));
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) countPairs(wi, 1);

  const merges: [string, string][] = [];
  while (tokens.length < vocabSize) {
    let best = -1;
    let bestCount = 0;
    for (const [key, c] of pairCount) if (c > bestCount || (c === bestCount && key < best)) [best, bestCount] = [key, c];
    if (best < 0 || bestCount < minFrequency) break;
    const left = Math.floor(best / PAIR);
    const right = best % PAIR;
    merges.push([tokens[left]!, tokens[right]!]);
    // Two merge paths can spell the same string ("a"+"bc", "ab"+"c"): the token is reused, the merge still recorded.
    const merged = intern(tokens[left]! + tokens[right]!);
    for (const wi of [...(pairWords.get(best) ?? [])]) {
      countPairs(wi, -1);
      const word = words[wi]!;
      const out: number[] = [];
      for (let i = 0; i < word.syms.length; i++) {
        if (word.syms[i] === left && word.syms[i + 1] === right) {
          out.push(merged);
          i++;
        } else out.push(word.syms[i]!);
      }
      word.syms = out;
      countPairs(wi, 1);
    }
    pairWords.delete(best);
  }

  const vocab: Record<string, number> = Object.create(null);
  tokens.forEach((t, i) => {
    vocab[t] = i;
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((s, i) => addedToken(i, s)),
    normalizer: structuredClone(NORMALIZER),
    pre_tokenizer: structuredClone(PRE_TOKENIZER),
    post_processor: null, // the caller adds <bos>/<eos> itself
    decoder: structuredClone(DECODER),
    model: {
      type: "BPE",
      dropout: null,
      unk_token: SPECIAL_TOKENS.unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

const WORD_RE = new RegExp(WORD_PATTERN, "gu");

/** The words the JSON's pre-tokenizer makes of normalised text: "is it red?" -> "▁is", "▁it", "▁red", "?". */
export function preTokenize(normalized: string): string[] {
  if (normalized === "") return [];
  return (WORD_MARK + normalized.replaceAll(" ", WORD_MARK)).match(WORD_RE) ?? [];
}

/** Cuts literal special tokens out of training text, as encoding does (longest match first). */
function specialSplitter(specials: readonly string[]): (text: string) => string[] {
  const alternatives = [...specials].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(alternatives.join("|"), "u");
  return (text) => text.split(re);
}
