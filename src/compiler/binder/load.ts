// Loads the entry file and everything it imports (relative paths), parsing each once, and reports import
// cycles with the whole chain. The result is the program's set of files in dependency order.
import path from "node:path";
import { type Diagnostic, diagnostic } from "../../diagnostics/diagnostic.ts";
import { readSourceFile, type SourceFile } from "../../diagnostics/source-file.ts";
import type { AlignFile, ImportStatement } from "../ast/ast.ts";
import { parseSource } from "../parse/parse.ts";

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
  // A depth-first walk with an explicit stack, so a chain of thousands of imports cannot overflow the call
  // stack: each frame is a file whose imports are being followed. A file joins `program.files` when its
  // last import is done, so dependencies come before dependants.
  interface Frame {
    absPath: string;
    loaded: LoadedFile;
    imports: ImportStatement[];
    next: number;
    /** The import whose target is the frame above this one; its entry is recorded when that file is done. */
    waiting?: ImportStatement;
  }
  const stack: Frame[] = [];
  /** Files on the stack, for cycle detection; `stack` holds their order for the chain. */
  const visiting = new Set<string>();

  /** Reads and parses a file; a frame to walk its imports, "unreadable", or undefined when it could not be parsed at all. */
  const open = (absPath: string, read: () => ReturnType<typeof readSourceFile>): Frame | "unreadable" | undefined => {
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
    const imports = parsed.ast.statements.filter((st): st is ImportStatement => st.kind === "Import");
    return { absPath, loaded: { ast: parsed.ast, imports: [] }, imports, next: 0 };
  };
  const push = (frame: Frame) => {
    stack.push(frame);
    visiting.add(frame.absPath);
  };

  const abs = path.resolve(entryPath);
  const entry = open(abs, () => readEntry(entryPath));
  if (entry === "unreadable" || entry === undefined) return program;
  push(entry);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame;
    const st = frame.imports[frame.next++];
    if (st === undefined) {
      // All imports followed: the file is complete.
      stack.pop();
      visiting.delete(frame.absPath);
      program.files.set(frame.absPath, frame.loaded);
      const parent = stack[stack.length - 1];
      if (parent?.waiting) {
        parent.loaded.imports.push({ statement: parent.waiting, target: frame.absPath });
        delete parent.waiting;
      }
      continue;
    }
    const rel = st.path.value;
    const target = path.resolve(path.dirname(frame.absPath), rel);
    if (target === frame.absPath) {
      program.diagnostics.push(diagnostic("selfImport", { path: rel }, st.path.span));
      frame.loaded.imports.push({ statement: st });
      continue;
    }
    if (visiting.has(target)) {
      const from = stack.findIndex((f) => f.absPath === target);
      const chain = [...stack.slice(from).map((f) => f.absPath), target].map((p) => path.relative(path.dirname(frame.absPath), p) || path.basename(p));
      program.diagnostics.push(diagnostic("importCycle", { cycle: chain.join(" → ") }, st.path.span));
      frame.loaded.imports.push({ statement: st });
      continue;
    }
    if (program.files.has(target)) {
      frame.loaded.imports.push({ statement: st, target });
      continue;
    }
    const child = open(target, () => readSourceFile(target, st.path.span));
    if (child === "unreadable") frame.loaded.imports.push({ statement: st, unreadable: true });
    else if (child === undefined) frame.loaded.imports.push({ statement: st });
    else {
      frame.waiting = st;
      push(child);
    }
  }
  program.entry = program.files.get(abs);
  return program;
}
