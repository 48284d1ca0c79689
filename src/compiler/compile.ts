// The compiler pipeline, one phase after another: load + parse (with imports) → bind → check → lower.
// A trial of a sweep is compiled by checking once with defaults, picking the trial, and checking again
// with its values. TypeScript rater hooks are verified last (ts-morph is loaded only when needed).
import path from "node:path";
import { type Diagnostic, DiagnosticBag, diagnostic, type Span, sortDiagnostics } from "../diagnostics/diagnostic.ts";
import { labelTexts, messages, noteTexts } from "../diagnostics/messages.ts";
import type { SourceFile } from "../diagnostics/source-file.ts";
import type { ExecutionGraph } from "../graph/graph.ts";
import { loadProgram, type Program } from "./binder/load.ts";
import { type Bound, bind } from "./binder/scope.ts";
import { type CheckedDecl, type CheckedProgram, check } from "./checker/check.ts";
import type { CheckedSweep } from "./checker/sweeps.ts";
import { lower } from "./lower/lower.ts";
import { severityControl } from "./severity.ts";
import { checkTrials } from "./sweep/check-trials.ts";
import { findTrial, hasTrials, type Trial, trials } from "./sweep/expand.ts";
import type { Value } from "./values/types.ts";
import { valueJson } from "./values/types.ts";

export interface CompileOptions {
  /** `--set name=value` arguments. */
  set?: string[];
  /** A trial of a sweep, by ordinal or id. */
  trial?: string;
  /** Which sweep, when the file declares several. */
  sweep?: string;
  /** Stop after checking: no execution graph. */
  checkOnly?: boolean;
  /** `--warn CODE=LEVEL` settings: the severity of warning and info codes (diagnostics/severity.ts). */
  warn?: string[];
}

export interface CompileResult {
  program: Program;
  bound?: Bound;
  checked?: CheckedProgram;
  graph?: ExecutionGraph;
  trial?: Trial;
  diagnostics: Diagnostic[];
  /** Sources by display path, for rendering diagnostics. */
  sources: Map<string, SourceFile>;
  ok: boolean;
}

export function compileSync(entryPath: string, options: CompileOptions = {}): CompileResult {
  const program = loadProgram(entryPath);
  // Severities as `--warn` and the files' pragmas set them, applied to every diagnostic collected.
  const severity = severityControl(
    options.warn ?? [],
    [...program.files.values()].map((f) => f.ast),
  );
  const bag = new DiagnosticBag(100, severity.apply);
  bag.addAll(severity.problems);
  bag.addAll(program.diagnostics);
  const result: CompileResult = { program, diagnostics: [], sources: program.sources, ok: false };
  if (!program.entry || program.syntaxErrors) return finish(result, bag);

  const bound = bind(program);
  result.bound = bound;
  let { checked, diagnostics } = check(program, bound, options.set ? { set: options.set } : {});
  if (options.trial !== undefined && !diagnostics.some((d) => d.severity === "error")) {
    const sweep = chooseSweep(checked, options.sweep, program.entry.ast.source.displayPath, (d) => diagnostics.push(d));
    if (sweep) {
      const trial = findTrial(sweep, checked.params, options.trial);
      if (!trial) diagnostics.push(diagnostic("trialOutOfRange", { trial: options.trial, count: countTrials(sweep, checked) }));
      else {
        const trialParams = new Map<string, Value>();
        const overrides = new Map<string, Value>();
        for (const a of trial.assignments) (a.kind === "param" ? trialParams : overrides).set(a.target, a.value);
        ({ checked, diagnostics } = check(program, bound, { ...(options.set ? { set: options.set } : {}), trialParams, overrides }));
        result.trial = trial;
      }
    }
  } else if (options.trial === undefined && checked.sweeps.size > 0 && !diagnostics.some((d) => d.severity === "error")) {
    // Every trial of each sweep too, as `--trial` would check it: what only a trial breaks is found now, not when it runs.
    diagnostics.push(...checkTrials(program, bound, checked, options.set));
  }
  bag.addAll(diagnostics.concat(unusedWarnings(program, checked, diagnostics), emptySweepWarnings(checked, diagnostics)));
  result.checked = checked;
  if (bag.hasErrors || options.checkOnly) return finish(result, bag);
  const trialInfo = result.trial
    ? {
        sweep: options.sweep ?? [...checked.sweeps.keys()][0] ?? "",
        ordinal: result.trial.ordinal,
        id: result.trial.id,
        assignments: Object.fromEntries(result.trial.assignments.map((a) => [a.target, valueJson(a.value)])),
      }
    : undefined;
  result.graph = lower(checked, program.entry.ast.source.absPath, trialInfo);
  return finish(result, bag);
}

