// Results across replicates: a sweep over a seed (and possibly other settings) summarised per evaluation as one
// row per (other settings, model) with each figure's mean and sample standard deviation over the seeds. This is
// what `alignc report SWEEP_DIR --out FILE.md` writes and what the sweep's HTML report shows first; the tables of
// docs/results.md are made this way.
import path from "node:path";
import { headlineNumbers } from "../eval/compare.ts";
import type { SweepSummary } from "../sweeps/local.ts";

export interface ReplicateCell {
  mean: number;
  /** Sample standard deviation (n − 1); undefined with one value. */
  sd: number | undefined;
  values: number[];
  percent: boolean;
}

export interface ReplicateRow {
  /** The trial's values of the swept settings other than the replicate axis. */
  settings: Record<string, unknown>;
  model: string;
  cells: Map<string, ReplicateCell>;
  /** Replicates that evaluated this model. */
  n: number;
}

export interface ReplicateTable {
  evaluation: string;
  data: string;
  labels: string[];
  rows: ReplicateRow[];
}

export interface Replicates {
  sweep: string;
  entry: string;
  /** The axis replicates differ by (`seed`). */
  across: string;
  /** Its values among the finished trials. */
  values: unknown[];
  /** The other swept settings. */
  axes: string[];
  ok: number;
  total: number;
  /** Wall time of the finished trials, seconds. */
  seconds: number[];
  devices: string[];
  tables: ReplicateTable[];
}

/** The axis to aggregate over: the one named `seed`, else the only one whose name ends in `seed`. */
export function replicateAxis(sweep: SweepSummary): string | undefined {
  const axes = [...new Set(sweep.trials.flatMap((t) => Object.keys(t.values)))];
  if (axes.includes("seed")) return "seed";
  const seeds = axes.filter((a) => /seed$/i.test(a));
  return seeds.length === 1 ? seeds[0] : undefined;
}

/** `order`: evaluation nodes in the order the tables should come (the file's); others follow, sorted. */
export function summariseReplicates(sweep: SweepSummary, across: string, order: readonly string[] = []): Replicates {
  const axes = [...new Set(sweep.trials.flatMap((t) => Object.keys(t.values)))].filter((a) => a !== across);
  const done = sweep.trials.filter((t) => t.status === "ok" && t.evaluations);
  const tables = new Map<string, ReplicateTable>();
  const rowsByKey = new Map<string, ReplicateRow>();
  const samples = new Map<ReplicateRow, Map<string, { values: number[]; percent: boolean }>>();
  for (const t of done)
    for (const [evaluation, file] of Object.entries(t.evaluations ?? {})) {
      const table = tables.get(evaluation) ?? { evaluation, data: file.data, labels: [], rows: [] };
      tables.set(evaluation, table);
      const settings = Object.fromEntries(axes.map((a) => [a, t.values[a]]));
      for (const [model, report] of Object.entries(file.models)) {
        const key = JSON.stringify([evaluation, settings, model]);
        let row = rowsByKey.get(key);
        if (!row) {
          row = { settings, model, cells: new Map(), n: 0 };
          rowsByKey.set(key, row);
          table.rows.push(row);
          samples.set(row, new Map());
        }
        row.n++;
        const byLabel = samples.get(row)!;
        for (const f of headlineNumbers(report)) {
          if (!table.labels.includes(f.label)) table.labels.push(f.label);
          const s = byLabel.get(f.label) ?? { values: [], percent: f.percent };
          s.values.push(f.value);
          byLabel.set(f.label, s);
        }
      }
    }
  for (const [row, byLabel] of samples)
    for (const [label, s] of byLabel) row.cells.set(label, { ...meanAndSd(s.values), values: s.values, percent: s.percent });
  return {
    sweep: sweep.sweep,
    entry: sweep.entry,
    across,
    values: [...new Set(done.map((t) => t.values[across]))],
    axes,
    ok: done.length,
    total: sweep.trials.length,
    seconds: done.flatMap((t) => (t.seconds === undefined ? [] : [t.seconds])),
    devices: [...new Set(done.map((t) => t.device ?? "cpu"))],
    tables: [...tables.values()].sort((a, b) => rank(order, a.evaluation) - rank(order, b.evaluation) || a.evaluation.localeCompare(b.evaluation)),
  };
}

const rank = (order: readonly string[], name: string) => (order.includes(name) ? order.indexOf(name) : order.length);

export function meanAndSd(values: readonly number[]): { mean: number; sd: number | undefined } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length < 2) return { mean, sd: undefined };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, sd: Math.sqrt(variance) };
}

/** "76.5 ± 2.1" (percentages in points) or "2.31 ± 0.05"; one value alone has no spread. */
export function formatCell(c: ReplicateCell | undefined): string {
  if (!c) return "–";
  const digits = c.percent ? 1 : 2;
  const scale = c.percent ? 100 : 1;
  const mean = (scale * c.mean).toFixed(digits);
  return c.sd === undefined ? mean : `${mean} ± ${(scale * c.sd).toFixed(digits)}`;
}

/** A column header: percentages are marked so the cells can stay bare numbers. */
export function columnLabel(table: ReplicateTable, label: string): string {
  const percent = table.rows.some((r) => r.cells.get(label)?.percent);
  return percent ? `${label} (%)` : label;
}

const cellText = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** Header line of the summary: what was aggregated, how many trials finished, their time and devices. */
export function replicatesCaption(r: Replicates): string {
  const total = r.seconds.reduce((a, b) => a + b, 0);
  const mean = r.seconds.length ? total / r.seconds.length : 0;
  return `${path.basename(r.entry)}, sweep ${r.sweep}: mean ± sample standard deviation over ${r.across} = ${r.values.map(cellText).join(", ")} (${r.ok} of ${r.total} trials finished; ${durationWords(mean)} per trial, ${durationWords(total)} in all; device ${r.devices.join(", ")}).`;
}

/**
 * A duration in words for the results tables: "42 s", "3 min 5 s", "2.5 h". Rounded to whole seconds before it is
 * split into minutes and seconds, so the seconds never read 60 ("2 min 0 s" for 119.6 s, not "1 min 60 s").
 */
export function durationWords(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 90) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 90 ? `${m} min ${s % 60} s` : `${(seconds / 3600).toFixed(1)} h`;
}

/** Rows of one table as cells: the other settings, the model, n, then each figure. */
export function tableCells(r: Replicates, table: ReplicateTable): { header: string[]; rows: string[][] } {
  return {
    header: [...r.axes, "model", "n", ...table.labels.map((l) => columnLabel(table, l))],
    rows: table.rows.map((row) => [
      ...r.axes.map((a) => cellText(row.settings[a])),
      row.model,
      String(row.n),
      ...table.labels.map((l) => formatCell(row.cells.get(l))),
    ]),
  };
}

export function replicatesMarkdown(r: Replicates): string {
  const lines = [`# ${r.sweep} of ${path.basename(r.entry)}`, "", replicatesCaption(r)];
  for (const table of r.tables) {
    const { header, rows } = tableCells(r, table);
    lines.push(
      "",
      `## ${table.evaluation} (on ${table.data})`,
      "",
      `| ${header.join(" | ")} |`,
      `|${header.map((_, i) => (i < r.axes.length + 1 ? "---|" : "---:|")).join("")}`,
      ...rows.map((cells) => `| ${cells.join(" | ")} |`),
    );
  }
  if (r.tables.some((t) => t.labels.some((l) => ["helpfulness", "correctness", "coherence"].includes(l))))
    lines.push("", "Quality columns: the rater's mean score of the descriptions, on its scale.");
  return `${lines.join("\n")}\n`;
}
