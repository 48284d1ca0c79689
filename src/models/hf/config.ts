// A Hugging Face checkpoint's config.json, normalised: the two layouts a loader meets — the hub's (transformers 4:
// `rope_theta` + `rope_scaling`, `torch_dtype`) and what transformers 5 `save_pretrained` writes (`rope_parameters`,
// `dtype`) — become one typed HfDecoderConfig, with the defaults of transformers' config classes filled in
// (docs/hf-models.md). Only decoder-only architectures whose layers alignc knows are accepted:
// anything else, an unsupported RoPE scaling or an activation other than SiLU is a typed problem that names what was
// found and what is supported. Nothing here throws for a bad file: the checker turns problems into diagnostics, and
// the runtime will turn them into failures.
import path from "node:path";
import { type JsonValue, parseStrictJson } from "../../formats/strict-json.ts";
import { describeRefusal, type RefusalReason, readUntrusted } from "../../util/untrusted-file.ts";
import type { RopeScaling } from "./rope.ts";

/** `architectures[0]` values alignc reads: the decoders every supported VLM embeds (tier 0). */
export const HF_ARCHITECTURES = ["LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"] as const;
export type HfArchitecture = (typeof HF_ARCHITECTURES)[number];

/** RoPE scalings alignc computes; `default` is none. */
export const HF_ROPE_TYPES = ["default", "linear", "llama3"] as const;

/** Weight dtypes an hf model may run in. */
export const HF_DTYPES = ["float32", "float16", "bfloat16"] as const;
export type HfDtype = (typeof HF_DTYPES)[number];

/** The linear modules of a decoder layer that LoRA can adapt, by their Hugging Face (and PEFT) names. */
export const HF_LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type HfLoraModule = (typeof HF_LORA_MODULES)[number];

/** Largest config.json or model.safetensors.index.json read (the index of a 70B checkpoint is ~100 KB). */
export const MAX_HF_JSON_BYTES = 16 * 1024 * 1024;

/** RoPE scalings alignc computes (the decoder's tables use the same type, rope.ts). */
export type HfRopeScaling = RopeScaling;

export interface HfDecoderConfig {
  /** `architectures[0]`. */
  architecture: HfArchitecture;
  /** `model_type`: llama, qwen2, mistral. */
  modelType: string;
  /** Which layout the file is written in: v4 (hub: rope_theta/rope_scaling, torch_dtype) or v5 (rope_parameters, dtype). */
  layout: "v4" | "v5";
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** `num_key_value_heads`; absent: = numAttentionHeads (no GQA). */
  numKeyValueHeads: number;
  /** `head_dim`; absent: hiddenSize / numAttentionHeads. */
  headDim: number;
  hiddenAct: "silu";
  rmsNormEps: number;
  rope: { theta: number; scaling: HfRopeScaling };
  /** Share of each head's dimensions that RoPE rotates (default 1). */
  partialRotaryFactor: number;
  maxPositionEmbeddings: number;
  /** `lm_head` is the embedding table (and absent from the weights). */
  tieWordEmbeddings: boolean;
  /** q/k/v projections have a bias: Llama's `attention_bias`, always for Qwen2, never for Mistral. */
  attentionBias: boolean;
  /** o_proj has a bias: Llama's `attention_bias` only. */
  outputBias: boolean;
  /** gate/up/down projections have a bias: Llama's `mlp_bias`. */
  mlpBias: boolean;
  /** Attention window in tokens (a query sees itself and the W − 1 keys before it), or null for full attention. */
  slidingWindow: number | null;
  /**
   * Which layers attend through the window (indices; [] without one): every layer of Mistral; Qwen2's `layer_types`
   * "sliding_attention" (transformers 5), else the layers from `max_window_layers` on, with `use_sliding_window`.
   */
  slidingLayers: number[];
  bosTokenId: number | null;
  /** `eos_token_id`, an int or a list in the file; [] when absent. */
  eosTokenIds: number[];
  padTokenId: number | null;
  /** `torch_dtype` / `dtype` when it is one alignc runs; `declaredDtype` is what the file says, whatever it is. */
  dtype: HfDtype | null;
  declaredDtype: string | null;
}

