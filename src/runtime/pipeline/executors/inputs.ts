// Reading the stored outputs of input nodes: models (checkpoint directories) and prompt datasets (items.jsonl with
// images/, the world format of docs/world.md).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { loadCheckpoint } from "../../models/checkpoint.ts";
import { examplesOf } from "../../models/tinyvlm/examples.ts";
import type { Example } from "../../models/tinyvlm/feeds.ts";
import { modelFromCheckpoint, type VlmModel } from "../../models/tinyvlm/model.ts";
import { ITEMS_FILE, type WorldItem } from "../../world/format.ts";
import { NodeError, type StoredInput } from "../node-executor.ts";

export function loadModel(input: StoredInput): VlmModel {
  return modelFromCheckpoint(loadCheckpoint(input.dir), `${input.node.id} (${input.dir})`);
}

/** The items of a stored dataset (written by alignc, so not validated again). */
export function loadItems(input: StoredInput): WorldItem[] {
  const text = readFileSync(path.join(input.dir, ITEMS_FILE), "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as WorldItem);
}

/** Items and their examples (images decoded at the model's image size). */
export function loadExamples(input: StoredInput, model: VlmModel): { items: WorldItem[]; examples: Example[] } {
  const items = loadItems(input);
  return { items, examples: examplesOf(input.dir, items, model.config.imageSize) };
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
