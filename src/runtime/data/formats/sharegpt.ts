// LLaMA-Factory's sharegpt layout. Preference rows: {"conversations": [{"from": "human", "value": "<image>…"}],
// "chosen": {"from": "gpt", "value"}, "rejected": {"from": "gpt", "value"}, "images": [path]}; prompt (SFT) rows:
// {"conversations": [{"from": "human", …}, {"from": "gpt", …}], "images": [...]}, the gpt turn optional.
// "user" and "assistant" are read as "human" and "gpt" (LLaMA-Factory's role tags can name them so).

import type { WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";
import { asRecord, idOf, oneImage, placeholders, promptText, stringsOf, withPlaceholder } from "./common.ts";
import { schemaProblem } from "./schemas.ts";
import { type FormatModule, isRowError, type PairRow, type PromptRow, type RowError, rowError } from "./types.ts";

interface Turn {
  from: string;
  value: string;
}

const isHuman = (t: Turn | undefined) => t?.from === "human" || t?.from === "user";
const isGpt = (t: Turn | undefined) => t?.from === "gpt" || t?.from === "assistant";

/** The human turn (and the gpt answer, where `answerAllowed`) of a single-turn conversation. */
function conversation(r: Record<string, unknown>, answerAllowed: boolean): { prompt: string; image: string | null; answer: string } | RowError {
  if (typeof r.system === "string" && r.system !== "")
    return rowError("the row has a 'system' prompt; alignc's prompts have no system part, so remove it or fold it into the human turn");
  const turns = r.conversations as Turn[];
  if (turns.some((t) => t.from === "system"))
    return rowError("'conversations' holds a system turn; alignc's prompts have no system part, so remove it or fold it into the human turn");
  const [human, gpt] = turns;
  const shape = answerAllowed ? "one human turn, optionally followed by one gpt turn" : "one human turn (the answers are 'chosen' and 'rejected')";
  if (!isHuman(human) || turns.length > (answerAllowed ? 2 : 1) || (turns.length === 2 && !isGpt(gpt)))
    return rowError(`'conversations' must hold ${shape}: alignc's items are single-turn; got ${turns.map((t) => t.from).join(", ")}`);
  const image = oneImage((r.images as string[] | undefined) ?? [], placeholders((human as Turn).value), "images");
  if (isRowError(image)) return image;
  const prompt = promptText((human as Turn).value, "conversations[0].value");
  if (isRowError(prompt)) return prompt;
  return { prompt, image, answer: gpt?.value ?? "" };
}

function answer(r: Record<string, unknown>, field: "chosen" | "rejected"): string | RowError {
  const t = r[field] as Turn;
  return isGpt(t) ? t.value : rowError(`'${field}.from' must be "gpt" (the model's answer); got ${JSON.stringify(t.from)}`);
}

export const sharegpt: FormatModule = {
  name: "sharegpt",
  parsePrompt(row): PromptRow | RowError {
    const problem = schemaProblem("sharegpt.prompt", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const c = conversation(r, true);
    if (isRowError(c)) return c;
    return { id: idOf(r), prompt: c.prompt, answer: c.answer, image: c.image };
  },
  parsePair(row): PairRow | RowError {
    const problem = schemaProblem("sharegpt.pair", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const c = conversation(r, false);
    if (isRowError(c)) return c;
    const chosen = answer(r, "chosen");
    if (isRowError(chosen)) return chosen;
    const rejected = answer(r, "rejected");
    if (isRowError(rejected)) return rejected;
    return { id: idOf(r), prompt: c.prompt, image: c.image, chosen, rejected };
  },
  imagesOf: (row) => stringsOf(asRecord(row).images),
  writePrompt(item: WorldItem) {
    const conversations: Turn[] = [{ from: "human", value: withPlaceholder(item.prompt, item.image) }];
    if (item.answer !== "") conversations.push({ from: "gpt", value: item.answer });
    const out: Record<string, unknown> = { id: item.id, conversations };
    if (item.image) out.images = [item.image];
    return out;
  },
  writePair(record: PairRecord) {
    const out: Record<string, unknown> = {
      id: record.id,
      conversations: [{ from: "human", value: withPlaceholder(record.item.prompt, record.item.image) }],
      chosen: { from: "gpt", value: record.chosen },
      rejected: { from: "gpt", value: record.rejected },
    };
    if (record.item.image) out.images = [record.item.image];
    return out;
  },
};
