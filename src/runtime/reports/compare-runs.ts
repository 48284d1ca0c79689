// `alignc compare RUN_A RUN_B`: what differs between two run directories — the settings of their nodes (from each
// plan.json), the trial values when they are trials of a sweep, the last training metrics of each phase
// (metrics/<node>.jsonl), and the evaluations' headline figures (evaluations/<node>.json) side by side.
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { readJsonFile, readJsonLines } from "../../util/read-json.ts";
import { type EvaluationFile, headlineFigures } from "../eval/compare.ts";
import { paramDiff, readPlanFile, type StoredPlan } from "../pipeline/runner/plan-status.ts";
import { escapeHtml, page, type Section, table } from "./html.ts";

export interface RunContents {
  dir: string;
  plan: StoredPlan;
  /** Phase → its last metrics row. */
  lastMetrics: Record<string, Record<string, number>>;
  evaluations: Record<string, EvaluationFile>;
}

export class CompareError extends Error {
  /** Its code in the message table (src/diagnostics/messages.ts, ALN7xxx). */
  readonly code: string = "ALN7021";
  override name = "CompareError";
}

/** Reads what compare needs from a run directory (plan.json is required: it says the run happened). */
export function readRun(dir: string): RunContents {
  const planFile = path.join(dir, "plan.json");
  if (!existsSync(planFile)) throw new CompareError(`${dir} is not a run directory: it has no plan.json (alignc run writes one)`);
  const plan = readPlanFile(planFile);
  const lastMetrics: RunContents["lastMetrics"] = {};
  const metricsDir = path.join(dir, "metrics");
  if (existsSync(metricsDir))
    for (const f of readdirSync(metricsDir).filter((n) => n.endsWith(".jsonl"))) {
      const rows = readJsonLines<Record<string, number>>(path.join(metricsDir, f), "run `alignc run` again to rewrite it");
      if (rows.length) lastMetrics[f.slice(0, -".jsonl".length)] = rows.at(-1) as Record<string, number>;
    }
  const evaluations: RunContents["evaluations"] = {};
  const evalDir = path.join(dir, "evaluations");
  if (existsSync(evalDir))
    for (const f of readdirSync(evalDir).filter((n) => n.endsWith(".json")))
      evaluations[f.slice(0, -".json".length)] = readJsonFile<EvaluationFile>(path.join(evalDir, f), "run `alignc run` again to rewrite it");
  return { dir, plan, lastMetrics, evaluations };
}

/** Training metrics worth comparing, in this order, when a phase logged them. */
const TRAINING_METRICS = ["step", "loss", "token_accuracy", "rewards/accuracies", "rewards/margins", "objective/kl", "grad_norm"];

/** What differs between two runs, as data: rendered as Markdown (compareRuns) or HTML (compareRunsHtml). */
export interface Comparison {
  names: [string, string];
  dirs: [string, string];
  entries: [string, string];
  /** "node: setting: old → new", "node: only in A", … */
  settings: string[];
  /** Each run's trial, when one of them is a trial of a sweep. */
  trials?: [string, string];
  /** [phase, metric, A, B]. */
  training: [string, string, string, string][];
  /** [evaluation, model, figure, A, B]. */
  evaluations: [string, string, string, string, string][];
}

