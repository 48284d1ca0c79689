// alignc's own format. Prompts: world items (docs/world.md), checked by the world reader's checkItem. Samples,
// rated samples and pairs: the records of src/runtime/data/prefdata/records.ts, one JSON object per line, each with
// its world item, the item's image relative to the images root; validated by a JSON Schema. Optional fields
// default: a response's logprob, a record's sampler and rationale to null; a pair's source to where it was read.

import type { WorldItem } from "../../world/format.ts";
import { checkItem } from "../../world/read.ts";
import type { DatasetKind, PairRecord, PairSource, RatedRecord, Response, SampleRecord } from "../prefdata/records.ts";
import { asRecord, stringsOf } from "./common.ts";
import { type SchemaName, schemaProblem } from "./schemas.ts";
import { type FormatModule, isRowError, type PairRow, type PromptRow, type RowError, rowError } from "./types.ts";

export type RecordKind = Exclude<DatasetKind, "prompts">;
export type AligncRecord = SampleRecord | RatedRecord | PairRecord;

/** A world item from a row (the checks of docs/world.md, without a manifest). */
export function parseItem(row: unknown): WorldItem | RowError {
  const item = checkItem(JSON.stringify(row), undefined);
  return typeof item === "string" ? rowError(item) : item;
}

/** The rules the schema cannot say: text items have no image or scene, the others have an image. */
function itemProblem(item: WorldItem): string | undefined {
  if (item.task === "text") {
    if (item.image !== null) return "'item.image' must be null for a text item";
    if (item.scene !== null) return "'item.scene' must be null for a text item";
  } else if (item.image === null) return `'item.image' must be the path of an image for a ${item.task} item`;
  return undefined;
}

/**
 * A record of `kind` from a row; `source` is the provenance given to pairs whose row has none. Image paths are
 * left as written.
 */
export function parseRecord(kind: RecordKind, row: unknown, source: PairSource): AligncRecord | RowError {
  const problem = schemaProblem(`alignc.${kind}` as SchemaName, row);
  if (problem) return rowError(problem);
  const r = row as Record<string, unknown>;
  const item = r.item as WorldItem;
  const bad = itemProblem(item);
  if (bad) return rowError(bad);
  if (kind === "pairs") {
    const p = r as unknown as PairRecord;
    const out: PairRecord = { id: p.id, item, chosen: p.chosen, rejected: p.rejected, source: p.source ?? source };
    if (p.flipped !== undefined) out.flipped = p.flipped;
    return out;
  }
  const responses = (r.responses as Response[]).map((x) => ({ text: x.text, tokens: x.tokens, logprob: x.logprob ?? null }));
  const sample: SampleRecord = { id: r.id as string, item, responses, sampler: (r.sampler as SampleRecord["sampler"] | undefined) ?? null };
  if (kind === "samples") return sample;
  const scores = r.scores as Record<string, number>[];
  if (scores.length !== responses.length)
    return rowError(
      `'scores' holds ${scores.length} entr${scores.length === 1 ? "y" : "ies"} but 'responses' holds ${responses.length}; give one per response`,
    );
  return { ...sample, scores, rationale: (r.rationale as string | null | undefined) ?? null };
}

export const alignc: FormatModule = {
  name: "alignc",
  parsePrompt(row): PromptRow | RowError {
    const item = parseItem(row);
    return isRowError(item) ? item : { id: item.id, prompt: item.prompt, answer: item.answer, image: item.image };
  },
  parsePair(row): PairRow | RowError {
    const r = parseRecord("pairs", row, { kind: "file", file: "", row: 0, format: "alignc" });
    if (isRowError(r)) return r;
    const p = r as PairRecord;
    return { id: p.id, prompt: p.item.prompt, image: p.item.image, chosen: p.chosen, rejected: p.rejected };
  },
  imagesOf(row) {
    const r = asRecord(row);
    return "item" in r ? stringsOf(asRecord(r.item).image) : stringsOf(r.image);
  },
  writePrompt: (item: WorldItem) => ({ ...item }),
  writePair: (record: PairRecord) => ({ ...record }),
};

/** Any record as a row of alignc's format (image paths as they are). */
export const writeRecord = (record: WorldItem | AligncRecord): Record<string, unknown> => ({ ...record });
