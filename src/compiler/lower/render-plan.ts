// The execution graph as text for people (`alignc plan`) and as DOT / Mermaid (`alignc graph`).
import type { ExecutionGraph, GraphNode } from "./graph.ts";

/**
 * One block per node in dependency order: id, kind and short hash; inputs; params flattened to key = value.
 * `notes` adds lines under a node's heading (the CLI passes whether its output is stored, and why not).
 */
export function renderPlan(graph: ExecutionGraph, notes?: ReadonlyMap<string, readonly string[]>): string {
  const lines: string[] = [];
  const head = graph.trial ? ` — sweep ${graph.trial.sweep}, trial ${graph.trial.ordinal} (${graph.trial.id})` : "";
  lines.push(`plan for ${graph.entry}${head}: ${graph.nodes.length} node${graph.nodes.length === 1 ? "" : "s"}`);
  const params = Object.entries(graph.params);
  if (params.length) lines.push(`params: ${params.map(([k, v]) => `${k} = ${short(v)}`).join(", ")}`);
  if (graph.trial)
    lines.push(
      `trial assignments: ${Object.entries(graph.trial.assignments)
        .map(([k, v]) => `${k} = ${short(v)}`)
        .join(", ")}`,
    );
  graph.nodes.forEach((node, i) => {
    lines.push("");
    lines.push(`${i + 1}. ${node.id}  ${node.kind} → ${node.produces}  #${node.hash.slice(0, 12)}`);
    for (const note of notes?.get(node.id) ?? []) lines.push(`     ${note}`);
    for (const input of node.inputs) lines.push(`     ← ${input.name}: ${input.node}${input.port ? `.${input.port}` : ""}`);
    for (const [k, v] of flatten(node.params)) lines.push(`     ${k} = ${v}`);
    if (node.ports) lines.push(`     parts: ${node.ports.join(", ")}`);
  });
  return lines.join("\n");
}

function flatten(params: Record<string, unknown>, prefix = ""): [string, string][] {
  const out: [string, string][] = [];
  for (const key of Object.keys(params).sort()) {
    const v = params[key];
    if (isInputRef(v)) continue; // shown once, as a `←` input line
    if (v && typeof v === "object" && !Array.isArray(v) && !("text" in (v as object) && "tree" in (v as object))) {
      const inner = flatten(v as Record<string, unknown>, `${prefix}${key}.`);
      if (inner.length) out.push(...inner);
      else out.push([`${prefix}${key}`, "{}"]);
    } else out.push([`${prefix}${key}`, short(v)]);
  }
  return out;
}

/** A setting that refers to another node (`{ input: "similarity" }`, or a list of them) is one of the node's inputs. */
function isInputRef(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0 && v.every(isInputRef);
  if (!v || typeof v !== "object") return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === "input" && typeof (v as { input: unknown }).input === "string";
}

function short(v: unknown): string {
  if (v && typeof v === "object" && "text" in (v as object) && "tree" in (v as object)) return String((v as { text: string }).text);
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

export function renderDot(graph: ExecutionGraph): string {
  const lines = ["digraph alignc {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];'];
  for (const n of graph.nodes) lines.push(`  ${q(n.id)} [label=${q(`${n.id}\\n${n.kind}`)}, style=${style(n)}];`);
  for (const n of graph.nodes) for (const i of n.inputs) lines.push(`  ${q(i.node)} -> ${q(n.id)} [label=${q(i.port ? `${i.name} (${i.port})` : i.name)}];`);
  lines.push("}");
  return lines.join("\n");
}

export function renderMermaid(graph: ExecutionGraph): string {
  const id = new Map(graph.nodes.map((n, i) => [n.id, `n${i}`]));
  const lines = ["flowchart LR"];
  for (const n of graph.nodes) lines.push(`  ${id.get(n.id)}["${n.id}<br/><small>${n.kind}</small>"]`);
  for (const n of graph.nodes)
    for (const i of n.inputs) lines.push(`  ${id.get(i.node) ?? i.node} -->|${i.port ? `${i.name} ${i.port}` : i.name}| ${id.get(n.id)}`);
  return lines.join("\n");
}

function q(s: string): string {
  return JSON.stringify(s);
}

function style(n: GraphNode): string {
  return n.kind.startsWith("train.") ? '"rounded,bold"' : n.kind.startsWith("eval.") ? '"rounded,dashed"' : '"rounded"';
}
