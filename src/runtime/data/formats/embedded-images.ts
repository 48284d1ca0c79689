// Images whose bytes a data file holds (a Parquet row's `datasets` Image() with its bytes): each written once into
// the import node's own entry as `<dir>/<sha256>.<png|jpg|webp>`, the extension from the bytes' signature, after the
// checks every image from a path gets (size cap, PNG, JPEG or WebP, header and pixel caps; rows.ts imageBytesProblem).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { sniffImageFormat } from "../../../formats/image/decode.ts";
import { sha256Hex } from "../../../util/content-hash.ts";
import { imageBytesProblem } from "./rows.ts";
import type { RowError } from "./types.ts";

const EXTENSIONS = { png: ".png", jpeg: ".jpg", webp: ".webp" } as const;

export class EmbeddedImages {
  private readonly placed = new Map<string, string | RowError>(); // by content
  private readonly written = new Set<string>();

  /** `dir`: where the images go, inside the entry being built (undefined: nowhere, and an embedded image is a bug). */
  constructor(readonly dir: string | undefined) {}

  /** The absolute path of the image with these bytes (written the first time), or why they are no image alignc reads. */
  place(bytes: Uint8Array, shown: string): string | RowError {
    const dir = this.dir;
    if (dir === undefined) throw new Error(`${shown}: an image embedded in the file, and no folder to write it into (ImportOptions.embeddedImages)`);
    const digest = sha256Hex(bytes);
    const known = this.placed.get(digest);
    if (known !== undefined) return known;
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const problem = imageBytesProblem(buffer, shown);
    const format = sniffImageFormat(buffer);
    let result: string | RowError;
    if (problem || !format) result = problem as RowError;
    else {
      result = path.join(dir, `${digest}${EXTENSIONS[format]}`);
      mkdirSync(dir, { recursive: true });
      if (!existsSync(result)) writeFileSync(result, buffer, { flag: "wx" });
      this.written.add(result);
    }
    this.placed.set(digest, result);
    return result;
  }

  /** Whether `image` is one of the images written here (checked already; it is the entry's own file). */
  has(image: string): boolean {
    return this.written.has(image);
  }
}
