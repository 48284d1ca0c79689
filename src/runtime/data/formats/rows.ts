// Reading a user's file row by row (JSONL, or a JSON array), field renames, images under the images root, and
// the one message that lists a file's bad rows. Every read goes through src/util/untrusted-file.ts: only regular
// files, within the caps of src/diagnostics/input-problems.ts; JSON lines are read a row at a time, each row decoded
// as strict UTF-8 (a leading byte order mark is accepted, UTF-16 is recognised and explained).
import path from "node:path";
import {
  formatBytes,
  type InputProblem,
  inputProblem,
  MAX_IMAGE_BYTES,
  MAX_JSON_ARRAY_BYTES,
  MAX_JSONL_BYTES,
  MAX_ROW_BYTES,
  refusalProblem,
  renderInputProblem,
} from "../../../diagnostics/input-problems.ts";
import { ImageError, imageHeader, sniffImageFormat } from "../../../formats/image/decode.ts";
import { checkUntrusted, type ReadRoot, readRoot, readUntrusted, streamUntrusted } from "../../../util/untrusted-file.ts";
import { decodeUtf8, startsWithBom, utf16Order } from "../../../util/utf8.ts";
import { decodePng, IMAGE_CAPS, PngError } from "../../world/png.ts";
import { type RowError, rowError } from "./types.ts";

/** Thrown for a file that cannot be read as rows at all; the message names the file and holds a coded problem. */
export class FileRowsError extends Error {
  override name = "FileRowsError";
  constructor(
    message: string,
    /** The problem's code (ALN6xxx). */
    readonly code: string,
  ) {
    super(message);
  }
}

/** `file: error[CODE]: what`, or without the prefix when the message names the file already. */
export const fileRowsError = (file: string, problem: InputProblem): FileRowsError =>
  new FileRowsError(problem.text.includes(file) ? renderInputProblem(problem) : `${file}: ${renderInputProblem(problem)}`, problem.code);

export interface RawRow {
  /** 1-based: the line of a .jsonl file, the index + 1 in a .json array. */
  row: number;
  /** The row's JSON text, or what is wrong with its bytes. */
  text: string | RowError;
}

const isJsonArrayFile = (file: string): boolean => file.endsWith(".json");

/**
 * Calls `onRow` for each row of the file, in order, and returns the number of rows; `onBytes` (for a hash) sees
 * the file's bytes as they are read. Throws FileRowsError when the file as a whole cannot be read.
 */
export function forEachRow(file: string, onRow: (row: RawRow) => void, onBytes?: (chunk: Buffer) => void): number {
  const what = "data file";
  if (isJsonArrayFile(file)) {
    const read = readUntrusted(file, { maxBytes: MAX_JSON_ARRAY_BYTES });
    if (!read.ok) throw fileRowsError(file, refusalProblem(read, what, MAX_JSON_ARRAY_BYTES, { shown: file }));
    onBytes?.(read.bytes);
    const order = utf16Order(read.bytes);
    if (order) throw fileRowsError(file, inputProblem("fileUtf16", { order }));
    const decoded = decodeUtf8(startsWithBom(read.bytes) ? read.bytes.subarray(3) : read.bytes);
    if ("invalidAt" in decoded) {
      const at = decoded.invalidAt + (startsWithBom(read.bytes) ? 3 : 0);
      // A .json array's rows are not lines: name the line of the file, and the byte within it.
      const line = read.bytes.subarray(0, at).reduce((n, b) => n + (b === 10 ? 1 : 0), 1);
      const problem = inputProblem("rowNotUtf8", { where: `line ${line}`, offset: at - (read.bytes.lastIndexOf(10, at - 1) + 1) });
      throw new FileRowsError(`${file}:${line}: ${renderInputProblem(problem)}`, problem.code);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoded.text);
    } catch (e) {
      throw fileRowsError(file, inputProblem("badRow", { problem: `not valid JSON (${(e as Error).message})` }));
    }
    if (!Array.isArray(parsed)) throw fileRowsError(file, inputProblem("badRow", { problem: "a .json dataset must hold an array of records" }));
    parsed.forEach((r, i) => {
      onRow({ row: i + 1, text: JSON.stringify(r) });
    });
    return parsed.length;
  }
  const lines = new LineSplitter(onRow);
  const read = streamUntrusted(file, { maxBytes: MAX_JSONL_BYTES }, (chunk) => {
    onBytes?.(chunk);
    lines.push(chunk);
  });
  if (!read.ok) throw fileRowsError(file, refusalProblem(read, what, MAX_JSONL_BYTES, { shown: file }));
  if (lines.utf16) throw fileRowsError(file, inputProblem("fileUtf16", { order: lines.utf16 }));
  return lines.end();
}

