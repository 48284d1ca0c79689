// One table of every model a run evaluated (printed at the end of `alignc run`, written to
// evaluations/all-models.md): a row per (evaluation, model), the headline metrics as columns, and a legend of at
// most two lines saying what the columns mean and which direction is better. A column appears only when some
// evaluation measured it, so a run that only scored POPE gets a narrow table.
import type { WorldReport } from "./evaluate.ts";

/** What evaluation.json holds (src/runtime/pipeline/executors/eval-metrics.ts). */
export interface EvaluationFile {
  data: string;
  metrics: string[];
  /** The evaluation's `caption` setting, when it has one. */
  caption?: string;
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

/** What each group of columns means and which direction is better, for the columns shown. */
const LEGEND: { labels: string[]; text: string; line: 1 | 2 }[] = [
  { labels: ["POPE acc", "POPE F1"], text: "POPE acc/F1: yes/no questions on whether an object is in the image (higher is better)", line: 1 },
  {
    labels: ["CHAIR_i ↓", "CHAIR_s ↓"],
    text: "CHAIR_i/CHAIR_s ↓: share of the objects named (i), and of the descriptions (s), that are not in the image: hallucination (lower is better)",
    line: 1,
  },
  { labels: ["recall"], text: "recall: share of the image's objects a description names (higher is better)", line: 1 },
  { labels: ["text acc", "attribute acc", "count acc"], text: "text/attribute/count acc: exact answers to those tasks (higher is better)", line: 2 },
  {
    labels: ["helpfulness", "correctness", "coherence"],
    text: "helpfulness, correctness, coherence: the rater's mean score on descriptions (on all answers when there are none), on its scale (higher is better)",
    line: 2,
  },
];

/** The legend of the columns shown: at most two lines, what each means and which way is better. */
export function legend(labels: readonly string[]): string[] {
  const shown = LEGEND.filter((l) => l.labels.some((label) => labels.includes(label)));
  return [1, 2]
    .map((line) =>
      shown
        .filter((l) => l.line === line)
        .map((l) => l.text)
        .join("; "),
    )
    .filter((line) => line !== "")
    .map((line) => `${line}.`);
}

/**
 * The comparison table with its legend and the evaluations' captions, or undefined when nothing was evaluated. One
 * evaluation is titled by it (and its data), several get a column each for the evaluation and its data.
 */
export function renderComparison(evaluations: readonly { node: string; file: EvaluationFile }[]): string | undefined {
  const rows = evaluations.flatMap((e) => Object.entries(e.file.models).map(([model, report]) => ({ evaluation: e.node, data: e.file.data, model, report })));
  if (rows.length === 0) return undefined;
  const columns = COLUMNS.filter((c) => rows.some((r) => c.number(r.report) !== undefined));
  const one = evaluations.length === 1 ? evaluations[0] : undefined;
  const lead = one ? ["model"] : ["evaluation", "on", "model"];
  const cellsOf = (r: (typeof rows)[number]) => (one ? [r.model] : [r.evaluation, r.data, r.model]);
  return [
    one ? `## ${one.node} on ${one.file.data}` : "## All evaluated models",
    "",
    `| ${[...lead, ...columns.map((c) => c.label)].join(" | ")} |`,
    `|${lead.map(() => "---|").join("")}${columns.map(() => "---:|").join("")}`,
    ...rows.map((r) => `| ${[...cellsOf(r), ...columns.map((c) => formatted(c, r.report) ?? "–")].join(" | ")} |`),
    "",
    ...legend(columns.map((c) => c.label)),
    ...evaluations.flatMap((e) => (e.file.caption ? ["", one ? e.file.caption : `${e.node}: ${e.file.caption}`] : [])),
  ].join("\n");
}
