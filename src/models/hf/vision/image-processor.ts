// Hugging Face image processors, Pillow backend (transformers' `*ImageProcessorPil`, what `use_fast=False` runs), as
// one pipeline over a decoded RGB image: [pad to square] → resize → [center crop] → rescale → normalize → CHW float32
// `pixel_values`, with transformers' arithmetic: the resize is Pillow's (formats/image/resample.ts), the output size
// of `shortest_edge` truncates (int(size · long / short)), the crop takes (orig − crop) // 2 and pads with zeros when
// the image is smaller, rescale multiplies in float64 then rounds to float32, normalize subtracts and divides in
// float32. test/hf-vision-processor.test.ts checks the bytes against transformers.
//
// LlavaNextImageProcessor first cuts the image into tiles (anyres): fitted into the best pinpoint resolution keeping
// its aspect (Pillow resize), zero-padded to it centred, cut into crop-sized tiles row by row, after a first tile that
// is the whole image squashed to the tile size; each tile then goes through the same pipeline.
//
// Settings come from the checkpoint: `preprocessor_config.json` (the hub's layout) or `processor_config.json`'s
// "image_processor" object (transformers 5's save_pretrained), over the defaults of the class its
// `image_processor_type` names (CLIPImageProcessor, LlavaImageProcessor, SiglipImageProcessor; a `…Fast` name is read
// as its class). Anything else is a problem naming the file and the key.
import path from "node:path";
import type { RgbImage } from "../../../formats/image/decode.ts";
import { PIL_RESAMPLE, type ResampleFilter, resizeRgb } from "../../../formats/image/resample.ts";
import type { JsonValue } from "../../../formats/strict-json.ts";
import { describeRefusal, readUntrusted } from "../../../util/untrusted-file.ts";
import { parseJsonObject } from "../config.ts";
import { gridPinpoints, type HfLlavaConfig, llavaNextPinpoints } from "../llava-config.ts";
import { fittedSize, type ImageSize, selectBestResolution } from "./anyres.ts";

export const PREPROCESSOR_CONFIG_FILE = "preprocessor_config.json";
export const PROCESSOR_CONFIG_FILE = "processor_config.json";

export const IMAGE_PROCESSOR_TYPES = ["CLIPImageProcessor", "LlavaImageProcessor", "LlavaNextImageProcessor", "SiglipImageProcessor"] as const;
export type ImageProcessorType = (typeof IMAGE_PROCESSOR_TYPES)[number];

/** What a processor does to an image, all settings resolved. */
export interface ImageProcessorSpec {
  type: ImageProcessorType;
  /** The file the settings came from. */
  file: string;
  /** Pad to a square of the longer side first, with the mean colour (LlavaImageProcessor's `do_pad`). */
  padToSquare: boolean;
  resize: { shortestEdge: number } | { height: number; width: number } | undefined;
  resample: ResampleFilter;
  centerCrop: { height: number; width: number } | undefined;
  rescale: number | undefined;
  normalize: { mean: [number, number, number]; std: [number, number, number] } | undefined;
  /** LlavaNextImageProcessor: the [height, width] resolutions an image is tiled at, and the tiles' side. */
  anyres?: { pinpoints: [number, number][]; tile: number };
}

export type ImageProcessorProblem = { file: string; detail: string };

const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
const HALF: [number, number, number] = [0.5, 0.5, 0.5];

/** The class defaults (transformers' `*ImageProcessorPil` class attributes); LLaVA's is CLIP's with `do_pad`. */
const CLIP_DEFAULTS: Record<string, JsonValue> = {
  size: { shortest_edge: 224 },
  crop_size: { height: 224, width: 224 },
  do_center_crop: true,
  image_mean: CLIP_MEAN,
  image_std: CLIP_STD,
};
const DEFAULTS: Record<ImageProcessorType, Record<string, JsonValue>> = {
  CLIPImageProcessor: CLIP_DEFAULTS,
  LlavaImageProcessor: { ...CLIP_DEFAULTS, do_pad: false },
  LlavaNextImageProcessor: { ...CLIP_DEFAULTS, image_grid_pinpoints: llavaNextPinpoints() },
  SiglipImageProcessor: { size: { height: 224, width: 224 }, do_center_crop: false, image_mean: HALF, image_std: HALF },
};
const COMMON: Record<string, JsonValue> = { resample: 3, do_resize: true, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, do_convert_rgb: true };

