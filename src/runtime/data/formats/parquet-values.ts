// A Parquet row as the JSON row it stands for, so the format modules parse both alike: 64-bit integers as numbers,
// strings checked as UTF-8, binary that holds text as text, timestamps as ISO strings, and `datasets`' Image() — a struct {bytes, path} — as an image path:
// with bytes, the path of the bytes written into the entry (embedded-images.ts); with only a path, the path as written,
// which the import resolves under the images root as it does a JSON row's. Arrow cannot leave a field out of one row
// (a struct has all its fields, a missing one null): for the trainer formats, whose rows leave out what they lack, a
// null field reads as absent; alignc's own records hold nulls (an item's `scene`, `negative`) and keep them.
import { inputProblem } from "../../../diagnostics/input-problems.ts";
import { decodeUtf8 } from "../../../util/utf8.ts";
import type { EmbeddedImages } from "./embedded-images.ts";
import { NotUtf8 } from "./parquet.ts";
import { isRowError, type RowError, rowError } from "./types.ts";

/** Thrown inside the walk, caught at the row. */
class ValueProblem extends Error {
  constructor(readonly problem: RowError) {
    super(problem.error);
  }
}

/** `datasets`' Image() storage: exactly the fields bytes (binary or null) and path (string or null). */
function isImageStruct(v: object): v is { bytes?: Uint8Array | null; path?: string | null } {
  const keys = Object.keys(v);
  if (keys.length !== 2 || !keys.includes("bytes") || !keys.includes("path")) return false;
  const { bytes, path } = v as Record<string, unknown>;
  return (bytes == null || bytes instanceof Uint8Array) && (path == null || typeof path === "string");
}

/**
 * What `where` (a field path, `images[0]`) holds, as JSON would hold it. `images` is where embedded images go; without
 * it (a store key's digest, which hashes the file itself) an embedded image reads as null.
 */
function jsonValue(v: unknown, where: string, images: EmbeddedImages | undefined, nulls: Nulls): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof NotUtf8) throw new ValueProblem(rowError(inputProblem("rowNotUtf8", { where: `'${where}'`, offset: v.invalidAt })));
  if (v instanceof Uint8Array) {
    // Binary without a string annotation: text as some writers store it; anything else has no place in a row.
    const d = decodeUtf8(v);
    if ("text" in d) return d.text;
    throw new ValueProblem(rowError(`'${where}' holds binary data that is not text; an image column must be datasets' Image() (a struct {bytes, path})`));
  }
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (Array.isArray(v)) return v.map((x, i) => jsonValue(x, `${where}[${i}]`, images, nulls));
  if (typeof v === "object") {
    if (isImageStruct(v)) return imagePath(v, where, images);
    return fieldsOf(v as Record<string, unknown>, `${where}.`, images, nulls);
  }
  return v;
}

function imagePath(v: { bytes?: Uint8Array | null; path?: string | null }, where: string, images: EmbeddedImages | undefined): string | null {
  if (!v.bytes) return v.path ?? null;
  if (!images) return null;
  const placed = images.place(v.bytes, `${v.path ? JSON.stringify(v.path) : "with no name"} (embedded in '${where}')`);
  if (isRowError(placed)) throw new ValueProblem(placed);
  return placed;
}

/** Whether a null field is kept or read as absent. */
export type Nulls = "keep" | "absent";

/** A struct's fields, or a row's columns. */
function fieldsOf(v: Record<string, unknown>, prefix: string, images: EmbeddedImages | undefined, nulls: Nulls): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, x] of Object.entries(v)) {
    const value = jsonValue(x, `${prefix}${name}`, images, nulls);
    if (value !== null || nulls === "keep") out[name] = value;
  }
  return out;
}

/** A row of top-level columns (parquet.ts) as a JSON row, or what is wrong with it. */
export function parquetRowValue(row: Record<string, unknown>, images: EmbeddedImages | undefined, nulls: Nulls): Record<string, unknown> | RowError {
  try {
    return fieldsOf(row, "", images, nulls);
  } catch (e) {
    if (e instanceof ValueProblem) return e.problem;
    throw e;
  }
}
