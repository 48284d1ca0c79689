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
  value: (r: WorldReport) => string | undefined;
}

const pct = (x: number | undefined) => (x === undefined ? undefined : `${(100 * x).toFixed(1)}%`);
const qualityOf = (r: WorldReport, aspect: string) => {
  const means = r.quality?.byTask.describe?.means ?? r.quality?.all.means;
  const v = means?.[aspect];
  return v === undefined ? undefined : v.toFixed(2);
};

const COLUMNS: Column[] = [
  { label: "POPE acc", value: (r) => pct(r.pope?.all.accuracy) },
  { label: "POPE F1", value: (r) => pct(r.pope?.all.f1) },
  { label: "CHAIR_i ↓", value: (r) => pct(r.describe?.chairI) },
  { label: "CHAIR_s ↓", value: (r) => pct(r.describe?.chairS) },
  { label: "recall", value: (r) => pct(r.describe?.recall) },
  { label: "text acc", value: (r) => pct(r.text?.accuracy) },
  { label: "attribute acc", value: (r) => pct(r.attribute?.accuracy) },
  { label: "count acc", value: (r) => pct(r.count?.accuracy) },
  { label: "helpfulness", value: (r) => qualityOf(r, "helpfulness") },
  { label: "correctness", value: (r) => qualityOf(r, "correctness") },
  { label: "coherence", value: (r) => qualityOf(r, "coherence") },
];

/** A model's headline figures as the comparison table shows them (label → formatted value), those it has. */
export function headlineFigures(report: WorldReport): [string, string][] {
  return COLUMNS.flatMap((c) => {
    const v = c.value(report);
    return v === undefined ? [] : [[c.label, v] as [string, string]];
  });
}

/** The comparison table, or undefined when nothing was evaluated. */
export function renderComparison(evaluations: readonly { node: string; file: EvaluationFile }[]): string | undefined {
  const rows = evaluations.flatMap((e) => Object.entries(e.file.models).map(([model, report]) => ({ evaluation: e.node, data: e.file.data, model, report })));
  if (rows.length === 0) return undefined;
  const columns = COLUMNS.filter((c) => rows.some((r) => c.value(r.report) !== undefined));
  const lines = [
    "## All evaluated models",
    "",
    `| evaluation | on | model | ${columns.map((c) => c.label).join(" | ")} |`,
    `|---|---|---|${columns.map(() => "---:|").join("")}`,
    ...rows.map((r) => `| ${r.evaluation} | ${r.data} | ${r.model} | ${columns.map((c) => c.value(r.report) ?? "–").join(" | ")} |`),
  ];
  if (columns.some((c) => ["helpfulness", "correctness", "coherence"].includes(c.label)))
    lines.push("", "Quality columns: the rater's mean score on descriptions (on all answers when there are none), on its scale.");
  return lines.join("\n");
}
