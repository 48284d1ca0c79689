// TRL (Hugging Face): preference rows {"prompt", "chosen", "rejected"} with an optional "images" list or "image";
// prompt rows {"prompt"} or {"prompt", "completion"}. Each text may be standard (a string) or conversational (a
// list of {role, content} messages, content a string or a list of {"type": "text", "text"} / {"type": "image"}
// parts). Written rows are standard: strings, and "images": [path] when there is an image.

import type { ChatTurn, WorldItem } from "../../world/format.ts";
import type { PairRecord } from "../prefdata/records.ts";
import { asRecord, idOf, oneImage, placeholders, promptText, stringsOf } from "./common.ts";
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

/** The text of a standard or conversational field holding one message of `role` (schema-checked already). */
function turn(value: unknown, role: "user" | "assistant", field: string): Turn | RowError {
  if (typeof value === "string") return { text: value, images: placeholders(value) };
  const messages = value as Message[];
  if (messages.some((m) => m.role === "system"))
    return rowError(`'${field}' holds a system message; alignc's prompts have no system part, so remove it or fold it into the user message`);
  const [only] = messages;
  if (messages.length !== 1 || only?.role !== role)
    return rowError(
      `'${field}' must hold one ${role} message (alignc's items are single-turn); got ${messages.map((m) => m.role).join(", ") || "no messages"}`,
    );
  if (typeof only.content === "string") return { text: only.content, images: placeholders(only.content) };
  const texts = only.content.filter((p) => p.type === "text").map((p) => p.text ?? "");
  const parts = only.content.filter((p) => p.type === "image").length;
  return { text: texts.join("\n"), images: parts + texts.reduce((n, t) => n + placeholders(t), 0) };
}

/** The row's image paths: "images" (a list) or "image" (a path or null), not both. */
function imagePaths(r: Record<string, unknown>): { paths: string[]; field: string } | RowError {
  const hasImage = r.image !== undefined && r.image !== null;
  if (r.images !== undefined && hasImage) return rowError("the row has both 'images' and 'image'; give one of them");
  return hasImage ? { paths: [r.image as string], field: "image" } : { paths: (r.images as string[] | undefined) ?? [], field: "images" };
}

function promptAndImage(r: Record<string, unknown>): { prompt: string; image: string | null; messages?: ChatTurn[] } | RowError {
  const prompt = turn(r.prompt, "user", "prompt");
  if (isRowError(prompt)) return prompt;
  const paths = imagePaths(r);
  if (isRowError(paths)) return paths;
  const image = oneImage(paths.paths, prompt.images, paths.field);
  if (isRowError(image)) return image;
  const text = promptText(prompt.text, "prompt");
  if (isRowError(text)) return text;
  // A conversational prompt stays a conversation: a model with a chat template renders it (TRL's rule).
  return typeof r.prompt === "string" ? { prompt: text, image } : { prompt: text, image, messages: [{ role: "user", content: text }] };
}

function answer(value: unknown, field: string): string | RowError {
  const t = turn(value, "assistant", field);
  if (isRowError(t)) return t;
  if (typeof value !== "string" && t.images > 0) return rowError(`'${field}' holds an image; images belong to the prompt`);
  return t.text;
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
    const r = row as Record<string, unknown>;
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
    const out: Record<string, unknown> = { id: item.id, prompt: item.messages ?? item.prompt };
    if (item.answer !== "") out.completion = item.answer;
    if (item.image) out.images = [item.image];
    return out;
  },
  writePair(record: PairRecord) {
    // A conversational prompt is written back as one, its answers as assistant messages (TRL's conversational rows).
    const chat = record.item.messages;
    const answerOf = (text: string) => (chat ? [{ role: "assistant", content: text }] : text);
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
