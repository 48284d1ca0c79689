// `alignc compare RUN_A RUN_B`: what differs between two run directories — the settings of their nodes (from each
// plan.json), the trial values when they are trials of a sweep, the last training metrics of each phase
// (metrics/<node>.jsonl), and the evaluations' headline figures (evaluations/<node>.json) side by side.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { type EvaluationFile, headlineFigures } from "../eval/compare.ts";
import { paramDiff, type StoredPlan } from "../run/plan-status.ts";

export interface RunContents {
  dir: string;
  plan: StoredPlan;
  /** Phase → its last metrics row. */
  lastMetrics: Record<string, Record<string, number>>;
  evaluations: Record<string, EvaluationFile>;
}

export class CompareError extends Error {
  override name = "CompareError";
}

/** Reads what compare needs from a run directory (plan.json is required: it says the run happened). */
export function readRun(dir: string): RunContents {
  const planFile = path.join(dir, "plan.json");
  if (!existsSync(planFile)) throw new CompareError(`${dir} is not a run directory: it has no plan.json (alignc run writes one)`);
  const plan = JSON.parse(readFileSync(planFile, "utf8")) as StoredPlan;
  const lastMetrics: RunContents["lastMetrics"] = {};
  const metricsDir = path.join(dir, "metrics");
  if (existsSync(metricsDir))
    for (const f of readdirSync(metricsDir).filter((n) => n.endsWith(".jsonl"))) {
      const lines = readFileSync(path.join(metricsDir, f), "utf8").trim().split("\n").filter(Boolean);
      if (lines.length) lastMetrics[f.slice(0, -".jsonl".length)] = JSON.parse(lines.at(-1)!) as Record<string, number>;
    }
  const evaluations: RunContents["evaluations"] = {};
  const evalDir = path.join(dir, "evaluations");
  if (existsSync(evalDir))
    for (const f of readdirSync(evalDir).filter((n) => n.endsWith(".json")))
      evaluations[f.slice(0, -".json".length)] = JSON.parse(readFileSync(path.join(evalDir, f), "utf8")) as EvaluationFile;
  return { dir, plan, lastMetrics, evaluations };
}

/** Training metrics worth comparing, in this order, when a phase logged them. */
const TRAINING_METRICS = ["step", "loss", "token_accuracy", "rewards/accuracies", "rewards/margins", "objective/kl", "grad_norm"];

/** The comparison as Markdown: settings, trial values, training, evaluations. */
export function compareRuns(a: RunContents, b: RunContents, names: [string, string] = ["A", "B"]): string {
  const [na, nb] = names;
  const out: string[] = [`# ${na} vs ${nb}`, "", `- ${na}: ${a.dir} (a run of ${a.plan.entry})`, `- ${nb}: ${b.dir} (a run of ${b.plan.entry})`, ""];

  out.push("## Settings", "");
  const nodesA = new Map(a.plan.nodes.map((n) => [n.id, n]));
  const nodesB = new Map(b.plan.nodes.map((n) => [n.id, n]));
  const settings: string[] = [];
  for (const [id, nodeA] of nodesA) {
    const nodeB = nodesB.get(id);
    if (!nodeB) settings.push(`- ${id}: only in ${na}`);
    else if (nodeA.kind !== nodeB.kind) settings.push(`- ${id}: ${nodeA.kind} → ${nodeB.kind}`);
    else for (const d of paramDiff(nodeA.params, nodeB.params)) settings.push(`- ${id}: ${d}`);
  }
  for (const id of nodesB.keys()) if (!nodesA.has(id)) settings.push(`- ${id}: only in ${nb}`);
  out.push(...(settings.length ? settings : ["The same settings."]), "");
  if (a.plan.trial || b.plan.trial) {
    const show = (p: StoredPlan) =>
      p.trial ? `${p.trial.sweep} trial ${p.trial.ordinal} (${p.trial.id}): ${JSON.stringify(p.trial.assignments)}` : "not a trial";
    out.push("## Trials", "", `- ${na}: ${show(a.plan)}`, `- ${nb}: ${show(b.plan)}`, "");
  }

  const phases = [...new Set([...Object.keys(a.lastMetrics), ...Object.keys(b.lastMetrics)])].sort();
  if (phases.length) {
    out.push("## Training (last step)", "", `| phase | metric | ${na} | ${nb} |`, "|---|---|---:|---:|");
    for (const phase of phases) {
      const [ra, rb] = [a.lastMetrics[phase], b.lastMetrics[phase]];
      for (const m of TRAINING_METRICS) {
        const [va, vb] = [ra?.[m], rb?.[m]];
        if (va === undefined && vb === undefined) continue;
        out.push(`| ${phase} | ${m} | ${num(va)} | ${num(vb)} |`);
      }
    }
    out.push("");
  }

  const evaluations = [...new Set([...Object.keys(a.evaluations), ...Object.keys(b.evaluations)])].sort();
  if (evaluations.length) {
    out.push("## Evaluations", "", `| evaluation | model | figure | ${na} | ${nb} |`, "|---|---|---|---:|---:|");
    for (const e of evaluations) {
      const models = [...new Set([...Object.keys(a.evaluations[e]?.models ?? {}), ...Object.keys(b.evaluations[e]?.models ?? {})])];
      for (const model of models) {
        const figures = (r: RunContents) => {
          const report = r.evaluations[e]?.models[model];
          return new Map(report ? headlineFigures(report) : []);
        };
        const [fa, fb] = [figures(a), figures(b)];
        for (const label of new Set([...fa.keys(), ...fb.keys()]))
          out.push(`| ${e} | ${model} | ${label} | ${fa.get(label) ?? "–"} | ${fb.get(label) ?? "–"} |`);
      }
    }
    out.push("");
  }
  return out.join("\n");
}

function num(v: number | undefined): string {
  if (v === undefined) return "–";
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}
