// PNG encoding and decoding of the world's RGB images, through pngjs.
import { PNG } from "pngjs";

/** An 8-bit RGB PNG (colour type 2) of `rgb` (row-major, 3 bytes per pixel). */
export function encodePng(rgb: Uint8Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  // Filter type 0 (none): the adaptive filter search costs more than it saves on images this small.
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false, filterType: 0 });
}

/** Width, height and RGB pixels of a PNG; throws on a file that is not a valid PNG. */
export function decodePng(bytes: Buffer): { width: number; height: number; rgb: Uint8Array } {
  const png = PNG.sync.read(bytes);
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = png.data[j] as number;
    rgb[i + 1] = png.data[j + 1] as number;
    rgb[i + 2] = png.data[j + 2] as number;
  }
  return { width: png.width, height: png.height, rgb };
}
