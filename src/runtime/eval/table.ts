// Evaluation reports as Markdown tables: one comparison table (a row per metric, a column per model), POPE in
// detail per model and negative split, and the most hallucinated objects. Markdown reads well in a terminal and
// renders in docs and reports.
import type { WorldReport } from "./evaluate.ts";

export type MetricName = "pope" | "chair" | "recall" | "text_accuracy" | "attribute_accuracy" | "count_accuracy";

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
  out.push(`| metric | ${reports.map((r) => r.model).join(" | ")} |`, `|---|${reports.map(() => "---:|").join("")}`);
  for (const row of rows) out.push(`| ${row.label} | ${reports.map((r) => pct(row.value(r.report))).join(" | ")} |`);
  out.push("");
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
