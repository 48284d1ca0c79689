// Reading the stored outputs of input nodes: models (checkpoint directories) and prompt datasets (items.jsonl with
// images/, the world format of docs/world.md).
import { readFileSync } from "node:fs";
import path from "node:path";
import { loadCheckpoint } from "../../checkpoint.ts";
import { examplesOf } from "../../vlm/examples.ts";
import type { Example } from "../../vlm/feeds.ts";
import { modelFromCheckpoint, type VlmModel } from "../../vlm/model.ts";
import { ITEMS_FILE, type WorldItem } from "../../world/format.ts";
import type { StoredInput } from "./types.ts";

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
