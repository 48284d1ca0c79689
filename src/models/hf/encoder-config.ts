// A sentence encoder's checkpoint (BERT or MPNet, as transformers saves it or as sentence-transformers lays it out),
// normalised: config.json's sizes with transformers' defaults, and — when the directory is a sentence-transformers
// one — modules.json, the pooling module's config.json (mean pooling is the one alignc computes) and
// sentence_bert_config.json's max_seq_length. Encoders serve one purpose in alignc: a cosine similarity's model
// (docs/hf-models.md#sentence-encoders). Problems are data, as for decoders (config.ts).
import path from "node:path";
import { type JsonValue, parseStrictJson } from "../../formats/strict-json.ts";
import { describeRefusal, readUntrusted } from "../../util/untrusted-file.ts";
import { type HfConfigProblem, MAX_HF_JSON_BYTES, readConfigJson } from "./config.ts";

/**
 * `architectures[0]` values read as sentence encoders. A masked-LM checkpoint (all-mpnet-base-v2's config.json says
 * MPNetForMaskedLM) is its encoder plus a head alignc ignores.
 */
export const HF_ENCODER_ARCHITECTURES = ["BertModel", "MPNetModel", "BertForMaskedLM", "MPNetForMaskedLM"] as const;

export const SENTENCE_TRANSFORMERS_MODULES = "modules.json";
export const SENTENCE_BERT_CONFIG = "sentence_bert_config.json";

export interface HfEncoderConfig {
  architecture: string;
  family: "bert" | "mpnet";
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  maxPositionEmbeddings: number;
  /** BERT's token-type table (every token is type 0); 0 for MPNet. */
  typeVocabSize: number;
  layerNormEps: number;
  /** MPNet's relative attention buckets (32); 0 for BERT. */
  relativeBuckets: number;
  /** How token states become one vector: sentence-transformers' Pooling module, or mean when there is none. */
  pooling: "mean";
  /** Tokens per text (the tokenizer truncates there): sentence_bert_config.json's max_seq_length, else the positions the model has. */
  maxLength: number;
  /** The directory is a sentence-transformers one (modules.json). */
  sentenceTransformers: boolean;
  /** sentence_bert_config.json's do_lower_case: texts are lowercased before tokenizing. */
  lowercaseInput: boolean;
  /** Files besides config.json that were read (the model's identity covers them). */
  files: string[];
}

export type HfEncoderConfigResult = { ok: true; config: HfEncoderConfig; file: string } | { ok: false; problem: HfConfigProblem };

/** Whether a parsed config.json names an encoder architecture. */
export function isEncoderConfig(json: Record<string, JsonValue>): boolean {
  const archs = json.architectures;
  return Array.isArray(archs) && typeof archs[0] === "string" && (HF_ENCODER_ARCHITECTURES as readonly string[]).includes(archs[0]);
}

class Bad extends Error {
  constructor(readonly problem: HfConfigProblem) {
    super(problem.kind);
  }
}

/** Reads `dir`'s config.json and sentence-transformers files as an encoder's. */
export function readHfEncoderConfig(dir: string): HfEncoderConfigResult {
  const json = readConfigJson(dir);
  if (!json.ok) return json;
  if (!isEncoderConfig(json.value)) {
    const a = json.value.architectures;
    const found = Array.isArray(a) && typeof a[0] === "string" ? a[0] : "no architectures list";
    return { ok: false, problem: { kind: "unsupported-architecture", file: json.file, found, supported: HF_ENCODER_ARCHITECTURES } };
  }
  try {
    return { ok: true, config: normalise(dir, json.value, json.file), file: json.file };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, problem: e.problem };
    throw e;
  }
}

