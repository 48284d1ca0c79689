// Evaluation reports as Markdown tables: one comparison table (a row per metric, a column per model), POPE in
// detail per model and negative split, the most hallucinated objects, and the rater's quality scores per model. Markdown reads well in a terminal and
// renders in docs and reports.

import type { EvaluatedItems, WorldReport } from "./evaluate.ts";
import type { QualityMeans, QualityReport } from "./quality.ts";

export type MetricName = "pope" | "chair" | "recall" | "text_accuracy" | "attribute_accuracy" | "count_accuracy" | "quality";

const pct = (x: number | undefined): string => (x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);

interface Row {
  label: string;
  value: (r: WorldReport) => number | undefined;
  /** The metric the row belongs to (the reason a row has no value is the metric's). */
  metric: MetricName;
}

function rowsFor(metrics: readonly MetricName[]): Row[] {
  const rows: Row[] = [];
  const has = (m: MetricName) => metrics.includes(m);
  if (has("pope")) {
    for (const split of ["random", "popular", "adversarial"] as const)
      rows.push({ label: `POPE accuracy, ${split}`, value: (r) => r.pope?.splits[split]?.accuracy, metric: "pope" });
    rows.push({ label: "POPE accuracy, all", value: (r) => r.pope?.all.accuracy, metric: "pope" });
    rows.push({ label: "POPE F1, all", value: (r) => r.pope?.all.f1, metric: "pope" });
    rows.push({ label: "POPE yes-ratio, all", value: (r) => r.pope?.all.yesRatio, metric: "pope" });
  }
  if (has("chair")) {
    rows.push({ label: "CHAIR_i (lower is better)", value: (r) => r.describe?.chairI, metric: "chair" });
    rows.push({ label: "CHAIR_s (lower is better)", value: (r) => r.describe?.chairS, metric: "chair" });
  }
  if (has("recall")) rows.push({ label: "object recall", value: (r) => r.describe?.recall, metric: "recall" });
  if (has("text_accuracy")) rows.push({ label: "text-only accuracy", value: (r) => r.text?.accuracy, metric: "text_accuracy" });
  if (has("attribute_accuracy")) rows.push({ label: "attribute accuracy", value: (r) => r.attribute?.accuracy, metric: "attribute_accuracy" });
  if (has("count_accuracy")) rows.push({ label: "count accuracy", value: (r) => r.count?.accuracy, metric: "count_accuracy" });
  return rows;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * What the evaluation's items were, as the table's `Items:` line: the items each metric scored, and those none could
 * (image prompts without a scene graph, imported from a file).
 */
export function itemsLine(report: WorldReport): string {
  const items = report.items;
  const parts = [
    report.pope && plural(report.pope.all.n, "POPE question"),
    report.describe && plural(report.describe.descriptions, "description"),
    items?.withoutScene && plural(items.withoutScene, "image prompt") + " without a scene graph",
    report.text && plural(report.text.n, "text-only task"),
    report.attribute && plural(report.attribute.n, "attribute question"),
    report.count && plural(report.count.n, "counting question"),
  ].filter((p): p is string => typeof p === "string" && p !== "");
  if (!items) return `Items: ${parts.join(", ") || "none scored"}.`;
  if (items.total === 0) return "Items: none (the test set is empty).";
  const imported = items.imported === 0 ? "" : items.imported === items.total ? ", all imported from a file" : `, ${items.imported} imported from a file`;
  return `Items (${items.total}${imported}): ${parts.join(", ") || "none that a metric of this evaluation scores"}.`;
}

/**
 * Why metrics have no value for any model, from what the items were: the sentences under the table that explain its
 * "–". `absent` are the metrics with no value.
 */
export function notMeasured(absent: readonly MetricName[], report: WorldReport): string[] {
  const items: EvaluatedItems | undefined = report.items;
  const none = "this test set has none";
  const out: string[] = [];
  if (absent.includes("pope")) out.push(`POPE needs POPE items; ${none}`);
  const chair = absent.includes("chair");
  const recall = absent.includes("recall");
  if (chair || recall) {
    const who = chair && recall ? "CHAIR and object recall need" : chair ? "CHAIR needs" : "object recall needs";
    if (!items?.withoutScene) out.push(`${who} descriptions of a scene (task describe, with its scene graph); ${none}`);
    else if (items.imported >= items.withoutScene) out.push(`${who} scene graphs; imported items have none`);
    else out.push(`${who} scene graphs; ${plural(items.withoutScene, "image prompt")} of this test set ${items.withoutScene === 1 ? "has" : "have"} none`);
  }
  if (absent.includes("text_accuracy")) out.push(`text-only accuracy needs text-only items; ${none}`);
  if (absent.includes("attribute_accuracy")) out.push(`attribute accuracy needs attribute questions; ${none}`);
  if (absent.includes("count_accuracy")) out.push(`count accuracy needs counting questions; ${none}`);
  return out;
}

export function renderEvaluation(
  title: string,
  reports: readonly { model: string; report: WorldReport }[],
  metrics: readonly MetricName[],
  caption?: string,
): string {
  const out: string[] = [`## ${title}`, ""];
  if (caption) out.push(caption, "");
  const rows = rowsFor(metrics);
  // Only quality asked for: its own table below is the comparison.
  if (rows.length > 0) {
    out.push(`| metric | ${reports.map((r) => r.model).join(" | ")} |`, `|---|${reports.map(() => "---:|").join("")}`);
    for (const row of rows) out.push(`| ${row.label} | ${reports.map((r) => pct(row.value(r.report))).join(" | ")} |`);
    out.push("");
  }
  const n = reports[0]?.report;
  if (n) {
    // Every model answered the same items: a metric one lacks, all lack, for the same reason.
    const absent = [...new Set(rows.map((r) => r.metric))].filter((m) =>
      reports.every((r) => rows.filter((row) => row.metric === m).every((row) => row.value(r.report) === undefined)),
    );
    const reasons = notMeasured(absent, n);
    if (reasons.length > 0) out.push(`Not measured (–): ${reasons.map((r) => `${r}.`).join(" ")}`, "");
    out.push(itemsLine(n), "");
  }
  if (metrics.includes("chair") && reports.some((r) => r.report.describe)) {
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
