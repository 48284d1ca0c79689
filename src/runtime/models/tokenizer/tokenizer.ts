// alignc's tokenizer: a Hugging Face tokenizer.json run by @huggingface/tokenizers, with alignc's special tokens.
//
//   const tok = Tokenizer.train(worldSentences, { vocabSize: 512 });   // or Tokenizer.load("tokenizer.json")
//   const ids = [tok.bosId, ...tok.encode("is the red cube left of the ball?"), tok.eosId];
//   tok.decode(ids, { skipSpecial: true });   // "is the red cube left of the ball?"
//   tok.save("runs/x/tokenizer.json");
//
// Any tokenizer.json the library reads (BPE, WordPiece, Unigram) works, provided its added_tokens hold the five
// special tokens; see docs/tokenizer.md.
import { readFileSync } from "node:fs";
import { contentHash } from "../../../util/content-hash.ts";
import { writeFileAtomic } from "../../../util/safe-write.ts";
import { SPECIAL_ORDER, SPECIAL_TOKENS } from "./format.ts";
import { HfTokenizer } from "./hf.ts";
import { type TrainBpeOptions, trainBpe } from "./train-bpe.ts";

/** A tokenizer.json that cannot be read or used; the message names the file. */
export class TokenizerError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7008";
  override name = "TokenizerError";
}

export interface DecodeOptions {
  /** Drop special tokens (<pad>, <bos>, <unk>, <image>, ...) from the text (default false). */
  skipSpecial?: boolean;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

export class Tokenizer {
  /** sha256 of the canonical JSON (sorted keys, no whitespace): equal tokenizers hash equal, whatever the file layout. */
  readonly fingerprint: string;
  /** Highest token id + 1: the embedding table's row count. */
  readonly vocabSize: number;
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  /** Placeholder id for image-token positions; the model substitutes image embeddings there. */
  readonly imageId: number;
  private readonly hf: HfTokenizer;
  private readonly json: Json;

  private constructor(json: Json, source: string) {
    const fail: (msg: string) => never = (msg) => {
      throw new TokenizerError(`${source}: ${msg}`);
    };
    const maxId = checkShape(json, fail);
    const special = (name: (typeof SPECIAL_ORDER)[number]): number => {
      const content = SPECIAL_TOKENS[name];
      const t = (json.added_tokens as Json[]).find((a) => a.content === content);
      if (!t) return fail(`missing special token ${JSON.stringify(content)} in added_tokens (alignc needs ${Object.values(SPECIAL_TOKENS).join(", ")})`);
      if (t.special !== true) return fail(`added token ${JSON.stringify(content)} must have "special": true`);
      return t.id as number;
    };
    [this.padId, this.bosId, this.eosId, this.unkId, this.imageId] = SPECIAL_ORDER.map(special) as [number, number, number, number, number];
    try {
      // Missing pipeline keys mean "none" in HF files; the library insists they be present.
      const full = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
      this.hf = new HfTokenizer(full, { clean_up_tokenization_spaces: false });
    } catch (e) {
      fail(`rejected by @huggingface/tokenizers: ${(e as Error).message}`);
    }
    this.json = json;
    this.vocabSize = maxId + 1;
    this.fingerprint = contentHash(json);
  }

  /** Wraps a tokenizer.json object (copied); `source` names it in errors. */
  static fromJSON(obj: unknown, source = "tokenizer.json object"): Tokenizer {
    if (!isObject(obj)) throw new TokenizerError(`${source}: not a tokenizer.json: expected a JSON object`);
    return new Tokenizer(structuredClone(obj), source);
  }

  static load(file: string): Tokenizer {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new TokenizerError(`${file}: cannot read tokenizer: ${(e as Error).message}`);
    }
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new TokenizerError(`${file}: not valid JSON: ${(e as Error).message}`);
    }
    return Tokenizer.fromJSON(obj, file);
  }

  /** Trains a BPE tokenizer on the corpus (see train-bpe.ts). */
  static train(corpus: Iterable<string>, options: TrainBpeOptions): Tokenizer {
    return new Tokenizer(trainBpe(corpus, options) as unknown as Json, "trained tokenizer");
  }

  /** Writes the tokenizer.json atomically (temporary file, then rename), 2-space indented like HF's own files. */
  save(file: string): void {
    writeFileAtomic(file, Buffer.from(`${JSON.stringify(this.json, null, 2)}\n`, "utf8"));
  }

  /** A copy of the tokenizer.json object. */
  toJSON(): Json {
    return structuredClone(this.json);
  }

  /** Token ids of the text; adds no <bos>/<eos>. Special tokens written literally ("<image>") become their ids. */
  encode(text: string): number[] {
    return this.hf.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new TokenizerError(`decode: ids[${i}] = ${id} is not a token id in [0, ${this.vocabSize})`);
    });
    if (ids.length === 0) return ""; // the library rejects an empty list
    return this.hf.decode([...ids], { skip_special_tokens: options.skipSpecial ?? false, clean_up_tokenization_spaces: false });
  }

  /** The tokenizer's normal form of the text: what decode(encode(text)) gives back when every character is known. */
  normalize(text: string): string {
    return this.hf.normalizer ? this.hf.normalizer.normalize(text) : text;
  }

  idOf(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  tokenOf(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }
}

/** Checks what the library would otherwise fail on obscurely; returns the highest token id. */
function checkShape(json: Json, fail: (msg: string) => never): number {
  const model = json.model;
  if (!isObject(model)) return fail('missing the "model" object');
  const type = model.type;
  if (type === "WordLevel") return fail('model type "WordLevel" is not supported by @huggingface/tokenizers; use BPE, WordPiece or Unigram');
  if (type !== "BPE" && type !== "WordPiece" && type !== "Unigram")
    return fail(`unsupported model type ${JSON.stringify(type)}; expected BPE, WordPiece or Unigram`);
  const isId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
  let maxId = -1;
  if (type === "Unigram") {
    if (!Array.isArray(model.vocab)) return fail('Unigram "model.vocab" must be an array of [token, score] pairs');
    maxId = model.vocab.length - 1;
  } else {
    if (!isObject(model.vocab)) return fail(`${type} "model.vocab" must be an object of token -> id`);
    for (const [token, id] of Object.entries(model.vocab)) {
      if (!isId(id)) return fail(`model.vocab[${JSON.stringify(token)}] = ${JSON.stringify(id)} is not a non-negative integer id`);
      maxId = Math.max(maxId, id);
    }
  }
  if (type === "BPE") {
    if (!Array.isArray(model.merges)) return fail('BPE "model.merges" must be an array');
    const vocab = model.vocab as Json;
    model.merges.forEach((m: unknown, i: number) => {
      const pair = typeof m === "string" ? m.split(" ") : m;
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
        fail(`model.merges[${i}] must be "a b" or ["a", "b"], got ${JSON.stringify(m)}`);
      }
      const [a, b] = pair as [string, string];
      for (const t of [a, b, a + b]) if (!Object.hasOwn(vocab, t)) fail(`model.merges[${i}] ${JSON.stringify(pair)}: ${JSON.stringify(t)} is not in the vocab`);
    });
  }
  if (!Array.isArray(json.added_tokens)) return fail('missing the "added_tokens" array');
  json.added_tokens.forEach((t: unknown, i: number) => {
    if (!isObject(t) || !isId(t.id) || typeof t.content !== "string" || t.content === "") {
      fail(`added_tokens[${i}] must be {"id": non-negative integer, "content": non-empty string, ...}`);
    }
    maxId = Math.max(maxId, (t as Json).id as number);
  });
  if (maxId < 0) return fail("the vocabulary is empty");
  return maxId;
}
