// `alignc report DIR`: one self-contained HTML file for a run directory or a sweep directory.
//   run:   the execution graph with each node's status, per-phase metric curves (loss, accuracies, margins, KL),
//          the evaluation tables, and a sample viewer over the run's pair datasets (image, prompt, chosen and
//          rejected answers with their scores, BDHS tries);
//   sweep: the figures across seeds (mean ± sd per model, replicates.ts), the trials in a sortable table (swept
//          values, status, time, headline figures), a chart of each figure against each swept setting, and the run
//          report's graph and curves of the first finished trial.
// With format md, the evaluation tables as Markdown instead (a run's comparison, a sweep's tables across seeds).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { MAX_IMAGE_BYTES } from "../../diagnostics/input-problems.ts";
import { readJsonFile, readJsonLines, UnreadableFileError } from "../../util/read-json.ts";
import { type ReadRoot, readRoot, readUntrusted } from "../../util/untrusted-file.ts";
import { type PairRecord, readDataset } from "../data/prefdata/records.ts";
import { type EvaluationFile, headlineFigures, renderComparison } from "../eval/compare.ts";
import { PLAN_REMEDY, readPlanFile, type StoredPlan } from "../pipeline/runner/plan-status.ts";
import { readSweep, renderSweepSummary, type SweepSummary, sweepRows, trialPaths } from "../sweeps/local.ts";
import { escapeHtml, page, type Section, table } from "./html.ts";
import { type Replicates, replicateAxis, replicatesCaption, replicatesMarkdown, summariseReplicates, tableCells } from "./replicates.ts";
import { type GraphBox, graphSvg, lineChart, scatterChart } from "./svg.ts";

export class ReportError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7021";
  override name = "ReportError";
}

/** Curves worth drawing, in this order, when a phase logged them. */
const CURVES = ["loss", "token_accuracy", "rewards/accuracies", "rewards/margins", "objective/kl", "objective/scores_margin", "grad_norm"];
/** Samples shown per pair dataset (each embeds its image). */
const SAMPLES_PER_DATASET = 40;

export interface ReportOptions {
  /** html (default): the self-contained page; md: the evaluation tables as Markdown (a sweep's across its seeds). */
  format?: "html" | "md";
  /** The sweep axis replicates differ by; default the axis named `seed`. */
  across?: string;
}

export function buildReport(dir: string, options: ReportOptions = {}): string {
  if (existsSync(path.join(dir, "sweep.json"))) return options.format === "md" ? sweepMarkdown(dir, options.across) : sweepReport(dir, options.across);
  if (existsSync(path.join(dir, "plan.json"))) return options.format === "md" ? runMarkdown(dir) : page(`alignc run: ${path.basename(dir)}`, runSections(dir));
  throw new ReportError(`${dir} is neither a run directory (plan.json) nor a sweep directory (sweep.json); give one that alignc run or alignc sweep wrote`);
}

function runMarkdown(dir: string): string {
  const evaluations = Object.entries(readEvaluations(dir)).map(([node, file]) => ({ node, file }));
  const table = renderComparison(evaluations);
  if (!table) throw new ReportError(`${dir} holds no evaluations yet (evaluations/*.json); run the experiment to the end first`);
  return `${table}\n`;
}

/** The replicate summary of a sweep, or undefined when it has no replicate axis and none was named. */
function replicatesOf(dir: string, sweep: SweepSummary, across: string | undefined): Replicates | undefined {
  const axis = across ?? replicateAxis(sweep);
  if (axis === undefined) return undefined;
  if (!sweep.trials.some((t) => axis in t.values))
    throw new ReportError(
      `sweep ${sweep.sweep} has no axis '${axis}'; its axes are ${[...new Set(sweep.trials.flatMap((t) => Object.keys(t.values)))].join(", ") || "none"}`,
    );
  // Tables in the order the file declares its evaluations (the first finished trial's plan).
  const first = firstFinishedRun(dir, sweep);
  const plan = first ? readPlanFile(path.join(first.runDir, "plan.json")) : undefined;
  return summariseReplicates(sweep, axis, plan?.nodes.filter((n) => n.kind === "eval.metrics").map((n) => n.id) ?? []);
}

/** The first finished trial's run directory, found inside the sweep directory (so a copied sweep directory works). */
function firstFinishedRun(dir: string, sweep: SweepSummary): { ordinal: number; runDir: string } | undefined {
  for (const t of sweep.trials) {
    if (t.status !== "ok") continue;
    const runDir = trialPaths(dir, t).runDir;
    if (existsSync(path.join(runDir, "plan.json"))) return { ordinal: t.ordinal, runDir };
  }
  return undefined;
}

