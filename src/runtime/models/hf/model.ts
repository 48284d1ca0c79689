// A Hugging Face checkpoint as the runtime handles it: its normalised config and decoder shape, its weights referenced
// in place (ONNX external data inside its safetensors files; nothing is copied or converted), its tokenizer, chat
// template and stop tokens; for a vision-language model (LLaVA) also its vision side: the tower's and projector's
// config, the image processor's settings and the image token. Loading reads config.json, the small JSON files and each
// shard's header — never the tensor data — so a 14 GB checkpoint loads in milliseconds.
import { existsSync } from "node:fs";
import path from "node:path";
import { SafetensorsError } from "../../../formats/safetensors.ts";
import { describeHfConfigProblem, type HfDecoderConfig } from "../../../models/hf/config.ts";
import { checkDecoderWeights, type DecoderShape } from "../../../models/hf/decoder.ts";
import type { HfLlavaConfig } from "../../../models/hf/llava-config.ts";
import { readHfModelConfig } from "../../../models/hf/model-config.ts";
import { decoderShapeOf } from "../../../models/hf/shape.ts";
import { type ImageProcessorSpec, processorMismatch, readImageProcessor } from "../../../models/hf/vision/image-processor.ts";
import { llavaProgramName } from "../../../models/hf/vision/llava.ts";
import { visionWeightProblem } from "../../../models/hf/vision/tower.ts";
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
  /** config.json's `architectures[0]` (a vision-language model's, not its language model's). */
  architecture: string;
  /** The language model's config (a LLaVA's text_config). */
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
  /** A vision-language model's image side; undefined for a decoder. */
  vision?: HfVision;
}

/** What a LLaVA adds to its language model: the tower and projector (their weights are among `weights`), the pixels' processor, the image token. */
export interface HfVision {
  config: HfLlavaConfig;
  processor: ImageProcessorSpec;
  /** The image token's text, which a prompt holds where its image goes (expanded to one copy per feature row before encoding: images.ts imageTokensFor). */
  imageToken: string;
  imageTokenId: number;
}

/** A checkpoint directory holds a Hugging Face model (not an alignc TinyVLM checkpoint): its config.json names an architecture. */
export function isHfCheckpoint(dir: string): boolean {
  if (!existsSync(path.join(dir, "config.json"))) return false;
  const config = readHfModelConfig(dir);
  return config.ok || config.problem.kind !== "invalid-json";
}

/** Loads `dir` (see the file comment); every problem is an HfCheckpointError naming the file. */
export function loadHfModel(dir: string): HfModel {
  const read = readHfModelConfig(dir);
  if (!read.ok) throw new HfCheckpointError(`${dir}: ${describeHfConfigProblem(read.problem)}`);
  const { text: config, llava, architecture } = read.config;
  let shape: DecoderShape;
  let weights: HfExternalWeights;
  let dtype: DType;
  try {
    shape = decoderShapeOf(config);
    const found = findHfWeights(dir);
    if (!found.ok) throw new HfCheckpointError(`${found.problem.file}: ${found.problem.detail}`);
    if (llava) {
      // Every part under the programs' names (any naming generation); the decoder's and the tower's shapes checked.
      const index = readHfTensorIndex(found.files, (name) => {
        const n = llavaProgramName(name);
        return n === undefined ? undefined : { canonical: n, generation: "llava" };
      });
      weights = externalHfWeights(dir, index, (name) => name);
      const problem = visionWeightProblem(llava, weights.tensors);
      if (problem) throw new HfCheckpointError(`${dir}: in the weights, ${problem}`);
    } else {
      const index = readHfTensorIndex(found.files);
      const problems = checkHfTensors(config, index);
      if (problems.length > 0) throw new HfCheckpointError(`${dir}: ${problems.slice(0, 4).map(describeHfTensorProblem).join("; ")}`);
      weights = externalHfWeights(dir, index);
    }
    dtype = checkDecoderWeights(shape, weights.tensors);
  } catch (e) {
    throw asCheckpointError(dir, e);
  }
  const tokenizer = HfTextTokenizer.load(dir);
  checkTokenizerFits(dir, tokenizer.vocabSize, config.vocabSize);
  const generation = readGenerationConfig(dir);
  const stopIds = [...new Set([...generation.eos, ...config.eosTokenIds, ...(tokenizer.eosId === undefined ? [] : [tokenizer.eosId])])].sort((a, b) => a - b);
  for (const id of stopIds)
    if (id < 0 || id >= config.vocabSize) throw new HfCheckpointError(`${dir}: the stop token id ${id} is outside the vocabulary of ${config.vocabSize}`);
  const padId = generation.pad ?? config.padTokenId ?? tokenizer.padId ?? stopIds[0] ?? 0;
  const bosId = addsBos(tokenizer) ? (tokenizer.bosId ?? config.bosTokenId ?? undefined) : undefined;
  const model: HfModel = { dir, architecture, config, shape, dtype, weights, tokenizer, chatTemplate: ChatTemplate.load(dir), stopIds, padId, bosId };
  if (llava) model.vision = visionOf(dir, llava, tokenizer);
  return model;
}

/** A weights or shape problem of the checkpoint in `dir` as the HfCheckpointError that names it; anything else as it is. */
export function asCheckpointError(dir: string, e: unknown): unknown {
  return e instanceof ShapeError || e instanceof SafetensorsError ? new HfCheckpointError(`${dir}: ${e.message}`, { cause: e }) : e;
}

/** A tokenizer with more tokens than the model's embedding rows belongs to another model. */
export function checkTokenizerFits(dir: string, tokens: number, vocabSize: number): void {
  if (tokens > vocabSize)
    throw new HfCheckpointError(`${dir}: tokenizer.json has ${tokens} tokens but config.json's vocab_size is ${vocabSize}; they do not belong together`);
}

function visionOf(dir: string, config: HfLlavaConfig, tokenizer: HfTextTokenizer): HfVision {
  const processor = readImageProcessor(dir);
  if (!processor.ok) throw new HfCheckpointError(`${processor.problem.file}: ${processor.problem.detail}`);
  const imageToken = tokenizer.tokenOf(config.imageTokenId);
  if (imageToken === undefined)
    throw new HfCheckpointError(`${dir}: the tokenizer has no token ${config.imageTokenId} (config.json's image_token_index) to mark where images go`);
  // The token must come back as itself: a text that splits into other ids could not mark the image's place.
  const ids = tokenizer.encode(imageToken.repeat(2));
  if (ids.length !== 2 || ids.some((id) => id !== config.imageTokenId))
    throw new HfCheckpointError(
      `${dir}: the image token ${JSON.stringify(imageToken)} (id ${config.imageTokenId}) does not encode to itself; the tokenizer must have it as an added token`,
    );
  const mismatch = processorMismatch(processor.spec, config);
  if (mismatch) throw new HfCheckpointError(`${dir}: ${mismatch}; they do not belong together`);
  return { config, processor: processor.spec, imageToken, imageTokenId: config.imageTokenId };
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
