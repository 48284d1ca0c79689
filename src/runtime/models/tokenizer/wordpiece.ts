// A BERT-family tokenizer.json (a sentence encoder's: BERT, MPNet) run by alignc itself, bit for bit as Hugging Face's
// Rust `tokenizers` runs it: added tokens split out, BertNormalizer (clean text, CJK spacing, accents stripped before
// lowercasing), BertPreTokenizer (whitespace, then every punctuation mark on its own), WordPiece with its `##`
// continuation and [UNK], truncation to a maximum length, then the post-processor's [CLS]/[SEP] or <s>/</s>.
// @huggingface/tokenizers has these pieces but not as Rust runs them (it lowercases before stripping accents,
// misses CJK outside the BMP and applies JavaScript's final-sigma rule), and it does not truncate.
import path from "node:path";
import { contentHash } from "../../../util/content-hash.ts";
import { readCheckpointJson } from "./checkpoint-json.ts";
import { TokenizerError } from "./tokenizer.ts";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

interface AddedToken {
  id: number;
  content: string;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
}

interface BertNormalizerSpec {
  cleanText: boolean;
  chineseChars: boolean;
  stripAccents: boolean;
  lowercase: boolean;
}

/** What the post-processor puts around one sequence. */
interface Wrap {
  before: number[];
  after: number[];
}

