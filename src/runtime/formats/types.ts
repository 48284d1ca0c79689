// What every preference-file format module provides (docs/formats.md): parsing one row of a user's file into a
// prompt or a pair, and writing one of alignc's records as a row of the format.
import type { FILE_FORMATS } from "../../compiler/checker/catalog/data.ts";
import type { PairRecord } from "../prefdata/records.ts";
import type { WorldItem } from "../world/format.ts";

export type FileFormat = (typeof FILE_FORMATS)[number];

/** What is wrong with one row (the caller prefixes `file:row: `). */
export interface RowError {
  error: string;
}

export const rowError = (error: string): RowError => ({ error });

export function isRowError(v: unknown): v is RowError {
  return typeof v === "object" && v !== null && "error" in v && typeof (v as RowError).error === "string" && Object.keys(v).length === 1;
}

/** A prompts row: the prompt (image placeholders removed), the reference answer ("" when the row has none), the image as written. */
export interface PromptRow {
  /** The row's own "id" field, if it has one. */
  id: string | null;
  prompt: string;
  answer: string;
  /** The image path as written in the file (relative to the images root), or null. */
  image: string | null;
}

/** A pairs row. */
export interface PairRow {
  id: string | null;
  prompt: string;
  image: string | null;
  chosen: string;
  rejected: string;
}

export interface FormatModule {
  name: FileFormat;
  /** A prompts row, after field renames; validated against the format's schema. */
  parsePrompt(row: unknown): PromptRow | RowError;
  /** A pairs row, after field renames; validated against the format's schema. */
  parsePair(row: unknown): PairRow | RowError;
  /** The image paths a row names, read leniently (no validation): for the node's key. */
  imagesOf(row: unknown): string[];
  /** A prompt item as a row; `item.image` is written as it is (the caller makes it relative to the file). */
  writePrompt(item: WorldItem): Record<string, unknown>;
  /** A pair as a row; `record.item.image` is written as it is. */
  writePair(record: PairRecord): Record<string, unknown>;
}
