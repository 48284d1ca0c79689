// Reading a user's file row by row (JSONL, or a JSON array), field renames, images under the images root, and
// the one message that lists a file's bad rows.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { decodePng } from "../world/png.ts";
import { type RowError, rowError } from "./types.ts";

/** Thrown for a file that cannot be read as rows at all; the message names the file. */
export class FileRowsError extends Error {
  override name = "FileRowsError";
}

export interface RawRow {
  /** 1-based: the line of a .jsonl file, the index + 1 in a .json array. */
  row: number;
  /** The row's JSON text. */
  text: string;
}

/** The file's rows as JSON texts (`text`: its contents, read from `file` when not given). */
export function splitRows(file: string, text?: string): RawRow[] {
  if (text === undefined) {
    if (!existsSync(file)) throw new FileRowsError(`${file}: no such file; check the path (it is relative to the .align file)`);
    text = readFileSync(file, "utf8");
  }
  if (file.endsWith(".json")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new FileRowsError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(parsed)) throw new FileRowsError(`${file}: a .json dataset must hold an array of records`);
    return parsed.map((r, i) => ({ row: i + 1, text: JSON.stringify(r) }));
  }
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((t, i) => ({ row: i + 1, text: t.endsWith("\r") ? t.slice(0, -1) : t }));
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
export interface ImageRoot {
  dir: string;
  real: string;
}

export function imageRoot(dir: string): ImageRoot | RowError {
  const abs = path.resolve(dir);
  try {
    return { dir: abs, real: realpathSync(abs) };
  } catch {
    return rowError(`the images directory ${abs} does not exist; check the images setting (it is relative to the .align file)`);
  }
}

const inside = (root: string, file: string): boolean => {
  const rel = path.relative(root, file);
  return rel === "" || (!rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel));
};

/**
 * The absolute path of the image a row names, or why it cannot be used: a path that leads outside the root
 * (`..`, an absolute path elsewhere, a symbolic link whose target is elsewhere), a missing file, and (with
 * `decode`) a file that is not a readable PNG.
 */
export function resolveImage(root: ImageRoot, written: string, decode = true): string | RowError {
  const file = path.resolve(root.dir, written);
  const advice = `image paths must stay inside the images root ${root.dir} (set \`images\` to a directory that holds every image)`;
  if (!inside(root.dir, file)) return rowError(`image path ${JSON.stringify(written)} leads outside the images root; ${advice}`);
  if (!existsSync(file)) return rowError(`image ${written} does not exist (looked for ${file})`);
  let real: string;
  try {
    real = realpathSync(file);
  } catch (e) {
    return rowError(`image ${written} cannot be read: ${(e as Error).message}`);
  }
  if (!inside(root.real, real)) return rowError(`image ${written} is a symbolic link to ${real}, outside the images root; ${advice}`);
  if (decode) {
    try {
      decodePng(readFileSync(real));
    } catch (e) {
      return rowError(`image ${written} is not a readable PNG (alignc reads PNG images): ${(e as Error).message}`);
    }
  }
  return file;
}

export const MAX_PROBLEMS = 20;

/** The message for a file with bad rows (`problems`: `file:row: what` lines): the first 20, then how many more. */
export function badRowsMessage(file: string, problems: readonly string[]): string {
  const shown = problems.slice(0, MAX_PROBLEMS).join("\n  ");
  const more = problems.length > MAX_PROBLEMS ? `\n  … and ${problems.length - MAX_PROBLEMS} more` : "";
  return `${file}: ${problems.length} bad record${problems.length > 1 ? "s" : ""}; fix them and run again:\n  ${shown}${more}`;
}
