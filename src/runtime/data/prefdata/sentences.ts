// Sentence-level text operations of BDHS (docs/bdhs.md), pure and seeded: splitting an answer into sentences,
// detecting and flipping a leading yes/no, and cutting a sentence at a random position in tokens, words or
// characters. Randomness comes from the caller's uniform source, one draw per decision, so a seeded stream gives
// the same flips and cuts on every platform.

/** A source of uniform numbers in [0, 1): an Rng from src/util/random.ts, or a wrapped mulberry32. */
export interface Uniform {
  uniform(): number;
}

/** What a token cut needs from a tokenizer (src/runtime/models/tokenizer/tokenizer.ts's Tokenizer has it). */
export interface CutTokenizer {
  encode(text: string): number[];
  decode(ids: readonly number[], options?: { skipSpecial?: boolean }): string;
  normalize(text: string): string;
}

export type CutUnit = "tokens" | "words" | "characters";

/** A sentence ends at ".", "!" or "?" (repeated, optionally followed by closing quotes or brackets) before whitespace or the end. */
const SENTENCE_END = /[.!?]+["'\u201d\u2019)\]]*(?=\s|$)/gu;

/**
 * The sentences of `text`, each trimmed and keeping its final punctuation. Text after the last full stop is a
 * sentence of its own ("Yes. a red cube" → ["Yes.", "a red cube"]); a dot inside a word or number ("2.5") does not
 * end a sentence. Blank text has no sentences.
 */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (const m of text.matchAll(SENTENCE_END)) {
    const end = (m.index as number) + m[0].length;
    const s = text.slice(start, end).trim();
    if (s !== "") out.push(s);
    start = end;
  }
  const rest = text.slice(start).trim();
  if (rest !== "") out.push(rest);
  return out;
}

/** Sentences joined back into one answer, one space apart (blank parts dropped). */
export function joinSentences(parts: readonly string[]): string {
  return parts
    .map((p) => p.trim())
    .filter((p) => p !== "")
    .join(" ");
}

const LEADING_YES_NO = /^(\s*)(yes|no)(?![\p{L}\p{N}\p{M}_])/iu;

/** The leading "yes" or "no" of a sentence (any case, as a whole word): its text and where it ends; null if none. */
export function leadingYesNo(sentence: string): { word: string; start: number; end: number } | null {
  const m = LEADING_YES_NO.exec(sentence);
  if (!m) return null;
  const start = (m[1] as string).length;
  return { word: m[2] as string, start, end: start + (m[2] as string).length };
}

/** yes ↔ no in the case pattern of `word`: "Yes" → "No", "NO" → "YES", "yes" → "no". */
function swapWord(word: string): string {
  const to = word.toLowerCase() === "yes" ? "no" : "yes";
  if (word === word.toUpperCase() && word.length > 1) return to.toUpperCase();
  if (word[0] === word[0]?.toUpperCase()) return `${to[0]?.toUpperCase()}${to.slice(1)}`;
  return to;
}

/** The sentence with its leading yes/no swapped (case and the rest of the sentence kept); unchanged without one. */
export function flipYesNo(sentence: string): string {
  const hit = leadingYesNo(sentence);
  if (!hit) return sentence;
  return `${sentence.slice(0, hit.start)}${swapWord(hit.word)}${sentence.slice(hit.end)}`;
}

export interface MaybeFlipped {
  text: string;
  flipped: boolean;
  /** Where the (possibly swapped) yes/no word ends in `text`; 0 when the sentence has none. */
  wordEnd: number;
}

/**
 * With probability `p`, swaps a leading yes/no. Always draws exactly one uniform (even without a yes/no), so the
 * stream stays aligned whatever the text: flipped iff the sentence has a leading yes/no and u < p (p = 0 never
 * flips, p = 1 always does).
 */
export function maybeFlipYesNo(sentence: string, p: number, rng: Uniform): MaybeFlipped {
  const u = rng.uniform();
  const hit = leadingYesNo(sentence);
  if (!hit) return { text: sentence, flipped: false, wordEnd: 0 };
  if (!(u < p)) return { text: sentence, flipped: false, wordEnd: hit.end };
  const text = flipYesNo(sentence);
  return { text, flipped: true, wordEnd: hit.start + swapWord(hit.word).length };
}

