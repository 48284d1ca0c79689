// `alignc graph`: the execution graph as Mermaid and as Graphviz DOT.
//
// Mermaid: no Mermaid parser runs in Node without a browser DOM (`mermaid` needs one; `@mermaid-js/parser` has no
// flowchart grammar), so the output is checked against the rules of Mermaid 11's flowchart grammar that decide whether
// it parses — a `flowchart` header; node ids of letters, digits and underscores that are not keywords; every label,
// of nodes and of edges, a double-quoted string (`id["…"]`, `-->|"…"|`) holding no `"`, no line break and no `#` that
// does not start an entity code (`#quot;`); edges `-->` between declared ids. (Checked against Mermaid 11.17.2's own
// flowchart parser when this test was written: every bundled experiment's graph parses there.)
//
// DOT: rendered with Graphviz `dot -Tsvg` where it is installed (.ci/run installs it), and each node must be drawn as
// two lines of text, its id above its kind, with no backslash shown; without `dot` the test says so and checks the
// DOT text strictly instead.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import type { ExecutionGraph } from "../src/graph/graph.ts";
import { renderDot, renderMermaid } from "../src/graph/render.ts";

const EXPERIMENTS = ["experiments/vit.align", "experiments/preference-data.align", "experiments/li2024/li2024.align"];

async function graphOf(file: string): Promise<ExecutionGraph> {
  const r = await compile(path.resolve(file));
  assert.ok(r.graph, `${file}: ${r.diagnostics.map((d) => d.message).join("; ")}`);
  return r.graph;
}

/** A graph with names that need quoting or escaping in both languages (as alignc never makes them, but might). */
const AWKWARD: ExecutionGraph = {
  schemaVersion: 1,
  compiler: { name: "alignc", version: "test" },
  entry: "awkward.align",
  params: {},
  nodes: [
    { id: "end", kind: "model.init", version: 1, produces: "model", params: {}, inputs: [], hash: "0" },
    {
      id: 'we"ird #1; <b>x</b> & `q` \\ [y] {z} (w) a|b',
      kind: "data.shapes",
      version: 1,
      produces: "dataset:prompts",
      params: {},
      inputs: [{ name: "model[0]", node: "end", port: 'pa"rt|x' }],
      hash: "1",
    },
    { id: "graph", kind: "eval.metrics", version: 1, produces: "evaluation", params: {}, inputs: [{ name: "data", node: "end" }], hash: "2" },
  ],
};

