// POPE metrics (Li et al. 2023): yes/no object-existence questions, scored per negative-sampling split with
// "yes" as the positive class.

import { parseYesNo } from "../world/answers.ts";
import type { Negative } from "../world/options.ts";

export interface PopeRecord {
  /** The reference answer ("Yes." / "No."). */
  answer: string;
  prediction: string;
  negative: Negative;
}

export interface PopeScores {
  n: number;
  /** Counts: predicted yes on a yes item (tp), yes on a no item (fp), no on a no item (tn), no on a yes item (fn). */
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** Predictions that start with neither yes nor no: wrong for accuracy and recall, never a false positive. */
  unparseable: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  /** Share of all predictions that say yes (POPE's bias indicator; 0.5 for a balanced, unbiased model). */
  yesRatio: number;
}

export interface PopeReport {
  splits: Partial<Record<Negative, PopeScores>>;
  all: PopeScores;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

export function popeScores(records: readonly PopeRecord[]): PopeScores {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0, unparseable: 0, positives: 0 };
  for (const r of records) {
    const truth = parseYesNo(r.answer);
    if (truth === null) throw new Error(`POPE: the reference answer ${JSON.stringify(r.answer)} does not start with yes or no`);
    if (truth === "yes") c.positives++;
    const said = parseYesNo(r.prediction);
    if (said === null) c.unparseable++;
    else if (said === "yes" && truth === "yes") c.tp++;
    else if (said === "yes") c.fp++;
    else if (truth === "no") c.tn++;
    else c.fn++;
  }
  const n = records.length;
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.positives);
  return {
    n,
    tp: c.tp,
    fp: c.fp,
    tn: c.tn,
    fn: c.fn,
    unparseable: c.unparseable,
    accuracy: ratio(c.tp + c.tn, n),
    precision,
    recall,
    f1: ratio(2 * precision * recall, precision + recall),
    yesRatio: ratio(c.tp + c.fp, n),
  };
}

/** Scores per negative-sampling split (those present in `records`), and over all records. */
export function popeMetrics(records: readonly PopeRecord[]): PopeReport {
  const splits: Partial<Record<Negative, PopeScores>> = {};
  for (const negative of [...new Set(records.map((r) => r.negative))]) splits[negative] = popeScores(records.filter((r) => r.negative === negative));
  return { splits, all: popeScores(records) };
}
