// All of the world's metrics for a set of predictions: each item is scored by the metric of its task.

import type { WorldItem } from "../world/format.ts";
import { type ChairScores, chairMetrics } from "./chair.ts";
import { type ExactScores, exactMatch } from "./exact.ts";
import { type PopeReport, popeMetrics } from "./pope.ts";
import type { QualityReport } from "./quality.ts";

/** What an evaluation's items were: the evaluation table says from this what was measured, and why a metric is absent. */
export interface EvaluatedItems {
  total: number;
  /** Items per task. */
  tasks: Partial<Record<WorldItem["task"], number>>;
  /** Items imported from a data file (kind `imported`): prompts with no scene graph and no POPE label. */
  imported: number;
  /** Describe items without a scene graph (imported prompts with an image): CHAIR and object recall cannot score them. */
  withoutScene: number;
}

export interface WorldReport {
  /** Items that had no prediction; they are scored as an empty answer. */
  missing: number;
  /** What was evaluated (absent in evaluations stored before it was recorded). */
  items?: EvaluatedItems;
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
  report.items = evaluatedItems(items);
  return report;
}

export function evaluatedItems(items: readonly WorldItem[]): EvaluatedItems {
  const tasks: EvaluatedItems["tasks"] = {};
  let imported = 0;
  let withoutScene = 0;
  for (const it of items) {
    tasks[it.task] = (tasks[it.task] ?? 0) + 1;
    if (it.kind === "imported") imported++;
    if (it.task === "describe" && it.scene === null) withoutScene++;
  }
  return { total: items.length, tasks, imported, withoutScene };
}