function normalise(dir: string, json: Record<string, JsonValue>, file: string): HfEncoderConfig {
  const invalid = (key: string, detail: string, where = file): never => {
    throw new Bad({ kind: "invalid-value", file: where, key, detail });
  };
  const archs = json.architectures as JsonValue[];
  const architecture = String(archs[0]);
  const family = architecture.startsWith("MPNet") ? "mpnet" : "bert";
  const int = (key: string, fallback?: number, min = 1): number => {
    const v = json[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min)
      return invalid(key, `must be an integer of at least ${min}, found ${JSON.stringify(v ?? null)}`);
    return v;
  };
  const act = json.hidden_act ?? "gelu";
  // transformers' "gelu" is the exact (erf) GELU; the tanh approximations are other names.
  if (act !== "gelu") throw new Bad({ kind: "unsupported-activation", file, found: String(act), supported: ["gelu"] });
  if (family === "bert" && json.position_embedding_type !== undefined && json.position_embedding_type !== "absolute")
    invalid("position_embedding_type", `is ${JSON.stringify(json.position_embedding_type)}; alignc computes BERT's absolute position embeddings`);
  if (json.is_decoder === true) invalid("is_decoder", "is true; a sentence encoder attends both ways");
  const eps = json.layer_norm_eps ?? 1e-12;
  if (typeof eps !== "number" || !(eps > 0)) invalid("layer_norm_eps", `must be a positive number, found ${JSON.stringify(eps)}`);
  const hiddenSize = int("hidden_size", 768);
  const numAttentionHeads = int("num_attention_heads", 12);
  if (hiddenSize % numAttentionHeads !== 0) invalid("num_attention_heads", `${numAttentionHeads} does not divide hidden_size ${hiddenSize}`);
  const maxPositionEmbeddings = int("max_position_embeddings", 512);
  // MPNet numbers positions from padding_idx + 1 = 2, so two rows of its table are never a text position.
  const positions = family === "mpnet" ? maxPositionEmbeddings - 2 : maxPositionEmbeddings;
  const st = readSentenceTransformers(dir, hiddenSize);
  const maxLength = st.maxSeqLength ?? positions;
  if (maxLength > positions)
    invalid("max_seq_length", `is ${maxLength}, more than the ${positions} positions the model has`, path.join(dir, SENTENCE_BERT_CONFIG));
  return {
    architecture,
    family,
    vocabSize: int("vocab_size", family === "mpnet" ? 30527 : 30522),
    hiddenSize,
    intermediateSize: int("intermediate_size", 3072),
    numHiddenLayers: int("num_hidden_layers", 12),
    numAttentionHeads,
    maxPositionEmbeddings,
    typeVocabSize: family === "bert" ? int("type_vocab_size", 2) : 0,
    layerNormEps: eps as number,
    relativeBuckets: family === "mpnet" ? int("relative_attention_num_buckets", 32) : 0,
    pooling: "mean",
    maxLength,
    sentenceTransformers: st.present,
    lowercaseInput: st.lowercase,
    files: st.files,
  };
}

/** A small JSON file of the checkpoint (strict: duplicate keys refused), or undefined when it is not there. */
function readJson(file: string): JsonValue | undefined {
  const r = readUntrusted(file, { maxBytes: MAX_HF_JSON_BYTES });
  if (!r.ok) {
    if (r.reason === "missing") return undefined;
    throw new Bad({ kind: "unreadable", file, reason: r.reason, what: r.detail, detail: describeRefusal(r, MAX_HF_JSON_BYTES) });
  }
  try {
    return parseStrictJson(new TextDecoder("utf-8", { fatal: true }).decode(r.bytes));
  } catch (e) {
    throw new Bad({ kind: "invalid-json", file, detail: e instanceof TypeError ? "not valid UTF-8" : `not valid JSON: ${(e as Error).message}` });
  }
}

const isObject = (v: JsonValue | undefined): v is { [key: string]: JsonValue } => typeof v === "object" && v !== null && !Array.isArray(v);

const ST = "sentence_transformers.models.";
const POOLING_MODES = ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "weightedmean_tokens", "lasttoken"] as const;

/**
 * sentence_bert_config.json's max_seq_length and do_lower_case; modules.json: the Transformer at the top level, then
 * Pooling (mean), then optionally Normalize — which changes no cosine, so it is not computed. Any other module (a
 * Dense layer) would change the embedding and is refused.
 */
