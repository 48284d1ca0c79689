// World items (a dataset directory's items.jsonl) as training/evaluation examples: prompt, answer and the image's
// RGB bytes at the model's image size. Any PNG, JPEG or WebP of any size and mode is read as transformers' load_image
// reads it (src/formats/image/: EXIF orientation, convert("RGB")); one that is not image_size × image_size is resized
// to it with Pillow's bicubic filter (a square, as SigLIP's processor squashes), so the world's own images, already
// at the model's size, pass through unchanged. Conversations of several messages are refused (no chat template).
import path from "node:path";
import { ImageError, readImage } from "../../../formats/image/decode.ts";
import { resizeRgb } from "../../../formats/image/resample.ts";
import type { WorldItem } from "../../world/format.ts";
import { type Example, FeedError } from "./feeds.ts";

/** `dir` is the dataset directory the items' image paths are relative to (they may be absolute, as readDataset gives them). */
export async function examplesOf(dir: string, items: readonly WorldItem[], imageSize: number): Promise<Example[]> {
  const out: Example[] = [];
  for (const item of items) {
    // TinyVLM has no chat template: it sees the prompt text alone, which would drop a system message or earlier turns.
    if (item.messages && item.messages.length > 1)
      throw new FeedError(
        `item ${item.id} is a conversation of ${item.messages.length} messages (${item.messages.map((m) => m.role).join(", ")}), and TinyVLM reads one prompt with no chat template; ` +
          "use a Hugging Face model with a chat template, or single-turn prompts",
      );
    if (!item.image) {
      out.push({ id: item.id, prompt: item.prompt, answer: item.answer, rgb: null });
      continue;
    }
    try {
      out.push({ id: item.id, prompt: item.prompt, answer: item.answer, rgb: await imageAtSize(path.resolve(dir, item.image), imageSize) });
    } catch (e) {
      if (e instanceof ImageError) throw new FeedError(`item ${item.id}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return out;
}

/** The RGB bytes of the image `file` at `size` × `size`, as TinyVLM sees every image (see the file comment); throws ImageError. */
export async function imageAtSize(file: string, size: number): Promise<Uint8Array> {
  const img = await readImage(file);
  return img.width === size && img.height === size ? img.rgb : resizeRgb(img, size, size, "bicubic").rgb;
}
