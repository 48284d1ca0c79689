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

/**
 * Graphviz DOT. Names and labels are DOT quoted strings: `"` and `\\` escaped, and a label's lines joined by DOT's
 * line break escape (`\\n` in the file), so Graphviz draws the node's id above its kind.
 */
export function renderDot(graph: ExecutionGraph): string {
  const lines = ["digraph alignc {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];'];
  for (const n of graph.nodes) lines.push(`  ${dotString(n.id)} [label=${dotLabel(n.id, n.kind)}, style=${style(n)}];`);
  for (const n of graph.nodes)
    for (const i of n.inputs) lines.push(`  ${dotString(i.node)} -> ${dotString(n.id)} [label=${dotLabel(i.port ? `${i.name} (${i.port})` : i.name)}];`);
  lines.push("}");
  return lines.join("\n");
}

/** A DOT quoted string: backslashes and double quotes escaped; nothing else is special inside the quotes. */
function dotString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * A DOT label of one or more lines, each shown as written: backslashes and quotes escaped, `&` as `&amp;` (Graphviz
 * reads entities in labels), the lines joined by DOT's centred line break `\n`.
 */
function dotLabel(...lines: string[]): string {
  return `"${lines
    .flatMap((l) => l.split(/\r?\n/))
    .map((l) => l.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/&/g, "&amp;"))
    .join("\\n")}"`;
}

/**
 * Mermaid (flowchart). Node ids are generated (`n0`, `n1`, …: letters and digits only, never a keyword such as
 * `end`); every label, of nodes and of edges, is a quoted string (`id["…"]`, `-->|"…"|`), so brackets, dots and
 * parentheses in names are text, and the characters Mermaid reads inside quotes are written as entity codes
 * (`#quot;`, `#35;`, `#lt;`, `#gt;`, `#amp;`, `#96;`). The only markup is alignc's own `<br/>` and `<small>`.
 */
export function renderMermaid(graph: ExecutionGraph): string {
  const ids = new Map(graph.nodes.map((n, i) => [n.id, `n${i}`]));
  // An input that is not a node of the graph (not produced by alignc's lowering) still gets a well-formed id.
  const id = (node: string) => {
    let v = ids.get(node);
    if (v === undefined) {
      v = `n${ids.size}`;
      ids.set(node, v);
    }
    return v;
  };
  const lines = ["flowchart LR"];
  for (const n of graph.nodes) lines.push(`  ${id(n.id)}["${mermaidText(n.id)}<br/><small>${mermaidText(n.kind)}</small>"]`);
  for (const n of graph.nodes)
    for (const i of n.inputs) lines.push(`  ${id(i.node)} -->|"${mermaidText(i.port ? `${i.name} (${i.port})` : i.name)}"| ${id(n.id)}`);
  return lines.join("\n");
}

/** Text inside a quoted Mermaid label: the characters Mermaid would read as syntax or markup, as entity codes. */
export function mermaidText(s: string): string {
  const codes: Record<string, string> = { '"': "#quot;", "#": "#35;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;" };
  return s.replace(/[\r\n]+/g, " ").replace(/["#<>&`]/g, (c) => codes[c] as string);
}

function style(n: GraphNode): string {
  return n.kind.startsWith("train.") ? '"rounded,bold"' : n.kind.startsWith("eval.") ? '"rounded,dashed"' : '"rounded"';
}