export function comparison(a: RunContents, b: RunContents, names: [string, string] = ["A", "B"]): Comparison {
  const [na, nb] = names;
  const nodesA = new Map(a.plan.nodes.map((n) => [n.id, n]));
  const nodesB = new Map(b.plan.nodes.map((n) => [n.id, n]));
  const settings: string[] = [];
  for (const [id, nodeA] of nodesA) {
    const nodeB = nodesB.get(id);
    if (!nodeB) settings.push(`${id}: only in ${na}`);
    else if (nodeA.kind !== nodeB.kind) settings.push(`${id}: ${nodeA.kind} → ${nodeB.kind}`);
    else for (const d of paramDiff(nodeA.params, nodeB.params)) settings.push(`${id}: ${d}`);
  }
  for (const id of nodesB.keys()) if (!nodesA.has(id)) settings.push(`${id}: only in ${nb}`);
  const show = (p: StoredPlan) =>
    p.trial ? `${p.trial.sweep} trial ${p.trial.ordinal} (${p.trial.id}): ${JSON.stringify(p.trial.assignments)}` : "not a trial";

  const training: Comparison["training"] = [];
  for (const phase of [...new Set([...Object.keys(a.lastMetrics), ...Object.keys(b.lastMetrics)])].sort())
    for (const m of TRAINING_METRICS) {
      const [va, vb] = [a.lastMetrics[phase]?.[m], b.lastMetrics[phase]?.[m]];
      if (va !== undefined || vb !== undefined) training.push([phase, m, num(va), num(vb)]);
    }

  const evaluations: Comparison["evaluations"] = [];
  for (const e of [...new Set([...Object.keys(a.evaluations), ...Object.keys(b.evaluations)])].sort()) {
    const models = [...new Set([...Object.keys(a.evaluations[e]?.models ?? {}), ...Object.keys(b.evaluations[e]?.models ?? {})])];
    for (const model of models) {
      const figures = (r: RunContents) => {
        const report = r.evaluations[e]?.models[model];
        return new Map(report ? headlineFigures(report) : []);
      };
      const [fa, fb] = [figures(a), figures(b)];
      for (const label of new Set([...fa.keys(), ...fb.keys()])) evaluations.push([e, model, label, fa.get(label) ?? "–", fb.get(label) ?? "–"]);
    }
  }
  return {
    names,
    dirs: [a.dir, b.dir],
    entries: [a.plan.entry, b.plan.entry],
    settings,
    ...(a.plan.trial || b.plan.trial ? { trials: [show(a.plan), show(b.plan)] as [string, string] } : {}),
    training,
    evaluations,
  };
}

/** The comparison as Markdown: settings, trial values, training, evaluations. */
export function compareRuns(a: RunContents, b: RunContents, names: [string, string] = ["A", "B"]): string {
  const c = comparison(a, b, names);
  const [na, nb] = c.names;
  const out: string[] = [`# ${na} vs ${nb}`, "", `- ${na}: ${c.dirs[0]} (a run of ${c.entries[0]})`, `- ${nb}: ${c.dirs[1]} (a run of ${c.entries[1]})`, ""];
  out.push("## Settings", "", ...(c.settings.length ? c.settings.map((x) => `- ${x}`) : ["The same settings."]), "");
  if (c.trials) out.push("## Trials", "", `- ${na}: ${c.trials[0]}`, `- ${nb}: ${c.trials[1]}`, "");
  if (c.training.length)
    out.push("## Training (last step)", "", `| phase | metric | ${na} | ${nb} |`, "|---|---|---:|---:|", ...c.training.map((r) => `| ${r.join(" | ")} |`), "");
  if (c.evaluations.length)
    out.push(
      "## Evaluations",
      "",
      `| evaluation | model | figure | ${na} | ${nb} |`,
      "|---|---|---|---:|---:|",
      ...c.evaluations.map((r) => `| ${r.join(" | ")} |`),
      "",
    );
  return out.join("\n");
}

/** The same comparison as one self-contained HTML page (sortable tables). */
export function compareRunsHtml(a: RunContents, b: RunContents): string {
  const c = comparison(a, b);
  const [na, nb] = c.names;
  const list = (items: string[]) => `<ul>${items.map((x) => `<li>${escapeHtml(x)}</li>`).join("")}</ul>`;
  const sections: Section[] = [
    {
      id: "runs",
      title: "Runs",
      body: list([
        `${na}: ${c.dirs[0]} (a run of ${c.entries[0]})`,
        `${nb}: ${c.dirs[1]} (a run of ${c.entries[1]})`,
        ...(c.trials ? [`${na}: ${c.trials[0]}`, `${nb}: ${c.trials[1]}`] : []),
      ]),
    },
    { id: "settings", title: "Settings", body: c.settings.length ? list(c.settings) : "<p>The same settings.</p>" },
  ];
  if (c.training.length)
    sections.push({ id: "training", title: "Training (last step)", body: table(["phase", "metric", na, nb], c.training, { sortable: true }) });
  if (c.evaluations.length)
    sections.push({ id: "evaluations", title: "Evaluations", body: table(["evaluation", "model", "figure", na, nb], c.evaluations, { sortable: true }) });
  return page(`alignc compare: ${path.basename(c.dirs[0])} vs ${path.basename(c.dirs[1])}`, sections);
}

function num(v: number | undefined): string {
  if (v === undefined) return "–";
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}
