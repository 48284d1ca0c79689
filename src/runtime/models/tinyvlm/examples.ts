// World items (a dataset directory's items.jsonl) as training/evaluation examples: prompt, answer and the image's
// RGB bytes, checked against the model's image size.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { WorldItem } from "../../world/format.ts";
import { decodePng } from "../../world/png.ts";
import { type Example, FeedError } from "./feeds.ts";

/** `dir` is the dataset directory the items' image paths are relative to. */
export function examplesOf(dir: string, items: readonly WorldItem[], imageSize: number): Example[] {
  return items.map((item) => {
    if (!item.image) return { id: item.id, prompt: item.prompt, answer: item.answer, rgb: null };
    const file = path.resolve(dir, item.image); // item.image may be absolute (records read with readDataset)
    const png = decodePng(readFileSync(file));
    if (png.width !== imageSize || png.height !== imageSize)
      throw new FeedError(
        `item ${item.id}: image ${file} is ${png.width}×${png.height}, the model takes ${imageSize}×${imageSize}; ` +
          `generate the dataset with image_size: ${imageSize} (or pick a model whose image_size is ${png.width})`,
      );
    return { id: item.id, prompt: item.prompt, answer: item.answer, rgb: png.rgb };
  });
}
