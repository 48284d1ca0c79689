// LLaVA's own JSON (LLaVA-Instruct-150K, llava_v1_5_mix665k.json, and the datasets made in its image): {"id",
// "image": path (absent for text-only rows), "conversations": [{"from": "human", "value": "<image>\n…"}, {"from":
// "gpt", "value": …}, …]}. A conversation may hold several turns: it becomes one item whose messages are the turns up
// to its last human turn (that turn's text is the prompt) and whose answer is the gpt turn after it, if any. Pairs:
// the conversation ends with the human turn, and "chosen" and "rejected" are the answers' strings. The `<image>`
// placeholder may stand in any human turn (LLaVA puts it in the first); the image belongs to the item. A one-turn
// conversation is kept as the item's prompt text, as sharegpt's and ms-swift's are (common.ts fileConversation).

import type { WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";
import { asRecord, type FileTurn, fileConversation, idOf, itemTurns, stringsOf } from "./common.ts";
import { schemaProblem } from "./schemas.ts";
import { type FormatModule, isRowError, type PairRow, type PromptRow, type RowError, rowError } from "./types.ts";

interface Turn {
  from: string;
  value: string;
}

const ROLE: Readonly<Record<string, FileTurn["role"]>> = { human: "user", gpt: "assistant", system: "system" };

/** The item of a row's conversation (common.ts fileConversation). */
function conversation(r: Record<string, unknown>, answer: "allowed" | "none"): ReturnType<typeof fileConversation> {
  const turns = (r.conversations as Turn[]).map((t): FileTurn => ({ role: ROLE[t.from] as FileTurn["role"], text: t.value }));
  const paths = typeof r.image === "string" ? [r.image] : stringsOf(r.images);
  return fileConversation(turns, paths, typeof r.image === "string" ? "image" : "images", answer, (i) => (i < 0 ? "'conversations'" : `'conversations[${i}]'`));
}

/** An item as LLaVA's turns, the placeholder on its own line before the first human turn's text (as LLaVA writes it). */
const turnsOf = (item: WorldItem): Turn[] =>
  itemTurns(item, "\n").map((t) => ({ from: t.role === "user" ? "human" : t.role === "assistant" ? "gpt" : "system", value: t.text }));

export const llava: FormatModule = {
  name: "llava",
  parsePrompt(row): PromptRow | RowError {
    const problem = schemaProblem("llava.prompt", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const c = conversation(r, "allowed");
    if (isRowError(c)) return c;
    return { id: idOf(r), ...c };
  },
  parsePair(row): PairRow | RowError {
    const problem = schemaProblem("llava.pair", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const c = conversation(r, "none");
    if (isRowError(c)) return c;
    return {
      id: idOf(r),
      prompt: c.prompt,
      image: c.image,
      ...(c.messages ? { messages: c.messages } : {}),
      chosen: r.chosen as string,
      rejected: r.rejected as string,
    };
  },
  imagesOf(row) {
    const r = asRecord(row);
    return [...stringsOf(r.image), ...stringsOf(r.images)];
  },
  writePrompt(item: WorldItem) {
    const conversations = turnsOf(item);
    if (item.answer !== "") conversations.push({ from: "gpt", value: item.answer });
    return { id: item.id, ...(item.image ? { image: item.image } : {}), conversations };
  },
  writePair(record: PairRecord) {
    const item = record.item;
    return { id: record.id, ...(item.image ? { image: item.image } : {}), conversations: turnsOf(item), chosen: record.chosen, rejected: record.rejected };
  },
};