function sweepMarkdown(dir: string, across: string | undefined): string {
  const sweep = readSweep(dir)!; // buildReport checked that sweep.json exists
  const replicates = replicatesOf(dir, sweep, across);
  if (replicates) {
    if (replicates.ok === 0) throw new ReportError(`no trial of ${dir} has finished yet; see alignc sweep status ${dir}`);
    return replicatesMarkdown(replicates);
  }
  return `${renderSweepSummary(sweep)}\n`;
}

function runSections(dir: string): Section[] {
  const plan = readPlanFile(path.join(dir, "plan.json"));
  const lock = readLock(dir);
  const statusOf = (id: string) => lock?.nodes?.[id]?.status ?? "pending";
  const boxes: GraphBox[] = plan.nodes.map((n) => ({ id: n.id, kind: n.kind, inputs: n.inputs.map((i) => i.node), status: statusOf(n.id) }));
  const nodeRows = plan.nodes.map((n) => {
    const l = lock?.nodes?.[n.id];
    return [n.id, n.kind, statusOf(n.id), l?.seconds === undefined ? "–" : `${Number(l.seconds).toFixed(1)} s`, summaryText(l?.summary)];
  });
  const trial = plan.trial
    ? `<p>Trial ${plan.trial.ordinal} (${escapeHtml(plan.trial.id)}) of sweep ${escapeHtml(plan.trial.sweep)}: ${escapeHtml(JSON.stringify(plan.trial.assignments))}</p>`
    : "";
  const sections: Section[] = [
    {
      id: "graph",
      title: "Execution graph",
      body: `<p class="muted">${escapeHtml(plan.entry)}${lock?.written ? `, last run ${escapeHtml(lock.written)}` : ""}</p>${trial}<div class="scroll">${graphSvg(boxes)}</div>${table(["node", "kind", "status", "time", "summary"], nodeRows)}`,
    },
  ];
  const settings = settingsSection(plan);
  if (settings) sections.push({ id: "settings", title: "Settings", body: settings });
  const curves = metricCurves(dir);
  if (curves) sections.push({ id: "training", title: "Training", body: curves });
  const evaluations = evaluationTables(readEvaluations(dir));
  if (evaluations) sections.push({ id: "evaluations", title: "Evaluations", body: evaluations });
  const samples = sampleViewers(dir, plan);
  if (samples) sections.push({ id: "samples", title: "Samples", body: samples });
  return sections;
}

/**
 * Every node's resolved settings (β, margin, learning rate …), one table, each value marked as the file's or the
 * constructor's default (the graph node's `defaults`). Settings that refer to other nodes are its inputs, shown in the
 * graph, not here. A plan.json written before defaults were recorded says so instead of marking any.
 */
function settingsSection(plan: StoredPlan): string | undefined {
  const recorded = plan.nodes.some((n) => n.defaults !== undefined);
  const rows = plan.nodes.flatMap((n) => {
    const defaults = n.defaults ?? [];
    const isDefault = (key: string) => defaults.some((d) => key === d || key.startsWith(`${d}.`));
    return flattenSettings(n.params).map(([key, value]) => [n.id, key, value, !recorded ? "" : isDefault(key) ? "default" : "set"]);
  });
  if (rows.length === 0) return undefined;
  const note = recorded
    ? "Every setting of every node as it ran: <b>set</b> in the file (or by the sweep trial), or the constructor's <b>default</b>. Click a header to sort."
    : "Every setting of every node as it ran. This run's plan.json does not record which values are defaults (run it again with this alignc to record them).";
  return `<p class="muted">${note}</p>${table(["node", "setting", "value", "from"], rows, { sortable: true, id: "settings-table", rowClass: (r) => (r[3] === "default" ? "default" : undefined) })}`;
}

/** Params flattened to dotted keys and display values; input references (shown as the node's inputs) left out. */
function flattenSettings(params: Record<string, unknown>, prefix = ""): [string, string][] {
  const out: [string, string][] = [];
  for (const key of Object.keys(params).sort()) {
    const v = params[key];
    const name = `${prefix}${key}`;
    if (isInputRef(v)) continue;
    if (v && typeof v === "object" && !Array.isArray(v) && !("text" in v && "tree" in v)) {
      const inner = flattenSettings(v as Record<string, unknown>, `${name}.`);
      out.push(...(inner.length ? inner : [[name, "{}"] as [string, string]]));
    } else out.push([name, settingText(v)]);
  }
  return out;
}

function isInputRef(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0 && v.every(isInputRef);
  return !!v && typeof v === "object" && Object.keys(v).length === 1 && typeof (v as { input?: unknown }).input === "string";
}

function settingText(v: unknown): string {
  if (v && typeof v === "object" && "text" in v && "tree" in v) return String((v as { text: unknown }).text);
  return typeof v === "string" ? v : JSON.stringify(v);
}