// Rust's char::is_whitespace (the White_Space property); \t \n \r count as whitespace before the control check.
const WHITESPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;
// unicode_categories' is_other: Cc, Cf, Cn, Co, Cs.
const OTHER = /^[\p{Cc}\p{Cf}\p{Cn}\p{Co}\p{Cs}]$/u;
const PUNCT = /^[\p{P}!-/:-@[-`{-~]$/u;
const NONSPACING_MARK = /\p{Mn}/gu;

/** The CJK Unified Ideographs blocks BERT spaces out (tokenizers' is_chinese_char). */
function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

export class WordPieceTokenizer {
  /** sha256 of tokenizer.json's canonical JSON. */
  readonly fingerprint: string;
  readonly vocabSize: number;
  /** The id the post-processor's padding uses: the [PAD] / <pad> token. */
  readonly padId: number;
  private readonly vocab: Map<string, number>;
  private readonly unkId: number;
  private readonly prefix: string;
  private readonly maxChars: number;
  private readonly normalizer: BertNormalizerSpec | null;
  private readonly added: AddedToken[];
  private readonly wrap: Wrap;

  private constructor(
    readonly source: string,
    json: Json,
  ) {
    const fail = (m: string): never => {
      throw new TokenizerError(`${source}: ${m}`);
    };
    const model = json.model;
    if (!isObject(model) || model.type !== "WordPiece")
      fail(`model.type is ${JSON.stringify(isObject(model) ? model.type : model)}; a sentence encoder's tokenizer is WordPiece`);
    const m = model as Json;
    if (!isObject(m.vocab)) fail("model.vocab must be an object of token → id");
    this.vocab = new Map();
    for (const [token, id] of Object.entries(m.vocab as Json)) {
      if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) fail(`model.vocab[${JSON.stringify(token)}] is not a token id`);
      this.vocab.set(token, id as number);
    }
    this.prefix = typeof m.continuing_subword_prefix === "string" ? m.continuing_subword_prefix : "##";
    this.maxChars = typeof m.max_input_chars_per_word === "number" ? m.max_input_chars_per_word : 100;
    const unk = typeof m.unk_token === "string" ? m.unk_token : "[UNK]";
    this.unkId = this.vocab.get(unk) ?? fail(`the unknown token ${JSON.stringify(unk)} is not in model.vocab`);
    this.added = readAdded(json.added_tokens, fail);
    for (const a of this.added) this.vocab.set(a.content, a.id);
    this.normalizer = readNormalizer(json.normalizer, fail);
    const pre = json.pre_tokenizer;
    if (!isObject(pre) || pre.type !== "BertPreTokenizer")
      fail(`pre_tokenizer is ${JSON.stringify(isObject(pre) ? pre.type : pre)}; alignc runs BertPreTokenizer for WordPiece tokenizers`);
    this.wrap = readPostProcessor(json.post_processor, this.vocab, fail);
    this.vocabSize = Math.max(...this.vocab.values()) + 1;
    this.padId = this.vocab.get("[PAD]") ?? this.vocab.get("<pad>") ?? 0;
    this.fingerprint = contentHash(json);
  }

  /** `dir`/tokenizer.json. */
  static load(dir: string): WordPieceTokenizer {
    const file = path.join(dir, "tokenizer.json");
    return new WordPieceTokenizer(file, readCheckpointJson(file, "tokenizer file", (m) => new TokenizerError(m), true) as Json);
  }

  static fromJSON(json: Json, source = "tokenizer.json"): WordPieceTokenizer {
    return new WordPieceTokenizer(source, json);
  }

  /** Tokens the post-processor adds around one sequence. */
  get specialCount(): number {
    return this.wrap.before.length + this.wrap.after.length;
  }

  /**
   * The ids of `text` with the post-processor's special tokens, the text's own ids cut to `maxLength` minus those
   * (`tokenizer(text, truncation=True, max_length=maxLength)`).
   */
  encode(text: string, maxLength = Number.POSITIVE_INFINITY): number[] {
    const body = this.encodeBody(text);
    const keep = Math.max(0, maxLength - this.specialCount);
    return [...this.wrap.before, ...(body.length > keep ? body.slice(0, keep) : body), ...this.wrap.after];
  }

  /** The text's ids without special tokens around them. */
  encodeBody(text: string): number[] {
    const ids: number[] = [];
    const raw = this.added.filter((a) => !a.normalized);
    const normalized = this.added.filter((a) => a.normalized);
    for (const seg of splitAdded(text, raw)) {
      if (seg.id !== undefined) {
        ids.push(seg.id);
        continue;
      }
      for (const inner of splitAdded(this.normalize(seg.text), normalized)) {
        if (inner.id !== undefined) ids.push(inner.id);
        else for (const word of preTokenize(inner.text)) ids.push(...this.wordPiece(word));
      }
    }
    return ids;
  }

  normalize(text: string): string {
    const n = this.normalizer;
    if (!n) return text;
    let out = "";
    for (const c of text) {
      const cp = c.codePointAt(0) as number;
      if (n.cleanText) {
        if (cp === 0 || cp === 0xfffd || (c !== "\t" && c !== "\n" && c !== "\r" && OTHER.test(c))) continue;
        if (WHITESPACE.test(c)) {
          out += " ";
          continue;
        }
      }
      out += n.chineseChars && isChineseChar(cp) ? ` ${c} ` : c;
    }
    if (n.stripAccents) out = out.normalize("NFD").replace(NONSPACING_MARK, "");
    // Character by character, as Rust's char::to_lowercase: no final-sigma rule.
    if (n.lowercase) out = Array.from(out, (c) => c.toLowerCase()).join("");
    return out;
  }

  private wordPiece(word: string): number[] {
    const chars = Array.from(word);
    if (chars.length > this.maxChars) return [this.unkId];
    const out: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      while (start < end) {
        const piece = chars.slice(start, end).join("");
        found = this.vocab.get(start > 0 ? this.prefix + piece : piece);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) return [this.unkId];
      out.push(found);
      start = end;
    }
    return out;
  }
}

/** BertPreTokenizer: split on whitespace (dropped), then every punctuation character is a word of its own. */
export function preTokenize(text: string): string[] {
  const words: string[] = [];
  let cur = "";
  for (const c of text) {
    if (WHITESPACE.test(c)) {
      if (cur) words.push(cur);
      cur = "";
    } else if (PUNCT.test(c)) {
      if (cur) words.push(cur);
      words.push(c);
      cur = "";
    } else cur += c;
  }
  if (cur) words.push(cur);
  return words;
}

