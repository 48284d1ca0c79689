// ms-swift's standard layout. Preference rows: {"messages": [{"role": "user", "content": "<image>…"},
// {"role": "assistant", "content": chosen}], "rejected_response": "…", "images": [path]}; prompt (SFT) rows:
// {"messages": [user, assistant], "images": [...]}, the assistant message optional. "rejected_images" is accepted
// only when it names the same image as "images" (an alignc pair shares one image); "rejected_messages" is not read.

import type { WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";
import { asRecord, idOf, oneImage, placeholders, promptText, stringsOf, withPlaceholder } from "./common.ts";
import { schemaProblem } from "./schemas.ts";
import { type FormatModule, isRowError, type PairRow, type PromptRow, type RowError, rowError } from "./types.ts";

interface Message {
  role: string;
  content: string;
}

/** The user message and the assistant answer ("" when absent) of a single-turn conversation. */
function conversation(r: Record<string, unknown>, answerRequired: boolean): { prompt: string; image: string | null; answer: string } | RowError {
  const messages = r.messages as Message[];
  if (messages.some((m) => m.role === "system"))
    return rowError("'messages' holds a system message; alignc's prompts have no system part, so remove it or fold it into the user message");
  const [user, assistant] = messages;
  const ok = user?.role === "user" && messages.length <= 2 && (messages.length === 2 ? assistant?.role === "assistant" : !answerRequired);
  if (!ok) {
    const shape = answerRequired
      ? "one user message and one assistant message (the chosen answer)"
      : "one user message, optionally followed by one assistant message";
    return rowError(`'messages' must hold ${shape}: alignc's items are single-turn; got ${messages.map((m) => m.role).join(", ")}`);
  }
  const image = oneImage((r.images as string[] | undefined) ?? [], placeholders((user as Message).content), "images");
  if (isRowError(image)) return image;
  const prompt = promptText((user as Message).content, "messages[0].content");
  if (isRowError(prompt)) return prompt;
  return { prompt, image, answer: assistant?.content ?? "" };
}

export const msSwift: FormatModule = {
  name: "ms_swift",
  parsePrompt(row): PromptRow | RowError {
    const problem = schemaProblem("ms_swift.prompt", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const c = conversation(r, false);
    if (isRowError(c)) return c;
    return { id: idOf(r), prompt: c.prompt, answer: c.answer, image: c.image };
  },
  parsePair(row): PairRow | RowError {
    const problem = schemaProblem("ms_swift.pair", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    if (r.rejected_messages !== undefined)
      return rowError("'rejected_messages' is not read: alignc pairs share one prompt; give the rejected answer as 'rejected_response'");
    const c = conversation(r, true);
    if (isRowError(c)) return c;
    const rejectedImages = r.rejected_images as string[] | undefined;
    if (rejectedImages !== undefined && JSON.stringify(rejectedImages) !== JSON.stringify((r.images as string[] | undefined) ?? []))
      return rowError("'rejected_images' differs from 'images'; alignc pairs share one image between the chosen and the rejected answer");
    return { id: idOf(r), prompt: c.prompt, image: c.image, chosen: c.answer, rejected: r.rejected_response as string };
  },
  imagesOf: (row) => stringsOf(asRecord(row).images),
  writePrompt(item: WorldItem) {
    const messages: Message[] = [{ role: "user", content: withPlaceholder(item.prompt, item.image) }];
    if (item.answer !== "") messages.push({ role: "assistant", content: item.answer });
    const out: Record<string, unknown> = { id: item.id, messages };
    if (item.image) out.images = [item.image];
    return out;
  },
  writePair(record: PairRecord) {
    const out: Record<string, unknown> = {
      id: record.id,
      messages: [
        { role: "user", content: withPlaceholder(record.item.prompt, record.item.image) },
        { role: "assistant", content: record.chosen },
      ],
      rejected_response: record.rejected,
    };
    if (record.item.image) out.images = [record.item.image];
    return out;
  },
};
