// The checker: params first (defaults, --set, trial values), then every declaration in dependency order
// (cycles reported with their chain), evaluations and sweeps. Produces the checked program the lowering
// reads: each declaration's constructor with its settings resolved and defaults filled.

import { type Diagnostic, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../diagnostics/messages.ts";
import type { Call, Declaration, EvaluateDeclaration, Expression, Ident } from "../ast/ast.ts";
import type { Program } from "../binder/load.ts";
import { type Bound, type DeclSymbol, Scope } from "../binder/scope.ts";
import { suggest } from "../values/suggest.ts";
import type { Value } from "../values/types.ts";
import type { CheckedCall, ResultInfo } from "./catalog/ctor.ts";
import { ctorsOf, familyOf, findCtor } from "./catalog/index.ts";
import { evaluateFields } from "./catalog/training.ts";
import { postOrder, referencedDeclarations } from "./dependencies.ts";
import { type EvalHost, Evaluator } from "./evaluate.ts";
import { type CheckedParam, checkParams, type ParamInputs } from "./params.ts";
import { checkRuntimeSupport } from "./runtime-support.ts";
import { type CheckedSweep, checkSweep } from "./sweeps.ts";

export interface CheckedDecl {
  symbol: DeclSymbol;
  qualified: string;
  category: DeclSymbol["declKind"];
  /** Constructor declarations (everything but evaluate and sweep). */
  call?: CheckedCall;
  /** Evaluate blocks: their settings. */
  evaluate?: { settings: Record<string, Value>; settingSpans: Record<string, Span>; defaulted: string[] };
  info?: ResultInfo;
  /** Qualified names this declaration refers to. */
  uses: Set<string>;
  /** Params this declaration reads (`${name}`), whatever their value: a sweep trial that changes one checks it again. */
  params: Set<string>;
}

export interface CheckedProgram {
  decls: Map<string, CheckedDecl>;
  params: Map<string, CheckedParam>;
  sweeps: Map<string, CheckedSweep>;
  /** TypeScript raters to verify against the Rater type (done asynchronously by compile()). */
  hookRaters: { qualified: string; modulePath: string; exportName: string; span: Span }[];
}

export interface CheckInputs extends ParamInputs {
  /** Sweep overrides of nested settings, by full path (`dpo.objective.beta`). */
  overrides?: Map<string, Value>;
  /** Checking a sweep's trial against a checked program (src/compiler/sweep/check-trials.ts). */
  reuse?: TrialReuse;
}

/**
 * A trial is checked again only where it can differ: declarations outside `recheck` (given the trial's params) are
 * taken from `base` as they are, and later declarations of a name are not checked again (their errors are `base`'s).
 */
export interface TrialReuse {
  base: CheckedProgram;
  recheck(params: ReadonlyMap<string, CheckedParam>): ReadonlySet<string>;
}

type State = "checking" | "done";

/**
 * Declarations are checked when first referenced, recursively. Past this many nested checks, the rest of
 * the chain is checked dependencies first instead (see `checkChainFirst`), so that thousands of files that
 * each use the declaration of the next cannot overflow the call stack.
 */
const MAX_NESTED_CHECKS = 16;
/** Stands in a cycle's chain for the links between the declaration where `checkChainFirst` began and the next one shown. */
const CHAIN_GAP = "…";

export function check(program: Program, bound: Bound, inputs: CheckInputs = {}): { checked: CheckedProgram; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [...bound.diagnostics];
  // Imports that could not be read: params and names they declare are missing (reported at the import).
  const unreadable = [...program.files.values()].flatMap((f) => f.imports.flatMap((i) => (i.unreadable ? [i.statement.path.value] : [])));
  const unresolvedIn = new Set<string>();
  const host: EvalHost & { currentUses?: Set<string>; currentParams?: Set<string> } = {
    report: (d) => diagnostics.push(d),
    paramValue: (name: Ident) => {
      host.currentParams?.add(name.name);
      const p = paramTable.values.get(name.name);
      if (p) return p.value;
      // A declared param whose type or value is invalid was reported at its declaration.
      if (paramTable.types.has(name.name)) return undefined;
      if (unreadable[0] !== undefined) {
        host.unresolved(`\${${name.name}}`, name.span, unreadable[0]);
        return undefined;
      }
      host.report(diagnostic("unknownParam", { name: name.name }, name.span, suggest(name.name, paramTable.types.keys(), name.span, true)));
      return undefined;
    },
    isParam: (name) => bound.params.has(name),
    infoOf: (q, at) => checkDecl(q, at)?.info,
    settingsOf: (q, at) => {
      const d = checkDecl(q, at);
      host.currentUses?.add(q);
      return d?.call?.settings ?? d?.evaluate?.settings;
    },
    override: (path) => inputs.overrides?.get(path),
    hasOverrideUnder: (prefix) => [...(inputs.overrides?.keys() ?? [])].some((k) => k.startsWith(prefix)),
    unresolved: (name, span, path) => {
      // One report per declaration: the rest of its missing names have the same cause.
      const decl = stack[stack.length - 1] ?? "";
      if (unresolvedIn.has(decl)) return;
      unresolvedIn.add(decl);
      host.report(diagnostic("importFailed", { name, path }, span));
    },
  };

  const paramTable = checkParams(bound, inputs, (d) => diagnostics.push(d));
  const recheck = inputs.reuse?.recheck(paramTable.values);
  const checked: CheckedProgram = { decls: new Map(), params: paramTable.values, sweeps: new Map(), hookRaters: [] };
  const state = new Map<string, State>();
  const stack: string[] = [];
  const reportedCycles = new Set<string>();
  // A name declared more than once resolves to its first declaration (as in the binder's scopes); the others are
  // still checked for their own errors (below), but nothing refers to them and they are not lowered.
  const byName = new Map<string, DeclSymbol>();
  const duplicates: DeclSymbol[] = [];
  for (const d of bound.decls) {
    if (byName.has(d.qualified)) duplicates.push(d);
    else byName.set(d.qualified, d);
  }
  /** Where the nested checks counted against MAX_NESTED_CHECKS begin on `stack`. */
  let floor = 0;
  let reordered = false;

  const evaluatorFor = (sym: DeclSymbol) => {
    const file = sym.file.ast.source.absPath;
    return new Evaluator(host, bound.scopes.get(file) ?? Scope.empty, bound.unreadableImports.get(file));
  };

  /** `duplicate`: a later declaration of `qualified`, checked on its own account (its state apart, its result dropped). */
  function checkDecl(qualified: string, at?: Span, duplicate?: DeclSymbol): CheckedDecl | undefined {
    const sym = duplicate ?? byName.get(qualified);
    if (!sym) return undefined;
    const key = duplicate ? `${qualified}\u0000${duplicates.indexOf(duplicate)}` : qualified;
    host.currentUses?.add(qualified);
    const s = state.get(key);
    if (s === "done") return checked.decls.get(qualified);
    const kept = recheck && !duplicate && !s && !recheck.has(qualified) ? inputs.reuse?.base.decls.get(qualified) : undefined;
    if (kept) {
      state.set(key, "done");
      checked.decls.set(qualified, kept);
      return kept;
    }
    if (s === "checking") {
      const chain = [...stack.slice(stack.indexOf(qualified)), qualified].join(" → ");
      const span = at ?? sym.node.name.span;
      // A reference may be resolved more than once (a dotted path, a union's alternatives): one report.
      const key = `${chain}@${span.file}:${span.start}`;
      if (!reportedCycles.has(key)) host.report(diagnostic("referenceCycle", { cycle: chain }, span));
      reportedCycles.add(key);
      return undefined;
    }
    if (!duplicate && stack.length - floor >= MAX_NESTED_CHECKS) checkChainFirst(qualified);
    if (!duplicate && state.has(qualified)) return checkDecl(qualified, at);
    state.set(key, "checking");
    stack.push(qualified);
    const outerUses = host.currentUses;
    const outerParams = host.currentParams;
    const uses = new Set<string>();
    const params = new Set<string>();
    host.currentUses = uses;
    host.currentParams = params;
    const result: CheckedDecl = { symbol: sym, qualified, category: sym.declKind, uses, params };
    try {
      const ev = evaluatorFor(sym);
      if (sym.node.kind === "Evaluate") {
        const r = ev.fields(evaluateFields, sym.node.block, "evaluate", qualified, sym.node.name.span);
        result.evaluate = { settings: r.settings, settingSpans: r.settingSpans, defaulted: r.defaulted };
      } else if (sym.declKind === "sweep") {
        const sweep = checkSweep(sym, sym.node as Declaration, ev, host, {
          bound,
          paramTypes: paramTable.types,
          unreadableImports: unreadable,
          checkDecl: (q) => checkDecl(q),
        });
        if (sweep && !duplicate) checked.sweeps.set(qualified, sweep);
      } else {
        const call = declarationCall(sym.node as Declaration, host);
        if (call) {
          const checkedCall = ev.call(call.ctor, call.expr, `${qualified}.`);
          if (checkedCall) {
            result.call = checkedCall;
            call.ctor.validate?.(checkedCall, { report: host.report, infoOf: (q) => checkDecl(q)?.info });
            checkRuntimeSupport(checkedCall, sym.file.ast.source.absPath, host.report);
            result.info = call.ctor.result?.(checkedCall) ?? { category: sym.declKind as "model" };
            if (call.ctor.name === "typescript") {
              const mod = checkedCall.args[0]?.value;
              const exp = checkedCall.settings.export;
              if (mod?.k === "string" && exp?.k === "string" && !duplicate) {
                checked.hookRaters.push({ qualified, modulePath: mod.v, exportName: exp.v, span: checkedCall.args[0]?.span ?? checkedCall.span });
              }
            }
          }
        }
      }
    } finally {
      host.currentUses = outerUses;
      host.currentParams = outerParams;
      stack.pop();
      state.set(key, "done");
    }
    if (duplicate) return undefined;
    checked.decls.set(qualified, result);
    return result;
  }

  /**
   * Checks what `qualified` refers to, directly or not, dependencies first, before `qualified` itself: each
   * of those finds its own references checked already, so the recursion stays shallow. A cycle through
   * the declarations being checked is still found; its chain shows the skipped links as CHAIN_GAP.
   */
  function checkChainFirst(qualified: string): void {
    const references = (q: string): string[] => {
      const sym = byName.get(q);
      if (!sym) return [];
      return referencedDeclarations(sym.node, bound.scopes.get(sym.file.ast.source.absPath) ?? Scope.empty);
    };
    const order = postOrder([qualified], references, (q) => state.has(q) || !byName.has(q));
    const outerFloor = floor;
    const outerUses = host.currentUses;
    stack.push(CHAIN_GAP);
    floor = stack.length;
    // Checked on their own account: they become uses of whoever refers to them, when that is checked.
    host.currentUses = undefined;
    try {
      for (const q of order) if (q !== qualified) checkDecl(q);
    } finally {
      stack.pop();
      floor = outerFloor;
      host.currentUses = outerUses;
    }
    reordered = true;
  }

  for (const sym of byName.values()) checkDecl(sym.qualified);
  if (!recheck) for (const sym of duplicates) checkDecl(sym.qualified, undefined, sym);
  // checkDecl inserts dependencies first. When checkChainFirst changed the order of the checks, the
  // declarations are put back in the order plain recursion would have given: each after what it uses.
  if (reordered) {
    const order = postOrder(
      bound.decls.map((d) => d.qualified),
      (q) => checked.decls.get(q)?.uses ?? [],
      (q) => !checked.decls.has(q),
    );
    const decls = new Map(order.map((q) => [q, checked.decls.get(q) as CheckedDecl]));
    for (const [q, d] of checked.decls) if (!decls.has(q)) decls.set(q, d);
    checked.decls = decls;
    const sweeps = checked.sweeps;
    checked.sweeps = new Map([...decls.keys()].flatMap((q) => (sweeps.has(q) ? [[q, sweeps.get(q) as CheckedSweep]] : [])));
  }
  return { checked, diagnostics };
}

/** The constructor of a declaration's right-hand side, with a clear message when it is not one. */
function declarationCall(decl: Declaration, host: EvalHost): { ctor: NonNullable<ReturnType<typeof findCtor>>; expr: Call } | undefined {
  const e: Expression = decl.value;
  const callee = e.kind === "Call" ? e.callee : e.kind === "Ref" ? e.path : undefined;
  const family = decl.declKind;
  const names = [...ctorsOf(family).keys()];
  if (callee?.length !== 1) {
    host.report(
      diagnostic(
        "typeMismatch",
        {
          expected: `a ${family} constructor (${names.join(", ")})`,
          found: e.kind === "Ref" ? `a reference to '${e.path.map((p) => p.name).join(".")}'` : "another value",
        },
        e.span,
        {
          help: e.kind === "Ref" ? helpTexts.declarationBuildsNew() : helpTexts.example(ctorsOf(family).values().next().value?.example ?? ""),
        },
      ),
    );
    return undefined;
  }
  const id = callee[0] as Ident;
  const ctor = findCtor(family, id.name);
  if (!ctor) {
    const other = familyOf(id.name);
    const extras = other
      ? { help: helpTexts.otherFamily(id.name, other, decl.name.name) }
      : (suggest(id.name, names, id.span) ?? { help: helpTexts.constructorsOf(family, names.join(", ")) });
    host.report(diagnostic("unknownConstructor", { name: id.name, category: family }, id.span, extras));
    return undefined;
  }
  return { ctor, expr: e.kind === "Call" ? e : { kind: "Call", callee, span: e.span } };
}

export type { EvaluateDeclaration };
