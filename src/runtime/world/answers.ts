// Reading a model's free-text answer: a leading yes/no, and the normal form that exact-match accuracy compares.
import { NUMBER_WORDS } from "./vocab.ts";

/** "yes" or "no" when the answer's first word is one of them (any case, after leading punctuation), else null. */
export function parseYesNo(text: string): "yes" | "no" | null {
  const first = /^[^a-z0-9]*([a-z]+)/i.exec(text)?.[1]?.toLowerCase();
  return first === "yes" || first === "no" ? first : null;
}

/**
 * Lower case, punctuation dropped, whitespace collapsed, numerals 0–20 written as words and a leading article
 * dropped: "A circle." ≡ "circle", "7" ≡ "Seven.".
 */
export function normalizeAnswer(text: string): string {
  const words = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .trim()
    .split(" ")
    .filter((w) => w !== "")
    .map((w) => (/^\d+$/.test(w) && Number(w) < NUMBER_WORDS.length ? (NUMBER_WORDS[Number(w)] as string) : w));
  if (words.length > 1 && (words[0] === "a" || words[0] === "an" || words[0] === "the")) words.shift();
  return words.join(" ");
}
