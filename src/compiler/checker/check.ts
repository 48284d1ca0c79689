// The checker: params first (defaults, --set, trial values), then every declaration in dependency order
// (cycles reported with their chain), evaluations and sweeps. Produces the checked program the lowering
// reads: each declaration's constructor with its settings resolved and defaults filled. This file decides when a
// declaration is checked (on first reference, or taken from a trial's base program) and keeps the state of the checks;
// what a check does for each kind of declaration is in declarations.ts.

import { type Diagnostic, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import type { EvaluateDeclaration, Ident } from "../ast/ast.ts";
import type { Program } from "../binder/load.ts";
import { type Bound, type DeclSymbol, Scope } from "../binder/scope.ts";
import { suggest } from "../values/suggest.ts";
import type { Value } from "../values/types.ts";
import type { CheckedCall, ResultInfo } from "./catalog/ctor.ts";
import { checkDeclaration } from "./declarations.ts";
import { postOrder, referencedDeclarations } from "./dependencies.ts";
import { type EvalHost, Evaluator } from "./evaluate.ts";
import { type CheckedParam, checkParams, type ParamInputs, type ParamTable } from "./params.ts";
import type { CheckedSweep } from "./sweeps.ts";

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
  return new ProgramChecker(program, bound, inputs).run();
}

/** The host an Evaluator reports to, with what the declaration being checked uses (collected as it is checked). */
type CheckerHost = EvalHost & { currentUses?: Set<string>; currentParams?: Set<string> };

/** One run of the checker over a bound program: the state of every declaration's check, and the host they share. */
class ProgramChecker {
  private readonly diagnostics: Diagnostic[];
  /** Imports that could not be read: params and names they declare are missing (reported at the import). */
  private readonly unreadable: string[];
  /** Declarations that reported a name an unreadable import may declare: one report each. */
  private readonly unresolvedIn = new Set<string>();
  private readonly host: CheckerHost;
  private readonly paramTable: ParamTable;
  /** When checking a trial: the declarations it can change (the rest are taken from the base program). */
  private readonly recheck: ReadonlySet<string> | undefined;
  private readonly checked: CheckedProgram;
  private readonly state = new Map<string, State>();
  /** The declarations being checked, outermost first (CHAIN_GAP where checkChainFirst began). */
  private readonly stack: string[] = [];
  private readonly reportedCycles = new Set<string>();
  /**
   * A name declared more than once resolves to its first declaration (as in the binder's scopes); the others are
   * still checked for their own errors (see `run`), but nothing refers to them and they are not lowered.
   */
  private readonly byName = new Map<string, DeclSymbol>();
  private readonly duplicates: DeclSymbol[] = [];
  /** Where the nested checks counted against MAX_NESTED_CHECKS begin on `stack`. */
  private floor = 0;
  private reordered = false;

  constructor(
    program: Program,
    private readonly bound: Bound,
    private readonly inputs: CheckInputs,
  ) {
    this.diagnostics = [...bound.diagnostics];
    this.unreadable = [...program.files.values()].flatMap((f) => f.imports.flatMap((i) => (i.unreadable ? [i.statement.path.value] : [])));
    this.host = this.makeHost();
    this.paramTable = checkParams(bound, inputs, (d) => this.diagnostics.push(d));
    this.recheck = inputs.reuse?.recheck(this.paramTable.values);
    this.checked = { decls: new Map(), params: this.paramTable.values, sweeps: new Map(), hookRaters: [] };
    for (const d of bound.decls) {
      if (this.byName.has(d.qualified)) this.duplicates.push(d);
      else this.byName.set(d.qualified, d);
    }
  }

  run(): { checked: CheckedProgram; diagnostics: Diagnostic[] } {
    for (const sym of this.byName.values()) this.checkDecl(sym.qualified);
    if (!this.recheck) for (const sym of this.duplicates) this.checkDecl(sym.qualified, undefined, sym);
    if (this.reordered) this.restoreOrder();
    return { checked: this.checked, diagnostics: this.diagnostics };
  }

  private makeHost(): CheckerHost {
    const { bound, inputs } = this;
    const host: CheckerHost = {
      report: (d) => this.diagnostics.push(d),
      paramValue: (name: Ident) => this.paramValue(name),
      isParam: (name) => bound.params.has(name),
      infoOf: (q, at) => this.checkDecl(q, at)?.info,
      settingsOf: (q, at) => {
        const d = this.checkDecl(q, at);
        host.currentUses?.add(q);
        return d?.call?.settings ?? d?.evaluate?.settings;
      },
      override: (path) => inputs.overrides?.get(path),
      hasOverrideUnder: (prefix) => [...(inputs.overrides?.keys() ?? [])].some((k) => k.startsWith(prefix)),
      unresolved: (name, span, path) => {
        // One report per declaration: the rest of its missing names have the same cause.
        const decl = this.stack[this.stack.length - 1] ?? "";
        if (this.unresolvedIn.has(decl)) return;
        this.unresolvedIn.add(decl);
        host.report(diagnostic("importFailed", { name, path }, span));
      },
    };
    return host;
  }

  /** A param's value for `${name}`, recorded as read by the declaration being checked. */
  private paramValue(name: Ident): Value | undefined {
    const { host, paramTable } = this;
    host.currentParams?.add(name.name);
    const p = paramTable.values.get(name.name);
    if (p) return p.value;
    // A declared param whose type or value is invalid was reported at its declaration.
    if (paramTable.types.has(name.name)) return undefined;
    if (this.unreadable[0] !== undefined) {
      host.unresolved(`\${${name.name}}`, name.span, this.unreadable[0]);
      return undefined;
    }
    host.report(diagnostic("unknownParam", { name: name.name }, name.span, suggest(name.name, paramTable.types.keys(), name.span, true)));
    return undefined;
  }

