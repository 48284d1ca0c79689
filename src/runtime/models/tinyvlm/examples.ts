// World items (a dataset directory's items.jsonl) as training/evaluation examples: prompt, answer and the image's
// RGB bytes, checked against the model's image size. Conversations of several messages are refused (no chat template).
import { readFileSync } from "node:fs";
import path from "node:path";
import type { WorldItem } from "../../world/format.ts";
import { decodePng } from "../../world/png.ts";
import { type Example, FeedError } from "./feeds.ts";

/** `dir` is the dataset directory the items' image paths are relative to. */
export function examplesOf(dir: string, items: readonly WorldItem[], imageSize: number): Example[] {
  return items.map((item) => {
    // TinyVLM has no chat template: it sees the prompt text alone, which would drop a system message or earlier turns.
    if (item.messages && item.messages.length > 1)
      throw new FeedError(
        `item ${item.id} is a conversation of ${item.messages.length} messages (${item.messages.map((m) => m.role).join(", ")}), and TinyVLM reads one prompt with no chat template; ` +
          "use a Hugging Face model with a chat template, or single-turn prompts",
      );
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