/** The checkpoint's image processor settings, or the problem (no file, unknown type, a bad value). */
export function readImageProcessor(dir: string): { ok: true; spec: ImageProcessorSpec } | { ok: false; problem: ImageProcessorProblem } {
  for (const name of [PREPROCESSOR_CONFIG_FILE, PROCESSOR_CONFIG_FILE]) {
    const file = path.join(dir, name);
    const r = readUntrusted(file, { maxBytes: 1 << 20 });
    if (!r.ok) {
      if (r.reason === "missing") continue;
      return { ok: false, problem: { file, detail: describeRefusal(r, 1 << 20) } };
    }
    const json = parseJsonObject(r.bytes, file);
    if (!json.ok) return { ok: false, problem: { file, detail: json.problem.kind === "invalid-json" ? json.problem.detail : "unreadable" } };
    const nested = json.value.image_processor;
    const settings = name === PROCESSOR_CONFIG_FILE ? nested : json.value;
    if (typeof settings !== "object" || settings === null || Array.isArray(settings))
      return { ok: false, problem: { file, detail: 'has no "image_processor" object' } };
    return imageProcessorSpec(settings, file);
  }
  return {
    ok: false,
    problem: {
      file: path.join(dir, PREPROCESSOR_CONFIG_FILE),
      detail: `does not exist (nor ${PROCESSOR_CONFIG_FILE}): a vision checkpoint needs its image processor settings`,
    },
  };
}

/** Settings of one image processor (the JSON object) over its class defaults. */
export function imageProcessorSpec(
  json: Record<string, JsonValue>,
  file: string,
): { ok: true; spec: ImageProcessorSpec } | { ok: false; problem: ImageProcessorProblem } {
  const bad = (key: string, detail: string) => ({ ok: false as const, problem: { file, detail: `${key} ${detail}` } });
  const rawType = json.image_processor_type;
  const type = typeof rawType === "string" ? rawType.replace(/Fast$/, "") : undefined;
  if (!type || !(IMAGE_PROCESSOR_TYPES as readonly string[]).includes(type))
    return bad("image_processor_type", `${JSON.stringify(rawType ?? null)} is not supported; supported: ${IMAGE_PROCESSOR_TYPES.join(", ")}`);
  const s = { ...COMMON, ...DEFAULTS[type as ImageProcessorType], ...json };
  const flag = (key: string) => s[key] === true;
  const int = (v: JsonValue | undefined) => (typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : undefined);
  const object = (v: JsonValue | undefined) => (typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined);
  const hw = (key: string) => {
    const v = s[key];
    if (typeof v === "number") return int(v) ? { height: v, width: v } : undefined; // an int: a square (old configs)
    const h = int(object(v)?.height);
    const w = int(object(v)?.width);
    return h && w ? { height: h, width: w } : undefined;
  };
  let resize: ImageProcessorSpec["resize"];
  if (flag("do_resize")) {
    const size = object(s.size);
    const shortest = int(size?.shortest_edge);
    resize = shortest !== undefined && size?.longest_edge === undefined ? { shortestEdge: shortest } : hw("size");
    if (!resize) return bad("size", `must be {"shortest_edge": n} or {"height": h, "width": w}, found ${JSON.stringify(s.size)}`);
  }
  const filter = typeof s.resample === "number" ? PIL_RESAMPLE[s.resample] : undefined;
  if (!filter || filter === "nearest")
    return bad("resample", `${JSON.stringify(s.resample)} is not a supported Pillow filter (1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)`);
  let centerCrop: ImageProcessorSpec["centerCrop"];
  if (flag("do_center_crop")) {
    centerCrop = hw("crop_size");
    if (!centerCrop) return bad("crop_size", `must be {"height": h, "width": w}, found ${JSON.stringify(s.crop_size)}`);
  }
  const triple = (key: string): [number, number, number] | undefined => {
    const v = s[key];
    if (typeof v === "number") return [v, v, v];
    return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === "number") ? (v as [number, number, number]) : undefined;
  };
  let normalize: ImageProcessorSpec["normalize"];
  if (flag("do_normalize")) {
    const mean = triple("image_mean");
    const std = triple("image_std");
    if (!mean) return bad("image_mean", `must be three numbers, found ${JSON.stringify(s.image_mean)}`);
    if (!std || std.some((x) => x === 0)) return bad("image_std", `must be three non-zero numbers, found ${JSON.stringify(s.image_std)}`);
    normalize = { mean, std };
  }
  const factor = s.rescale_factor;
  if (flag("do_rescale") && typeof factor !== "number") return bad("rescale_factor", `must be a number, found ${JSON.stringify(factor)}`);
  let anyres: ImageProcessorSpec["anyres"];
  if (type === "LlavaNextImageProcessor") {
    // The tiles' side: crop_size's height (the class default's too, even without do_center_crop), else size's height
    // or shortest edge (LlavaNextImageProcessorPil._preprocess). Each tile is then resized as the settings say.
    const size = object(s.size);
    const tile = hw("crop_size")?.height ?? int(size?.height) ?? int(size?.shortest_edge);
    if (tile === undefined) return bad("size", `must give the tiles' side (crop_size, or size's height or shortest_edge), found ${JSON.stringify(s.size)}`);
    const pinpoints = gridPinpoints(s.image_grid_pinpoints as JsonValue);
    if (typeof pinpoints === "string") return bad("image_grid_pinpoints", pinpoints);
    anyres = { pinpoints, tile };
  }
  return {
    ok: true,
    spec: {
      type: type as ImageProcessorType,
      file,
      padToSquare: flag("do_pad") && type === "LlavaImageProcessor",
      resize,
      resample: filter,
      centerCrop,
      rescale: flag("do_rescale") ? (factor as number) : undefined,
      normalize,
      ...(anyres ? { anyres } : {}),
    },
  };
}

