// Helpers shared by the format modules: `<image>` placeholders, ids, and the one-image rule.
import type { ChatTurn, WorldItem } from "../../world/format.ts";
import { isRowError, type RowError, rowError } from "./types.ts";

export const IMAGE_PLACEHOLDER = "<image>";

/** How many `<image>` placeholders `text` holds. */
export const placeholders = (text: string): number => text.split(IMAGE_PLACEHOLDER).length - 1;

/**
 * The prompt text without its `<image>` placeholders: each placeholder, with the whitespace around it, becomes one
 * space, and the result is trimmed ("<image>\nWhat is red?" → "What is red?").
 */
export const stripPlaceholders = (text: string): string => text.replace(/\s*<image>\s*/g, " ").trim();

/** The row's id field as a string (integers are accepted), or null when it has none. */
export function idOf(row: Record<string, unknown>): string | null {
  const v = row.id;
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : null;
}

/**
 * The one image of a row (or null), given the paths it names and the placeholders in its prompt; refuses rows
 * with more than one image (alignc's items hold one: TinyVLM takes one image per prompt) and placeholders
 * without an image.
 */
export function oneImage(paths: readonly string[], marks: number, field: string): string | null | RowError {
  if (paths.length > 1)
    return rowError(
      `'${field}' names ${paths.length} images; alignc's items hold one image (TinyVLM takes one image per prompt), so split the row or keep one image`,
    );
  if (marks > 1) return rowError(`the prompt holds ${marks} image placeholders; alignc's items hold one image (TinyVLM takes one image per prompt)`);
  if (marks > 0 && paths.length === 0) return rowError(`the prompt holds an image placeholder, but the row names no image in '${field}'`);
  return paths[0] ?? null;
}

/** A non-empty prompt once placeholders are removed, or the error. */
export function promptText(raw: string, where: string): string | RowError {
  const text = stripPlaceholders(raw);
  return text === "" ? rowError(`'${where}' is empty once its ${IMAGE_PLACEHOLDER} placeholders are removed`) : text;
}

export const asRecord = (v: unknown): Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** Strings of an array (others skipped): lenient reading for the node's key. */
export const stringsOf = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : []);

/** One turn of a file's conversation, in alignc's roles. */
export interface FileTurn {
  role: ChatTurn["role"];
  text: string;
}

/**
 * The item a file's conversation makes (sharegpt, ms-swift, LLaVA JSON): its turns up to the last user turn are the
 * prompt — the last user turn's text is the prompt text, and the turns are kept as messages when there is more than
 * that one turn (a system turn, earlier turns) — and an assistant turn after it is the answer (`answer`: allowed,
 * required, or not allowed because the row gives its answers elsewhere). A system turn may only open the
 * conversation; the image (`paths` under `field`) is marked by `<image>` placeholders in the prompt's turns.
 */
export function fileConversation(
  turns: readonly FileTurn[],
  paths: readonly string[],
  field: string,
  answer: "allowed" | "required" | "none",
  where: (i: number) => string,
): { prompt: string; image: string | null; answer: string; messages?: ChatTurn[] } | RowError {
  const lastUser = turns.map((t) => t.role).lastIndexOf("user");
  if (lastUser < 0) return rowError(`${where(-1)} holds no user turn (the prompt)`);
  const late = turns.findIndex((t, i) => t.role === "system" && i > 0);
  if (late > 0) return rowError(`${where(late)} is a system turn; a system turn may only open the conversation`);
  const tail = turns.slice(lastUser + 1);
  const shape =
    answer === "none"
      ? "end with the user's turn (the answers are given apart)"
      : answer === "required"
        ? "end with the user's turn and then one assistant turn (the chosen answer)"
        : "end with the user's turn, optionally followed by one assistant turn";
  const tailOk = answer === "none" ? tail.length === 0 : tail.length === 1 ? tail[0]?.role === "assistant" : tail.length === 0 && answer === "allowed";
  if (!tailOk) return rowError(`${where(-1)} must ${shape}; got ${turns.map((t) => t.role).join(", ")}`);
  const asked = turns.slice(0, lastUser + 1);
  const image = oneImage(
    paths,
    asked.reduce((n, t) => n + placeholders(t.text), 0),
    field,
  );
  if (isRowError(image)) return image;
  const prompt = promptText((asked.at(-1) as FileTurn).text, `${where(lastUser)}`);
  if (isRowError(prompt)) return prompt;
  const out = { prompt, image, answer: tail[0]?.text ?? "" };
  // One user turn is the prompt text itself, as single-turn rows have always been read.
  return asked.length === 1 ? out : { ...out, messages: asked.map((t) => ({ role: t.role, content: stripPlaceholders(t.text) })) };
}

/** An item's prompt as a file's turns: its messages (or its prompt as the user's turn), the image's placeholder opening the first user turn. */
export function itemTurns(item: WorldItem, separator = ""): FileTurn[] {
  const messages = item.messages ?? [{ role: "user" as const, content: item.prompt }];
  const first = messages.findIndex((m) => m.role === "user");
  return messages.map((m, i) => ({ role: m.role, text: i === first && item.image ? `${IMAGE_PLACEHOLDER}${separator}${m.content}` : m.content }));
}
