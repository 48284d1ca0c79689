// What every preference-file format module provides (docs/formats.md): parsing one row of a user's file into a
// prompt or a pair, and writing one of alignc's records as a row of the format.

import { type InputProblem, renderInputProblem } from "../../../diagnostics/input-problems.ts";
import { messages } from "../../../diagnostics/messages.ts";
import type { FILE_FORMATS } from "../../../graph/vocabulary.ts";
import type { ChatTurn, WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";

export type FileFormat = (typeof FILE_FORMATS)[number];

/**
 * What is wrong with one row (rendered by rowProblemLine as `file:row: error[CODE]: what`). A class, so that a
 * user's row that happens to be `{"error": …}` is never taken for one.
 */
export class RowError {
  constructor(
    readonly error: string,
    /** The problem's code (messages.ts, ALN6xxx); ALN6010 (a row that does not fit the format) when absent. */
    readonly code?: string,
  ) {}
}

/** A row problem: free text (a row that does not fit the format, ALN6010) or a coded input problem. */
export const rowError = (error: string | InputProblem): RowError => (typeof error === "string" ? new RowError(error) : new RowError(error.text, error.code));

export const isRowError = (v: unknown): v is RowError => v instanceof RowError;

/** `file:row: error[CODE]: what`: how every bad row is reported. */
export const rowProblemLine = (file: string, row: number, e: RowError): string =>
  `${file}:${row}: ${renderInputProblem({ code: e.code ?? messages.badRow.code, text: e.error })}`;

/** A prompts row: the prompt (image placeholders removed), the reference answer ("" when the row has none), the image as written. */
export interface PromptRow {
  /** The row's own "id" field, if it has one. */
  id: string | null;
  prompt: string;
  answer: string;
  /** The image path as written in the file (relative to the images root), or null. */
  image: string | null;
  /** The prompt as a conversation, when the file gave one (TRL's conversational format). */
  messages?: ChatTurn[];
}

/** A pairs row. */
export interface PairRow {
  id: string | null;
  prompt: string;
  image: string | null;
  /** The prompt as a conversation, when the file gave one. */
  messages?: ChatTurn[];
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
