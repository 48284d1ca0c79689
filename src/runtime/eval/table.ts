// Evaluation reports as Markdown tables: one comparison table (a row per metric, a column per model), POPE in
// detail per model and negative split, the most hallucinated objects, and the rater's quality scores per model. Markdown reads well in a terminal and
// renders in docs and reports.
import type { WorldReport } from "./evaluate.ts";
import type { QualityMeans, QualityReport } from "./quality.ts";

export type MetricName = "pope" | "chair" | "recall" | "text_accuracy" | "attribute_accuracy" | "count_accuracy" | "quality";

const pct = (x: number | undefined): string => (x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);

interface Row {
  label: string;
  value: (r: WorldReport) => number | undefined;
}

function rowsFor(metrics: readonly MetricName[]): Row[] {
  const rows: Row[] = [];
  const has = (m: MetricName) => metrics.includes(m);
  if (has("pope")) {
    for (const split of ["random", "popular", "adversarial"] as const)
      rows.push({ label: `POPE accuracy, ${split}`, value: (r) => r.pope?.splits[split]?.accuracy });
    rows.push({ label: "POPE accuracy, all", value: (r) => r.pope?.all.accuracy });
    rows.push({ label: "POPE F1, all", value: (r) => r.pope?.all.f1 });
    rows.push({ label: "POPE yes-ratio, all", value: (r) => r.pope?.all.yesRatio });
  }
  if (has("chair")) {
    rows.push({ label: "CHAIR_i (lower is better)", value: (r) => r.describe?.chairI });
    rows.push({ label: "CHAIR_s (lower is better)", value: (r) => r.describe?.chairS });
  }
  if (has("recall")) rows.push({ label: "object recall", value: (r) => r.describe?.recall });
  if (has("text_accuracy")) rows.push({ label: "text-only accuracy", value: (r) => r.text?.accuracy });
  if (has("attribute_accuracy")) rows.push({ label: "attribute accuracy", value: (r) => r.attribute?.accuracy });
  if (has("count_accuracy")) rows.push({ label: "count accuracy", value: (r) => r.count?.accuracy });
  return rows;
}

export function renderEvaluation(title: string, reports: readonly { model: string; report: WorldReport }[], metrics: readonly MetricName[]): string {
  const out: string[] = [`## ${title}`, ""];
  const rows = rowsFor(metrics);
  // Only quality asked for: its own table below is the comparison.
  if (rows.length > 0) {
    out.push(`| metric | ${reports.map((r) => r.model).join(" | ")} |`, `|---|${reports.map(() => "---:|").join("")}`);
    for (const row of rows) out.push(`| ${row.label} | ${reports.map((r) => pct(row.value(r.report))).join(" | ")} |`);
    out.push("");
  }
  const n = reports[0]?.report;
  if (n) {
    const counts = [
      n.pope && `${n.pope.all.n} POPE questions`,
      n.describe && `${n.describe.descriptions} descriptions`,
      n.text && `${n.text.n} text-only tasks`,
      n.attribute && `${n.attribute.n} attribute questions`,
      n.count && `${n.count.n} counting questions`,
    ].filter(Boolean);
    out.push(`Items: ${counts.join(", ")}.`, "");
  }
  if (metrics.includes("chair")) {
    out.push("Most hallucinated objects (descriptions that mention an absent one):", "");
    for (const r of reports) {
      const top = r.report.describe?.topHallucinated ?? [];
      out.push(
        `- ${r.model}: ${
          top.length === 0
            ? "none"
            : top
                .slice(0, 5)
                .map((h) => `${h.shape} (${h.count})`)
                .join(", ")
        }`,
      );
    }
    out.push("");
  }
  if (metrics.includes("quality")) out.push(...renderQuality(reports));
  if (metrics.includes("pope")) {
    for (const r of reports) {
      const pope = r.report.pope;
      if (!pope) continue;
      out.push(
        `POPE, ${r.model}:`,
        "",
        "| split | n | accuracy | precision | recall | F1 | yes-ratio | unparseable |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
      );
      for (const [split, s] of [...Object.entries(pope.splits), ["all", pope.all] as const])
        if (s)
          out.push(
            `| ${split} | ${s.n} | ${pct(s.accuracy)} | ${pct(s.precision)} | ${pct(s.recall)} | ${pct(s.f1)} | ${pct(s.yesRatio)} | ${s.unparseable} |`,
          );
      out.push("");
    }
  }
  return out.join("\n");
}

/**
 * The quality table: a row per model and item group (describe, then all), a column per aspect, each cell the mean
 * score of the group's rated answers; then the items the rater failed on, if any.
 */
function renderQuality(reports: readonly { model: string; report: WorldReport }[]): string[] {
  const rated = reports.filter((r): r is { model: string; report: WorldReport & { quality: QualityReport } } => r.report.quality !== undefined);
  const first = rated[0]?.report.quality;
  if (!first) return [];
  const who = first.rater === first.kind ? first.rater : `${first.rater} (${first.kind})`;
  const notes = first.kind === "grounded" && first.aspects.includes("verbosity") ? "; verbosity: higher is longer, not better" : "";
  const out = [
    `Quality (rater: ${who}, scale ${first.scale.min}..${first.scale.max}; mean score per answer${notes}):`,
    "",
    `| model | answers | ${first.aspects.join(" | ")} |`,
    `|---|---:|${first.aspects.map(() => "---:|").join("")}`,
  ];
  const row = (label: string, m: QualityMeans | undefined) =>
    `| ${label} | ${m?.n ?? 0} | ${first.aspects.map((a) => (m?.means[a] === undefined ? "–" : (m.means[a] as number).toFixed(2))).join(" | ")} |`;
  for (const { model, report } of rated) {
    if (report.quality.byTask.describe) out.push(row(`${model}, describe`, report.quality.byTask.describe));
    out.push(row(`${model}, all`, report.quality.all));
  }
  out.push("");
  const failed = rated.filter((r) => r.report.quality.failed > 0);
  if (failed.length > 0) {
    out.push("Items the rater failed on (left out of the means):", "");
    for (const { model, report } of failed) {
      const q = report.quality;
      const shown = q.failures.map((f) => `${f.itemId}: ${f.message}`).join("; ");
      out.push(`- ${model}: ${q.failed} — ${shown}${q.failed > q.failures.length ? "; …" : ""}`);
    }
    out.push("");
  }
  return out;
}
