// What a sweep axis may assign: a param (its declared type and domain) or a nested setting of a
// declaration (the type in its constructor's schema). Every value of an axis — listed, from an integer
// range, or an end of a distribution — goes through the target's `check`, so a sweep cannot assign what
// the file itself could not write.

import { type DiagnosticExtras, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../diagnostics/messages.ts";
import type { Call, Declaration, Ident } from "../ast/ast.ts";
import type { Bound } from "../binder/scope.ts";
import { didYouMean, suggest } from "../values/suggest.ts";
import type { Fields, Type, Value } from "../values/types.ts";
import { type Ctor, findCtor } from "./catalog/index.ts";
import { evaluateFields } from "./catalog/training.ts";
import type { CheckedDecl } from "./check.ts";
import type { EvalHost, Evaluator } from "./evaluate.ts";
import type { ParamType } from "./param-types.ts";
import { checkValueAgainstParam } from "./params.ts";

export interface SweepContext {
  bound: Bound;
  /** Declared params and their types (undefined: the type is unknown, already reported). */
  paramTypes: ReadonlyMap<string, ParamType | undefined>;
  /** Imports (anywhere in the program) that could not be read: a target may be declared there. */
  unreadableImports: readonly string[];
  checkDecl: (qualified: string) => CheckedDecl | undefined;
}

export interface SweepTarget {
  type: Type;
  /** Checks a value against the target's type and domain, reporting at `span`. */
  check: (v: Value | undefined, span: Span) => Value | undefined;
  /** A param whose domain is a set of values: a distribution cannot draw from it. */
  valueSet?: string;
}

export type Distribution = "uniform" | "log_uniform" | "int_uniform";
export const DISTRIBUTIONS: readonly Distribution[] = ["uniform", "log_uniform", "int_uniform"];

/** The type a sweep target accepts, and a checker for its values; undefined after reporting. */
export function resolveTarget(key: Ident[], host: EvalHost, ev: Evaluator, ctx: SweepContext): SweepTarget | undefined {
  const target = key.map((k) => k.name).join(".");
  const head = key[0] as Ident;
  if (key.length === 1) {
    if (!ctx.paramTypes.has(head.name)) {
      if (ctx.unreadableImports[0] !== undefined) return void host.unresolved(target, head.span, ctx.unreadableImports[0]);
      host.report(
        diagnostic("sweepTargetNotFound", { target }, head.span, suggest(head.name, ctx.paramTypes.keys(), head.span) ?? { help: helpTexts.sweepAxisForms() }),
      );
      return undefined;
    }
    const t = ctx.paramTypes.get(head.name);
    if (!t) return undefined;
    const p = { name: head.name, ...t };
    const check = (v: Value | undefined, span: Span) => checkValueAgainstParam(p, v && ev.coerce(v, t.type, head.name, span), span, host.report);
    return t.allowed ? { type: t.type, check, valueSet: t.domainText ?? "a set" } : { type: t.type, check };
  }
  // A setting path: find the declaration (possibly behind namespaces), then walk its constructor's schema.
  const decl = ctx.bound.decls.find((d) => key.some((_, i) => d.qualified === pathText(key.slice(0, i + 1))));
  if (!decl || decl.declKind === "sweep") {
    if (!decl && ctx.unreadableImports[0] !== undefined) return void host.unresolved(target, head.span, ctx.unreadableImports[0]);
    // The span is the first name only: the help names the whole target it means.
    const help = didYouMean(target, [...ctx.paramTypes.keys(), ...ctx.bound.decls.map((d) => d.qualified)]);
    host.report(diagnostic("sweepTargetNotFound", { target }, head.span, help ? { help } : {}));
    return undefined;
  }
  const checked = ctx.checkDecl(decl.qualified);
  const settings = checked?.call?.settings ?? checked?.evaluate?.settings;
  const schema = decl.declKind === "evaluate" ? evaluateFields : (checked?.call?.ctor.fields ?? declCtor(decl.node as Declaration)?.fields);
  // The declaration's own constructor is unknown: that was reported where it is written.
  if (!schema) return undefined;
  let fields: Fields = schema;
  let value: Value | undefined = settings ? { k: "record", fields: settings } : undefined;
  for (let i = decl.qualified.split(".").length; i < key.length; i++) {
    const k = key[i] as Ident;
    const field: Fields[string] | undefined = fields[k.name];
    if (!field) {
      host.report(
        diagnostic(
          "sweepTargetNotFound",
          { target },
          k.span,
          suggest(k.name, Object.keys(fields), k.span) ?? { help: helpTexts.settingsHere(Object.keys(fields).join(", ")) },
        ),
      );
      return undefined;
    }
    if (i === key.length - 1) return { type: field.type, check: (v, span) => (v === undefined ? undefined : ev.coerce(v, field.type, target, span)) };
    const inner: Value | undefined = value?.k === "record" ? value.fields[k.name] : undefined;
    if (field.type.t === "record") fields = field.type.fields;
    else if (field.type.t === "ctor") {
      // Which constructor (adamw or sgd) is known only once the declaration checked.
      if (!settings) return undefined;
      const ctorName = inner?.k === "record" ? inner.ctor : undefined;
      const ctor: Ctor | undefined = ctorName ? findCtor(field.type.family, ctorName) : undefined;
      if (!ctor) {
        host.report(diagnostic("sweepTargetNotFound", { target }, k.span));
        return undefined;
      }
      fields = ctor.fields;
    } else {
      host.report(
        diagnostic("sweepTargetNotFound", { target }, (key[i + 1] as Ident).span, { help: helpTexts.noNestedSettings(pathText(key.slice(0, i + 1))) }),
      );
      return undefined;
    }
    value = inner;
  }
  return undefined;
}

/**
 * A distribution of a random sweep, `uniform(0.01, 0.5)`: two constant ends in order, drawing values the
 * target accepts. Both ends are checked against the target; errors point at the distribution.
 */
export function checkDistribution(
  e: Call,
  dist: Distribution,
  target: SweepTarget,
  name: string,
  ev: Evaluator,
  host: EvalHost,
): (Value & { k: "dist" }) | undefined {
  const args = e.args ?? [];
  const lo = args[0] ? ev.constant(args[0]) : undefined;
  const hi = args[1] ? ev.constant(args[1]) : undefined;
  const fail = (reason: string, extras?: DiagnosticExtras) => {
    host.report(diagnostic("invalidValue", { what: `${dist}(…)`, reason }, e.span, extras));
    return undefined;
  };
  if (args.length !== 2 || lo === undefined || hi === undefined || lo > hi || (dist === "log_uniform" && lo <= 0))
    return fail(dist === "log_uniform" ? "needs two numbers 0 < low ≤ high" : "needs two numbers low ≤ high");
  if (target.valueSet) return fail(`${name} takes one of ${target.valueSet}`, { help: helpTexts.sweepListInstead() });
  if (dist !== "int_uniform" && integerOnly(target.type)) {
    const callee = e.callee[0]?.span;
    const help = helpTexts.writeIntUniform(String(lo), String(hi));
    return fail(`it draws fractional numbers, but ${name} takes integers`, callee ? { help, fix: { span: callee, replacement: "int_uniform" } } : { help });
  }
  const end = (n: number): Value => (dist === "int_uniform" ? { k: "int", v: n } : { k: "float", v: n });
  const low = dist === "int_uniform" ? Math.ceil(lo) : lo;
  const high = dist === "int_uniform" ? Math.floor(hi) : hi;
  if (low > high) return fail("no integer lies between its ends");
  if (target.check(end(low), e.span) === undefined || target.check(end(high), e.span) === undefined) return undefined;
  return { k: "dist", dist, lo, hi };
}

function integerOnly(t: Type): boolean {
  return t.t === "int" || (t.t === "union" && t.of.every(integerOnly));
}

function declCtor(decl: Declaration): Ctor | undefined {
  const e = decl.value;
  const callee = e.kind === "Call" ? e.callee : e.kind === "Ref" ? e.path : undefined;
  return callee?.length === 1 ? findCtor(decl.declKind, (callee[0] as Ident).name) : undefined;
}

function pathText(ids: Ident[]): string {
  return ids.map((k) => k.name).join(".");
}
