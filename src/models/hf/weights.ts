// A Hugging Face checkpoint's weights, known from the safetensors headers alone: where each tensor is (file, byte
// offset, length), its dtype and shape, under one canonical decoder naming whatever generation wrote the file.
// Tensor data is never read here — only `model.safetensors.index.json` and each shard's 8 + N header bytes — so a
// 14 GB checkpoint costs a few reads (the runtime will hand the offsets to ONNX Runtime as external data).
//
// Canonical names are the decoder's own, without a prefix: `embed_tokens.weight`, `layers.{i}.self_attn.q_proj.weight`,
// `layers.{i}.mlp.down_proj.weight`, `norm.weight`, `lm_head.weight`. The prefixes of every generation (docs/hf-models.md)
// map onto them (DECODER_PREFIXES); tensors of other parts (vision towers, projectors) are kept aside as `other`.
import { existsSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { readSafetensorsHeader, SafetensorsError } from "../../formats/safetensors.ts";
import { byteSize, type DType } from "../../tensor/ir/dtype.ts";
import type { ExternalTensorData } from "../../tensor/ir/graph.ts";
import { describeRefusal, readUntrusted } from "../../util/untrusted-file.ts";
import { type HfDecoderConfig, MAX_HF_JSON_BYTES, parseJsonObject } from "./config.ts";

export const HF_WEIGHTS_FILE = "model.safetensors";
export const HF_INDEX_FILE = "model.safetensors.index.json";
export const HF_TOKENIZER_FILE = "tokenizer.json";

/** Where a checkpoint's weights are: one file, or the shards an index names (in the index's order, each once). */
export type HfWeightFiles =
  | { ok: true; index: string | null; files: string[] }
  | {
      ok: false;
      problem: { kind: "no-weights" | "bad-index"; file: string; detail: string /** Shards the index names that are not there. */; missing?: string[] };
    };

/**
 * The weight files of `dir`: `model.safetensors.index.json`'s shards when the index is there (each must be a plain
 * file name in `dir`, and exist), else `model.safetensors`. Reads the index (a small JSON file), never the weights.
 */
export function findHfWeights(dir: string): HfWeightFiles {
  const indexFile = path.join(dir, HF_INDEX_FILE);
  const single = path.join(dir, HF_WEIGHTS_FILE);
  if (!existsSync(indexFile)) {
    if (existsSync(single)) return { ok: true, index: null, files: [single] };
    return { ok: false, problem: { kind: "no-weights", file: dir, detail: `holds neither ${HF_WEIGHTS_FILE} nor ${HF_INDEX_FILE}` } };
  }
  const r = readUntrusted(indexFile, { maxBytes: MAX_HF_JSON_BYTES });
  if (!r.ok) return { ok: false, problem: { kind: "bad-index", file: indexFile, detail: describeRefusal(r, MAX_HF_JSON_BYTES) } };
  const json = parseJsonObject(r.bytes, indexFile);
  if (!json.ok)
    return { ok: false, problem: { kind: "bad-index", file: indexFile, detail: json.problem.kind === "invalid-json" ? json.problem.detail : "unreadable" } };
  const map = json.value.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map))
    return { ok: false, problem: { kind: "bad-index", file: indexFile, detail: "has no weight_map object" } };
  const shards: string[] = [];
  for (const [tensor, shard] of Object.entries(map)) {
    // A shard is a file beside the index: a name from a file must not lead elsewhere.
    if (typeof shard !== "string" || !/^[^/\\]+\.safetensors$/.test(shard) || shard.startsWith(".."))
      return {
        ok: false,
        problem: {
          kind: "bad-index",
          file: indexFile,
          detail: `weight_map names ${JSON.stringify(shard)} for ${tensor}, not a .safetensors file beside the index`,
        },
      };
    if (!shards.includes(shard)) shards.push(shard);
  }
  if (shards.length === 0) return { ok: false, problem: { kind: "bad-index", file: indexFile, detail: "weight_map is empty" } };
  const missing = shards.filter((s) => !existsSync(path.join(dir, s)));
  if (missing.length > 0)
    return {
      ok: false,
      problem: {
        kind: "no-weights",
        file: indexFile,
        detail: `names ${missing.length > 1 ? "shards that are" : "a shard that is"} not there: ${missing.join(", ")}`,
        missing,
      },
    };
  return { ok: true, index: indexFile, files: shards.map((s) => path.join(dir, s)) };
}