/** A word: letters, digits and marks, with inner apostrophes or hyphens ("isn't", "left-hand"); any other non-space character is a unit of its own. */
const WORD_UNIT = /[\p{L}\p{N}\p{M}_]+(?:['\u2019-][\p{L}\p{N}\p{M}_]+)*|[^\s\p{L}\p{N}\p{M}_]/gu;

/**
 * Where each unit of `sentence` ends (character offsets, increasing). Characters are code points; words are runs
 * of letters and digits, each punctuation mark a unit of its own ("No." is "No" + "."); tokens are the model
 * tokenizer's tokens of the sentence, mapped back to the original text (a token boundary that does not map onto
 * the original — an unknown character — is not a cut point).
 */
export function unitEnds(sentence: string, unit: CutUnit, tokenizer?: CutTokenizer): number[] {
  if (unit === "characters") {
    const ends: number[] = [];
    let at = 0;
    for (const ch of sentence) {
      at += ch.length;
      ends.push(at);
    }
    return ends;
  }
  if (unit === "words") return [...sentence.matchAll(WORD_UNIT)].map((m) => (m.index as number) + m[0].length);
  if (!tokenizer) throw new Error("cut: cutting in tokens needs the model's tokenizer");
  return tokenEnds(sentence, tokenizer);
}

/** Token boundaries as offsets into the original text: the shortest original prefix whose normal form is the decoded tokens. */
function tokenEnds(sentence: string, tok: CutTokenizer): number[] {
  const ids = tok.encode(sentence);
  const ends: number[] = [];
  let e = 0;
  for (let k = 1; k <= ids.length; k++) {
    const target = tok.decode(ids.slice(0, k), { skipSpecial: true });
    for (let at = Math.max(e, 1); at <= sentence.length; at++) {
      const normal = tok.normalize(sentence.slice(0, at));
      if (normal === target) {
        e = at;
        ends.push(at);
        break;
      }
      if (normal.length > target.length + 1) break; // only grows from here
    }
  }
  if (ends.at(-1) !== sentence.length) ends.push(sentence.length);
  return ends;
}

export interface Cut {
  /** The kept prefix: sentence.slice(0, at), strictly shorter than the sentence. */
  prefix: string;
  /** Character offset of the cut. */
  at: number;
  /** Units kept and units in the sentence. */
  kept: number;
  units: number;
}

/**
 * Cuts `sentence` at a random unit boundary and keeps the prefix, which is always strictly shorter than the
 * sentence: "cut s at a random position; keep the prefix". The cut points are the start (0, the empty prefix) and
 * the end of every unit before the last, never right after a space (a prefix does not end in whitespace, which the
 * tokenizer would drop anyway); the prefix keeps k units, k uniform in [0, n − 1] for a sentence of n units. The
 * empty prefix is allowed so that one-word answers ("Large.") can change at all: with k ≥ 1 their guided
 * completion could only repeat the ground truth. `keepAtLeast` (characters) raises the lower bound to the first
 * cut point at or after it — used to keep a flipped yes/no inside the prefix — unless no cut point before the end
 * reaches it (then the longest prefix is taken). Draws exactly one uniform.
 */
export function cutSentence(sentence: string, unit: CutUnit, rng: Uniform, options: { keepAtLeast?: number; tokenizer?: CutTokenizer } = {}): Cut {
  const u = rng.uniform();
  const all = unitEnds(sentence, unit, options.tokenizer);
  // Cut points: 0, then unit ends strictly inside the sentence, increasing and distinct.
  const points: number[] = [0];
  for (const e of all) if (e > 0 && e < sentence.length && e !== points.at(-1) && !/\s/u.test(sentence[e - 1] as string)) points.push(e);
  const units = points.length - 1 + (sentence.length > 0 ? 1 : 0);
  let lo = 0;
  const keep = options.keepAtLeast ?? 0;
  if (keep > 0) {
    const first = points.findIndex((p) => p >= keep);
    lo = first < 0 ? points.length - 1 : first;
  }
  const i = lo + Math.min(points.length - 1 - lo, Math.floor(u * (points.length - lo)));
  const at = points[i] as number;
  return { prefix: sentence.slice(0, at), at, kept: i, units };
}
