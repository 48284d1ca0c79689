// LLaMA-Factory's sharegpt layout. Preference rows: {"conversations": [{"from": "human", "value": "<image>…"}],
// "chosen": {"from": "gpt", "value"}, "rejected": {"from": "gpt", "value"}, "images": [path]}; prompt (SFT) rows:
// {"conversations": [{"from": "human", …}, {"from": "gpt", …}], "images": [...]}, the gpt turn optional.
// "user" and "assistant" are read as "human" and "gpt" (LLaMA-Factory's role tags can name them so). A conversation
// of several turns (and a "system" prompt) is kept as the item's messages: the prompt is its last human turn.

import type { WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";
import { asRecord, type FileTurn, fileConversation, idOf, itemTurns, stringsOf } from "./common.ts";
import { schemaProblem } from "./schemas.ts";
import { type FormatModule, isRowError, type PairRow, type PromptRow, type RowError, rowError } from "./types.ts";

interface Turn {
  from: string;
  value: string;
}

const isGpt = (t: Turn | undefined) => t?.from === "gpt" || t?.from === "assistant";
const ROLE: Readonly<Record<string, FileTurn["role"]>> = { human: "user", user: "user", gpt: "assistant", assistant: "assistant", system: "system" };

/** The item of a row's conversation (common.ts fileConversation), its `system` prompt first. */
function conversation(r: Record<string, unknown>, answer: "allowed" | "none"): ReturnType<typeof fileConversation> {
  const turns = r.conversations as Turn[];
  const tool = turns.findIndex((t) => ROLE[t.from] === undefined);
  if (tool >= 0) return rowError(`'conversations[${tool}]' is a ${turns[tool]?.from} turn; alignc reads human, gpt and system turns`);
  const system: FileTurn[] = typeof r.system === "string" && r.system !== "" ? [{ role: "system", text: r.system }] : [];
  const offset = system.length;
  const all = [...system, ...turns.map((t): FileTurn => ({ role: ROLE[t.from] as FileTurn["role"], text: t.value }))];
  return fileConversation(all, (r.images as string[] | undefined) ?? [], "images", answer, (i) =>
    i < 0 ? "'conversations'" : i < offset ? "'system'" : `'conversations[${i - offset}]'`,
  );
}

/** An item as sharegpt's `system` and human/gpt turns. */
function written(item: WorldItem): { system?: string; conversations: Turn[] } {
  const turns = itemTurns(item);
  const system = turns[0]?.role === "system" ? turns.shift()?.text : undefined;
  return { ...(system !== undefined ? { system } : {}), conversations: turns.map((t) => ({ from: t.role === "user" ? "human" : "gpt", value: t.text })) };
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
    const c = conversation(r, "allowed");
    if (isRowError(c)) return c;
    return { id: idOf(r), ...c };
  },
  parsePair(row): PairRow | RowError {
    const problem = schemaProblem("sharegpt.pair", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const c = conversation(r, "none");
    if (isRowError(c)) return c;
    const chosen = answer(r, "chosen");
    if (isRowError(chosen)) return chosen;
    const rejected = answer(r, "rejected");
    if (isRowError(rejected)) return rejected;
    return { id: idOf(r), prompt: c.prompt, image: c.image, chosen, rejected, ...(c.messages ? { messages: c.messages } : {}) };
  },
  imagesOf: (row) => stringsOf(asRecord(row).images),
  writePrompt(item: WorldItem) {
    const { system, conversations } = written(item);
    if (item.answer !== "") conversations.push({ from: "gpt", value: item.answer });
    const out: Record<string, unknown> = { id: item.id, ...(system !== undefined ? { system } : {}), conversations };
    if (item.image) out.images = [item.image];
    return out;
  },
  writePair(record: PairRecord) {
    const { system, conversations } = written(record.item);
    const out: Record<string, unknown> = {
      id: record.id,
      ...(system !== undefined ? { system } : {}),
      conversations,
      chosen: { from: "gpt", value: record.chosen },
      rejected: { from: "gpt", value: record.rejected },
    };
    if (record.item.image) out.images = [record.item.image];
    return out;
  },
};
