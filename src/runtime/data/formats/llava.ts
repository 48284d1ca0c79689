// LLaVA's own JSON (LLaVA-Instruct-150K, llava_v1_5_mix665k.json, and the datasets made in its image): {"id",
// "image": path (absent for text-only rows), "conversations": [{"from": "human", "value": "<image>\n…"}, {"from":
// "gpt", "value": …}, …]}. A conversation may hold several turns: it becomes one item whose messages are the turns up
// to its last human turn (that turn's text is the prompt) and whose answer is the gpt turn after it, if any. Pairs:
// the conversation ends with the human turn, and "chosen" and "rejected" are the answers' strings. The `<image>`
// placeholder may stand in any human turn (LLaVA puts it in the first); the image belongs to the item. A one-turn
// conversation with an image is kept as the item's prompt (a vision-language model renders it through its template
// either way); other conversations are kept as messages.

import type { ChatTurn, WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";
import { asRecord, idOf, oneImage, placeholders, promptText, stringsOf, stripPlaceholders, withPlaceholder } from "./common.ts";
import { schemaProblem } from "./schemas.ts";
import { type FormatModule, isRowError, type PairRow, type PromptRow, type RowError, rowError } from "./types.ts";

interface Turn {
  from: string;
  value: string;
}

const ROLE: Readonly<Record<string, ChatTurn["role"]>> = { human: "user", gpt: "assistant", system: "system" };

/** The item a conversation makes: its turns up to the last human turn, and the gpt answer after it (where allowed). */
function conversation(
  r: Record<string, unknown>,
  answerAllowed: boolean,
): { prompt: string; image: string | null; answer: string; messages?: ChatTurn[] } | RowError {
  const turns = r.conversations as Turn[];
  const lastHuman = turns.map((t) => t.from).lastIndexOf("human");
  if (lastHuman < 0) return rowError("'conversations' holds no human turn (the prompt)");
  const tail = turns.slice(lastHuman + 1);
  if (!answerAllowed && tail.length > 0) return rowError("'conversations' must end with the human turn; the answers are 'chosen' and 'rejected'");
  if (tail.length > 1 || (tail.length === 1 && tail[0]?.from !== "gpt"))
    return rowError(`'conversations' must end with a human turn, optionally followed by one gpt turn; got ${turns.map((t) => t.from).join(", ")}`);
  const late = turns.findIndex((t, i) => t.from === "system" && i > 0);
  if (late > 0) return rowError(`'conversations[${late}]' is a system turn; a system turn may only open the conversation`);
  const asked = turns.slice(0, lastHuman + 1);
  const marks = asked.reduce((n, t) => n + placeholders(t.value), 0);
  const paths = typeof r.image === "string" ? [r.image] : stringsOf(r.images);
  const image = oneImage(paths, marks, typeof r.image === "string" ? "image" : "images");
  if (isRowError(image)) return image;
  const prompt = promptText((asked.at(-1) as Turn).value, `conversations[${lastHuman}].value`);
  if (isRowError(prompt)) return prompt;
  const messages = asked.map((t): ChatTurn => ({ role: ROLE[t.from] as ChatTurn["role"], content: stripPlaceholders(t.value) }));
  // An image's one-turn conversation is its prompt: a vision-language model renders either through its template alike.
  return image !== null && messages.length === 1 ? { prompt, image, answer: tail[0]?.value ?? "" } : { prompt, image, answer: tail[0]?.value ?? "", messages };
}

/** A written conversation: the item's messages (or its prompt) with the placeholder before the first human turn's text. */
function turnsOf(item: WorldItem): Turn[] {
  const messages = item.messages ?? [{ role: "user" as const, content: item.prompt }];
  const first = messages.findIndex((m) => m.role === "user");
  return messages.map((m, i) => ({
    from: m.role === "user" ? "human" : m.role === "assistant" ? "gpt" : "system",
    value: i === first && item.image ? `${withPlaceholder("", item.image)}\n${m.content}` : m.content,
  }));
}

export const llava: FormatModule = {
  name: "llava",
  parsePrompt(row): PromptRow | RowError {
    const problem = schemaProblem("llava.prompt", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const c = conversation(r, true);
    if (isRowError(c)) return c;
    return { id: idOf(r), prompt: c.prompt, answer: c.answer, image: c.image, ...(c.messages ? { messages: c.messages } : {}) };
  },
  parsePair(row): PairRow | RowError {
    const problem = schemaProblem("llava.pair", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const c = conversation(r, false);
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