  /**
   * A declaration's check, done when first asked for (or taken from the base program of a trial); undefined for an
   * unknown name or a reference cycle. `duplicate`: a later declaration of `qualified`, checked on its own account
   * (its state apart, its result dropped).
   */
  private checkDecl(qualified: string, at?: Span, duplicate?: DeclSymbol): CheckedDecl | undefined {
    const sym = duplicate ?? this.byName.get(qualified);
    if (!sym) return undefined;
    const key = duplicate ? `${qualified}\u0000${this.duplicates.indexOf(duplicate)}` : qualified;
    this.host.currentUses?.add(qualified);
    const s = this.state.get(key);
    if (s === "done") return this.checked.decls.get(qualified);
    const kept = this.recheck && !duplicate && !s && !this.recheck.has(qualified) ? this.inputs.reuse?.base.decls.get(qualified) : undefined;
    if (kept) {
      this.state.set(key, "done");
      this.checked.decls.set(qualified, kept);
      return kept;
    }
    if (s === "checking") return this.reportCycle(qualified, at ?? sym.node.name.span);
    if (!duplicate && this.stack.length - this.floor >= MAX_NESTED_CHECKS) this.checkChainFirst(qualified);
    if (!duplicate && this.state.has(qualified)) return this.checkDecl(qualified, at);
    const result = this.checkNow(sym, qualified, key, duplicate);
    if (duplicate) return undefined;
    this.checked.decls.set(qualified, result);
    return result;
  }

  private reportCycle(qualified: string, span: Span): undefined {
    const chain = [...this.stack.slice(this.stack.indexOf(qualified)), qualified].join(" → ");
    // A reference may be resolved more than once (a dotted path, a union's alternatives): one report.
    const key = `${chain}@${span.file}:${span.start}`;
    if (!this.reportedCycles.has(key)) this.host.report(diagnostic("referenceCycle", { cycle: chain }, span));
    this.reportedCycles.add(key);
    return undefined;
  }

  /** Checks `sym` now, collecting the declarations and params it uses; `key` is its entry in `state`. */
  private checkNow(sym: DeclSymbol, qualified: string, key: string, duplicate: DeclSymbol | undefined): CheckedDecl {
    const { host } = this;
    this.state.set(key, "checking");
    this.stack.push(qualified);
    const outerUses = host.currentUses;
    const outerParams = host.currentParams;
    const uses = new Set<string>();
    const params = new Set<string>();
    host.currentUses = uses;
    host.currentParams = params;
    const result: CheckedDecl = { symbol: sym, qualified, category: sym.declKind, uses, params };
    try {
      const file = sym.file.ast.source.absPath;
      const ev = new Evaluator(host, this.bound.scopes.get(file) ?? Scope.empty, this.bound.unreadableImports.get(file));
      checkDeclaration(sym, ev, result, {
        host,
        bound: this.bound,
        paramTypes: this.paramTable.types,
        unreadableImports: this.unreadable,
        checkDecl: (q) => this.checkDecl(q),
        ...(duplicate ? {} : { program: this.checked }),
      });
    } finally {
      host.currentUses = outerUses;
      host.currentParams = outerParams;
      this.stack.pop();
      this.state.set(key, "done");
    }
    return result;
  }

  /**
   * Checks what `qualified` refers to, directly or not, dependencies first, before `qualified` itself: each
   * of those finds its own references checked already, so the recursion stays shallow. A cycle through
   * the declarations being checked is still found; its chain shows the skipped links as CHAIN_GAP.
   */
  private checkChainFirst(qualified: string): void {
    const { bound, byName, host } = this;
    const references = (q: string): string[] => {
      const sym = byName.get(q);
      if (!sym) return [];
      return referencedDeclarations(sym.node, bound.scopes.get(sym.file.ast.source.absPath) ?? Scope.empty);
    };
    const order = postOrder([qualified], references, (q) => this.state.has(q) || !byName.has(q));
    const outerFloor = this.floor;
    const outerUses = host.currentUses;
    this.stack.push(CHAIN_GAP);
    this.floor = this.stack.length;
    // Checked on their own account: they become uses of whoever refers to them, when that is checked.
    host.currentUses = undefined;
    try {
      for (const q of order) if (q !== qualified) this.checkDecl(q);
    } finally {
      this.stack.pop();
      this.floor = outerFloor;
      host.currentUses = outerUses;
    }
    this.reordered = true;
  }

  /**
   * checkDecl inserts dependencies first. When checkChainFirst changed the order of the checks, the declarations are
   * put back in the order plain recursion would have given: each after what it uses.
   */
  private restoreOrder(): void {
    const { checked } = this;
    const order = postOrder(
      this.bound.decls.map((d) => d.qualified),
      (q) => checked.decls.get(q)?.uses ?? [],
      (q) => !checked.decls.has(q),
    );
    const decls = new Map(order.map((q) => [q, checked.decls.get(q) as CheckedDecl]));
    for (const [q, d] of checked.decls) if (!decls.has(q)) decls.set(q, d);
    checked.decls = decls;
    const sweeps = checked.sweeps;
    checked.sweeps = new Map([...decls.keys()].flatMap((q) => (sweeps.has(q) ? [[q, sweeps.get(q) as CheckedSweep]] : [])));
  }
}

export type { EvaluateDeclaration };