/** A decoder naming generation: the prefix its language-model tensors carry, and where it comes from. */
export interface NamingGeneration {
  id: string;
  /** Prefix of the decoder's modules (embed_tokens, layers, norm). */
  prefix: string;
  /** Names of the output head. */
  head: readonly string[];
  doc: string;
}

/** Longest prefix first: `model.` alone would also match `model.language_model.`. */
export const DECODER_PREFIXES: readonly NamingGeneration[] = [
  {
    id: "v5-runtime",
    prefix: "model.language_model.",
    head: ["lm_head.weight"],
    doc: "transformers 5 runtime and PEFT module paths of a VLM (model.language_model.*)",
  },
  {
    id: "llava-hub",
    prefix: "language_model.model.",
    head: ["language_model.lm_head.weight"],
    doc: "LLaVA-family hub files and transformers 5 saves (language_model.model.*)",
  },
  { id: "idefics3", prefix: "model.text_model.", head: ["lm_head.weight"], doc: "Idefics3 / SmolVLM (model.text_model.*)" },
  { id: "decoder", prefix: "model.", head: ["lm_head.weight"], doc: "decoder-only models, Qwen2-VL and original LLaVA (model.*)" },
];

const LAYER_TENSOR =
  /^layers\.(\d+)\.(input_layernorm\.weight|post_attention_layernorm\.weight|self_attn\.(?:q|k|v|o)_proj\.(?:weight|bias)|mlp\.(?:gate|up|down)_proj\.(?:weight|bias))$/;
const TOP_TENSOR = /^(embed_tokens\.weight|norm\.weight)$/;
/** Buffers older checkpoints saved beside the weights; transformers ignores them. */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;

/** The canonical decoder name of a tensor name of any generation, or undefined when it is not a decoder weight. */
export function canonicalDecoderName(name: string): { canonical: string; generation: string } | undefined {
  // `lm_head.weight` is the head of several generations: it says nothing about which.
  if (name === "lm_head.weight") return { canonical: name, generation: "any" };
  for (const g of DECODER_PREFIXES) {
    if (g.head.includes(name)) return { canonical: "lm_head.weight", generation: g.id };
    if (!name.startsWith(g.prefix)) continue;
    const rest = name.slice(g.prefix.length);
    if (TOP_TENSOR.test(rest)) return { canonical: rest, generation: g.id };
    const m = LAYER_TENSOR.exec(rest);
    if (m && String(Number(m[1])) === m[1]) return { canonical: rest, generation: g.id };
    // `model.language_model.x` must not fall through to `model.` as `language_model.x`.
    return undefined;
  }
  return undefined;
}

export interface HfTensor {
  /** The name in the file. */
  name: string;
  canonical: string;
  file: string;
  dtype: DType;
  shape: number[];
  /** Byte offset of the data in the file (8 + header length + data_offsets[0]) and its length. */
  offset: number;
  length: number;
}

export interface HfTensorIndex {
  /** Indexed tensors by canonical name (the decoder's, or what the caller's naming gives). */
  tensors: Map<string, HfTensor>;
  /** Naming generations (DECODER_PREFIXES' ids) seen among the decoder tensors. */
  generations: string[];
  /** Tensors that are not decoder weights (vision towers, projectors, unknown names), by file name. */
  other: string[];
  /** Tensors found twice under names that map to one canonical name, or twice across shards. */
  duplicates: string[];
}

/**
 * Reads every weight file's header (only the header) and indexes the tensors `canonical` names (default: the decoder's,
 * canonicalDecoderName; a vision-language model passes its own); throws SafetensorsError.
 */
