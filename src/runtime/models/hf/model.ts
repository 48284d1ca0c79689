// A Hugging Face checkpoint as the runtime handles it: its normalised config and decoder shape, its weights referenced
// in place (ONNX external data inside its safetensors files; nothing is copied or converted), its tokenizer, chat
// template and stop tokens. Loading reads config.json, the small JSON files and each shard's header — never the
// tensor data — so a 14 GB checkpoint loads in milliseconds.
import { existsSync } from "node:fs";
import path from "node:path";
import { SafetensorsError } from "../../../formats/safetensors.ts";
import { describeHfConfigProblem, type HfDecoderConfig, readHfConfig } from "../../../models/hf/config.ts";
import { checkDecoderWeights, type DecoderShape } from "../../../models/hf/decoder.ts";
import { decoderShapeOf } from "../../../models/hf/shape.ts";
import {
  checkHfTensors,
  describeHfTensorProblem,
  externalHfWeights,
  findHfWeights,
  type HfExternalWeights,
  readHfTensorIndex,
} from "../../../models/hf/weights.ts";
import type { DType } from "../../../tensor/ir/dtype.ts";
import { ShapeError } from "../../../tensor/ir/shape.ts";
import { ChatTemplate } from "../tokenizer/chat-template.ts";
import { readCheckpointJson } from "../tokenizer/checkpoint-json.ts";
import { HfTextTokenizer } from "../tokenizer/hf-text-tokenizer.ts";

export class HfCheckpointError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7025";
  override name = "HfCheckpointError";
}

export const HF_GENERATION_CONFIG_FILE = "generation_config.json";

export interface HfModel {
  /** The checkpoint directory (as given; `weights.folder` is its real path). */
  dir: string;
  config: HfDecoderConfig;
  shape: DecoderShape;
  /** The weights' dtype as stored (every decoder tensor has it). */
  dtype: DType;
  weights: HfExternalWeights;
  tokenizer: HfTextTokenizer;
  /** The checkpoint's chat template, if it has one (conversational prompts need it). */
  chatTemplate: ChatTemplate | undefined;
  /** Token ids that end a generation: generation_config.json's eos_token_id, config.json's, the tokenizer's eos_token. */
  stopIds: number[];
  /** The id that pads generated rows and batches (never attended to): pad_token_id, else the first stop id, else 0. */
  padId: number;
  /** BOS prepended to plain-text prompts when the tokenizer's post-processor adds it (Llama); undefined otherwise. */
  bosId: number | undefined;
}

/** A checkpoint directory holds a Hugging Face model (not an alignc TinyVLM checkpoint): its config.json names an architecture. */
export function isHfCheckpoint(dir: string): boolean {
  if (!existsSync(path.join(dir, "config.json"))) return false;
  const config = readHfConfig(dir);
  return config.ok || config.problem.kind !== "invalid-json";
}

/** Loads `dir` (see the file comment); every problem is an HfCheckpointError naming the file. */
export function loadHfModel(dir: string): HfModel {
  const read = readHfConfig(dir);
  if (!read.ok) throw new HfCheckpointError(`${dir}: ${describeHfConfigProblem(read.problem)}`);
  const config = read.config;
  let shape: DecoderShape;
  let weights: HfExternalWeights;
  let dtype: DType;
  try {
    shape = decoderShapeOf(config);
    const found = findHfWeights(dir);
    if (!found.ok) throw new HfCheckpointError(`${found.problem.file}: ${found.problem.detail}`);
    const index = readHfTensorIndex(found.files);
    const problems = checkHfTensors(config, index);
    if (problems.length > 0) throw new HfCheckpointError(`${dir}: ${problems.slice(0, 4).map(describeHfTensorProblem).join("; ")}`);
    weights = externalHfWeights(dir, index);
    dtype = checkDecoderWeights(shape, weights.tensors);
  } catch (e) {
    if (e instanceof ShapeError || e instanceof SafetensorsError) throw new HfCheckpointError(`${dir}: ${e.message}`, { cause: e });
    throw e;
  }
  const tokenizer = HfTextTokenizer.load(dir);
  if (tokenizer.vocabSize > config.vocabSize)
    throw new HfCheckpointError(
      `${dir}: tokenizer.json has ${tokenizer.vocabSize} tokens but config.json's vocab_size is ${config.vocabSize}; they do not belong together`,
    );
  const generation = readGenerationConfig(dir);
  const stopIds = [...new Set([...generation.eos, ...config.eosTokenIds, ...(tokenizer.eosId === undefined ? [] : [tokenizer.eosId])])].sort((a, b) => a - b);
  for (const id of stopIds)
    if (id < 0 || id >= config.vocabSize) throw new HfCheckpointError(`${dir}: the stop token id ${id} is outside the vocabulary of ${config.vocabSize}`);
  const padId = generation.pad ?? config.padTokenId ?? tokenizer.padId ?? stopIds[0] ?? 0;
  const bosId = addsBos(tokenizer) ? (tokenizer.bosId ?? config.bosTokenId ?? undefined) : undefined;
  return { dir, config, shape, dtype, weights, tokenizer, chatTemplate: ChatTemplate.load(dir), stopIds, padId, bosId };
}

/** Whether encoding with special tokens puts the BOS token first (Llama's post-processor does, Qwen2's does not). */
function addsBos(tok: HfTextTokenizer): boolean {
  if (tok.bosId === undefined) return false;
  return tok.encode("a", { addSpecialTokens: true })[0] === tok.bosId;
}

/** generation_config.json's eos_token_id (an int or a list) and pad_token_id; absent file: none. */
export function readGenerationConfig(dir: string): { eos: number[]; pad: number | undefined } {
  const file = path.join(dir, HF_GENERATION_CONFIG_FILE);
  const json = readCheckpointJson(file, "generation config", (m) => new HfCheckpointError(m));
  if (!json) return { eos: [], pad: undefined };
  const id = (v: unknown, key: string): number => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
      throw new HfCheckpointError(`${file}: ${key} must be a token id (a non-negative integer), got ${JSON.stringify(v)}`);
    return v;
  };
  const eosRaw = json.eos_token_id;
  const eos = eosRaw == null ? [] : Array.isArray(eosRaw) ? eosRaw.map((v, i) => id(v, `eos_token_id[${i}]`)) : [id(eosRaw, "eos_token_id")];
  const pad = json.pad_token_id == null ? undefined : id(json.pad_token_id, "pad_token_id");
  return { eos, pad };
}

/** The ids of a prompt: plain text as it is (BOS first where the tokenizer adds one), chat messages through the chat template with its generation prompt (TRL's rule). */
export function promptIds(model: HfModel, prompt: string | readonly { role: string; content: string }[]): number[] {
  if (typeof prompt === "string") return [...(model.bosId === undefined ? [] : [model.bosId]), ...model.tokenizer.encode(prompt)];
  if (!model.chatTemplate)
    throw new HfCheckpointError(
      `${model.dir}: a conversational prompt needs the checkpoint's chat template, and it has none (no chat_template.jinja, no chat_template in tokenizer_config.json); give plain-text prompts instead`,
    );
  // The rendered template carries its own special tokens (BOS included), so none are added.
  return model.tokenizer.encode(model.chatTemplate.render(prompt, { addGenerationPrompt: true }));
}