interface Lock {
  written?: string;
  nodes?: Record<string, { status?: string; seconds?: number; summary?: Record<string, unknown> }>;
}

function readLock(dir: string): Lock | undefined {
  const file = path.join(dir, "align.lock");
  if (!existsSync(file)) return undefined;
  try {
    return parseYaml(readFileSync(file, "utf8")) as Lock;
  } catch (e) {
    throw new UnreadableFileError(`${file} is not valid YAML (${(e as Error).message.split("\n")[0]}); ${PLAN_REMEDY}`, file);
  }
}

function summaryText(summary: Record<string, unknown> | undefined): string {
  if (!summary) return "";
  return Object.entries(summary)
    .filter(([, v]) => typeof v !== "object" || v === null)
    .slice(0, 6)
    .map(([k, v]) => `${k} ${typeof v === "number" && !Number.isInteger(v) ? Number(v.toPrecision(4)) : String(v)}`)
    .join(" · ");
}

function readMetrics(dir: string): Map<string, Record<string, number>[]> {
  const out = new Map<string, Record<string, number>[]>();
  const metricsDir = path.join(dir, "metrics");
  if (!existsSync(metricsDir)) return out;
  for (const f of readdirSync(metricsDir)
    .filter((n) => n.endsWith(".jsonl"))
    .sort())
    out.set(f.slice(0, -".jsonl".length), readJsonLines<Record<string, number>>(path.join(metricsDir, f), "run `alignc run` again to rewrite it"));
  return out;
}

function metricCurves(dir: string): string | undefined {
  const parts: string[] = [];
  for (const [phase, rows] of readMetrics(dir)) {
    const charts = CURVES.filter((m) => rows.some((r) => typeof r[m] === "number")).map((m) =>
      lineChart(`${phase}: ${m}`, "step", [{ name: m, points: rows.map((r, i) => [r.step ?? i + 1, r[m] ?? Number.NaN] as [number, number]) }]),
    );
    if (charts.length) parts.push(`<h3>${escapeHtml(phase)}</h3><div class="charts">${charts.join("")}</div>`);
  }
  return parts.length ? parts.join("") : undefined;
}

function readEvaluations(dir: string): Record<string, EvaluationFile> {
  const evalDir = path.join(dir, "evaluations");
  const out: Record<string, EvaluationFile> = {};
  if (!existsSync(evalDir)) return out;
  for (const f of readdirSync(evalDir)
    .filter((n) => n.endsWith(".json"))
    .sort())
    out[f.slice(0, -".json".length)] = readJsonFile<EvaluationFile>(path.join(evalDir, f), "run `alignc run` again to rewrite it");
  return out;
}

function evaluationTables(evaluations: Record<string, EvaluationFile>): string | undefined {
  const parts = Object.entries(evaluations).map(([node, file]) => {
    const rows = Object.entries(file.models).map(([model, report]) => ({ model, figures: new Map(headlineFigures(report)) }));
    const labels = [...new Set(rows.flatMap((r) => [...r.figures.keys()]))];
    return `<h3>${escapeHtml(node)} <span class="muted">on ${escapeHtml(file.data)}</span></h3>${table(
      ["model", ...labels],
      rows.map((r) => [r.model, ...labels.map((l) => r.figures.get(l) ?? "–")]),
      { sortable: true },
    )}`;
  });
  return parts.length ? parts.join("") : undefined;
}

/** A viewer per pair dataset of the run (outputs/<node> holding pairs): image, prompt, chosen, rejected, scores, BDHS tries. */
function sampleViewers(dir: string, plan: StoredPlan): string | undefined {
  const viewers: string[] = [];
  for (const node of plan.nodes.filter((n) => n.produces === "dataset:pairs")) {
    const out = path.join(dir, "outputs", node.id);
    if (!existsSync(out)) continue;
    const dataset = readDataset(out);
    if (dataset.kind !== "pairs" || dataset.records.length === 0) continue;
    const shown = dataset.records.slice(0, SAMPLES_PER_DATASET);
    const entry = readRoot(out);
    viewers.push(
      `<h3>${escapeHtml(node.id)} <span class="muted">${dataset.records.length} pairs, first ${shown.length} shown</span></h3><div class="viewer"><button class="prev">◀ previous</button> <span class="position"></span> <button class="next">next ▶</button>${shown.map((p) => sampleHtml(p, entry)).join("")}</div>`,
    );
  }
  return viewers.length ? viewers.join("") : undefined;
}

/**
 * A pair as HTML. Its image is embedded only from inside its store entry `entry`: a run directory is input too,
 * and a record naming /etc/passwd must not copy it into a page that gets shared.
 */
