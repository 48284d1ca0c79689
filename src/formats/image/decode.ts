// Image files to RGB pixels as transformers' load_image sees them: PIL.Image.open, ImageOps.exif_transpose, then
// convert("RGB"). PNG through pngjs (every colour type and bit depth), JPEG and WebP through libjpeg-turbo's (mozjpeg)
// and libwebp's decoders compiled to WebAssembly (@jsquash) — the same decoders Pillow links, so the pixels are
// Pillow's bit for bit (test/images.test.ts checks that against Pillow), and a hostile file is decoded inside a
// sandbox. Mode conversion is Pillow's: alpha dropped (not composited), grey replicated, a palette looked up, 16-bit
// colour to its high byte, 16-bit grey ("I;16") clipped at 255.
//
// Refused before any pixel is decoded (ImageError, ALN7026): files of another format, headers that do not parse, and
// decompression bombs — more than MAX_IMAGE_PIXELS (Pillow's own limit, 89,478,485) or a side over 65,535 pixels.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { imageSize } from "image-size";
import { PNG } from "pngjs";
import { describeRefusal, type ReadRoot, readUntrusted } from "../../util/untrusted-file.ts";
import { applyOrientation, exifOrientation, type ImageFormat, turnsQuarter } from "./exif.ts";

/** 8-bit RGB pixels, row by row. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export class ImageError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7026";
  override name = "ImageError";
}

/** Pillow's Image.MAX_IMAGE_PIXELS: larger images are refused as decompression bombs. */
export const MAX_IMAGE_PIXELS = 89_478_485;
/** Largest image file read, in bytes. */
export const MAX_IMAGE_BYTES = 256 * 1024 * 1024;

/** Reads `file` (through the untrusted reader: a regular file, inside `root` when given) and decodes it. */
export async function readImage(file: string, o: { root?: ReadRoot } = {}): Promise<RgbImage> {
  const r = readUntrusted(file, { maxBytes: MAX_IMAGE_BYTES, ...(o.root ? { root: o.root } : {}) });
  if (!r.ok) throw new ImageError(`image ${describeRefusal(r, MAX_IMAGE_BYTES)}`);
  return decodeImage(r.bytes, file);
}

/**
 * The size `file` decodes to (EXIF orientation applied, as readImage gives it) from its header alone, after the same
 * checks as readImage's header (imageHeader); throws ImageError.
 */
export function readImageSize(file: string, o: { root?: ReadRoot } = {}): { width: number; height: number } {
  const r = readUntrusted(file, { maxBytes: MAX_IMAGE_BYTES, ...(o.root ? { root: o.root } : {}) });
  if (!r.ok) throw new ImageError(`image ${describeRefusal(r, MAX_IMAGE_BYTES)}`);
  const { format, width, height } = imageHeader(r.bytes, file);
  return turnsQuarter(exifOrientation(r.bytes, format)) ? { width: height, height: width } : { width, height };
}

/** The file's format from its first bytes, or undefined. */
export function sniffImageFormat(b: Uint8Array): ImageFormat | undefined {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 12 && String.fromCharCode(...b.subarray(0, 4)) === "RIFF" && String.fromCharCode(...b.subarray(8, 12)) === "WEBP") return "webp";
  return undefined;
}

/**
 * What the header says — the format and the stored width and height (before EXIF orientation) — after the checks that
 * need no decoding: a known format, a readable header, a size within the bomb limits, a JPEG that is not cut short.
 * Throws ImageError. (Data imports check images with it; the pixels are decoded when they are used.)
 */
export function imageHeader(bytes: Uint8Array, source: string): { format: ImageFormat; width: number; height: number } {
  const format = sniffImageFormat(bytes);
  if (!format) throw new ImageError(`${source}: not a PNG, JPEG or WebP image (its first bytes say neither); convert it to one of these`);
  let size: { width?: number; height?: number };
  try {
    size = imageSize(bytes);
  } catch (e) {
    throw new ImageError(`${source}: its ${format.toUpperCase()} header cannot be read (${(e as Error).message}); the file is broken`);
  }
  const { width = 0, height = 0 } = size;
  if (!(width > 0 && height > 0)) throw new ImageError(`${source}: its header gives a ${width}×${height} image`);
  if (width > 65_535 || height > 65_535 || width * height > MAX_IMAGE_PIXELS)
    throw new ImageError(
      `${source}: ${width}×${height} = ${width * height} pixels is more than ${MAX_IMAGE_PIXELS} (Pillow's MAX_IMAGE_PIXELS): refused as a possible decompression bomb; resize the image first`,
    );
  // libjpeg decodes a truncated file, filling the rest with grey; Pillow refuses it ("image file is truncated").
  if (format === "jpeg" && !endsJpeg(bytes))
    throw new ImageError(`${source}: the JPEG data is truncated (no end-of-image marker); the file is broken or was cut short`);
  return { format, width, height };
}

