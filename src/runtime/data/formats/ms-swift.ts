// ms-swift's standard layout. Preference rows: {"messages": [{"role": "user", "content": "<image>…"},
// {"role": "assistant", "content": chosen}], "rejected_response": "…", "images": [path]}; prompt (SFT) rows:
// {"messages": [user, assistant], "images": [...]}, the assistant message optional. "rejected_images" is accepted
// only when it names the same image as "images" (an alignc pair shares one image); "rejected_messages" is not read.

import type { WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";
import { asRecord, type FileTurn, fileConversation, idOf, itemTurns, stringsOf } from "./common.ts";
import { schemaProblem } from "./schemas.ts";
import { type FormatModule, isRowError, type PairRow, type PromptRow, type RowError, rowError } from "./types.ts";

interface Message {
  role: string;
  content: string;
}

/** The item of a row's messages (common.ts fileConversation). */
function conversation(r: Record<string, unknown>, answer: "allowed" | "required"): ReturnType<typeof fileConversation> {
  const messages = r.messages as Message[];
  const tool = messages.findIndex((m) => m.role === "tool");
  if (tool >= 0) return rowError(`'messages[${tool}]' is a tool message; alignc reads system, user and assistant messages`);
  const turns = messages.map((m): FileTurn => ({ role: m.role as FileTurn["role"], text: m.content }));
  return fileConversation(turns, (r.images as string[] | undefined) ?? [], "images", answer, (i) => (i < 0 ? "'messages'" : `'messages[${i}]'`));
}

const written = (item: WorldItem): Message[] => itemTurns(item).map((t) => ({ role: t.role, content: t.text }));

export const msSwift: FormatModule = {
  name: "ms_swift",
  parsePrompt(row): PromptRow | RowError {
    const problem = schemaProblem("ms_swift.prompt", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const c = conversation(r, "allowed");
    if (isRowError(c)) return c;
    return { id: idOf(r), ...c };
  },
  parsePair(row): PairRow | RowError {
    const problem = schemaProblem("ms_swift.pair", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    if (r.rejected_messages !== undefined)
      return rowError("'rejected_messages' is not read: alignc pairs share one prompt; give the rejected answer as 'rejected_response'");
    const c = conversation(r, "required");
    if (isRowError(c)) return c;
    const rejectedImages = r.rejected_images as string[] | undefined;
    if (rejectedImages !== undefined && JSON.stringify(rejectedImages) !== JSON.stringify((r.images as string[] | undefined) ?? []))
      return rowError("'rejected_images' differs from 'images'; alignc pairs share one image between the chosen and the rejected answer");
    return {
      id: idOf(r),
      prompt: c.prompt,
      image: c.image,
      chosen: c.answer,
      rejected: r.rejected_response as string,
      ...(c.messages ? { messages: c.messages } : {}),
    };
  },
  imagesOf: (row) => stringsOf(asRecord(row).images),
  writePrompt(item: WorldItem) {
    const messages = written(item);
    if (item.answer !== "") messages.push({ role: "assistant", content: item.answer });
    const out: Record<string, unknown> = { id: item.id, messages };
    if (item.image) out.images = [item.image];
    return out;
  },
  writePair(record: PairRecord) {
    const out: Record<string, unknown> = {
      id: record.id,
      messages: [...written(record.item), { role: "assistant", content: record.chosen }],
      rejected_response: record.rejected,
    };
    if (record.item.image) out.images = [record.item.image];
    return out;
  },
};