/** The size an image of `height`×`width` is resized to: get_resize_output_image_size(default_to_square=False), or the fixed size. */
export function resizedSize(spec: ImageProcessorSpec, height: number, width: number): { height: number; width: number } {
  const r = spec.resize;
  if (!r) return { height, width };
  if ("height" in r) return r;
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.trunc((r.shortestEdge * long) / short);
  return width <= height ? { height: newLong, width: r.shortestEdge } : { height: r.shortestEdge, width: newLong };
}

/** The size of every image's pixel values (the crop, or a fixed resize), or undefined when it depends on the image. */
export function processedSize(spec: ImageProcessorSpec): { height: number; width: number } | undefined {
  if (spec.centerCrop) return spec.centerCrop;
  return spec.resize && "height" in spec.resize ? spec.resize : undefined;
}

/**
 * An image's tiles as float32 [tiles, 3, H, W] (`pixel_values[i]` of the processor's output): one tile, or with anyres
 * the whole image squashed, then its tiles row by row. `size` is the image's (transformers' `image_sizes[i]`).
 */
export function pixelTiles(image: RgbImage, spec: ImageProcessorSpec): { data: Float32Array; tiles: number; height: number; width: number; size: ImageSize } {
  const size = { height: image.height, width: image.width };
  if (!spec.anyres) return { ...pixelValues(image, spec), tiles: 1, size };
  const { tile, pinpoints } = spec.anyres;
  const [height, width] = selectBestResolution(size, pinpoints);
  const fitted = fittedSize(size, { height, width });
  const padded = padForPatching(resizeRgb(image, fitted.width, fitted.height, spec.resample), height, width);
  const r = spec.resize;
  const squash = r && "height" in r ? r : { height: r?.shortestEdge ?? tile, width: r?.shortestEdge ?? tile };
  const parts = [resizeRgb(image, squash.width, squash.height, spec.resample)];
  for (let y = 0; y < height; y += tile) for (let x = 0; x < width; x += tile) parts.push(cut(padded, y, x, tile, tile));
  const done = parts.map((p) => pixelValues(p, spec));
  const first = done[0] as ReturnType<typeof pixelValues>;
  if (done.some((d) => d.height !== first.height || d.width !== first.width))
    throw new RangeError(`${spec.file}: the tiles come out of different sizes; the tile side ${tile} and the size settings do not fit together`);
  const data = new Float32Array(done.length * first.data.length);
  for (const [i, d] of done.entries()) data.set(d.data, i * first.data.length);
  return { data, tiles: done.length, height: first.height, width: first.width, size };
}

/**
 * Why the processor's pixels cannot feed the model, or undefined: every image (tile) must come out at the tower's
 * image size, and a LLaVA-NeXT needs an anyres processor tiling at the tower's size over the config's pinpoints.
 */
