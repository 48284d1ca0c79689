// TRL (Hugging Face): preference rows {"prompt", "chosen", "rejected"} with an optional "images" list or "image";
// prompt rows {"prompt"} or {"prompt", "completion"}. Each text may be standard (a string) or conversational (a
// list of {role, content} messages, content a string or a list of {"type": "text", "text"} / {"type": "image"}
// parts). A conversational prompt may open with a system message and hold earlier turns; it ends with the user's
// message, whose text is the item's prompt, and the whole conversation is kept as the item's messages (a model's chat
// template renders it). A preference row without "prompt" has TRL's implicit prompt: what "chosen" and "rejected"
// start with (trl.data_utils.extract_prompt). Written rows: an item with an image in the conversational image layout
// TRL's docs give for vision models (the prompt a list of messages, the first user message's content [{"type":
// "image"}, {"type": "text", …}], the answers assistant messages, "images": [path]); a conversation without one as a
// conversation; other texts as strings.

import type { ChatTurn, WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";
import { asRecord, idOf, oneImage, placeholders, promptText, stringsOf, stripPlaceholders } from "./common.ts";
import { schemaProblem } from "./schemas.ts";
import { type FormatModule, isRowError, type PairRow, type PromptRow, type RowError, rowError } from "./types.ts";

interface Turn {
  text: string;
  /** {"type": "image"} parts and `<image>` placeholders. */
  images: number;
}

interface Message {
  role: string;
  content: string | { type: string; text?: string }[];
}

/** A message's text (its text parts joined by newlines) and its images ({"type": "image"} parts and `<image>` placeholders). */
function contentOf(m: Message): Turn {
  if (typeof m.content === "string") return { text: m.content, images: placeholders(m.content) };
  const texts = m.content.filter((p) => p.type === "text").map((p) => p.text ?? "");
  const parts = m.content.filter((p) => p.type === "image").length;
  return { text: texts.join("\n"), images: parts + texts.reduce((n, t) => n + placeholders(t), 0) };
}

/** An answer field: a string, or one assistant message (schema-checked already). */
function answerTurn(value: unknown, field: string): Turn | RowError {
  if (typeof value === "string") return { text: value, images: placeholders(value) };
  const messages = value as Message[];
  const [only] = messages;
  if (messages.length !== 1 || only?.role !== "assistant")
    return rowError(`'${field}' must hold one assistant message (the answer); got ${messages.map((m) => m.role).join(", ") || "no messages"}`);
  return contentOf(only);
}

/**
 * A prompt field: a string, or a conversation — an optional system message first, then turns that end with the
 * user's message, which is the prompt's text; the conversation's images are counted over every message.
 */
function promptTurn(value: unknown, field: string): (Turn & { messages?: ChatTurn[] }) | RowError {
  if (typeof value === "string") return { text: value, images: placeholders(value) };
  const messages = value as Message[];
  const roles = messages.map((m) => m.role).join(", ") || "no messages";
  const late = messages.findIndex((m, i) => m.role === "system" && i > 0);
  if (late > 0) return rowError(`'${field}[${late}]' is a system message; a system message may only open the conversation`);
  const last = messages.at(-1);
  if (last?.role !== "user") return rowError(`'${field}' must end with the user's message (the answers continue it); got ${roles}`);
  const contents = messages.map(contentOf);
  const turns = messages.map((m, i): ChatTurn => ({ role: m.role as ChatTurn["role"], content: stripPlaceholders((contents[i] as Turn).text) }));
  return { text: (contents.at(-1) as Turn).text, images: contents.reduce((n, c) => n + c.images, 0), messages: turns };
}

/**
 * TRL's implicit prompt of a preference row without "prompt" (trl.data_utils.extract_prompt): the longest start
 * "chosen" and "rejected" share — whole messages of conversations, characters of strings (a space just before the
 * first difference goes with the answers) — and the rest of each as its answer.
 */
function implicitPrompt(chosen: unknown, rejected: unknown): { prompt: unknown; chosen: unknown; rejected: unknown } | RowError {
  if (typeof chosen !== typeof rejected) return rowError("the row has no 'prompt', and 'chosen' and 'rejected' are not both strings or both conversations");
  const a = chosen as string | Message[];
  const b = rejected as string | Message[];
  const same = (i: number) => (typeof a === "string" ? a[i] === b[i] : JSON.stringify(a[i]) === JSON.stringify(b[i]));
  let at = 0;
  while (at < Math.min(a.length, b.length) && same(at)) at++;
  if (at === Math.min(a.length, b.length))
    return rowError(
      "the row has no 'prompt', and one of 'chosen' and 'rejected' is the start of the other, so there is no answer to tell apart; give 'prompt'",
    );
  if (typeof a === "string" && at > 0 && a[at - 1] === " ") at--;
  if (at === 0)
    return rowError("the row has no 'prompt', and 'chosen' and 'rejected' share no start to take as the prompt (TRL's implicit prompt); give 'prompt'");
  return { prompt: a.slice(0, at), chosen: a.slice(at), rejected: b.slice(at) };
}

/** The row's image paths: "images" (a list) or "image" (a path or null), not both. */
function imagePaths(r: Record<string, unknown>): { paths: string[]; field: string } | RowError {
  const hasImage = r.image !== undefined && r.image !== null;
  if (r.images !== undefined && hasImage) return rowError("the row has both 'images' and 'image'; give one of them");
  return hasImage ? { paths: [r.image as string], field: "image" } : { paths: (r.images as string[] | undefined) ?? [], field: "images" };
}

function promptAndImage(r: Record<string, unknown>): { prompt: string; image: string | null; messages?: ChatTurn[] } | RowError {
  const prompt = promptTurn(r.prompt, "prompt");
  if (isRowError(prompt)) return prompt;
  const paths = imagePaths(r);
  if (isRowError(paths)) return paths;
  const image = oneImage(paths.paths, prompt.images, paths.field);
  if (isRowError(image)) return image;
  const text = promptText(prompt.text, "prompt");
  if (isRowError(text)) return text;
  // A conversational prompt stays a conversation: a model with a chat template renders it (TRL's rule). An image's
  // one-message conversation is its prompt: a vision-language model renders either through its template alike.
  const keep = prompt.messages && !(image !== null && prompt.messages.length === 1);
  return keep ? { prompt: text, image, messages: prompt.messages } : { prompt: text, image };
}

function answer(value: unknown, field: string): string | RowError {
  const t = answerTurn(value, field);
  if (isRowError(t)) return t;
  if (typeof value !== "string" && t.images > 0) return rowError(`'${field}' holds an image; images belong to the prompt`);
  return t.text;
}

/**
 * The prompt as TRL's conversational rows write it, or undefined for a plain-text item: the item's messages, or its
 * prompt as the user's message when it has an image; with an image, every content a list of parts and the first user
 * message's starting with the image.
 */
function writtenConversation(item: WorldItem): Message[] | undefined {
  if (!item.image) return item.messages;
  const messages = item.messages ?? [{ role: "user" as const, content: item.prompt }];
  const first = messages.findIndex((m) => m.role === "user");
  return messages.map((m, i) => ({ role: m.role, content: [...(i === first ? [{ type: "image" }] : []), { type: "text", text: m.content }] }));
}

/** An answer as an assistant message: parts when the item has an image (TRL's vision layout), else a string. */
function assistantMessage(text: string, item: WorldItem): Message {
  return { role: "assistant", content: item.image ? [{ type: "text", text }] : text };
}

export const trl: FormatModule = {
  name: "trl",
  parsePrompt(row): PromptRow | RowError {
    const problem = schemaProblem("trl.prompt", row);
    if (problem) return rowError(problem);
    const r = row as Record<string, unknown>;
    const p = promptAndImage(r);
    if (isRowError(p)) return p;
    const completion = r.completion === undefined ? "" : answer(r.completion, "completion");
    if (isRowError(completion)) return completion;
    return { id: idOf(r), prompt: p.prompt, answer: completion, image: p.image, ...(p.messages ? { messages: p.messages } : {}) };
  },
  parsePair(row): PairRow | RowError {
    const problem = schemaProblem("trl.pair", row);
    if (problem) return rowError(problem);
    let r = row as Record<string, unknown>;
    if (r.prompt === undefined) {
      const split = implicitPrompt(r.chosen, r.rejected);
      if (isRowError(split)) return split;
      r = { ...r, ...split };
    }
    const p = promptAndImage(r);
    if (isRowError(p)) return p;
    const chosen = answer(r.chosen, "chosen");
    if (isRowError(chosen)) return chosen;
    const rejected = answer(r.rejected, "rejected");
    if (isRowError(rejected)) return rejected;
    return { id: idOf(r), prompt: p.prompt, image: p.image, chosen, rejected, ...(p.messages ? { messages: p.messages } : {}) };
  },
  imagesOf(row) {
    const r = asRecord(row);
    return [...stringsOf(r.images), ...stringsOf(r.image)];
  },
  writePrompt(item: WorldItem) {
    const chat = writtenConversation(item);
    const out: Record<string, unknown> = { id: item.id, prompt: chat ?? item.prompt };
    if (item.answer !== "") out.completion = chat ? [assistantMessage(item.answer, item)] : item.answer;
    if (item.image) out.images = [item.image];
    return out;
  },
  writePair(record: PairRecord) {
    // A conversational prompt is written back as one, its answers as assistant messages (TRL's conversational rows).
    const chat = writtenConversation(record.item);
    const answerOf = (text: string) => (chat ? [assistantMessage(text, record.item)] : text);
    const out: Record<string, unknown> = {
      id: record.id,
      prompt: chat ?? record.item.prompt,
      chosen: answerOf(record.chosen),
      rejected: answerOf(record.rejected),
    };
    if (record.item.image) out.images = [record.item.image];
    return out;
  },
};
