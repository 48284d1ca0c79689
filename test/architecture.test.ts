// The folder tree is the architecture (docs/architecture.md, "Layers"). This test reads every import under src/ and
// fails on
//   - an import of a layer above: src/ packages and src/runtime/'s layers are ranked bottom up below, and a file may
//     import only from its own folder's layer or a lower one;
//   - any cycle between folders, at any depth (src/runtime/pipeline and src/runtime/pipeline/executors are two);
//   - a folder the ranking does not place (a new package must say where it sits).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { repoRoot } from "./support/align-files.ts";

const SRC = path.join(repoRoot, "src");

/** Cycles being removed, each with what removes it. Nothing may be added here: a new cycle fails the test. */
const KNOWN_CYCLES = new Set<string>();

/** src/'s packages, bottom up. A package may import only from packages before it. */
const PACKAGES = ["util", "version.ts", "api", "diagnostics", "graph", "tensor", "formats", "models", "compiler", "runtime", "cli"];
/** src/runtime's layers, bottom up. A layer may import only from layers before it. */
const RUNTIME_LAYERS = ["engine", "world", "models", "data", "raters", "eval", "pipeline", "sweeps", "reports"];

interface Import {
  from: string;
  to: string;
  line: number;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const f = path.join(dir, e);
    return statSync(f).isDirectory() ? sourceFiles(f) : f.endsWith(".ts") ? [f] : [];
  });
}

// Static imports and re-exports (type-only ones included: they tie folders as much as values do), and `import("…")`.
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^;"']*?["'](\.{1,2}\/[^"']+)["']|\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = (m[1] ?? m[2]) as string;
    const target = path.resolve(path.dirname(file), spec);
    if (!target.startsWith(SRC)) continue;
    out.push({ from: file, to: target, line: text.slice(0, m.index).split("\n").length + (m[0].startsWith("\n") ? 1 : 0) });
  }
  return out;
}

const rel = (f: string) => path.relative(SRC, f).split(path.sep).join("/");
const imports = sourceFiles(SRC).flatMap(importsOf);

/** Rank of a file: [package rank, runtime layer rank (or 0)], and the layer's name. */
function layerOf(file: string): { name: string; rank: [number, number] } | undefined {
  const parts = rel(file).split("/");
  const top = parts.length === 1 ? (parts[0] as string) : (parts[0] as string);
  const p = PACKAGES.indexOf(top);
  if (p < 0) return undefined;
  if (top !== "runtime") return { name: top, rank: [p, 0] };
  const layer = parts.length > 2 ? (parts[1] as string) : "";
  const r = RUNTIME_LAYERS.indexOf(layer);
  return r < 0 ? undefined : { name: `runtime/${layer}`, rank: [p, r] };
}

test("every folder of src/ sits in a layer", () => {
  const unplaced = [
    ...new Set(
      sourceFiles(SRC)
        .filter((f) => !layerOf(f))
        .map(rel),
    ),
  ];
  assert.deepEqual(unplaced, [], "add the folder to PACKAGES or RUNTIME_LAYERS in this test, where it belongs bottom up");
});

test("no folder imports a layer above it", () => {
  const above = imports.flatMap((i) => {
    const a = layerOf(i.from);
    const b = layerOf(i.to);
    if (!a || !b || a.name === b.name) return [];
    const higher = b.rank[0] > a.rank[0] || (b.rank[0] === a.rank[0] && b.rank[1] > a.rank[1]);
    return higher ? [`src/${rel(i.from)}:${i.line} (${a.name}) imports src/${rel(i.to)} (${b.name}, a layer above)`] : [];
  });
  assert.deepEqual(above, []);
});

test("no cycle between folders", () => {
  const folder = (f: string) => path.dirname(rel(f));
  const edges = new Map<string, Set<string>>();
  for (const i of imports) {
    const a = folder(i.from);
    const b = folder(i.to);
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)?.add(b);
  }
  // Tarjan's strongly connected components: a component of more than one folder is a cycle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of new Set([...sourceFiles(SRC).map(folder)])) if (!idx.has(v)) visit(v);
  const shown = cycles
    .filter((c) => !KNOWN_CYCLES.has(c.join(" ↔ ")))
    .map((c) => {
      const links = imports
        .filter((i) => c.includes(folder(i.from)) && c.includes(folder(i.to)) && folder(i.from) !== folder(i.to))
        .map((i) => `    src/${rel(i.from)}:${i.line} → src/${rel(i.to)}`);
      return `${c.join(" ↔ ")}\n${links.join("\n")}`;
    });
  assert.deepEqual(shown, []);
  const gone = [...KNOWN_CYCLES].filter((k) => !cycles.some((c) => c.join(" ↔ ") === k));
  assert.deepEqual(gone, [], "these cycles are gone: remove them from KNOWN_CYCLES");
});

test("the runtime does not import the language compiler's checker", () => {
  const bad = imports
    .filter((i) => rel(i.from).startsWith("runtime/") && rel(i.to).startsWith("compiler/"))
    .map((i) => `src/${rel(i.from)}:${i.line} → src/${rel(i.to)}`);
  assert.deepEqual(bad, [], "what both sides need belongs in src/graph/ (the contract)");
});
