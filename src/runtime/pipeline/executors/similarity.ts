// similarity.lexical and similarity.cosine: a similarity declaration's store entry is a small description,
// similarity.json, that stages using it (bdhs) turn back into a Similarity with loadSimilarity. A cosine similarity
// names its model by the model entry's path relative to the store root ("<kk>/<key>") and its key, so the
// reference survives moving the store as a whole; it is resolved against the store that holds the similarity
// entry (the grandparent of the entry directory: store/<kk>/<key>). The model is a TinyVLM checkpoint or a Hugging
// Face sentence encoder (a model.hf entry), told apart when the similarity is loaded.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nodeKind } from "../../../graph/node-kinds.ts";
import { EncoderCosineSimilarity } from "../../data/prefdata/encoder-similarity.ts";
import { createSimilarity, type LexicalMeasure, type Pooling, type Similarity } from "../../data/prefdata/similarity.ts";
import type { Runtime } from "../../engine/session.ts";
import { loadCheckpoint } from "../../models/checkpoint.ts";
import { type HfEncoder, loadHfEncoder } from "../../models/hf/encoder.ts";
import { HfCheckpointError } from "../../models/hf/model.ts";
import { modelFromCheckpoint } from "../../models/tinyvlm/model.ts";
import { defineExecutor, NodeError, type StoredInput } from "../node-executor.ts";
import { hfDirOf, loadModel, storedModelDir, storedModelRef } from "./inputs.ts";

export const SIMILARITY_JSON = "similarity.json";

export interface StoredSimilarity {
  format: "alignc-similarity";
  version: 1;
  kind: "lexical" | "cosine";
  params: { measure: LexicalMeasure } | { pooling: Pooling };
  /** cosine: the model's store entry (path relative to the store root, key, node id); null for lexical. */
  model: { entry: string; key: string; node: string } | null;
}

function write(out: string, s: StoredSimilarity): void {
  writeFileSync(path.join(out, SIMILARITY_JSON), `${JSON.stringify(s, null, 2)}\n`);
}

export const similarityLexical = defineExecutor({
  ...nodeKind("similarity.lexical"),
  settings: (p): { measure: LexicalMeasure } => ({ measure: p.measure }),
  async run(ctx, { measure }) {
    write(ctx.out, { format: "alignc-similarity", version: 1, kind: "lexical", params: { measure }, model: null });
    return { kind: "lexical", measure };
  },
});

export const similarityCosine = defineExecutor({
  ...nodeKind("similarity.cosine"),
  settings: (p): { pooling: Pooling } => ({ pooling: p.pooling }),
  async run(ctx, { pooling }) {
    const input = ctx.input("model");
    // Loaded here to fail naming the model, rather than in the stage that uses the similarity.
    const hfDir = hfDirOf(input.dir);
    const width = hfDir === undefined ? loadModel(input).config.text.width : encoderAt(hfDir, input.node.id, pooling).config.hiddenSize;
    write(ctx.out, {
      format: "alignc-similarity",
      version: 1,
      kind: "cosine",
      params: { pooling },
      model: storedModelRef(input),
    });
    return { kind: "cosine", pooling, model: input.node.id, width };
  },
});

/** The description stored in a similarity entry. */
export function readStoredSimilarity(input: StoredInput): StoredSimilarity {
  const file = path.join(input.dir, SIMILARITY_JSON);
  if (!existsSync(file)) throw new NodeError(`${input.node.id}: ${file} is missing; the input in role ${input.name} is not a similarity`);
  const s = JSON.parse(readFileSync(file, "utf8")) as StoredSimilarity;
  if (s.format !== "alignc-similarity" || s.version !== 1)
    throw new NodeError(`${file}: not a similarity description this alignc reads (format alignc-similarity, version 1)`);
  return s;
}

/** The model entry directory a stored cosine similarity names, in the store that holds the similarity entry. */
export function similarityModelDir(input: StoredInput, s: StoredSimilarity): string {
  if (!s.model) throw new NodeError(`${input.node.id}: a ${s.kind} similarity has no model`);
  return storedModelDir(input, s.model);
}

/** The Similarity a stored similarity entry describes; cosine loads its model and embeds on `runtime`. */
export function loadSimilarity(input: StoredInput, runtime: Runtime): Similarity {
  const s = readStoredSimilarity(input);
  if (s.kind === "lexical") return createSimilarity("lexical", s.params);
  const dir = similarityModelDir(input, s);
  const hfDir = hfDirOf(dir);
  if (hfDir !== undefined)
    return new EncoderCosineSimilarity(runtime, encoderAt(hfDir, s.model?.node ?? input.node.id, (s.params as { pooling: Pooling }).pooling));
  const model = modelFromCheckpoint(loadCheckpoint(dir), `${s.model?.node} (${dir})`);
  return createSimilarity("cosine", s.params, { runtime, model });
}

/** The Hugging Face sentence encoder in `dir` (a decoder is refused: check refuses it first). */
function encoderAt(dir: string, node: string, pooling: Pooling): HfEncoder {
  if (pooling !== "mean") throw new NodeError(`${node}: a sentence encoder pools by the mean; pooling: ${pooling} is for TinyVLM models`);
  try {
    return loadHfEncoder(dir);
  } catch (e) {
    if (e instanceof HfCheckpointError)
      throw new NodeError(`${node}: ${e.message}; cosine similarity embeds with a sentence encoder (BertModel, MPNetModel) or a TinyVLM`, { cause: e });
    throw e;
  }
}