/** Splits out the added tokens (leftmost, longest first), lstrip/rstrip taking the whitespace beside them. */
function splitAdded(text: string, added: readonly AddedToken[]): { text: string; id?: number }[] {
  if (added.length === 0 || text === "") return [{ text }];
  const out: { text: string; id?: number }[] = [];
  let from = 0;
  let pending = 0;
  while (from < text.length) {
    let best: { at: number; token: AddedToken } | undefined;
    for (const a of added) {
      const at = text.indexOf(a.content, from);
      if (at < 0 || a.content === "") continue;
      if (!best || at < best.at || (at === best.at && a.content.length > best.token.content.length)) best = { at, token: a };
    }
    if (!best) break;
    let left = best.at;
    let right = best.at + best.token.content.length;
    if (best.token.lstrip) while (left > pending && /\s/u.test(text[left - 1] as string)) left--;
    if (best.token.rstrip) while (right < text.length && /\s/u.test(text[right] as string)) right++;
    if (left > pending) out.push({ text: text.slice(pending, left) });
    out.push({ text: best.token.content, id: best.token.id });
    pending = right;
    from = right;
  }
  if (pending < text.length) out.push({ text: text.slice(pending) });
  return out;
}

function readAdded(v: unknown, fail: (m: string) => never): AddedToken[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return fail("added_tokens must be a list");
  return v.map((t, i) => {
    if (!isObject(t) || typeof t.content !== "string" || typeof t.id !== "number") return fail(`added_tokens[${i}] needs a content and an id`);
    return { id: t.id, content: t.content, lstrip: t.lstrip === true, rstrip: t.rstrip === true, normalized: t.normalized === true };
  });
}

function readNormalizer(v: unknown, fail: (m: string) => never): BertNormalizerSpec | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v) || v.type !== "BertNormalizer")
    return fail(`normalizer is ${JSON.stringify(isObject(v) ? v.type : v)}; alignc runs BertNormalizer (or none) for WordPiece tokenizers`);
  const lowercase = v.lowercase !== false;
  return {
    cleanText: v.clean_text !== false,
    chineseChars: v.handle_chinese_chars !== false,
    // null: follow lowercase, as BERT's uncased models do.
    stripAccents: typeof v.strip_accents === "boolean" ? v.strip_accents : lowercase,
    lowercase,
  };
}

function readPostProcessor(v: unknown, vocab: ReadonlyMap<string, number>, fail: (m: string) => never): Wrap {
  if (v === null || v === undefined) return { before: [], after: [] };
  if (!isObject(v)) return fail("post_processor must be an object");
  const idOf = (pair: unknown, key: string): number => {
    if (!Array.isArray(pair) || typeof pair[1] !== "number") return fail(`post_processor.${key} must be [token, id]`);
    return pair[1] as number;
  };
  if (v.type === "BertProcessing" || v.type === "RobertaProcessing") return { before: [idOf(v.cls, "cls")], after: [idOf(v.sep, "sep")] };
  if (v.type === "TemplateProcessing") {
    if (!Array.isArray(v.single)) return fail("post_processor.single must be a list");
    const specials = isObject(v.special_tokens) ? v.special_tokens : {};
    const wrap: Wrap = { before: [], after: [] };
    let seenA = false;
    for (const item of v.single) {
      if (isObject(item) && isObject(item.Sequence)) {
        seenA = true;
        continue;
      }
      const name = isObject(item) && isObject(item.SpecialToken) ? item.SpecialToken.id : undefined;
      const spec = typeof name === "string" ? specials[name] : undefined;
      const ids =
        isObject(spec) && Array.isArray(spec.ids)
          ? (spec.ids as number[])
          : typeof name === "string" && vocab.has(name)
            ? [vocab.get(name) as number]
            : undefined;
      if (!ids) return fail(`post_processor.single names ${JSON.stringify(name)}, which is not among its special_tokens`);
      (seenA ? wrap.after : wrap.before).push(...ids);
    }
    return wrap;
  }
  return fail(`post_processor is ${JSON.stringify(v.type)}; alignc runs TemplateProcessing, BertProcessing and RobertaProcessing for WordPiece tokenizers`);
}