// ── Mermaid ─────────────────────────────────────────────────────────────────────────────────────────────────────────
/** Words Mermaid's flowchart lexer reads as keywords; a node id must not be one. */
const MERMAID_KEYWORDS = new Set([
  "end",
  "graph",
  "flowchart",
  "subgraph",
  "style",
  "linkstyle",
  "classdef",
  "class",
  "click",
  "call",
  "href",
  "default",
  "direction",
]);
/** Quoted label content: no `"`, no line break, `#` only as the start of an entity code (`#quot;`, `#35;`). */
const LABEL = /^(?:[^"#\r\n]|#(?:[a-z]+|\d+);)*$/;
/** The only markup alignc writes into labels. */
const ALLOWED_TAGS = new Set(["<br/>", "<small>", "</small>"]);

/** Every way `text` breaks the rules of Mermaid's flowchart grammar alignc relies on; empty when it parses. */
function mermaidProblems(text: string): string[] {
  const problems: string[] = [];
  const lines = text.split("\n");
  if (!/^flowchart (LR|RL|TB|TD|BT)$/.test(lines[0] ?? "")) problems.push(`line 1: not a flowchart header: ${lines[0]}`);
  const declared = new Set<string>();
  const edges: [number, string, string][] = [];
  const checkId = (n: number, id: string) => {
    if (!/^[A-Za-z0-9_]+$/.test(id)) problems.push(`line ${n}: id '${id}' has characters other than [A-Za-z0-9_]`);
    if (MERMAID_KEYWORDS.has(id.toLowerCase())) problems.push(`line ${n}: id '${id}' is a Mermaid keyword`);
  };
  const checkLabel = (n: number, label: string) => {
    if (!LABEL.test(label)) problems.push(`line ${n}: label ${JSON.stringify(label)} has a raw '"', a line break or a '#' that starts no entity code`);
    for (const tag of label.match(/<[^>]*>/g) ?? []) if (!ALLOWED_TAGS.has(tag)) problems.push(`line ${n}: markup ${tag} in a label`);
    if (/[<>]/.test(label.replace(/<br\/>|<\/?small>/g, ""))) problems.push(`line ${n}: a raw '<' or '>' in a label`);
  };
  lines.slice(1).forEach((line, i) => {
    const n = i + 2;
    const node = /^ {2}(\S+)\["(.*)"\]$/.exec(line);
    const edge = /^ {2}(\S+) -->(?:\|"(.*)"\|)? (\S+)$/.exec(line);
    if (node) {
      checkId(n, node[1] as string);
      checkLabel(n, node[2] as string);
      declared.add(node[1] as string);
    } else if (edge) {
      checkId(n, edge[1] as string);
      checkId(n, edge[3] as string);
      if (edge[2] !== undefined) checkLabel(n, edge[2]);
      edges.push([n, edge[1] as string, edge[3] as string]);
    } else problems.push(`line ${n}: neither a node id["label"] nor an edge a -->|"label"| b: ${line}`);
  });
  for (const [n, a, b] of edges) for (const id of [a, b]) if (!declared.has(id)) problems.push(`line ${n}: edge end ${id} is not a declared node`);
  return problems;
}

/** A quoted label's text as Mermaid shows it: entity codes decoded, `<br/>` a line break, `<small>` dropped. */
function mermaidShown(label: string): string {
  const named: Record<string, string> = { quot: '"', lt: "<", gt: ">", amp: "&" };
  return label
    .replace(/<br\/>/g, "\n")
    .replace(/<\/?small>/g, "")
    .replace(/#([a-z]+|\d+);/g, (_, code: string) => (/^\d+$/.test(code) ? String.fromCharCode(Number(code)) : (named[code] ?? `#${code};`)));
}

describe("alignc graph --format mermaid", () => {
  test("the grammar check catches what Mermaid 11 refuses (the old output among it)", () => {
    assert.deepEqual(mermaidProblems('flowchart LR\n  n0["a"]\n  n1["b"]\n  n0 -->|"model[0]"| n1'), []);
    assert.match(mermaidProblems('flowchart LR\n  n0["a"]\n  n1["b"]\n  n0 -->|model[0]| n1').join(), /neither a node/);
    assert.match(mermaidProblems('flowchart LR\n  n0[a]\n  n1["b"]').join(), /neither a node/);
    assert.match(mermaidProblems('flowchart LR\n  n0["say "hi""]').join(), /raw '"'/);
    assert.match(mermaidProblems('flowchart LR\n  n0["#1"]').join(), /'#' that starts no entity/);
    assert.match(mermaidProblems('flowchart LR\n  end["a"]').join(), /keyword/);
    assert.match(mermaidProblems('flowchart LR\n  a.b["a"]').join(), /other than \[A-Za-z0-9_\]/);
    assert.match(mermaidProblems('flowchart LR\n  n0["<b>x</b>"]').join(), /markup <b>/);
    assert.match(mermaidProblems('flowchart LR\n  n0["a"]\n  n0 --> n9').join(), /n9 is not a declared node/);
  });

  test("the bundled experiments' graphs follow Mermaid's flowchart grammar", async () => {
    for (const file of EXPERIMENTS) {
      const graph = await graphOf(file);
      const text = renderMermaid(graph);
      assert.deepEqual(mermaidProblems(text), [], `${file}:\n${text}`);
      // Inputs with an index (pairs[0], datasets[1]) are edge labels, quoted.
      if (file.endsWith("preference-data.align")) assert.match(text, / -->\|"pairs\[0\]"\| n\d+/);
    }
  });

  test("names with quotes, #, markup, brackets and pipes are shown as written", () => {
    const text = renderMermaid(AWKWARD);
    assert.deepEqual(mermaidProblems(text), [], text);
    const labels = [...text.matchAll(/\["(.*)"\]/g)].map((m) => mermaidShown(m[1] as string));
    assert.deepEqual(
      labels,
      AWKWARD.nodes.map((n) => `${n.id}\n${n.kind}`),
    );
    const edgeLabels = [...text.matchAll(/-->\|"(.*)"\|/g)].map((m) => mermaidShown(m[1] as string));
    assert.deepEqual(edgeLabels, ['model[0] (pa"rt|x)', "data"]);
    // `end` and `graph` are node names, not ids: the ids are generated.
    assert.match(text, /^ {2}n0\["end<br\/>/m);
  });
});

// ── DOT ─────────────────────────────────────────────────────────────────────────────────────────────────────────────
const DOT = spawnSync("sh", ["-c", "command -v dot"], { encoding: "utf8" }).stdout.trim();
const DOT_STRING = String.raw`"((?:[^"\\]|\\.)*)"`;

/** A DOT quoted label's lines as Graphviz shows them: `\n` (and `\l`, `\r`) break lines, `\"` and `\\` are characters. */
function dotShown(label: string): string[] {
  const lines = [""];
  for (let i = 0; i < label.length; i++) {
    const c = label[i] as string;
    if (c !== "\\") lines[lines.length - 1] += c;
    else {
      const next = label[++i] as string;
      if ("nlr".includes(next)) lines.push("");
      else lines[lines.length - 1] += next;
    }
  }
  return lines.map((l) => l.replace(/&amp;/g, "&"));
}

/** The DOT text's node and edge statements, strictly: every line is one of the forms alignc writes. */
function parseDot(text: string): { nodes: { id: string; label: string[] }[]; edges: { from: string; to: string; label: string[] }[] } {
  const lines = text.split("\n");
  assert.deepEqual(lines.slice(0, 3), ["digraph alignc {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']);
  assert.equal(lines.at(-1), "}");
  const node = new RegExp(`^  ${DOT_STRING} \\[label=${DOT_STRING}, style="[a-z,]+"\\];$`);
  const edge = new RegExp(`^  ${DOT_STRING} -> ${DOT_STRING} \\[label=${DOT_STRING}\\];$`);
  const unquote = (s: string) => s.replace(/\\(.)/g, "$1");
  const out: ReturnType<typeof parseDot> = { nodes: [], edges: [] };
  for (const line of lines.slice(3, -1)) {
    const n = node.exec(line);
    const e = edge.exec(line);
    if (n) out.nodes.push({ id: unquote(n[1] as string), label: dotShown(n[2] as string) });
    else if (e) out.edges.push({ from: unquote(e[1] as string), to: unquote(e[2] as string), label: dotShown(e[3] as string) });
    else assert.fail(`not a node or edge statement alignc writes: ${line}`);
  }
  return out;
}

/** Graphviz's SVG: each node's lines of text (as a sorted list: Graphviz orders nodes by rank). */
function drawnNodes(svg: string): string[][] {
  const decode = (s: string) =>
    s
      .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&");
  return [...svg.matchAll(/<g id="node\d+" class="node">([\s\S]*?)<\/g>/g)]
    .map((m) => [...(m[1] as string).matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((x) => decode(x[1] as string)))
    .sort(byJson);
}

const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));

describe("alignc graph (DOT)", () => {
  test("each node's label is its id and its kind on two lines, no literal \\n", async () => {
    for (const graph of [await graphOf("experiments/preference-data.align"), AWKWARD]) {
      const text = renderDot(graph);
      const parsed = parseDot(text);
      assert.deepEqual(
        parsed.nodes,
        graph.nodes.map((n) => ({ id: n.id, label: [n.id, n.kind] })),
      );
      assert.deepEqual(
        parsed.edges,
        graph.nodes.flatMap((n) => n.inputs.map((i) => ({ from: i.node, to: n.id, label: [i.port ? `${i.name} (${i.port})` : i.name] }))),
      );
      assert.doesNotMatch(text, /\\\\n/, "a doubled backslash before n shows as a literal \\n");
    }
  });

  test("Graphviz draws each node as two lines of text: its id, then its kind", (t) => {
    if (!DOT) {
      const note = "graphviz `dot` is not installed: the DOT output was only checked as text (apt-get install graphviz)";
      t.diagnostic(note);
      process.stderr.write(`\n*** ${note} ***\n\n`);
      t.skip(note);
      return;
    }
    for (const graph of [AWKWARD]) {
      const r = spawnSync(DOT, ["-Tsvg"], { input: renderDot(graph), encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      // The names with quotes, markup, `&` and a backslash come out as written.
      assert.deepEqual(drawnNodes(r.stdout), graph.nodes.map((n) => [n.id, n.kind]).sort(byJson));
    }
  });

  test("Graphviz renders every bundled experiment's graph", async (t) => {
    if (!DOT) {
      t.skip("graphviz `dot` is not installed");
      return;
    }
    for (const file of EXPERIMENTS) {
      const graph = await graphOf(file);
      const r = spawnSync(DOT, ["-Tsvg"], { input: renderDot(graph), encoding: "utf8" });
      assert.equal(r.status, 0, `${file}: ${r.stderr}`);
      assert.deepEqual(drawnNodes(r.stdout), graph.nodes.map((n) => [n.id, n.kind]).sort(byJson), file);
      assert.doesNotMatch(r.stdout, /\\n/, `${file}: a literal \\n in the drawing`);
    }
  });
});