function sampleHtml(p: PairRecord, entry: ReadRoot | undefined): string {
  const read = p.item.image && entry ? readUntrusted(p.item.image, { root: entry, maxBytes: MAX_IMAGE_BYTES }) : undefined;
  const image = read?.ok ? `<img alt="the item's image" src="data:image/png;base64,${read.bytes.toString("base64")}">` : "";
  const s = p.source;
  let detail = "";
  if (s.kind === "rated")
    detail = `<p class="muted">${escapeHtml(s.rater)}: ${escapeHtml(s.score)} = ${escapeHtml(String(s.scores[s.chosen]))} (chosen) vs ${escapeHtml(String(s.scores[s.rejected]))} (rejected); margin ${escapeHtml(String(s.margin))}</p>`;
  else if (s.kind === "bdhs")
    detail = `<div class="tries">${table(
      ["try", "guided", "visible image tokens", "similarity", "accepted", "answer"],
      s.tries.map((t) => [String(t.attempt), t.guided ? "yes" : "no", String(t.visible), t.similarity.toFixed(3), t.accepted ? "yes" : "no", t.text]),
    )}</div>`;
  else if (s.kind === "corrupt") detail = `<p class="muted">edits: ${escapeHtml(s.edits.map((e) => `${e.op}: ${e.from} → ${e.to}`).join("; "))}</p>`;
  else detail = `<p class="muted">from ${escapeHtml(s.file)} row ${escapeHtml(String(s.row))}</p>`;
  return `<div class="sample" hidden>${image}<p><b>${escapeHtml(p.id)}</b> ${escapeHtml(p.item.prompt)}${p.flipped ? " <i>(flipped)</i>" : ""}</p><div class="answer chosen">${escapeHtml(p.chosen)}</div><div class="answer rejected">${escapeHtml(p.rejected)}</div>${detail}</div>`;
}

function sweepReport(dir: string, across: string | undefined): string {
  const sweep = readSweep(dir)!; // buildReport checked that sweep.json exists
  // One row per trial and evaluated model; figures parsed back to numbers for the charts.
  const { axes, labels, rows } = sweepRows(sweep);
  const cell = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  const trialsTable = table(
    ["trial", "id", ...axes, "status", "seconds", "model", ...labels],
    rows.map((r) => [
      String(r.t.ordinal),
      r.t.id,
      ...axes.map((a) => cell(r.t.values[a])),
      r.t.status,
      r.t.seconds === undefined ? "–" : r.t.seconds.toFixed(1),
      r.model,
      ...labels.map((l) => r.figures.get(l) ?? "–"),
    ]),
    { sortable: true, id: "trials" },
  );
  const numeric = (s: string | undefined) => (s === undefined ? Number.NaN : Number.parseFloat(s));
  const charts = axes.flatMap((axis) =>
    labels
      .map((label) => {
        const points = rows
          .filter((r) => typeof r.t.values[axis] === "number")
          .map((r) => ({
            x: r.t.values[axis] as number,
            y: numeric(r.figures.get(label)),
            label: `trial ${r.t.ordinal} ${r.model}: ${label} ${r.figures.get(label) ?? "–"}`,
            series: r.model,
          }))
          .filter((p) => Number.isFinite(p.y));
        return points.length ? scatterChart(`${label} by ${axis}`, axis, points) : "";
      })
      .filter(Boolean),
  );
  const ok = sweep.trials.filter((t) => t.status === "ok").length;
  const sections: Section[] = [];
  const replicates = replicatesOf(dir, sweep, across);
  if (replicates && replicates.ok > 0)
    sections.push({
      id: "replicates",
      title: `Across ${replicates.across}s`,
      body: `<p class="muted">${escapeHtml(replicatesCaption(replicates))}</p>${replicates.tables
        .map((t) => {
          const { header, rows } = tableCells(replicates, t);
          return `<h3>${escapeHtml(t.evaluation)} <span class="muted">on ${escapeHtml(t.data)}</span></h3>${table(header, rows, { sortable: true })}`;
        })
        .join("")}`,
    });
  sections.push({
    id: "trials",
    title: "Trials",
    body: `<p class="muted">${escapeHtml(path.basename(sweep.entry))}, sweep ${escapeHtml(sweep.sweep)}: ${ok} of ${sweep.trials.length} trials ok. Click a header to sort.</p>${trialsTable}`,
  });
  if (charts.length) sections.push({ id: "by-setting", title: "Figures by swept setting", body: `<div class="charts">${charts.join("")}</div>` });
  const first = firstFinishedRun(dir, sweep);
  if (first) sections.push(...runSections(first.runDir).map((s) => ({ ...s, id: `trial-${s.id}`, title: `Trial ${first.ordinal}: ${s.title.toLowerCase()}` })));
  return page(`alignc sweep: ${sweep.sweep}`, sections);
}
