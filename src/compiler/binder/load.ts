// Loads the entry file and everything it imports (relative paths), parsing each once, and reports import
// cycles with the whole chain. The result is the program's set of files in dependency order.
import path from "node:path";
import type { AlignFile, ImportStatement } from "../ast/ast.ts";
import { type Diagnostic, diagnostic } from "../diagnostics/diagnostic.ts";
import { parseSource } from "../parse/parse.ts";
import { readSourceFile, type SourceFile } from "../source/source-file.ts";

export interface LoadedFile {
  ast: AlignFile;
  /**
   * Resolved imports of this file: absolute path of the target, or undefined when it failed to load;
   * `unreadable` when the target could not be read (missing, a directory, not UTF-8).
   */
  imports: { statement: ImportStatement; target?: string; unreadable?: true }[];
}

export interface Program {
  entry?: LoadedFile;
  /** Every file, keyed by absolute path, dependencies before dependants. */
  files: Map<string, LoadedFile>;
  sources: Map<string, SourceFile>;
  diagnostics: Diagnostic[];
  /**
   * True when any file had a syntax error: semantic checks are skipped to avoid cascades. An import that
   * cannot be read is not one: the rest of the program is still checked (names it would have declared
   * are reported once per declaration that needs them, see ALN2012).
   */
  syntaxErrors: boolean;
}

export function loadProgram(entryPath: string, readEntry: (p: string) => ReturnType<typeof readSourceFile> = readSourceFile): Program {
  const program: Program = { files: new Map(), sources: new Map(), diagnostics: [], syntaxErrors: false };
  const visiting: string[] = [];

  /** The loaded file; "unreadable" when it could not be read; undefined when it could not be parsed at all. */
  const visit = (absPath: string, read: () => ReturnType<typeof readSourceFile>): LoadedFile | "unreadable" | undefined => {
    const done = program.files.get(absPath);
    if (done) return done;
    const read_ = read();
    if (!read_.ok) {
      program.diagnostics.push(read_.diagnostic);
      return "unreadable";
    }
    program.sources.set(read_.file.displayPath, read_.file);
    const parsed = parseSource(read_.file);
    program.diagnostics.push(...parsed.diagnostics);
    if (parsed.diagnostics.some((d) => d.severity === "error")) program.syntaxErrors = true;
    if (!parsed.ast) return undefined;
    const loaded: LoadedFile = { ast: parsed.ast, imports: [] };
    visiting.push(absPath);
    for (const st of parsed.ast.statements) {
      if (st.kind !== "Import") continue;
      const rel = st.path.value;
      const target = path.resolve(path.dirname(absPath), rel);
      if (target === absPath) {
        program.diagnostics.push(diagnostic("selfImport", { path: rel }, st.path.span));
        loaded.imports.push({ statement: st });
        continue;
      }
      const cycleAt = visiting.indexOf(target);
      if (cycleAt >= 0) {
        const chain = [...visiting.slice(cycleAt), target].map((p) => path.relative(path.dirname(absPath), p) || path.basename(p));
        program.diagnostics.push(diagnostic("importCycle", { cycle: chain.join(" → ") }, st.path.span));
        loaded.imports.push({ statement: st });
        continue;
      }
      const child = visit(target, () => readSourceFile(target, st.path.span));
      if (child === "unreadable") loaded.imports.push({ statement: st, unreadable: true });
      else loaded.imports.push(child ? { statement: st, target } : { statement: st });
    }
    visiting.pop();
    program.files.set(absPath, loaded);
    return loaded;
  };

  const abs = path.resolve(entryPath);
  const entry = visit(abs, () => readEntry(entryPath));
  if (entry && entry !== "unreadable") program.entry = entry;
  return program;
}
