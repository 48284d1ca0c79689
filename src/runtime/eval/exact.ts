// Exact-match accuracy after normalisation: text-only tasks, attribute and counting questions.
import { normalizeAnswer } from "../world/answers.ts";

export interface ExactRecord {
  answer: string;
  prediction: string;
  /** The question type, for the per-kind breakdown. */
  kind: string;
}

export interface ExactScores {
  n: number;
  correct: number;
  accuracy: number;
  byKind: Record<string, { n: number; correct: number; accuracy: number }>;
}

export function exactMatch(records: readonly ExactRecord[]): ExactScores {
  const byKind: ExactScores["byKind"] = {};
  let correct = 0;
  for (const r of records) {
    const k = byKind[r.kind] ?? { n: 0, correct: 0, accuracy: 0 };
    byKind[r.kind] = k;
    k.n++;
    if (normalizeAnswer(r.prediction) === normalizeAnswer(r.answer)) {
      k.correct++;
      correct++;
    }
  }
  for (const k of Object.values(byKind)) k.accuracy = k.correct / k.n;
  return { n: records.length, correct, accuracy: records.length === 0 ? 0 : correct / records.length, byKind };
}