/** `bytes` (named `source` in errors) as oriented RGB pixels. */
export async function decodeImage(bytes: Uint8Array, source: string): Promise<RgbImage> {
  const { format, width, height } = imageHeader(bytes, source);
  let img: RgbImage;
  try {
    img = format === "png" ? decodePng(bytes) : await decodeWasm(format, bytes);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(
      `${source}: the ${format.toUpperCase()} data cannot be decoded (${(e as Error).message || "the decoder refused it"}); the file is broken or truncated`,
    );
  }
  if (img.width !== width || img.height !== height)
    throw new ImageError(`${source}: its header says ${width}×${height} but the data decodes to ${img.width}×${img.height}`);
  return applyOrientation(img, exifOrientation(bytes, format));
}

/** Whether a JPEG has its end-of-image marker (FFD9) after its scan data (trailing bytes after it are allowed). */
function endsJpeg(b: Uint8Array): boolean {
  for (let i = b.length - 2; i >= 2; i--) if (b[i] === 0xff && b[i + 1] === 0xd9) return true;
  return false;
}

function decodePng(bytes: Uint8Array): RgbImage {
  // skipRescale keeps 16-bit samples, so they convert as Pillow converts them (high byte; grey clipped).
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  const n = png.width * png.height;
  const rgb = new Uint8Array(n * 3);
  const data = png.data as unknown as ArrayLike<number>;
  const grey = png.colorType === 0 || png.colorType === 4;
  // Pillow: 16-bit grey is "I;16" (clipped at 255 by convert), other 16-bit samples keep their high byte; 1-, 2- and
  // 4-bit grey spread over 0–255 (×255, ×85, ×17). Palettes are looked up by pngjs whatever their depth.
  const lowGrey = grey && png.depth < 8 ? 255 / ((1 << png.depth) - 1) : 1;
  const sample = png.depth === 16 ? (v: number) => (grey ? Math.min(v, 255) : v >> 8) : lowGrey !== 1 ? (v: number) => v * lowGrey : (v: number) => v;
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = sample(data[4 * i] as number);
    rgb[3 * i + 1] = sample(data[4 * i + 1] as number);
    rgb[3 * i + 2] = sample(data[4 * i + 2] as number);
  }
  return { width: png.width, height: png.height, rgb };
}

type WasmDecode = (buffer: ArrayBuffer) => Promise<{ width: number; height: number; data: Uint8ClampedArray }>;
/** Node's WebAssembly (the project's TypeScript libraries leave the global undeclared). */
const WasmModule = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => object } }).WebAssembly.Module;
const decoders = new Map<ImageFormat, Promise<WasmDecode>>();

/** The @jsquash decoder of `format`, its WebAssembly compiled from the package's file once. */
function wasmDecoder(format: "jpeg" | "webp"): Promise<WasmDecode> {
  let d = decoders.get(format);
  if (!d) {
    d = (async () => {
      const require = createRequire(import.meta.url);
      const [pkg, wasm] = format === "jpeg" ? ["@jsquash/jpeg", "codec/dec/mozjpeg_dec.wasm"] : ["@jsquash/webp", "codec/dec/webp_dec.wasm"];
      const mod = (await import(`${pkg}/decode.js`)) as { init: (m: object) => Promise<void>; default: WasmDecode };
      await mod.init(new WasmModule(readFileSync(require.resolve(`${pkg}/${wasm}`))));
      return mod.default;
    })();
    decoders.set(format, d);
  }
  return d;
}

async function decodeWasm(format: "jpeg" | "webp", bytes: Uint8Array): Promise<RgbImage> {
  const decode = await wasmDecoder(format);
  // The decoder takes an ArrayBuffer of its own: a copy (a Buffer's .buffer may be a pool shared with other data).
  const copy = new Uint8Array(bytes).buffer;
  const out = await decode(copy);
  const n = out.width * out.height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    rgb[3 * i] = out.data[4 * i] as number;
    rgb[3 * i + 1] = out.data[4 * i + 1] as number;
    rgb[3 * i + 2] = out.data[4 * i + 2] as number;
  }
  return { width: out.width, height: out.height, rgb };
}
