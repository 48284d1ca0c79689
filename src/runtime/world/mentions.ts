// Reading free text back into objects: every word naming a shape (singular, plural or synonym) is a mention,
// with the colour and size words right before it. Used by CHAIR and by the dataset checker.
import { COLOR_WORDS, type Color, SHAPE_WORDS, type Shape, SIZE_WORDS, type Size } from "./vocab.ts";

export interface Mention {
  shape: Shape;
  color?: Color;
  size?: Size;
  /** Said not to be there: "no square", "without a star", "is not a moon". */
  negated: boolean;
  /** Index of the shape word among the text's words. */
  word: number;
}

const NEGATORS = new Set(["no", "not", "without", "never", "isn't", "aren't", "nor"]);
const ARTICLES = new Set(["a", "an", "any", "the"]);

export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+(?:'[a-z]+)?/g) ?? [];
}

export function mentions(text: string): Mention[] {
  const ws = words(text);
  const out: Mention[] = [];
  ws.forEach((w, i) => {
    const shape = SHAPE_WORDS.get(w);
    if (!shape) return;
    const m: Mention = { shape, negated: false, word: i };
    let j = i - 1;
    for (; j >= 0; j--) {
      const c = COLOR_WORDS.get(ws[j] as string);
      const s = SIZE_WORDS.get(ws[j] as string);
      if (c && !m.color) m.color = c;
      else if (s && !m.size) m.size = s;
      else break;
    }
    const before = ws[j];
    m.negated = before !== undefined && (NEGATORS.has(before) || (ARTICLES.has(before) && NEGATORS.has(ws[j - 1] ?? "")));
    out.push(m);
  });
  return out;
}