export function processorMismatch(spec: ImageProcessorSpec, c: HfLlavaConfig): string | undefined {
  const file = path.basename(spec.file);
  const size = processedSize(spec);
  const side = c.vision.imageSize;
  if (size?.height !== side || size.width !== side) {
    const makes = size ? `${size.height}×${size.width}` : "images of varying size (no crop or fixed size)";
    return `${file} makes ${makes} pixel values, and the vision tower reads ${side}×${side} (vision_config.image_size)`;
  }
  if (c.pinpoints && !spec.anyres) return `${file} names ${spec.type}, and a ${c.architecture} needs LlavaNextImageProcessor (anyres tiles)`;
  if (!c.pinpoints && spec.anyres) return `${file} names ${spec.type} (anyres tiles), which a ${c.architecture} cannot read; it needs one image per prompt`;
  if (c.pinpoints && spec.anyres) {
    if (spec.anyres.tile !== side) return `${file} cuts ${spec.anyres.tile}-pixel tiles, and the vision tower reads ${side}×${side}`;
    if (JSON.stringify(spec.anyres.pinpoints) !== JSON.stringify(c.pinpoints))
      return `${file}'s image_grid_pinpoints ${JSON.stringify(spec.anyres.pinpoints)} differ from config.json's ${JSON.stringify(c.pinpoints)}`;
  }
  return undefined;
}

/** `pixel_values` of one image (one tile): float32 [3, H, W]. */
export function pixelValues(image: RgbImage, spec: ImageProcessorSpec): { data: Float32Array; height: number; width: number } {
  let img = image;
  if (spec.padToSquare) img = padToSquare(img, spec.normalize?.mean);
  const size = resizedSize(spec, img.height, img.width);
  img = resizeRgb(img, size.width, size.height, spec.resample);
  if (spec.centerCrop) img = centerCrop(img, spec.centerCrop.height, spec.centerCrop.width);
  const { width: w, height: h, rgb } = img;
  const data = new Float32Array(3 * h * w);
  const f = Math.fround;
  const mean = spec.normalize?.mean.map(f);
  const std = spec.normalize?.std.map(f);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < h * w; i++) {
      let v = rgb[3 * i + c] as number;
      if (spec.rescale !== undefined) v = f(v * spec.rescale); // float64 product, then float32
      if (mean && std) v = f(f(v - (mean[c] as number)) / (std[c] as number)); // float32 arithmetic
      data[c * h * w + i] = v;
    }
  return { data, height: h, width: w };
}

/** LlavaImageProcessor's pad_to_square: the image centred on a square of the longer side, filled with int(mean·255). */
function padToSquare(img: RgbImage, mean: readonly number[] | undefined): RgbImage {
  const { width: w, height: h } = img;
  if (w === h) return img;
  const side = Math.max(w, h);
  const fill = (mean ?? [0, 0, 0]).map((m) => Math.trunc(m * 255));
  return place(img, side, side, Math.floor((side - h) / 2), Math.floor((side - w) / 2), fill);
}

/** transformers' center_crop: (orig − crop) // 2 from the top left; an image smaller than the crop is zero-padded (centred, ceil) first. */
function centerCrop(img: RgbImage, ch: number, cw: number): RgbImage {
  const { width: w, height: h } = img;
  const H = Math.max(ch, h);
  const W = Math.max(cw, w);
  const src = H !== h || W !== w ? place(img, H, W, Math.ceil((H - h) / 2), Math.ceil((W - w) / 2)) : img;
  return cut(src, Math.floor((H - ch) / 2), Math.floor((W - cw) / 2), ch, cw);
}

/** LlavaNextImageProcessor's _pad_for_patching: `img` centred on black of height×width, the top/left margin the floor of half the slack. */
function padForPatching(img: RgbImage, height: number, width: number): RgbImage {
  if (img.width === width && img.height === height) return img;
  return place(img, height, width, Math.floor((height - img.height) / 2), Math.floor((width - img.width) / 2));
}

/** `img` at (top, left) on a height×width canvas of `fill` (black by default). */
function place(img: RgbImage, height: number, width: number, top: number, left: number, fill?: readonly number[]): RgbImage {
  const rgb = new Uint8Array(height * width * 3);
  if (fill) for (let i = 0; i < height * width; i++) rgb.set(fill, 3 * i);
  for (let y = 0; y < img.height; y++) rgb.set(img.rgb.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y + top) * width + left) * 3);
  return { width, height, rgb };
}

/** The h×w block of `img` at (top, left), clipped at the image's edges (divide_to_patches' slices, center_crop's crop). */
function cut(img: RgbImage, top: number, left: number, h: number, w: number): RgbImage {
  const ch = Math.min(h, img.height - top);
  const cw = Math.min(w, img.width - left);
  const rgb = new Uint8Array(ch * cw * 3);
  for (let y = 0; y < ch; y++) rgb.set(img.rgb.subarray(((y + top) * img.width + left) * 3, ((y + top) * img.width + left + cw) * 3), y * cw * 3);
  return { width: cw, height: ch, rgb };
}