/** compileSync plus the TypeScript rater checks, which need ts-morph (loaded on demand). */
export async function compile(entryPath: string, options: CompileOptions = {}): Promise<CompileResult> {
  const result = compileSync(entryPath, options);
  const hooks = result.checked?.hookRaters ?? [];
  if (hooks.length === 0) return result;
  const { checkTypescriptRater } = await import("./hooks/typescript-rater.ts");
  const extra: Diagnostic[] = [];
  for (const hook of hooks) {
    const decl = result.checked?.decls.get(hook.qualified);
    const baseDir = decl ? path.dirname(decl.symbol.file.ast.source.absPath) : process.cwd();
    const r = checkTypescriptRater(path.resolve(baseDir, hook.modulePath), hook.exportName);
    if (r.ok) continue;
    const label = r.declaration ? [{ span: pointSpan(r.declaration), message: labelTexts.tsDeclaration(hook.exportName) }] : [];
    if (r.problem === "missing-file") extra.push(diagnostic("hookModuleMissing", { path: hook.modulePath }, hook.span));
    else if (r.problem === "missing-export") {
      extra.push(
        diagnostic("hookExportMissing", { name: hook.exportName, path: hook.modulePath }, hook.span, {
          labels: label,
          notes: r.details.length ? [noteTexts.exports(r.details.join(", "))] : [],
        }),
      );
    } else if (r.problem === "syntax")
      extra.push(diagnostic("hookSyntaxError", { path: hook.modulePath }, hook.span, { labels: label, notes: r.details.map(noteTexts.typescript) }));
    else extra.push(diagnostic("hookTypeMismatch", { name: hook.exportName }, hook.span, { labels: label, notes: r.details.map(noteTexts.typescript) }));
  }
  if (extra.length === 0) return result;
  // In source order with the rest; the "N more not shown" notes stay last.
  const capped = result.diagnostics.filter((d) => d.code === messages.tooManyDiagnostics.code);
  const diagnostics = sortDiagnostics([...result.diagnostics.filter((d) => !capped.includes(d)), ...extra]).concat(capped);
  const { graph: _graph, ...rest } = result;
  return { ...rest, diagnostics, ok: false };
}

function pointSpan(loc: { file: string; line: number; column: number }): Span {
  return {
    file: path.relative(process.cwd(), loc.file) || loc.file,
    start: 0,
    end: 0,
    line: loc.line,
    column: loc.column,
    endLine: loc.line,
    endColumn: loc.column + 1,
  };
}

function countTrials(sweep: CheckedSweep, checked: CheckedProgram): number {
  let n = 0;
  for (const _ of trials(sweep, checked.params)) n++;
  return n;
}

export function chooseSweep(checked: CheckedProgram, name: string | undefined, file: string, report: (d: Diagnostic) => void): CheckedSweep | undefined {
  if (name !== undefined) {
    const s = checked.sweeps.get(name);
    if (!s) report(diagnostic("unknownSweepName", { name }));
    return s;
  }
  if (checked.sweeps.size === 0) {
    report(diagnostic("noSweep", { file }));
    return undefined;
  }
  if (checked.sweeps.size > 1) {
    report(diagnostic("ambiguousSweep", { names: [...checked.sweeps.keys()].join(", ") }));
    return undefined;
  }
  return checked.sweeps.values().next().value;
}

/**
 * Declarations in the entry file that nothing consumes and that produce nothing by themselves. One that
 * already has an error is left alone: the error is what needs fixing, and it may be why nothing uses it.
 */
function unusedWarnings(program: Program, checked: CheckedProgram, diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const used = new Set<string>();
  for (const d of checked.decls.values()) for (const u of d.uses) if (u !== d.qualified) used.add(u);
  const errorSpans = diagnostics.flatMap((d) => (d.severity === "error" && d.span ? [d.span] : []));
  // A declaration an error suggests ("did you mean 'pairs'?") is probably the one meant: using it is the fix.
  const suggested = new Set(diagnostics.flatMap((d) => (d.severity === "error" && d.fix ? [d.fix.replacement] : [])));
  const hasError = (decl: CheckedDecl) => {
    const { span } = decl.symbol.node;
    const file = decl.symbol.file.ast.source.displayPath;
    return errorSpans.some((e) => e.file === file && e.start >= span.start && e.start < Math.max(span.end, span.start + 1));
  };
  const out: Diagnostic[] = [];
  for (const d of checked.decls.values()) {
    if (d.symbol.file !== program.entry || hasError(d)) continue;
    if (d.category === "phase" || d.category === "evaluate" || d.category === "sweep") continue;
    if (d.call?.ctor.name === "export") continue;
    if (!used.has(d.qualified) && !suggested.has(d.qualified))
      out.push(diagnostic("unusedDeclaration", { name: d.qualified, kind: d.category }, d.symbol.node.name.span));
  }
  return out;
}

/** Sweeps whose exclusions remove every trial (ALN4010); none when there are errors (a sweep may be the cause). */
function emptySweepWarnings(checked: CheckedProgram, diagnostics: readonly Diagnostic[]): Diagnostic[] {
  if (diagnostics.some((d) => d.severity === "error")) return [];
  return [...checked.sweeps.values()].filter((s) => s.exclude.length > 0 && !hasTrials(s)).map((s) => diagnostic("excludeEverything", {}, s.span));
}

function finish(result: CompileResult, bag: DiagnosticBag): CompileResult {
  result.diagnostics = bag.finish();
  result.ok = !result.diagnostics.some((d) => d.severity === "error");
  return result;
}
