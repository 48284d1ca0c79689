// What code made a store entry: for each node kind, a digest of its executor module's source closure — the module
// that declares the kind (found through the executors registry, executors/index.ts) and every module it imports,
// transitively, by relative path under src/. node.json records it (`code`), and `alignc plan` compares it with the
// current sources to say when a stored output was made by different code.
//
// The digest is not part of the store key: a key changes when a node kind's version changes, and
// test/node-kind-drift.test.ts keeps each kind's output on a fixed input with its version, failing when the output
// changes while the version does not — so a key covers the code that made it without every edit of src/ invalidating
// every stored output (docs/run-directory.md, "Keys and code").
//
// Sources are read relative to this module (`import.meta.url`, which the bundle in dist/ rewrites to the source file's
// URL, scripts/build.ts); where they are absent (an install without src/) the digest is "unknown". Computed once per
// process and kind.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** What node.json records of the code that made an entry. */
export interface CodeRecord {
  /** sha256 over the executor module's source closure (path and bytes of each file, in path order), or "unknown". */
  sha256: string;
  /** The module(s) that declare the kind, relative to the package root (src/runtime/pipeline/executors/…). */
  module?: string;
  /** How many source files the closure holds. */
  files?: number;
}

export const UNKNOWN_CODE: CodeRecord = { sha256: "unknown" };

/** src/, from this file (src/runtime/pipeline/executor-code.ts). */
const SRC = fileURLToPath(new URL("../../", import.meta.url));
const PACKAGE_ROOT = path.dirname(path.resolve(SRC));
const REGISTRY = path.join(SRC, "runtime", "pipeline", "executors", "index.ts");

const texts = new Map<string, string | undefined>();
const imports = new Map<string, string[]>();
const byKind = new Map<string, CodeRecord>();

function read(file: string): string | undefined {
  if (!texts.has(file)) {
    let text: string | undefined;
    try {
      text = statSync(file).isFile() ? readFileSync(file, "utf8") : undefined;
    } catch {
      text = undefined;
    }
    texts.set(file, text);
  }
  return texts.get(file);
}

// `import … from "./x.ts"`, `export … from "./x.ts"`, `import "./x.ts"`, not `import type` / `export type` (erased).
const STATIC = /(?:^|[;}\s])(?:import|export)\s+(?!type[\s{*])(?:[\w*{}\s,$]*?\s*from\s*)?["'](\.{1,2}\/[^"']+)["']/g;
// `import("./x.ts")` with a literal path.
const DYNAMIC = /\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** A relative specifier's file, if it exists under src/: as written, .js written for .ts, or with .ts or /index.ts added. */
function resolve(from: string, specifier: string): string | undefined {
  const base = path.resolve(path.dirname(from), specifier);
  const candidates = [base, base.replace(/\.js$/, ".ts"), `${base}.ts`, path.join(base, "index.ts")];
  const rel = (f: string) => path.relative(SRC, f);
  return candidates.find((f) => !rel(f).startsWith("..") && !path.isAbsolute(rel(f)) && read(f) !== undefined);
}

/** The files a module imports at run time, by relative path (comments are not parsed: a commented-out import counts). */
export function relativeImports(file: string): string[] {
  const cached = imports.get(file);
  if (cached) return cached;
  const text = read(file) ?? "";
  const found = new Set<string>();
  for (const re of [STATIC, DYNAMIC]) {
    for (const m of text.matchAll(re)) {
      const target = resolve(file, m[1] as string);
      if (target) found.add(target);
    }
  }
  const out = [...found].sort();
  imports.set(file, out);
  return out;
}

/** Every file the given modules load, transitively (the modules included), sorted. */
export function closure(modules: readonly string[]): string[] {
  const seen = new Set<string>();
  const stack = [...modules].filter((m) => read(m) !== undefined);
  while (stack.length > 0) {
    const file = stack.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const next of relativeImports(file)) if (!seen.has(next)) stack.push(next);
  }
  return [...seen].sort();
}

/**
 * The modules that declare `kind`: those the registry imports whose text names the kind as a string literal. A kind
 * declared nowhere visible (or no registry) falls back to the whole registry — every executor's code, a superset.
 */
export function kindModules(kind: string): string[] {
  if (read(REGISTRY) === undefined) return [];
  const named = relativeImports(REGISTRY).filter((f) => {
    const text = read(f) ?? "";
    return text.includes(`"${kind}"`) || text.includes(`'${kind}'`);
  });
  return named.length > 0 ? named : [REGISTRY];
}

/** The code that makes `kind`'s outputs now: the digest of its executor module's source closure (cached per process). */
export function executorCode(kind: string): CodeRecord {
  const cached = byKind.get(kind);
  if (cached) return cached;
  const modules = kindModules(kind);
  let record = UNKNOWN_CODE;
  if (modules.length > 0) {
    const files = closure(modules);
    const h = createHash("sha256");
    for (const f of files)
      h.update(path.relative(SRC, f).split(path.sep).join("/"))
        .update("\0")
        .update(read(f) ?? "")
        .update("\0");
    const module = modules.map((m) => path.relative(PACKAGE_ROOT, m).split(path.sep).join("/")).join(", ");
    record = { sha256: h.digest("hex"), module, files: files.length };
  }
  byKind.set(kind, record);
  return record;
}

/** Whether the sources are here to digest (an install without src/ records "unknown"). */
export const sourcesPresent = (): boolean => existsSync(REGISTRY);
