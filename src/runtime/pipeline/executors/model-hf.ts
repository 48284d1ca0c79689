// model.hf: a Hugging Face checkpoint directory, used in place. The weights are never copied: the store entry records
// where the checkpoint is (hf-source.json) and the node's key covers the digest of every file alignc reads from it
// (config, tokenizer, chat template, generation config, weights), so a changed checkpoint computes everything
// downstream again. Loading checks the config against the weights' headers before anything runs.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { readConfigJson } from "../../../models/hf/config.ts";
import { isEncoderConfig, readHfEncoderConfig } from "../../../models/hf/encoder-config.ts";
import { findHfWeights } from "../../../models/hf/weights.ts";
import { hashUntrusted } from "../../../util/untrusted-file.ts";
import { HF_COPIED_FILES } from "../../models/hf/checkpoint-io.ts";
import { type HfEncoder, loadHfEncoder } from "../../models/hf/encoder.ts";
import { HfCheckpointError, loadHfModel } from "../../models/hf/model.ts";
import { defineExecutor, NodeError } from "../node-executor.ts";
import { HF_SOURCE_FILE } from "./inputs.ts";

/** sha256 over every file of the checkpoint alignc reads, each streamed (bounded memory whatever its size). */
export function hfCheckpointDigest(dir: string): string {
  const h = createHash("sha256");
  const weights = findHfWeights(dir);
  const files = [...HF_COPIED_FILES, ...(weights.ok ? [...(weights.index ? [weights.index] : []), ...weights.files].map((f) => path.basename(f)) : [])];
  // A sentence encoder's pooling and length live in sentence-transformers' files (none for a decoder: its key stays).
  const encoder = readHfEncoderConfig(dir);
  if (encoder.ok) files.push(...encoder.config.files);
  for (const f of files) {
    h.update(`${f}\0`);
    const r = hashUntrusted(path.join(dir, f), { maxBytes: Number.MAX_SAFE_INTEGER }, (chunk) => h.update(chunk));
    h.update(r.ok ? `\0${r.size}\0` : `\0${r.reason}\0`); // the run reports what is wrong; the key only has to differ
  }
  return h.digest("hex");
}

export const modelHf = defineExecutor({
  ...nodeKind("model.hf"),
  settings: (p) => ({ path: p.path, dtype: p.dtype }),
  external(settings, entryDir) {
    return hfCheckpointDigest(path.resolve(entryDir, settings.path));
  },
  async run(ctx, settings) {
    const dir = path.resolve(ctx.entryDir, settings.path);
    if (isEncoderDir(dir)) return encoderEntry(ctx.out, dir, settings.dtype);
    let model: ReturnType<typeof loadHfModel>;
    try {
      model = loadHfModel(dir);
    } catch (e) {
      if (e instanceof HfCheckpointError) throw new NodeError(e.message, { cause: e });
      throw e;
    }
    if (settings.dtype !== undefined && settings.dtype !== model.dtype)
      throw new NodeError(
        `${dir}: the weights are ${model.dtype} and dtype: ${settings.dtype} asks for ${settings.dtype}; alignc computes in the weights' own dtype (read in place, never converted), so write dtype: ${model.dtype} or leave it out`,
      );
    writeFileSync(path.join(ctx.out, HF_SOURCE_FILE), `${JSON.stringify({ dir: model.weights.folder }, null, 2)}\n`);
    return {
      source: model.weights.folder,
      architecture: model.architecture,
      dtype: model.dtype,
      layers: model.config.numHiddenLayers,
      vocab: model.config.vocabSize,
      stop_ids: model.stopIds,
      chat_template: model.chatTemplate !== undefined,
    };
  },
});

function isEncoderDir(dir: string): boolean {
  const json = readConfigJson(dir);
  return json.ok && isEncoderConfig(json.value);
}

/** A sentence encoder's entry: where it is, checked by loading it (only a cosine similarity reads it). */
function encoderEntry(out: string, dir: string, dtype: string | undefined): Record<string, unknown> {
  let encoder: HfEncoder;
  try {
    encoder = loadHfEncoder(dir);
  } catch (e) {
    if (e instanceof HfCheckpointError) throw new NodeError(e.message, { cause: e });
    throw e;
  }
  if (dtype !== undefined && dtype !== "float32")
    throw new NodeError(`${dir}: a sentence encoder runs in float32, and dtype: ${dtype} asks for ${dtype}; leave dtype out`);
  writeFileSync(path.join(out, HF_SOURCE_FILE), `${JSON.stringify({ dir: encoder.weights.folder }, null, 2)}\n`);
  const c = encoder.config;
  return {
    source: encoder.weights.folder,
    architecture: c.architecture,
    encoder: true,
    layers: c.numHiddenLayers,
    width: c.hiddenSize,
    max_length: c.maxLength,
    pooling: c.pooling,
  };
}
