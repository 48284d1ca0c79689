// PNG encoding and decoding of the world's RGB images, through pngjs. Every decode reads the header first
// (signature, IHDR, its CRC) and refuses images over the size caps before any pixel is inflated, so a small file
// that claims a huge image (a decompression bomb) costs microseconds, not gigabytes.
import { PNG } from "pngjs";

// CRC-32 as PNG uses it (ISO 3309), for the header check (zlib.crc32 needs Node ≥ 20.15).
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Largest width or height alignc decodes. */
export const MAX_IMAGE_SIDE = 8192;
/** Largest width × height alignc decodes (32 Mpx: 5,792 × 5,792, or 8,192 × 4,096). */
export const MAX_IMAGE_PIXELS = 32 * 1024 * 1024;

/** Why a PNG was refused: `too-large` (the header's size is over the caps) or `unreadable` (not a PNG, corrupt, truncated). */
export class PngError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7018";
  override name = "PngError";
  constructor(
    readonly kind: "too-large" | "unreadable",
    message: string,
    readonly width = 0,
    readonly height = 0,
  ) {
    super(message);
  }
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Colour type → the bit depths the PNG specification allows for it. */
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
}

/** The PNG's header, checked: signature, IHDR first with a valid CRC, a valid size, depth and colour type, within the caps. */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < SIGNATURE.length || !b.subarray(0, SIGNATURE.length).equals(SIGNATURE))
    throw new PngError("unreadable", b.length === 0 ? "the file is empty" : "it does not start with the PNG signature");
  if (b.length < 33) throw new PngError("unreadable", "the file is truncated (it ends inside the header)");
  const length = b.readUInt32BE(8);
  if (length !== 13 || b.toString("latin1", 12, 16) !== "IHDR") throw new PngError("unreadable", "the first chunk is not a valid IHDR header");
  if (crc32(b.subarray(12, 29)) !== b.readUInt32BE(29)) throw new PngError("unreadable", "the header's checksum (CRC) is wrong: the file is corrupt");
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  const bitDepth = b.readUInt8(24);
  const colorType = b.readUInt8(25);
  if (width === 0 || height === 0) throw new PngError("unreadable", `the header gives a size of ${width}×${height}`);
  if (!DEPTHS[colorType]?.includes(bitDepth)) throw new PngError("unreadable", `colour type ${colorType} with bit depth ${bitDepth} is not valid PNG`);
  if (b.readUInt8(28) > 1) throw new PngError("unreadable", "the header's interlace method is not valid PNG");
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS)
    throw new PngError("too-large", `${width}×${height} is over the cap`, width, height);
  return { width, height, bitDepth, colorType };
}

/** The caps in words, for messages. */
export const IMAGE_CAPS = `${MAX_IMAGE_SIDE} pixels a side and ${MAX_IMAGE_PIXELS / (1024 * 1024)} Mpx in all`;

/** An 8-bit RGB PNG (colour type 2) of `rgb` (row-major, 3 bytes per pixel). */
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  // Filter type 0 (none): the adaptive filter search costs more than it saves on images this small.
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false, filterType: 0 });
}

/** Width, height and RGB pixels of a PNG; throws PngError on a file that is not a valid PNG or is over the caps. */
export function decodePng(bytes: Buffer): { width: number; height: number; rgb: Uint8Array } {
  readPngHeader(bytes);
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (e) {
    const message = (e as Error).message;
    // pngjs says this when the chunks end before the image does.
    throw new PngError("unreadable", /read requests wait/.test(message) ? "the file is truncated (it ends before the image data does)" : message);
  }
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = png.data[j] as number;
    rgb[i + 1] = png.data[j + 1] as number;
    rgb[i + 2] = png.data[j + 2] as number;
  }
  return { width: png.width, height: png.height, rgb };
}
