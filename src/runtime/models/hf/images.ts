// The image inputs of a vision-language model's programs (src/models/hf/vision/llava.ts): `pixel_values` [I, 3, S, S]
// — each image file through the checkpoint's processor (vision/image-processor.ts), exactly as transformers' Pillow
// processors make them — and `image_index` [B·T], which feature row each position of a batch of id rows takes.
// Images are read when a batch needs them (a dataset's images do not all fit in memory as pixel values); a small cache
// keeps the recent ones, since a DPO pair's two rows, a prompt's n samples and an epoch's repeats show the same image.
import { readImage } from "../../../formats/image/decode.ts";
import { pixelValues } from "../../../models/hf/vision/image-processor.ts";
import { imageIndex } from "../../../models/hf/vision/llava.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import type { HfVision } from "./model.ts";

const CACHED_IMAGES = 64;

export class ImageFeeds {
  private readonly cache = new Map<string, Float32Array>();

  constructor(private readonly vision: HfVision) {}

  /** One image's pixel values [3, S, S]; throws ImageError (ALN7026) naming the file. */
  async pixels(file: string): Promise<Float32Array> {
    const known = this.cache.get(file);
    if (known) {
      // Most recently used last.
      this.cache.delete(file);
      this.cache.set(file, known);
      return known;
    }
    const { data } = pixelValues(await readImage(file), this.vision.processor);
    this.cache.set(file, data);
    if (this.cache.size > CACHED_IMAGES) this.cache.delete(this.cache.keys().next().value as string);
    return data;
  }

  /**
   * The feeds of the id rows `ids` (int64 [R, T]): slot k of `pixel_values` holds `slots[k]` (zeros where null or past
   * the list), and row r's image tokens take slot `rowSlot[r]`'s features.
   */
  async feeds(
    ids: TensorData,
    rowSlot: readonly (number | null)[],
    slots: readonly (string | null | undefined)[],
    images: number,
  ): Promise<{ pixel_values: TensorData; image_index: TensorData }> {
    const side = this.vision.config.vision.imageSize;
    const per = 3 * side * side;
    const data = new Float32Array(images * per);
    for (let k = 0; k < images; k++) {
      const file = slots[k];
      if (file) data.set(await this.pixels(file), k * per);
    }
    const [rows, length] = ids.shape as [number, number];
    const index = imageIndex(idRows(ids.data as BigInt64Array, rows, length), this.vision.imageTokenId, rowSlot, images, this.vision.perImage);
    return {
      pixel_values: { dtype: "float32", shape: [images, 3, side, side], data },
      image_index: { dtype: "int64", shape: [index.length], data: index },
    };
  }

  /** Each row of `ids` with its own image in its own slot (`files[r]`, none where undefined). */
  rowFeeds(ids: TensorData, files: readonly (string | undefined)[]): Promise<{ pixel_values: TensorData; image_index: TensorData }> {
    return this.feeds(
      ids,
      files.map((file, r) => (file ? r : null)),
      files,
      files.length,
    );
  }
}

/** The rows of a flat [rows, length] int64 id tensor, as lists. */
export function idRows(ids: BigInt64Array, rows: number, length: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from(ids.subarray(r * length, (r + 1) * length), Number));
}