/** Splits bytes into lines as they come, so a file of any length is read with one row in memory at a time. */
class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private overlong = false;
  private row = 0;
  private started = false;
  /** Set when the file turned out to be UTF-16: nothing more is emitted. */
  utf16: string | undefined;

  constructor(private readonly onRow: (row: RawRow) => void) {}

  push(chunk: Buffer): void {
    if (this.utf16) return;
    let start = 0;
    if (!this.started) {
      this.started = true;
      this.utf16 = utf16Order(chunk);
      if (this.utf16) return;
      if (startsWithBom(chunk)) start = 3;
    }
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      this.add(chunk.subarray(start, nl));
      this.emit();
      start = nl + 1;
    }
    this.add(chunk.subarray(start));
  }

  /** Emits the last line (when the file does not end with a newline); returns the row count. */
  end(): number {
    if (!this.utf16 && (this.pendingBytes > 0 || this.overlong)) this.emit();
    return this.row;
  }

  private add(piece: Buffer): void {
    if (this.overlong || piece.length === 0) return;
    if (this.pendingBytes + piece.length > MAX_ROW_BYTES) {
      this.overlong = true;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(Buffer.from(piece)); // a copy: the reader reuses its buffer
    this.pendingBytes += piece.length;
  }

  private emit(): void {
    this.row++;
    const bytes = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    const overlong = this.overlong;
    this.pending = [];
    this.pendingBytes = 0;
    this.overlong = false;
    if (overlong) {
      this.onRow({ row: this.row, text: rowError(`the row is longer than ${formatBytes(MAX_ROW_BYTES)}, the most alignc reads as one row`) });
      return;
    }
    const line = bytes.at(-1) === 13 ? bytes.subarray(0, -1) : bytes;
    const decoded = decodeUtf8(line);
    this.onRow({
      row: this.row,
      text: "text" in decoded ? decoded.text : rowError(inputProblem("rowNotUtf8", { where: "the row", offset: decoded.invalidAt })),
    });
  }
}

/** The file's rows (for small files and tests; importing goes row by row through forEachRow). */
export function splitRows(file: string): RawRow[] {
  const rows: RawRow[] = [];
  forEachRow(file, (r) => rows.push(r));
  return rows;
}

/** A row's JSON value, or what is wrong with its text. */
export function parseRow(text: string): unknown {
  if (text.trim() === "") return rowError("blank line; a .jsonl file holds one JSON object per line");
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    return rowError(`not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Applies the `fields` setting (alignc's field name → the file's): the file's field is read under alignc's name.
 * Only top-level fields of an object row are renamed; anything else is returned as it is.
 */
export function renameFields(value: unknown, fields: Readonly<Record<string, string>>): unknown {
  if (Object.keys(fields).length === 0 || typeof value !== "object" || value === null || Array.isArray(value)) return value;
  const o = value as Record<string, unknown>;
  const out: Record<string, unknown> = { ...o };
  for (const [ours, theirs] of Object.entries(fields)) {
    delete out[theirs];
    if (theirs in o) out[ours] = o[theirs];
  }
  return out;
}

/** The directory image paths are relative to, with its real path (symbolic links resolved) once. */
export type ImageRoot = ReadRoot;

export function imageRoot(dir: string): ImageRoot | RowError {
  const root = readRoot(dir);
  return root ?? rowError(inputProblem("inputMissing", { what: "the images directory", path: path.resolve(dir), lookedFor: "" }));
}

/**
 * The absolute path of the image a row names, or why it cannot be used: a path that leads outside the root
 * (`..`, an absolute path elsewhere, a symbolic link whose target is elsewhere), a missing file, a file that is
 * not a regular file or is over the size cap — all decided before the file is opened — and (with `decode`) a
 * file that is not a PNG, JPEG or WebP within the pixel caps, a PNG that does not decode, or a JPEG cut short.
 */
export function resolveImage(root: ImageRoot, written: string, decode = true): string | RowError {
  const refused = (problem: InputProblem) => rowError(problem);
  const read = decode ? readUntrusted(written, { root, maxBytes: MAX_IMAGE_BYTES }) : undefined;
  const checked = read ?? checkImagePath(root, written);
  if (!checked.ok) return refused(refusalProblem(checked, "image", MAX_IMAGE_BYTES, { shown: written, root: root.dir }));
  const problem = read?.ok ? imageBytesProblem(read.bytes, written) : undefined;
  return problem ?? path.resolve(root.dir, written);
}

/**
 * What is wrong with an image's bytes (`shown`: how messages name it), if anything: a PNG is decoded whole (alignc's
 * own decoder, with its caps); a JPEG or WebP has its header checked here and is decoded when a model reads it
 * (src/formats/image/); anything else is refused.
 */
export function imageBytesProblem(bytes: Buffer, shown: string): RowError | undefined {
  if (bytes.length > MAX_IMAGE_BYTES)
    return rowError(inputProblem("inputTooLarge", { what: "image", path: shown, size: formatBytes(bytes.length), limit: formatBytes(MAX_IMAGE_BYTES) }));
  try {
    if (sniffImageFormat(bytes) === "png") decodePng(bytes);
    else imageHeader(bytes, shown);
    return undefined;
  } catch (e) {
    if (e instanceof ImageError) return rowError(inputProblem("imageUnreadable", { image: shown, reason: e.message.replace(`${shown}: `, "") }));
    if (!(e instanceof PngError)) throw e;
    return rowError(
      e.kind === "too-large"
        ? inputProblem("imageTooLarge", { image: shown, width: e.width, height: e.height, limit: IMAGE_CAPS })
        : inputProblem("imageUnreadable", { image: shown, reason: e.message }),
    );
  }
}

const checkImagePath = (root: ImageRoot, written: string) => checkUntrusted(written, { root, maxBytes: MAX_IMAGE_BYTES });

export const MAX_PROBLEMS = 20;

/** The message for a file with bad rows (`problems`: `file:row: what` lines): the first 20, then how many more. */
export function badRowsMessage(file: string, problems: readonly string[]): string {
  const shown = problems.slice(0, MAX_PROBLEMS).join("\n  ");
  const more = problems.length > MAX_PROBLEMS ? `\n  … and ${problems.length - MAX_PROBLEMS} more` : "";
  return `${file}: ${problems.length} bad record${problems.length > 1 ? "s" : ""}; fix them and run again:\n  ${shown}${more}`;
}
