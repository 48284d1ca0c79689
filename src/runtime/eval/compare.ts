// One table of every model a run evaluated (printed at the end of `alignc run`, written to
// evaluations/summary.md): a row per (evaluation, model), the headline metrics as columns. A column appears only
// when some evaluation measured it, so a run that only scored POPE gets a narrow table.
import type { WorldReport } from "./evaluate.ts";

/** What evaluation.json holds (src/runtime/run/executors/eval-metrics.ts). */
export interface EvaluationFile {
  data: string;
  metrics: string[];
  models: Record<string, WorldReport>;
}

interface Column {
  label: string;
  /** The figure as a number: a fraction for percentages, a mean score for quality aspects. */
  number: (r: WorldReport) => number | undefined;
  percent: boolean;
}

const qualityOf = (r: WorldReport, aspect: string) => (r.quality?.byTask.describe?.means ?? r.quality?.all.means)?.[aspect];

const COLUMNS: Column[] = [
  { label: "POPE acc", number: (r) => r.pope?.all.accuracy, percent: true },
  { label: "POPE F1", number: (r) => r.pope?.all.f1, percent: true },
  { label: "CHAIR_i ↓", number: (r) => r.describe?.chairI, percent: true },
  { label: "CHAIR_s ↓", number: (r) => r.describe?.chairS, percent: true },
  { label: "recall", number: (r) => r.describe?.recall, percent: true },
  { label: "text acc", number: (r) => r.text?.accuracy, percent: true },
  { label: "attribute acc", number: (r) => r.attribute?.accuracy, percent: true },
  { label: "count acc", number: (r) => r.count?.accuracy, percent: true },
  { label: "helpfulness", number: (r) => qualityOf(r, "helpfulness"), percent: false },
  { label: "correctness", number: (r) => qualityOf(r, "correctness"), percent: false },
  { label: "coherence", number: (r) => qualityOf(r, "coherence"), percent: false },
];

/** A figure as the tables show it: percentages with one decimal, quality scores with two. */
export function formatFigure(value: number, percent: boolean): string {
  return percent ? `${(100 * value).toFixed(1)}%` : value.toFixed(2);
}

const formatted = (c: Column, r: WorldReport): string | undefined => {
  const v = c.number(r);
  return v === undefined ? undefined : formatFigure(v, c.percent);
};

/** A model's headline figures as numbers (label → value, and whether it is a percentage), those it has. */
export function headlineNumbers(report: WorldReport): { label: string; value: number; percent: boolean }[] {
  return COLUMNS.flatMap((c) => {
    const value = c.number(report);
    return value === undefined ? [] : [{ label: c.label, value, percent: c.percent }];
  });
}

/** A model's headline figures as the comparison table shows them (label → formatted value), those it has. */
export function headlineFigures(report: WorldReport): [string, string][] {
  return headlineNumbers(report).map((f) => [f.label, formatFigure(f.value, f.percent)]);
}

/** The comparison table, or undefined when nothing was evaluated. */
export function renderComparison(evaluations: readonly { node: string; file: EvaluationFile }[]): string | undefined {
  const rows = evaluations.flatMap((e) => Object.entries(e.file.models).map(([model, report]) => ({ evaluation: e.node, data: e.file.data, model, report })));
  if (rows.length === 0) return undefined;
  const columns = COLUMNS.filter((c) => rows.some((r) => c.number(r.report) !== undefined));
  const lines = [
    "## All evaluated models",
    "",
    `| evaluation | on | model | ${columns.map((c) => c.label).join(" | ")} |`,
    `|---|---|---|${columns.map(() => "---:|").join("")}`,
    ...rows.map((r) => `| ${r.evaluation} | ${r.data} | ${r.model} | ${columns.map((c) => formatted(c, r.report) ?? "–").join(" | ")} |`),
  ];
  if (columns.some((c) => ["helpfulness", "correctness", "coherence"].includes(c.label)))
    lines.push("", "Quality columns: the rater's mean score on descriptions (on all answers when there are none), on its scale.");
  return lines.join("\n");
}
