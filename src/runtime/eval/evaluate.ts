// All of the world's metrics for a set of predictions: each item is scored by the metric of its task.
import type { WorldItem } from "../world/format.ts";
import { type ChairScores, chairMetrics } from "./chair.ts";
import { type ExactScores, exactMatch } from "./exact.ts";
import { type PopeReport, popeMetrics } from "./pope.ts";
import type { QualityReport } from "./quality.ts";

export interface WorldReport {
  /** Items that had no prediction; they are scored as an empty answer. */
  missing: number;
  pope?: PopeReport;
  describe?: ChairScores;
  attribute?: ExactScores;
  count?: ExactScores;
  text?: ExactScores;
  /** The `quality` metric: a rater's scores of the answers (quality.ts; not computed by evaluateWorld, which needs no rater). */
  quality?: QualityReport;
}

/** `predictions`: item id → the model's answer. Metrics appear for the tasks that `items` hold. */
export function evaluateWorld(items: readonly WorldItem[], predictions: ReadonlyMap<string, string>): WorldReport {
  let missing = 0;
  const said = (it: WorldItem): string => {
    const p = predictions.get(it.id);
    if (p === undefined) missing++;
    return p ?? "";
  };
  const of = (task: WorldItem["task"]) => items.filter((it) => it.task === task);
  const report: WorldReport = { missing: 0 };
  const pope = of("pope");
  if (pope.length > 0) report.pope = popeMetrics(pope.map((it) => ({ answer: it.answer, prediction: said(it), negative: it.negative ?? "random" })));
  const describe = of("describe").filter((it) => it.scene !== null);
  if (describe.length > 0) report.describe = chairMetrics(describe.map((it) => ({ prediction: said(it), scene: it.scene as NonNullable<WorldItem["scene"]> })));
  for (const task of ["attribute", "count", "text"] as const) {
    const these = of(task);
    if (these.length > 0) report[task] = exactMatch(these.map((it) => ({ answer: it.answer, prediction: said(it), kind: it.kind })));
  }
  report.missing = missing;
  return report;
}