export function readHfTensorIndex(
  files: readonly string[],
  canonical: (name: string) => { canonical: string; generation: string } | undefined = canonicalDecoderName,
): HfTensorIndex {
  const tensors = new Map<string, HfTensor>();
  const generations: string[] = [];
  const other: string[] = [];
  const duplicates: string[] = [];
  for (const file of files) {
    const header = readSafetensorsHeader(file);
    for (const e of header.tensors) {
      const c = canonical(e.name);
      if (!c) {
        if (!IGNORED.test(e.name)) other.push(e.name);
        continue;
      }
      if (tensors.has(c.canonical)) {
        duplicates.push(e.name);
        continue;
      }
      if (c.generation !== "any" && !generations.includes(c.generation)) generations.push(c.generation);
      tensors.set(c.canonical, {
        name: e.name,
        canonical: c.canonical,
        file,
        dtype: e.dtype,
        shape: e.shape,
        offset: header.dataStart + e.begin,
        length: e.end - e.begin,
      });
    }
  }
  return { tensors, generations, other, duplicates };
}

/** The decoder tensors a config implies, by canonical name, with their shapes (HF's [out, in] for linear weights). */
export function expectedDecoderTensors(c: HfDecoderConfig): Map<string, number[]> {
  const D = c.hiddenSize;
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const I = c.intermediateSize;
  const out = new Map<string, number[]>();
  out.set("embed_tokens.weight", [c.vocabSize, D]);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const l = `layers.${i}.`;
    out.set(`${l}input_layernorm.weight`, [D]);
    out.set(`${l}post_attention_layernorm.weight`, [D]);
    out.set(`${l}self_attn.q_proj.weight`, [q, D]);
    out.set(`${l}self_attn.k_proj.weight`, [kv, D]);
    out.set(`${l}self_attn.v_proj.weight`, [kv, D]);
    out.set(`${l}self_attn.o_proj.weight`, [D, q]);
    if (c.attentionBias) {
      out.set(`${l}self_attn.q_proj.bias`, [q]);
      out.set(`${l}self_attn.k_proj.bias`, [kv]);
      out.set(`${l}self_attn.v_proj.bias`, [kv]);
    }
    if (c.outputBias) out.set(`${l}self_attn.o_proj.bias`, [D]);
    out.set(`${l}mlp.gate_proj.weight`, [I, D]);
    out.set(`${l}mlp.up_proj.weight`, [I, D]);
    out.set(`${l}mlp.down_proj.weight`, [D, I]);
    if (c.mlpBias) {
      out.set(`${l}mlp.gate_proj.bias`, [I]);
      out.set(`${l}mlp.up_proj.bias`, [I]);
      out.set(`${l}mlp.down_proj.bias`, [D]);
    }
  }
  out.set("norm.weight", [D]);
  if (!c.tieWordEmbeddings) out.set("lm_head.weight", [c.vocabSize, D]);
  return out;
}

export type HfTensorProblem =
  | { kind: "missing"; canonical: string; shape: number[] }
  | { kind: "shape"; canonical: string; name: string; expected: number[]; found: number[] }
  | { kind: "unexpected"; canonical: string; name: string }
  | { kind: "dtype"; canonical: string; name: string; found: DType };

/**
 * What does not match between the config and the weights: expected tensors missing or of another shape, decoder
 * tensors the config does not imply (a bias the config says is absent, a layer beyond num_hidden_layers), and
 * non-float dtypes. An `lm_head` in a tied checkpoint is not a problem: transformers ties it and ignores the file's.
 */
export function checkHfTensors(c: HfDecoderConfig, index: HfTensorIndex): HfTensorProblem[] {
  return tensorProblems(expectedDecoderTensors(c), index, (canonical) => canonical === "lm_head.weight" && c.tieWordEmbeddings);
}

/** What does not match between the tensors a model reads (`expected`) and those indexed; `ignored` ones may be there unread. */
export function tensorProblems(
  expected: ReadonlyMap<string, number[]>,
  index: HfTensorIndex,
  ignored: (canonical: string) => boolean = () => false,
): HfTensorProblem[] {
  const problems: HfTensorProblem[] = [];
  for (const [canonical, shape] of expected) {
    const t = index.tensors.get(canonical);
    if (!t) problems.push({ kind: "missing", canonical, shape });
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      problems.push({ kind: "shape", canonical, name: t.name, expected: shape, found: t.shape });
  }
  for (const t of index.tensors.values()) {
    if (!expected.has(t.canonical) && !ignored(t.canonical)) problems.push({ kind: "unexpected", canonical: t.canonical, name: t.name });
    if (t.dtype !== "float32" && t.dtype !== "float16" && t.dtype !== "bfloat16" && t.dtype !== "float64")
      problems.push({ kind: "dtype", canonical: t.canonical, name: t.name, found: t.dtype });
  }
  return problems;
}

