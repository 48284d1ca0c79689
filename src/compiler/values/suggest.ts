// "Did you mean …" for misspelled names and keys: the closest candidate by edit distance, if close enough, as a
// help line from the message table and a fix that replaces what was written.
import type { DiagnosticExtras, Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts, type TableText } from "../../diagnostics/messages.ts";

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push(Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => rows[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, at(i - 2, j - 2) + 1);
      row[j] = d;
    }
  }
  return at(a.length, b.length);
}

/** The best candidate within a distance that grows with the word's length, or undefined. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  // Edit distance is quadratic; names longer than this are not typos of a real name.
  if (word.length > 64) return undefined;
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = word.toLowerCase();
  for (const c of candidates) {
    if (Math.abs(c.length - word.length) > limit) continue;
    const d = c.toLowerCase() === lower ? 0 : editDistance(lower, c.toLowerCase());
    if (d < bestDistance || (d === bestDistance && best !== undefined && c < best)) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** The help line alone, for a word that has no span of its own to replace (a `--set` name, a dotted sweep target). */
export function didYouMean(word: string, candidates: Iterable<string>): TableText | undefined {
  const c = closest(word, candidates);
  return c === undefined ? undefined : helpTexts.didYouMean(c);
}

/**
 * "did you mean 'seed'?" with a fix that writes the candidate over `span` (the misspelled word); undefined when no
 * candidate is close. `param` shows the candidate as `${name}` (the span is the name inside the braces).
 */
export function suggest(
  word: string,
  candidates: Iterable<string>,
  span: Span | undefined,
  param = false,
): (DiagnosticExtras & { help: TableText }) | undefined {
  const c = closest(word, candidates);
  if (c === undefined) return undefined;
  const help = param ? helpTexts.didYouMeanParam(c) : helpTexts.didYouMean(c);
  return span ? { help, fix: { span, replacement: c } } : { help };
}
