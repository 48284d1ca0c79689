// The tokenizer of a Hugging Face checkpoint: its tokenizer.json run by @huggingface/tokenizers with the checkpoint's
// tokenizer_config.json, as transformers' fast tokenizers run them. Unlike alignc's own Tokenizer (tokenizer.ts) it
// needs no particular special tokens: bos, eos and pad are whatever tokenizer_config.json names, and `encode` adds
// what the file's post-processor adds (Llama 3's <|begin_of_text|>, nothing for Qwen2) only when asked to.
import path from "node:path";
import { contentHash } from "../../../util/content-hash.ts";
import { readCheckpointJson } from "./checkpoint-json.ts";
import { HfTokenizer } from "./hf.ts";
import { TokenizerError } from "./tokenizer.ts";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

export interface EncodeOptions {
  /** Add the special tokens the tokenizer's post-processor adds (transformers' `add_special_tokens`, default false). */
  addSpecialTokens?: boolean;
}

export interface TextDecodeOptions {
  skipSpecial?: boolean;
}

export class HfTextTokenizer {
  /** sha256 of tokenizer.json and tokenizer_config.json's canonical JSON: the tokenizer's identity in store keys. */
  readonly fingerprint: string;
  /** Highest token id + 1 (added tokens included). */
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly padId: number | undefined;
  private readonly hf: HfTokenizer;

  private constructor(
    readonly source: string,
    json: Json,
    config: Json,
  ) {
    try {
      const full = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
      this.hf = new HfTokenizer(full, { clean_up_tokenization_spaces: false, ...config });
    } catch (e) {
      throw new TokenizerError(`${source}: rejected by @huggingface/tokenizers: ${(e as Error).message}`);
    }
    this.vocabSize = highestId(json) + 1;
    const idOf = (name: string): number | undefined => {
      const token = tokenText(config[name]);
      if (token === undefined) return undefined;
      const id = this.hf.token_to_id(token);
      if (id === undefined) throw new TokenizerError(`${source}: tokenizer_config.json's ${name} ${JSON.stringify(token)} is not a token of tokenizer.json`);
      return id;
    };
    this.bosId = idOf("bos_token");
    this.eosId = idOf("eos_token");
    this.padId = idOf("pad_token");
    this.fingerprint = contentHash({ tokenizer: json, config });
  }

  /** The tokenizer of a checkpoint directory: tokenizer.json, and tokenizer_config.json when present. */
  static load(dir: string): HfTextTokenizer {
    const file = path.join(dir, "tokenizer.json");
    const fail = (message: string) => new TokenizerError(message);
    const json = readCheckpointJson(file, "tokenizer file", fail, true) as Json;
    const config = readCheckpointJson(path.join(dir, "tokenizer_config.json"), "tokenizer file", fail) ?? {};
    return new HfTextTokenizer(file, json, config);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: options.addSpecialTokens === true }).ids;
  }

  /**
   * The text of `ids`. Ids past the tokenizer's vocabulary decode to nothing, as Hugging Face's tokenizers do: a model's
   * embedding table is often padded beyond its tokens (Qwen2.5: 151,936 rows for 151,665 tokens) and may sample those.
   */
  decode(ids: readonly number[], options: TextDecodeOptions = {}): string {
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`decode: ids[${i}] = ${id} is not a token id (a non-negative integer)`);
    });
    const known = ids.filter((id) => id < this.vocabSize);
    if (known.length === 0) return "";
    return this.hf.decode(known, { skip_special_tokens: options.skipSpecial ?? false, clean_up_tokenization_spaces: false });
  }

  idOf(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** The token text of `id`, or undefined when the tokenizer has no such id. */
  tokenOf(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }
}

/** A special token as tokenizer_config.json writes it: a string, or an added-token object `{ content }`. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return undefined;
}

/** The highest id of the model's vocabulary and the added tokens. */
function highestId(json: Json): number {
  let max = -1;
  const model = json.model;
  if (isObject(model)) {
    if (Array.isArray(model.vocab)) max = model.vocab.length - 1;
    else if (isObject(model.vocab)) for (const id of Object.values(model.vocab)) if (typeof id === "number" && id > max) max = id;
  }
  if (Array.isArray(json.added_tokens)) for (const t of json.added_tokens) if (isObject(t) && typeof t.id === "number" && t.id > max) max = t.id;
  return max;
}