function readSentenceTransformers(dir: string, width: number): { present: boolean; maxSeqLength?: number; lowercase: boolean; files: string[] } {
  const bertFile = path.join(dir, SENTENCE_BERT_CONFIG);
  const modulesFile = path.join(dir, SENTENCE_TRANSFORMERS_MODULES);
  const files: string[] = [];
  const bad = (file: string, key: string, detail: string): never => {
    throw new Bad({ kind: "invalid-value", file, key, detail });
  };
  const bert = readJson(bertFile);
  let maxSeqLength: number | undefined;
  let lowercase = false;
  if (bert !== undefined) {
    if (!isObject(bert)) bad(bertFile, "the file", "must be a JSON object");
    const b = bert as Record<string, JsonValue>;
    files.push(SENTENCE_BERT_CONFIG);
    const m = b.max_seq_length;
    if (m !== undefined && m !== null) {
      if (typeof m !== "number" || !Number.isSafeInteger(m) || m < 2)
        bad(bertFile, "max_seq_length", `must be an integer of at least 2, found ${JSON.stringify(m)}`);
      maxSeqLength = m as number;
    }
    lowercase = b.do_lower_case === true;
  }
  const found = { ...(maxSeqLength === undefined ? {} : { maxSeqLength }), lowercase, files };
  const modules = readJson(modulesFile);
  if (modules === undefined) return { present: false, ...found };
  files.push(SENTENCE_TRANSFORMERS_MODULES);
  if (!Array.isArray(modules)) return bad(modulesFile, "the file", "must be a JSON list of modules");
  for (const [i, m] of (modules as JsonValue[]).entries()) {
    const type = isObject(m) && typeof m.type === "string" ? m.type : undefined;
    const where = isObject(m) && typeof m.path === "string" ? m.path : undefined;
    if (type === undefined || where === undefined) return bad(modulesFile, `[${i}]`, "needs a type and a path");
    const name = type.startsWith(ST) ? type.slice(ST.length) : type;
    if (i === 0) {
      if (name !== "Transformer") bad(modulesFile, `[0].type`, `is ${type}; the first module must be the Transformer`);
      if (where !== "")
        bad(
          modulesFile,
          `[0].path`,
          `is ${JSON.stringify(where)}; alignc reads the transformer at the directory's top level, as sentence-transformers saves it`,
        );
    } else if (name === "Pooling") files.push(...readPooling(dir, where, width));
    else if (name !== "Normalize")
      bad(modulesFile, `[${i}].type`, `is ${type}, which changes the embedding; alignc computes Transformer, Pooling (mean) and Normalize only`);
  }
  return { present: true, ...found };
}

/** The Pooling module's config.json: mean pooling, and nothing else, over the encoder's width. */
function readPooling(dir: string, where: string, width: number): string[] {
  if (!/^[^/\\]+$/.test(where) || where === "." || where === "..")
    throw new Bad({
      kind: "invalid-value",
      file: path.join(dir, SENTENCE_TRANSFORMERS_MODULES),
      key: "Pooling path",
      detail: `${JSON.stringify(where)} is not a folder beside modules.json`,
    });
  const rel = `${where}/config.json`;
  const file = path.join(dir, where, "config.json");
  const json = readJson(file);
  const bad = (key: string, detail: string): never => {
    throw new Bad({ kind: "invalid-value", file, key, detail });
  };
  if (json === undefined) return [];
  if (!isObject(json)) return bad("the file", "must be a JSON object");
  const on = POOLING_MODES.filter((m) => json[`pooling_mode_${m}`] === true);
  const mode = typeof json.pooling_mode === "string" ? json.pooling_mode : undefined;
  const mean = mode === undefined ? on.length === 1 && on[0] === "mean_tokens" : mode === "mean" && on.every((m) => m === "mean_tokens");
  if (!mean)
    bad(
      mode === undefined ? "pooling_mode_*" : "pooling_mode",
      `asks for ${mode ?? (on.length === 0 ? "no pooling" : on.join(" + "))}; alignc pools sentence embeddings by the mean over the tokens only (sentence-transformers' mean pooling)`,
    );
  const dim = json.word_embedding_dimension;
  if (dim !== undefined && dim !== width) bad("word_embedding_dimension", `is ${JSON.stringify(dim)}, and the encoder's hidden_size is ${width}`);
  return [rel];
}
