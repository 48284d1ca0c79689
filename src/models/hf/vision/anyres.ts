// LLaVA-NeXT's "anyres" layout, the arithmetic transformers spreads over its processor and model, in one place: an
// image of height×width is fitted (keeping its aspect) into the best of the checkpoint's pinpoint resolutions and cut
// into tiles of the tower's size, after a first tile that is the whole image squashed (image-processor.ts makes the
// pixels). Its features: the first tile's rows, then the other tiles' feature maps stitched into one grid, the rows
// and columns that only saw padding cut away (`unpad_image`), and the learned `image_newline` after every grid row.
// The programs never see these shapes: the host gives every image position the feature row it takes
// (`anyresFeatureRows`), so one program serves every image size.
//
// Python's float arithmetic is IEEE double like JavaScript's; `int()` truncates, `round(x, 7)` is toFixed(7) (no
// double lies exactly halfway at the 7th decimal).
import type { HfLlavaConfig } from "../llava-config.ts";
import { featuresPerTile } from "./tower.ts";

export interface ImageSize {
  height: number;
  width: number;
}

/** transformers' select_best_resolution: the pinpoint keeping most of the image's pixels, then wasting least. */
export function selectBestResolution(size: ImageSize, pinpoints: readonly (readonly [number, number])[]): [number, number] {
  let best: [number, number] | undefined;
  let maxEffective = 0;
  let minWasted = Number.POSITIVE_INFINITY;
  for (const [height, width] of pinpoints) {
    const scale = Math.min(width / size.width, height / size.height);
    const w = Math.trunc(size.width * scale);
    const h = Math.trunc(size.height * scale);
    const effective = Math.min(w * h, size.width * size.height);
    const wasted = width * height - effective;
    if (effective > maxEffective || (effective === maxEffective && wasted < minWasted)) {
      maxEffective = effective;
      minWasted = wasted;
      best = [height, width];
    }
  }
  if (!best) throw new RangeError("anyres: no pinpoint resolutions");
  return best;
}

/** get_patch_output_size: the image's size fitted into `target` keeping its aspect (one side equal, the other ≤). */
export function fittedSize(size: ImageSize, target: ImageSize): ImageSize {
  const scaleW = target.width / size.width;
  const scaleH = target.height / size.height;
  if (scaleW < scaleH) return { width: target.width, height: Math.min(Math.ceil(size.height * scaleW), target.height) };
  return { height: target.height, width: Math.min(Math.ceil(size.width * scaleH), target.width) };
}

/** The tiles' grid (rows × columns of tower-sized tiles) an image is cut into, its first whole-image tile not counted. */
export function tileGrid(c: HfLlavaConfig, size: ImageSize): { rows: number; cols: number } {
  const [height, width] = selectBestResolution(size, pinpointsOf(c));
  const side = c.vision.imageSize;
  return { rows: Math.floor(height / side), cols: Math.floor(width / side) };
}

/** Tiles per image, at most: the whole image, then the largest pinpoint's tiles (1 for LLaVA). */
export function maxTilesPerImage(c: HfLlavaConfig): number {
  if (!c.pinpoints) return 1;
  const side = c.vision.imageSize;
  return 1 + Math.max(...c.pinpoints.map(([h, w]) => Math.floor(h / side) * Math.floor(w / side)));
}

/** Tiles of one image: 1 + its grid's (1 for LLaVA). */
export function tilesOf(c: HfLlavaConfig, size: ImageSize): number {
  if (!c.pinpoints) return 1;
  const g = tileGrid(c, size);
  return 1 + g.rows * g.cols;
}

/**
 * unpad_image on the stitched feature grid (rows × cols feature positions): the rows (or columns) the padding filled
 * cut evenly from both sides; what is left, as [first row, row count, first column, column count].
 */
export function unpaddedRegion(size: ImageSize, rows: number, cols: number): { top: number; height: number; left: number; width: number } {
  const original = size.width / size.height;
  const current = cols / rows;
  if (original > current) {
    const h = Math.trunc(Number((size.height * (cols / size.width)).toFixed(7)));
    const pad = Math.floor((rows - h) / 2);
    return { top: pad, height: rows - 2 * pad, left: 0, width: cols };
  }
  const w = Math.trunc(Number((size.width * (rows / size.height)).toFixed(7)));
  const pad = Math.floor((cols - w) / 2);
  return { top: 0, height: rows, left: pad, width: cols - 2 * pad };
}

/** An image's stitched feature grid: its tiles' grid, the features per tile side, and the region unpadding keeps. */
function unpaddedGrid(c: HfLlavaConfig, size: ImageSize) {
  const tiles = tileGrid(c, size);
  const n = c.vision.grid;
  return { tiles, n, region: unpaddedRegion(size, tiles.rows * n, tiles.cols * n) };
}

/** The image tokens an image of `size` needs: one per feature row (LlavaProcessor / LlavaNextProcessor's count). */
export function imageTokenCount(c: HfLlavaConfig, size: ImageSize): number {
  if (!c.pinpoints) return featuresPerTile(c);
  const { region } = unpaddedGrid(c, size);
  return featuresPerTile(c) + region.height * (region.width + 1);
}

/**
 * The feature rows an image's tokens take, in order, when its tiles sit at `firstTile` onwards in a [tiles · perTile]
 * feature table followed by the newline row at `newlineRow`: the first tile's rows, then per row of the unpadded grid
 * its feature rows and the newline (pack_image_features' order).
 */
export function anyresFeatureRows(c: HfLlavaConfig, size: ImageSize, firstTile: number, newlineRow: number): number[] {
  const per = featuresPerTile(c);
  const base = firstTile * per;
  const out = Array.from({ length: per }, (_, k) => base + k);
  if (!c.pinpoints) return out;
  const { tiles, n, region } = unpaddedGrid(c, size);
  for (let y = region.top; y < region.top + region.height; y++) {
    const tileRow = Math.floor(y / n);
    for (let x = region.left; x < region.left + region.width; x++) {
      const tile = 1 + tileRow * tiles.cols + Math.floor(x / n);
      out.push(base + tile * per + (y % n) * n + (x % n));
    }
    out.push(newlineRow);
  }
  return out;
}

function pinpointsOf(c: HfLlavaConfig): readonly [number, number][] {
  if (!c.pinpoints) throw new RangeError(`anyres: ${c.architecture} has no image_grid_pinpoints`);
  return c.pinpoints;
}
