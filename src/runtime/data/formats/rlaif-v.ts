// RLAIF-V's preference layout (openbmb/RLAIF-V-Dataset, and datasets written like it): {"image": path, "question",
// "chosen", "rejected"}, with "image_path" read where "image" is absent and the dataset's other columns ("ds_name",
// "origin_dataset", "origin_split", "idx") ignored. Prompt rows: {"image", "question"}, with an optional "answer".
// The question is a plain prompt (a model with a chat template places the image in it, docs/hf-models.md).

import type { WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";
import { asRecord, idOf, oneImage, placeholders, promptText, stringsOf } from "./common.ts";
import { schemaProblem } from "./schemas.ts";
import { type FormatModule, isRowError, type PairRow, type PromptRow, type RowError, rowError } from "./types.ts";

/** The question a row holds: an item's prompt; a conversation of several messages has no place in the layout. */
function questionOf(item: WorldItem): string {
  if (item.messages && item.messages.length > 1)
    throw new Error(
      `item ${item.id} is a conversation of ${item.messages.length} messages, and an rlaif_v row holds one question; export it with format: trl or llava`,
    );
  return item.prompt;
}

/** The row's id: "id", else RLAIF-V's "idx". */
const rowId = (r: Record<string, unknown>) => idOf(r) ?? idOf({ id: r.idx });

function questionAndImage(r: Record<string, unknown>): { prompt: string; image: string | null } | RowError {
  const field = typeof r.image === "string" ? "image" : "image_path";
  const paths = stringsOf(r[field]);
  const image = oneImage(paths, placeholders(r.question as string), field);
  if (isRowError(image)) return image;
  const prompt = promptText(r.question as string, "question");
  return isRowError(prompt) ? prompt : { prompt, image };
}

export const rlaifV: FormatModule = {
  name: "rlaif_v",
  parsePrompt(row): PromptRow | RowError {
    const problem = schemaProblem("rlaif_v.prompt", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const q = questionAndImage(r);
    if (isRowError(q)) return q;
    return { id: rowId(r), prompt: q.prompt, answer: (r.answer as string | undefined) ?? "", image: q.image };
  },
  parsePair(row): PairRow | RowError {
    const problem = schemaProblem("rlaif_v.pair", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const q = questionAndImage(r);
    if (isRowError(q)) return q;
    return { id: rowId(r), prompt: q.prompt, image: q.image, chosen: r.chosen as string, rejected: r.rejected as string };
  },
  imagesOf(row) {
    const r = asRecord(row);
    return [...stringsOf(r.image), ...stringsOf(r.image_path)];
  },
  writePrompt(item: WorldItem) {
    return { id: item.id, ...(item.image ? { image: item.image } : {}), question: questionOf(item), ...(item.answer !== "" ? { answer: item.answer } : {}) };
  },
  writePair(record: PairRecord) {
    const item = record.item;
    return { id: record.id, ...(item.image ? { image: item.image } : {}), question: questionOf(item), chosen: record.chosen, rejected: record.rejected };
  },
};
