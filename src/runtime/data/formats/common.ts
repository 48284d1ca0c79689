// Helpers shared by the format modules: `<image>` placeholders, ids, and the one-image rule.
import { type RowError, rowError } from "./types.ts";

export const IMAGE_PLACEHOLDER = "<image>";

/** How many `<image>` placeholders `text` holds. */
export const placeholders = (text: string): number => text.split(IMAGE_PLACEHOLDER).length - 1;

/**
 * The prompt text without its `<image>` placeholders: each placeholder, with the whitespace around it, becomes one
 * space, and the result is trimmed ("<image>\nWhat is red?" → "What is red?").
 */
export const stripPlaceholders = (text: string): string => text.replace(/\s*<image>\s*/g, " ").trim();

/** The row's id field as a string (integers are accepted), or null when it has none. */
export function idOf(row: Record<string, unknown>): string | null {
  const v = row.id;
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : null;
}

/**
 * The one image of a row (or null), given the paths it names and the placeholders in its prompt; refuses rows
 * with more than one image (alignc's items hold one: TinyVLM takes one image per prompt) and placeholders
 * without an image.
 */
export function oneImage(paths: readonly string[], marks: number, field: string): string | null | RowError {
  if (paths.length > 1)
    return rowError(
      `'${field}' names ${paths.length} images; alignc's items hold one image (TinyVLM takes one image per prompt), so split the row or keep one image`,
    );
  if (marks > 1) return rowError(`the prompt holds ${marks} image placeholders; alignc's items hold one image (TinyVLM takes one image per prompt)`);
  if (marks > 0 && paths.length === 0) return rowError(`the prompt holds an image placeholder, but the row names no image in '${field}'`);
  return paths[0] ?? null;
}

/** A non-empty prompt once placeholders are removed, or the error. */
export function promptText(raw: string, where: string): string | RowError {
  const text = stripPlaceholders(raw);
  return text === "" ? rowError(`'${where}' is empty once its ${IMAGE_PLACEHOLDER} placeholders are removed`) : text;
}

export const asRecord = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** Strings of an array (others skipped): lenient reading for the node's key. */
export const stringsOf = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []);

/** "[image] text" for rows written back with a placeholder before the prompt (sharegpt, ms-swift). */
export const withPlaceholder = (prompt: string, image: string | null): string => (image ? `${IMAGE_PLACEHOLDER}${prompt}` : prompt);
