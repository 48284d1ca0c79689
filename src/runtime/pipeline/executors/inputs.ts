// Reading the stored outputs of input nodes: models (TinyVLM checkpoint directories, Hugging Face checkpoints) and prompt datasets (items.jsonl with
// images/, the world format of docs/world.md).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { readDataset } from "../../data/prefdata/records.ts";
import { loadCheckpoint } from "../../models/checkpoint.ts";
import { HfCheckpointError, type HfModel, loadHfModel } from "../../models/hf/model.ts";
import { modelFromCheckpoint, type VlmModel } from "../../models/tinyvlm/model.ts";
import type { WorldItem } from "../../world/format.ts";
import { NodeError, type StoredInput } from "../node-executor.ts";

/** The file a model.hf entry holds: where its checkpoint is (the weights stay there). */
export const HF_SOURCE_FILE = "hf-source.json";

/** A model input of either family: alignc's TinyVLM, or a Hugging Face decoder (model.hf, or a phase trained from one). */
export type LoadedModel = { family: "tinyvlm"; model: VlmModel } | { family: "hf"; model: HfModel };

/** The Hugging Face checkpoint directory of a stored model, or undefined for a TinyVLM checkpoint. */
export function hfDirOf(entryDir: string): string | undefined {
  const source = path.join(entryDir, HF_SOURCE_FILE);
  if (existsSync(source)) return (JSON.parse(readFileSync(source, "utf8")) as { dir: string }).dir;
  const config = path.join(entryDir, "config.json");
  if (!existsSync(config)) return undefined;
  // A trained Hugging Face model is a Hugging Face directory; alignc's checkpoints have no "architectures".
  const json = JSON.parse(readFileSync(config, "utf8")) as Record<string, unknown>;
  return Array.isArray(json.architectures) ? entryDir : undefined;
}

export function loadModelInput(input: StoredInput): LoadedModel {
  return modelAt(input.dir, input.node.id);
}

/** The model stored in the entry `entryDir` of node `node`, of either family. */
export function modelAt(entryDir: string, node: string): LoadedModel {
  const dir = hfDirOf(entryDir);
  if (dir === undefined) return { family: "tinyvlm", model: modelFromCheckpoint(loadCheckpoint(entryDir), `${node} (${entryDir})`) };
  try {
    return { family: "hf", model: loadHfModel(dir) };
  } catch (e) {
    if (e instanceof HfCheckpointError) throw new NodeError(`${node}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** A TinyVLM model input; a Hugging Face one is refused, naming `what` cannot take it (check refuses it first). */
export function loadModel(input: StoredInput, what = "this node"): VlmModel {
  const m = loadModelInput(input);
  if (m.family === "hf")
    throw new NodeError(`${input.node.id} is a Hugging Face model, and ${what} does not run on Hugging Face models yet (docs/hf-models.md)`);
  return m.model;
}

/** The items of a stored prompts dataset (written by alignc, so not validated again), image paths absolute. */
export function loadItems(input: StoredInput): WorldItem[] {
  const data = readDataset(input.dir);
  if (data.kind !== "prompts") throw new NodeError(`${input.node.id} holds ${data.kind} records, not prompts`);
  return data.records;
}

/** The store root of an entry directory store/<kk>/<key>. */
export function storeRoot(entryDir: string): string {
  return path.dirname(path.dirname(path.resolve(entryDir)));
}

/**
 * How a node's entry names another entry it uses later (a similarity's or a judge's model): relative to the store
 * root, so the reference survives moving the store as a whole.
 */
export interface StoredModelRef {
  /** <kk>/<key>, relative to the store root. */
  entry: string;
  key: string;
  node: string;
}

export function storedModelRef(input: StoredInput): StoredModelRef {
  return { entry: path.relative(storeRoot(input.dir), path.resolve(input.dir)).split(path.sep).join("/"), key: input.info.key, node: input.node.id };
}

/** The entry directory `ref` names, in the store that holds `holder`'s entry. */
export function storedModelDir(holder: StoredInput, ref: StoredModelRef): string {
  const root = storeRoot(holder.dir);
  const byEntry = path.join(root, ...ref.entry.split("/"));
  if (existsSync(byEntry)) return byEntry;
  const byKey = path.join(root, ref.key.slice(0, 2), ref.key);
  if (existsSync(byKey)) return byKey;
  throw new NodeError(`${holder.node.id}: its model ${ref.node} (store entry ${ref.entry}) is not in the store ${root}; run the graph again to rebuild it`);
}