/** A tensor problem in words. */
export function describeHfTensorProblem(p: HfTensorProblem): string {
  const dims = (s: number[]) => `[${s.join(", ")}]`;
  switch (p.kind) {
    case "missing":
      return `${p.canonical} ${dims(p.shape)} is missing`;
    case "shape":
      return `${p.name} is ${dims(p.found)}, the config implies ${dims(p.expected)}`;
    case "unexpected":
      return `${p.name} is not part of the model the config describes`;
    case "dtype":
      return `${p.name} is ${p.found}, not a floating-point weight`;
  }
}

/**
 * A checkpoint's decoder weights referenced in place: ONNX external data in the checkpoint's safetensors files,
 * under the decoder program's names (`model.embed_tokens.weight`, `lm_head.weight`, decoder.ts). `folder` is the
 * checkpoint directory's real path, `files` the shard names the references use — what `Runtime.load` takes as its
 * external-data folder.
 */
export interface HfExternalWeights {
  readonly folder: string;
  readonly files: readonly string[];
  readonly tensors: ReadonlyMap<string, ExternalTensorData>;
  /** Each program name's name in the files (a trained model is written back under the source's names). */
  readonly fileNames: ReadonlyMap<string, string>;
}

/** The decoder program's name of a canonical decoder tensor name (weights.ts's naming → decoder.ts's). */
export function decoderProgramName(canonical: string): string {
  return canonical === "lm_head.weight" ? canonical : `model.${canonical}`;
}

/**
 * External-data references for every decoder tensor of `index` (readHfTensorIndex) of the checkpoint in `dir`:
 * location = the shard's file name, offset = 8 + header length + data_offsets[0], length — safetensors data is
 * already ONNX's raw little-endian layout. Nothing but the headers is read. Throws SafetensorsError (ALN7005) for a
 * file that is not a regular file directly in `dir` (another folder, `..`, or a symbolic link leading out of it):
 * ONNX Runtime would refuse it too, with a less clear message. A length that does not match the dtype and shape is
 * refused as well.
 */
export function externalHfWeights(dir: string, index: HfTensorIndex, programName: (canonical: string) => string = decoderProgramName): HfExternalWeights {
  const folder = realpathSync(dir);
  const located = new Map<string, string>();
  const locate = (file: string): string => {
    const known = located.get(file);
    if (known !== undefined) return known;
    // `file` is the index's path (dir joined with the shard's name), relative to the working directory or absolute.
    const name = path.relative(path.resolve(dir), path.resolve(file));
    const plain = name !== "" && name !== "." && name !== ".." && !name.includes("/") && !name.includes("\\") && !path.isAbsolute(name);
    let real: string | undefined;
    try {
      real = plain ? realpathSync(path.join(folder, name)) : undefined;
    } catch {
      real = undefined;
    }
    if (!plain || real === undefined || path.dirname(real) !== folder || !statSync(real).isFile())
      throw new SafetensorsError(
        `${file}: weights read in place must be regular files directly in the checkpoint directory ${folder}; ` +
          `this one ${!plain ? "is outside it" : real === undefined ? "cannot be resolved" : "resolves outside it (a symbolic link?)"}`,
      );
    located.set(file, name);
    return name;
  };
  const tensors = new Map<string, ExternalTensorData>();
  const fileNames = new Map<string, string>();
  for (const t of index.tensors.values()) {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elements * byteSize(t.dtype) !== t.length)
      throw new SafetensorsError(`${t.file}: ${t.name} is ${t.dtype} [${t.shape.join(", ")}] but holds ${t.length} bytes`);
    tensors.set(programName(t.canonical), { dtype: t.dtype, shape: t.shape, location: locate(t.file), offset: t.offset, length: t.length });
    fileNames.set(programName(t.canonical), t.name);
  }
  return { folder, files: [...new Set(located.values())], tensors, fileNames };
}
