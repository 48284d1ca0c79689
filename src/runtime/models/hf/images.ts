// The image inputs of a vision-language model's programs (src/models/hf/vision/llava.ts): `pixel_values`
// [I · tiles, 3, S, S] — each image file through the checkpoint's processor (vision/image-processor.ts), exactly as
// transformers' Pillow processors make them, one tile (LLaVA) or the anyres tiles (LLaVA-NeXT) per image slot — and
// `image_index` [B·T], which feature-table row each position of a batch of id rows takes (vision/anyres.ts).
// Images are read when a batch needs them (a dataset's images do not all fit in memory as pixel values); a small cache
// keeps the recent ones, since a DPO pair's two rows, a prompt's n samples and an epoch's repeats show the same image.
import { readImage, readImageSize } from "../../../formats/image/decode.ts";
import { type ImageSize, imageTokenCount, maxTilesPerImage } from "../../../models/hf/vision/anyres.ts";
import { pixelTiles } from "../../../models/hf/vision/image-processor.ts";
import { slotImageIndex } from "../../../models/hf/vision/llava.ts";
import { featuresPerTile } from "../../../models/hf/vision/tower.ts";
import type { TensorData } from "../../../tensor/ir/graph.ts";
import type { HfVision } from "./model.ts";

const CACHED_IMAGES = 64;

/** An image through the processor: float32 [tiles, 3, S, S] and the image's size (EXIF orientation applied). */
type Processed = ReturnType<typeof pixelTiles>;

export class ImageFeeds {
  private readonly cache = new Map<string, Processed>();

  constructor(private readonly vision: HfVision) {}

  /** One image's tiles' pixel values; throws ImageError (ALN7026) naming the file. */
  async pixels(file: string): Promise<Processed> {
    const known = this.cache.get(file);
    if (known) {
      // Most recently used last.
      this.cache.delete(file);
      this.cache.set(file, known);
      return known;
    }
    const made = pixelTiles(await readImage(file), this.vision.processor);
    this.cache.set(file, made);
    if (this.cache.size > CACHED_IMAGES) this.cache.delete(this.cache.keys().next().value as string);
    return made;
  }

  /**
   * The feeds of the id rows `ids` (int64 [R, T]): image slot k of `pixel_values` holds `slots[k]`'s tiles (zeros where
   * null or past the list), and row r's image tokens take slot `rowSlot[r]`'s features.
   */
  async feeds(
    ids: TensorData,
    rowSlot: readonly (number | null)[],
    slots: readonly (string | null | undefined)[],
    images: number,
  ): Promise<{ pixel_values: TensorData; image_index: TensorData }> {
    const c = this.vision.config;
    const side = c.vision.imageSize;
    const perTile = 3 * side * side;
    const tiles = maxTilesPerImage(c);
    const data = new Float32Array(images * tiles * perTile);
    const sizes: (ImageSize | null)[] = [];
    for (let k = 0; k < images; k++) {
      const file = slots[k];
      if (!file) {
        sizes.push(null);
        continue;
      }
      const p = await this.pixels(file);
      data.set(p.data, k * tiles * perTile);
      sizes.push(p.size);
    }
    const [rows, length] = ids.shape as [number, number];
    const index = slotImageIndex(c, idRows(ids.data as BigInt64Array, rows, length), rowSlot, sizes);
    return {
      pixel_values: { dtype: "float32", shape: [images * tiles, 3, side, side], data },
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

const sizes = new Map<string, ImageSize>();

/**
 * The image tokens a prompt needs for `file` (one per feature row): a LLaVA's fixed count; LLaVA-NeXT's depends on the
 * image's size as the processor sees it (readImageSize: the header, EXIF orientation applied), remembered per path.
 */
export function imageTokensFor(vision: HfVision, file: string): number {
  const c = vision.config;
  if (!c.pinpoints) return featuresPerTile(c);
  let size = sizes.get(file);
  if (!size) {
    size = readImageSize(file);
    if (sizes.size > 4096) sizes.clear();
    sizes.set(file, size);
  }
  return imageTokenCount(c, size);
}

/** The rows of a flat [rows, length] int64 id tensor, as lists. */
export function idRows(ids: BigInt64Array, rows: number, length: number): number[][] {
  return Array.from({ length: rows }, (_, r) => Array.from(ids.subarray(r * length, (r + 1) * length), Number));
}
