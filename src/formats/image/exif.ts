// The EXIF orientation of a PNG, JPEG or WebP file, and the transpose that undoes it (Pillow's ImageOps.exif_transpose,
// which transformers' load_image applies before anything else). EXIF is a TIFF structure: a byte-order mark, IFD0's
// offset, then 12-byte entries; tag 0x0112 holds the orientation 1–8. It sits in a JPEG APP1 segment ("Exif\0\0" +
// TIFF), a PNG eXIf chunk (TIFF), or a WebP EXIF chunk (TIFF, some writers put "Exif\0\0" first). Every read is
// bounds-checked: a broken or hostile header reads as orientation 1 (as written), never past the bytes.
import type { RgbImage } from "./decode.ts";

export type ImageFormat = "png" | "jpeg" | "webp";

/** The orientation 1–8 the file's EXIF gives (1 when it has none or it cannot be read). */
export function exifOrientation(bytes: Uint8Array, format: ImageFormat): number {
  const tiff = exifBlock(bytes, format);
  return tiff ? (tiffOrientation(tiff) ?? 1) : 1;
}

const ascii = (b: Uint8Array, at: number, s: string) => at + s.length <= b.length && [...s].every((c, i) => b[at + i] === c.charCodeAt(0));
const be32 = (b: Uint8Array, at: number) => ((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number);
const le32 = (b: Uint8Array, at: number) => (b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 24);

function exifBlock(b: Uint8Array, format: ImageFormat): Uint8Array | undefined {
  if (format === "jpeg") {
    // Segments after SOI (FFD8): FF, marker, 2-byte big-endian length (including itself); stop at SOS (FFDA).
    let at = 2;
    while (at + 4 <= b.length && b[at] === 0xff) {
      const marker = b[at + 1] as number;
      if (marker === 0xda || marker === 0xd9) return undefined;
      const length = ((b[at + 2] as number) << 8) | (b[at + 3] as number);
      if (length < 2) return undefined;
      if (marker === 0xe1 && ascii(b, at + 4, "Exif\0\0")) return b.subarray(at + 10, Math.min(b.length, at + 2 + length));
      at += 2 + length;
    }
    return undefined;
  }
  if (format === "png") {
    // Chunks after the 8-byte signature: 4-byte length, 4-byte type, data, CRC.
    let at = 8;
    while (at + 8 <= b.length) {
      const length = be32(b, at) >>> 0;
      if (ascii(b, at + 4, "eXIf")) return b.subarray(at + 8, Math.min(b.length, at + 8 + length));
      if (ascii(b, at + 4, "IDAT") || ascii(b, at + 4, "IEND")) return undefined; // EXIF after the image is not read (as Pillow)
      at += 12 + length;
    }
    return undefined;
  }
  // WebP: RIFF, size, WEBP, then chunks of FourCC + little-endian size (padded to even).
  let at = 12;
  while (at + 8 <= b.length) {
    const size = le32(b, at + 4) >>> 0;
    if (ascii(b, at, "EXIF")) {
      const data = b.subarray(at + 8, Math.min(b.length, at + 8 + size));
      return ascii(data, 0, "Exif\0\0") ? data.subarray(6) : data;
    }
    at += 8 + size + (size & 1);
  }
  return undefined;
}

function tiffOrientation(t: Uint8Array): number | undefined {
  if (t.length < 8) return undefined;
  const little = ascii(t, 0, "II");
  if (!little && !ascii(t, 0, "MM")) return undefined;
  const u16 = (at: number) =>
    at + 2 > t.length ? -1 : little ? (t[at] as number) | ((t[at + 1] as number) << 8) : ((t[at] as number) << 8) | (t[at + 1] as number);
  const ifd = (little ? le32(t, 4) : be32(t, 4)) >>> 0;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > t.length) return undefined;
    if (u16(entry) === 0x0112) {
      const v = u16(entry + 8); // SHORT, left-justified in the value field
      return v >= 1 && v <= 8 ? v : undefined;
    }
  }
  return undefined;
}

/** Whether an orientation turns the image a quarter (5–8: transposed, rotated 90° either way, transversed), swapping its sides. */
export const turnsQuarter = (orientation: number) => orientation >= 5 && orientation <= 8;

/**
 * `img` as it should be seen: orientation 2 mirrors, 3 rotates 180°, 4 flips, 5 transposes, 6 rotates 90° clockwise
 * (Pillow: ROTATE_270), 7 transverses, 8 rotates 90° counter-clockwise (ROTATE_90) — Pillow's table.
 */
export function applyOrientation(img: RgbImage, orientation: number): RgbImage {
  if (orientation <= 1 || orientation > 8) return img;
  const { width: w, height: h, rgb } = img;
  const swap = turnsQuarter(orientation);
  const W = swap ? h : w;
  const H = swap ? w : h;
  const out = new Uint8Array(W * H * 3);
  // For each output pixel (x, y), the source pixel it shows.
  const source: (x: number, y: number) => number = {
    2: (x: number, y: number) => y * w + (w - 1 - x),
    3: (x: number, y: number) => (h - 1 - y) * w + (w - 1 - x),
    4: (x: number, y: number) => (h - 1 - y) * w + x,
    5: (x: number, y: number) => x * w + y,
    6: (x: number, y: number) => (h - 1 - x) * w + y,
    7: (x: number, y: number) => (h - 1 - x) * w + (w - 1 - y),
    8: (x: number, y: number) => x * w + (w - 1 - y),
  }[orientation as 2 | 3 | 4 | 5 | 6 | 7 | 8];
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const s = source(x, y) * 3;
      const d = (y * W + x) * 3;
      out[d] = rgb[s] as number;
      out[d + 1] = rgb[s + 1] as number;
      out[d + 2] = rgb[s + 2] as number;
    }
  return { width: W, height: H, rgb: out };
}