/** Why a config.json was not accepted, as data: the checker renders it, the runtime will raise it. */
export type HfConfigProblem =
  /** The file could not be read: missing, not a regular file, too large, or refused by the OS. */
  | { kind: "unreadable"; file: string; reason: RefusalReason; what: string; detail: string }
  /** It is not a JSON object. */
  | { kind: "invalid-json"; file: string; detail: string }
  | { kind: "unsupported-architecture"; file: string; found: string; supported: readonly string[] }
  | { kind: "unsupported-rope"; file: string; found: string; supported: readonly string[] }
  | { kind: "unsupported-activation"; file: string; found: string; supported: readonly string[] }
  /** A key is missing, of the wrong type, or out of range; `detail` says which and what it should be. */
  | { kind: "invalid-value"; file: string; key: string; detail: string };

export type HfConfigResult = { ok: true; config: HfDecoderConfig; file: string } | { ok: false; problem: HfConfigProblem };

/** A problem in words (the checker's messages use the same fields). */
export function describeHfConfigProblem(p: HfConfigProblem): string {
  switch (p.kind) {
    case "unreadable":
      return p.detail;
    case "invalid-json":
      return `${p.file}: ${p.detail}`;
    case "unsupported-architecture":
      return `${p.file}: architecture ${p.found} is not supported; supported: ${p.supported.join(", ")}`;
    case "unsupported-rope":
      return `${p.file}: RoPE scaling ${p.found} is not supported; supported: ${p.supported.join(", ")}`;
    case "unsupported-activation":
      return `${p.file}: hidden_act ${p.found} is not supported; supported: ${p.supported.join(", ")}`;
    case "invalid-value":
      return `${p.file}: ${p.key} ${p.detail}`;
  }
}

/** Reads `dir`/config.json through the untrusted reader and normalises it as a decoder's. */
export function readHfConfig(dir: string): HfConfigResult {
  const json = readConfigJson(dir);
  return json.ok ? normaliseHfConfig(json.value, json.file) : json;
}

/** `dir`/config.json as a JSON object, read through the untrusted reader (at most MAX_HF_JSON_BYTES). */
export function readConfigJson(dir: string): { ok: true; value: Record<string, JsonValue>; file: string } | { ok: false; problem: HfConfigProblem } {
  const file = path.join(dir, "config.json");
  const r = readUntrusted(file, { maxBytes: MAX_HF_JSON_BYTES });
  if (!r.ok) return { ok: false, problem: { kind: "unreadable", file, reason: r.reason, what: r.detail, detail: describeRefusal(r, MAX_HF_JSON_BYTES) } };
  const json = parseJsonObject(r.bytes, file);
  return json.ok ? { ok: true, value: json.value, file } : json;
}

/** Strict JSON (duplicate keys refused), which must be an object. */
export function parseJsonObject(bytes: Uint8Array, file: string): { ok: true; value: Record<string, JsonValue> } | { ok: false; problem: HfConfigProblem } {
  let value: JsonValue;
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    value = parseStrictJson(text);
  } catch (e) {
    const detail = e instanceof TypeError ? "not valid UTF-8" : `not valid JSON: ${(e as Error).message}`;
    return { ok: false, problem: { kind: "invalid-json", file, detail } };
  }
  if (!isObject(value)) return { ok: false, problem: { kind: "invalid-json", file, detail: "not a JSON object" } };
  return { ok: true, value };
}

function isObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** What transformers' config classes default to when a key is absent. */
const DEFAULTS: Record<HfArchitecture, { modelType: string; rmsNormEps: number; ropeTheta: number; maxPositions: number; slidingWindow: number | null }> = {
  LlamaForCausalLM: { modelType: "llama", rmsNormEps: 1e-6, ropeTheta: 10000, maxPositions: 2048, slidingWindow: null },
  Qwen2ForCausalLM: { modelType: "qwen2", rmsNormEps: 1e-6, ropeTheta: 10000, maxPositions: 32768, slidingWindow: 4096 },
  MistralForCausalLM: { modelType: "mistral", rmsNormEps: 1e-6, ropeTheta: 10000, maxPositions: 4096 * 32, slidingWindow: 4096 },
};

class Bad extends Error {
  constructor(readonly problem: HfConfigProblem) {
    super(problem.kind);
  }
}

/** Normalises a parsed config.json (either layout); `file` names it in problems. */
export function normaliseHfConfig(json: Record<string, JsonValue>, file: string): HfConfigResult {
  try {
    return { ok: true, config: normalise(json, file), file };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, problem: e.problem };
    throw e;
  }
}

function normalise(json: Record<string, JsonValue>, file: string): HfDecoderConfig {
  const invalid = (key: string, detail: string): never => {
    throw new Bad({ kind: "invalid-value", file, key, detail });
  };
  const shown = (v: JsonValue | undefined) => (v === undefined ? "missing" : JSON.stringify(v));

  const archs = json.architectures;
  const found = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : archs === undefined ? undefined : JSON.stringify(archs);
  if (found === undefined) {
    // Nested VLM configs name their decoder in text_config; the file as a whole is still not a decoder.
    const mt = typeof json.model_type === "string" ? ` (model_type ${json.model_type})` : "";
    throw new Bad({ kind: "unsupported-architecture", file, found: `no architectures list${mt}`, supported: HF_ARCHITECTURES });
  }
  if (!(HF_ARCHITECTURES as readonly string[]).includes(found)) throw new Bad({ kind: "unsupported-architecture", file, found, supported: HF_ARCHITECTURES });
  const architecture = found as HfArchitecture;
  const d = DEFAULTS[architecture];

  const int = (key: string, opts: { min?: number; fallback?: number } = {}): number => {
    const v = json[key];
    if (v === undefined || v === null) {
      if (opts.fallback !== undefined) return opts.fallback;
      return invalid(key, "is missing");
    }
    if (typeof v !== "number" || !Number.isSafeInteger(v)) return invalid(key, `must be an integer, found ${shown(v)}`);
    if (v < (opts.min ?? 1)) return invalid(key, `must be at least ${opts.min ?? 1}, found ${v}`);
    return v;
  };
  const num = (obj: Record<string, JsonValue>, key: string, where: string, fallback?: number): number => {
    const v = obj[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) return invalid(`${where}${key}`, `must be a positive number, found ${shown(v)}`);
    return v;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = json[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "boolean") return invalid(key, `must be true or false, found ${shown(v)}`);
    return v;
  };
  const tokenId = (key: string): number | null => {
    const v = json[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) return invalid(key, `must be a token id (a non-negative integer), found ${shown(v)}`);
    return v;
  };

  const modelType = typeof json.model_type === "string" ? json.model_type : d.modelType;
  const hiddenAct = json.hidden_act ?? json.hidden_activation ?? "silu";
  if (hiddenAct !== "silu") throw new Bad({ kind: "unsupported-activation", file, found: shown(hiddenAct), supported: ["silu"] });

  const vocabSize = int("vocab_size");
  const hiddenSize = int("hidden_size");
  const intermediateSize = int("intermediate_size");
  const numHiddenLayers = int("num_hidden_layers");
  const numAttentionHeads = int("num_attention_heads");
  const numKeyValueHeads = int("num_key_value_heads", { fallback: numAttentionHeads });
  if (numAttentionHeads % numKeyValueHeads !== 0)
    invalid("num_key_value_heads", `(${numKeyValueHeads}) must divide num_attention_heads (${numAttentionHeads})`);
  if (json.head_dim === undefined || json.head_dim === null) {
    if (hiddenSize % numAttentionHeads !== 0)
      invalid("head_dim", `is missing and hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numAttentionHeads})`);
  }
  const headDim = int("head_dim", { fallback: hiddenSize / numAttentionHeads });
  const rmsNormEps = num(json, "rms_norm_eps", "", d.rmsNormEps);
  const maxPositionEmbeddings = int("max_position_embeddings", { fallback: d.maxPositions });

  // RoPE: v5 keeps everything in rope_parameters; v4 has rope_theta beside an optional rope_scaling.
  const params = json.rope_parameters;
  const scalingV4 = json.rope_scaling;
  const v5 = params !== undefined && params !== null;
  if (v5 && !isObject(params)) invalid("rope_parameters", `must be an object, found ${shown(params)}`);
  if (!v5 && scalingV4 !== undefined && scalingV4 !== null && !isObject(scalingV4))
    invalid("rope_scaling", `must be an object or null, found ${shown(scalingV4)}`);
  const rope = (v5 ? params : scalingV4) as Record<string, JsonValue> | null | undefined;
  const where = v5 ? "rope_parameters." : "rope_scaling.";
  const theta = v5 ? num(rope ?? {}, "rope_theta", where, num(json, "rope_theta", "", d.ropeTheta)) : num(json, "rope_theta", "", d.ropeTheta);
  const ropeType = rope ? (rope.rope_type ?? rope.type ?? "default") : "default";
  if (typeof ropeType !== "string") invalid(`${where}rope_type`, `must be a string, found ${shown(ropeType)}`);
  let scaling: HfRopeScaling;
  if (ropeType === "default") scaling = { type: "default" };
  else if (ropeType === "linear") scaling = { type: "linear", factor: num(rope ?? {}, "factor", where) };
  else if (ropeType === "llama3") {
    const r = rope ?? {};
    scaling = {
      type: "llama3",
      factor: num(r, "factor", where),
      lowFreqFactor: num(r, "low_freq_factor", where),
      highFreqFactor: num(r, "high_freq_factor", where),
      originalMaxPositionEmbeddings: num(r, "original_max_position_embeddings", where),
    };
    if (!Number.isSafeInteger(scaling.originalMaxPositionEmbeddings))
      invalid(`${where}original_max_position_embeddings`, `must be an integer, found ${scaling.originalMaxPositionEmbeddings}`);
    if (scaling.highFreqFactor <= scaling.lowFreqFactor)
      invalid(`${where}high_freq_factor`, `(${scaling.highFreqFactor}) must be greater than low_freq_factor (${scaling.lowFreqFactor})`);
  } else throw new Bad({ kind: "unsupported-rope", file, found: String(ropeType), supported: HF_ROPE_TYPES });

  const prfTop = json.partial_rotary_factor;
  const prf = v5 && rope && rope.partial_rotary_factor !== undefined ? num(rope, "partial_rotary_factor", where) : num(json, "partial_rotary_factor", "", 1);
  if (prf > 1) invalid(prfTop !== undefined ? "partial_rotary_factor" : `${where}partial_rotary_factor`, `must be at most 1, found ${prf}`);
  if ((headDim * prf) % 2 !== 0) invalid("partial_rotary_factor", `${prf} of head_dim ${headDim} is not an even number of dimensions`);

  const llamaBias = architecture === "LlamaForCausalLM" && flag("attention_bias", false);
  const attentionBias = architecture === "Qwen2ForCausalLM" || llamaBias;
  const mlpBias = architecture === "LlamaForCausalLM" && flag("mlp_bias", false);

  let slidingWindow: number | null = null;
  let slidingLayers: number[] = [];
  const allLayers = Array.from({ length: numHiddenLayers }, (_, i) => i);
  if (architecture === "MistralForCausalLM") {
    slidingWindow = json.sliding_window === null ? null : int("sliding_window", { fallback: d.slidingWindow ?? 0 });
    slidingLayers = allLayers;
  } else if (architecture === "Qwen2ForCausalLM" && flag("use_sliding_window", false)) {
    slidingWindow = json.sliding_window === null ? null : int("sliding_window", { fallback: d.slidingWindow ?? 0 });
    const types = json.layer_types;
    if (types !== undefined && types !== null) {
      if (!Array.isArray(types) || types.length !== numHiddenLayers || types.some((t) => t !== "full_attention" && t !== "sliding_attention"))
        invalid("layer_types", `must list "full_attention" or "sliding_attention" for each of the ${numHiddenLayers} layers, found ${shown(types)}`);
      slidingLayers = allLayers.filter((i) => (types as JsonValue[])[i] === "sliding_attention");
    } else {
      const from = int("max_window_layers", { min: 0, fallback: 28 });
      slidingLayers = allLayers.filter((i) => i >= from);
    }
  }
  if (slidingWindow === null) slidingLayers = [];

  const eos = json.eos_token_id;
  let eosTokenIds: number[] = [];
  if (Array.isArray(eos)) {
    eosTokenIds = eos.map((v, i) =>
      typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : invalid(`eos_token_id[${i}]`, `must be a token id, found ${shown(v)}`),
    );
  } else {
    const one = tokenId("eos_token_id");
    if (one !== null) eosTokenIds = [one];
  }
  for (const [key, id] of [
    ["bos_token_id", tokenId("bos_token_id")],
    ["pad_token_id", tokenId("pad_token_id")],
  ] as const) {
    if (id !== null && id >= vocabSize) invalid(key, `(${id}) is outside the vocabulary (vocab_size ${vocabSize})`);
  }
  for (const id of eosTokenIds) if (id >= vocabSize) invalid("eos_token_id", `(${id}) is outside the vocabulary (vocab_size ${vocabSize})`);

  const dtypeRaw = json.dtype ?? json.torch_dtype;
  const declaredDtype = typeof dtypeRaw === "string" ? dtypeRaw : null;
  const dtype = declaredDtype && (HF_DTYPES as readonly string[]).includes(declaredDtype) ? (declaredDtype as HfDtype) : null;

  return {
    architecture,
    modelType,
    layout: v5 || (json.dtype !== undefined && json.torch_dtype === undefined) ? "v5" : "v4",
    vocabSize,
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    hiddenAct: "silu",
    rmsNormEps,
    rope: { theta, scaling },
    partialRotaryFactor: prf,
    maxPositionEmbeddings,
    tieWordEmbeddings: flag("tie_word_embeddings", false),
    attentionBias,
    outputBias: llamaBias,
    mlpBias,
    slidingWindow,
    slidingLayers,
    bosTokenId: tokenId("bos_token_id"),
    eosTokenIds,
    padTokenId: tokenId("pad_token_id"),
    dtype,
    declaredDtype,
  };
}

/** A LoRA-adaptable module of every decoder layer: its name and the shape of its weight ([out, in], HF's layout). */
export interface HfLoraModuleShape {
  name: HfLoraModule;
  in: number;
  out: number;
  /** How many the model has (one per layer). */
  count: number;
}

/** The modules LoRA can target in a model with this config (all seven linear layers of each decoder layer). */
export function hfLoraModules(c: HfDecoderConfig): HfLoraModuleShape[] {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const D = c.hiddenSize;
  const I = c.intermediateSize;
  const shapes: Record<HfLoraModule, [number, number]> = {
    q_proj: [D, q],
    k_proj: [D, kv],
    v_proj: [D, kv],
    o_proj: [q, D],
    gate_proj: [D, I],
    up_proj: [D, I],
    down_proj: [I, D],
  };
  return HF_LORA_MODULES.map((name) => ({ name, in: shapes[name][0], out: shapes[name][1], count: c.numHiddenLayers }));
}
