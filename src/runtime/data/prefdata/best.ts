// Rejection sampling (the "RS" baseline of Li et al. 2024): per rated record, the best-scoring response becomes the
// item's answer (first on ties), giving a prompts dataset ready for sft. Records without responses are skipped.
import type { WorldItem } from "../../world/format.ts";
import type { RatedRecord } from "./records.ts";
import { ScoreError, type ScoreExpr, scoreResponses } from "./score.ts";

export interface BestStats {
  prompts: number;
  /** Items written (prompts − skipped). */
  kept: number;
  /** Records without responses. */
  skipped: number;
  /** Records where several responses share the best score (the first was kept). */
  ties: number;
  /** Mean score of the kept answers (0 when none). */
  mean_score: number;
}

/** Index of the best score, the first on ties; -1 for none. */
export function bestIndex(scores: readonly number[]): number {
  let best = -1;
  scores.forEach((s, i) => {
    if (best < 0 || s > (scores[best] as number)) best = i;
  });
  return best;
}

export function bestOf(records: readonly RatedRecord[], score: ScoreExpr): { items: WorldItem[]; stats: BestStats } {
  const items: WorldItem[] = [];
  const stats: BestStats = { prompts: records.length, kept: 0, skipped: 0, ties: 0, mean_score: 0 };
  let sum = 0;
  for (const record of records) {
    if (record.scores.length !== record.responses.length)
      throw new ScoreError(`record ${record.id}: ${record.scores.length} score objects for ${record.responses.length} responses`);
    const scores = scoreResponses(score, record.id, record.scores);
    const i = bestIndex(scores);
    const response = record.responses[i];
    if (i < 0 || !response) {
      stats.skipped++;
      continue;
    }
    const best = scores[i] as number;
    if (scores.filter((s) => s === best).length > 1) stats.ties++;
    sum += best;
    // The record's id, which is unique in the rated dataset (the item's may repeat after concat or mix).
    items.push({ ...record.item, id: record.id, answer: response.text });
  }
  stats.kept = items.length;
  stats.mean_score = items.length === 0 ? 0 : sum / items.length;
  return { items, stats };
}
