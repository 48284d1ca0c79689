// Sweep declarations: each axis names a param or a nested setting of a declaration, and every value on the
// axis is checked once against that target's type (not once per trial). Expansion into trials is lazy and
// lives in src/compiler/sweep/.
import type { Block, Declaration, Expression, Ident } from "../ast/ast.ts";
import type { Bound, DeclSymbol } from "../binder/scope.ts";
import { diagnostic, type Span } from "../diagnostics/diagnostic.ts";
import { findCtor } from "./catalog/index.ts";
import type { CheckedDecl } from "./check.ts";
import type { EvalHost, Evaluator } from "./evaluate.ts";
import { checkValueAgainstParam, paramType } from "./params.ts";
import { didYouMean } from "./suggest.ts";
import { type Fields, type Type, type Value, valueText } from "./types.ts";

export interface SweepAxis {
  /** A param name or a setting path such as `dpo.objective.beta`. */
  target: string;
  kind: "param" | "setting";
  values?: Value[];
  dist?: Value & { k: "dist" };
  span: Span;
}

export interface CheckedSweep {
  name: string;
  mode: "grid" | "zip" | "random";
  axes: SweepAxis[];
  count?: number;
  seed: number;
  exclude: Map<string, string>[];
  span: Span;
}

const MAX_TRIALS = 1_000_000;

export function checkSweep(
  sym: DeclSymbol,
  decl: Declaration,
  ev: Evaluator,
  host: EvalHost,
  bound: Bound,
  checkDecl: (q: string) => CheckedDecl | undefined,
): CheckedSweep | undefined {
  const e = decl.value;
  const callee = e.kind === "Call" ? e.callee : e.kind === "Ref" ? e.path : [];
  const modeName = callee.length === 1 ? (callee[0] as Ident).name : "";
  if (!findCtor("sweep", modeName)) {
    const help = didYouMean(modeName, ["grid", "zip", "random"]) ?? "a sweep is grid { … }, zip { … } or random { … }";
    host.report(diagnostic("unknownConstructor", { name: modeName || "?", category: "sweep" }, callee[0]?.span ?? e.span, { help }));
    return undefined;
  }
  const mode = modeName as CheckedSweep["mode"];
  const block: Block = e.kind === "Call" && e.block ? e.block : { kind: "Block", entries: [], span: e.span };
  const known = mode === "random" ? ["over", "exclude", "count", "seed"] : ["over", "exclude"];
  const entries = new Map<string, Expression>();
  for (const entry of block.entries) {
    const key = entry.key.map((k) => k.name).join(".");
    if (!known.includes(key)) {
      const help = didYouMean(key, known);
      host.report(
        diagnostic(
          "unknownKey",
          { key, construct: `a ${mode} sweep` },
          entry.key[0]?.span ?? entry.span,
          help ? { help } : { help: `settings: ${known.join(", ")}; axes go inside \`over: { … }\`` },
        ),
      );
      continue;
    }
    if (entries.has(key)) host.report(diagnostic("duplicateKey", { key }, entry.key[0]?.span));
    entries.set(key, entry.value);
  }
  const over = entries.get("over");
  if (over?.kind !== "Block") {
    host.report(
      diagnostic(
        over ? "typeMismatch" : "missingKey",
        over ? { expected: "a block of axes { target: [values] }", found: "another value" } : { key: "over", construct: `a ${mode} sweep` },
        over?.span ?? callee[0]?.span ?? e.span,
      ) as never,
    );
    return undefined;
  }
  const sweep: CheckedSweep = { name: sym.qualified, mode, axes: [], seed: 0, exclude: [], span: decl.name.span };
  const countExpr = entries.get("count");
  const seedExpr = entries.get("seed");
  if (mode === "random") {
    if (!countExpr) host.report(diagnostic("missingKey", { key: "count", construct: "a random sweep" }, callee[0]?.span ?? e.span));
    const c = countExpr ? ev.value(countExpr, { t: "int", min: 1, max: MAX_TRIALS }, "count") : undefined;
    if (c?.k === "int") sweep.count = c.v;
    const s = seedExpr ? ev.value(seedExpr, { t: "int", min: 0 }, "seed") : undefined;
    if (s?.k === "int") sweep.seed = s.v;
  }

  const targetTypes = new Map<string, { type: Type; check: (v: Value | undefined, span: Span) => Value | undefined }>();
  for (const entry of over.entries) {
    const target = entry.key.map((k) => k.name).join(".");
    if (targetTypes.has(target)) {
      host.report(diagnostic("duplicateKey", { key: target }, entry.key[0]?.span));
      continue;
    }
    const resolved = resolveTarget(entry.key, host, bound, checkDecl);
    if (!resolved) continue;
    targetTypes.set(target, resolved);
    const axis: SweepAxis = { target, kind: entry.key.length === 1 && bound.params.has(target) ? "param" : "setting", span: entry.span };
    const value = entry.value;
    if (value.kind === "Call" && value.callee.length === 1 && ["uniform", "log_uniform", "int_uniform"].includes((value.callee[0] as Ident).name)) {
      const dist = (value.callee[0] as Ident).name as "uniform" | "log_uniform" | "int_uniform";
      if (mode !== "random") {
        host.report(
          diagnostic("invalidValue", { what: "axis", reason: `${dist}(…) draws random values; only a random sweep can use it` }, value.span, {
            help: "list the values, or make the sweep `random { count: N, … }`",
          }),
        );
        continue;
      }
      const args = value.args ?? [];
      const lo = args[0] ? ev.constant(args[0]) : undefined;
      const hi = args[1] ? ev.constant(args[1]) : undefined;
      if (args.length !== 2 || lo === undefined || hi === undefined || lo > hi || (dist === "log_uniform" && lo <= 0)) {
        host.report(
          diagnostic(
            "invalidValue",
            { what: `${dist}(…)`, reason: dist === "log_uniform" ? "needs two numbers 0 < low ≤ high" : "needs two numbers low ≤ high" },
            value.span,
          ),
        );
        continue;
      }
      // Both ends must be acceptable values of the target.
      if (resolved.check(dist === "int_uniform" ? { k: "int", v: Math.ceil(lo) } : { k: "float", v: lo }, value.span) === undefined) continue;
      if (resolved.check(dist === "int_uniform" ? { k: "int", v: Math.floor(hi) } : { k: "float", v: hi }, value.span) === undefined) continue;
      axis.dist = { k: "dist", dist, lo, hi };
    } else {
      const items = axisItems(value, ev, host);
      if (!items) continue;
      const values: Value[] = [];
      let ok = true;
      for (const item of items) {
        const v = resolved.check(item.kind === "Value" ? item.value : ev.value(item.expr, resolved.type, target), item.span);
        if (v === undefined) ok = false;
        else values.push(v);
      }
      if (!ok) continue;
      if (values.length === 0) {
        host.report(diagnostic("emptyList", { what: `axis ${target}` }, value.span));
        continue;
      }
      axis.values = values;
    }
    sweep.axes.push(axis);
  }

  if (mode === "zip") {
    const lengths = sweep.axes.map((a) => a.values?.length ?? 0);
    if (new Set(lengths).size > 1)
      host.report(diagnostic("zipLengthMismatch", { lengths: sweep.axes.map((a) => `${a.target}: ${a.values?.length ?? 0}`).join(", ") }, over.span));
  }
  if (mode === "grid") {
    const size = sweep.axes.reduce((n, a) => n * (a.values?.length ?? 1), 1);
    if (size > MAX_TRIALS) host.report(diagnostic("sweepTooLarge", { size: String(size), limit: String(MAX_TRIALS) }, decl.name.span));
  }

  const exclude = entries.get("exclude");
  if (exclude) {
    if (exclude.kind !== "List")
      host.report(diagnostic("typeMismatch", { expected: "a list of blocks [{ target: value }]", found: "another value" }, exclude.span));
    else {
      for (const item of exclude.items) {
        if (item.kind !== "Block") {
          host.report(diagnostic("typeMismatch", { expected: "a block { target: value }", found: "another value" }, item.span));
          continue;
        }
        const rule = new Map<string, string>();
        for (const entry of item.entries) {
          const target = entry.key.map((k) => k.name).join(".");
          const t = targetTypes.get(target);
          if (!t || !sweep.axes.some((a) => a.target === target)) {
            const help = didYouMean(
              target,
              sweep.axes.map((a) => a.target),
            );
            host.report(diagnostic("sweepTargetNotFound", { target }, entry.key[0]?.span, { help: help ?? "an exclusion names axes of this sweep" }));
            continue;
          }
          const v = t.check(ev.value(entry.value, t.type, target), entry.value.span);
          if (v !== undefined) rule.set(target, valueText(v));
        }
        if (rule.size > 0) sweep.exclude.push(rule);
      }
    }
  }
  return sweep;
}

type AxisItem = { kind: "Value"; value: Value; span: Span } | { kind: "Expr"; expr: Expression; span: Span };

/** Values of an axis: a list, or an integer range `1..4` meaning 1, 2, 3, 4. */
function axisItems(e: Expression, ev: Evaluator, host: EvalHost): AxisItem[] | undefined {
  if (e.kind === "List") return e.items.map((expr) => ({ kind: "Expr", expr, span: expr.span }));
  if (e.kind === "Range") {
    const lo = ev.constant(e.lo);
    const hi = ev.constant(e.hi);
    if (lo !== undefined && hi !== undefined && Number.isInteger(lo) && Number.isInteger(hi) && lo <= hi && hi - lo <= 10_000) {
      return Array.from({ length: hi - lo + 1 }, (_, i) => ({ kind: "Value", value: { k: "int", v: lo + i }, span: e.span }));
    }
    host.report(diagnostic("invalidValue", { what: "axis range", reason: "an axis range needs integer ends low ≤ high" }, e.span));
    return undefined;
  }
  host.report(
    diagnostic("typeMismatch", { expected: "a list of values, an integer range, or a distribution", found: "another value" }, e.span, {
      help: "write the values as a list: [0.05, 0.1, 0.2]",
    }),
  );
  return undefined;
}

/** The type a sweep target accepts, and a checker for its values. */
function resolveTarget(
  key: Ident[],
  host: EvalHost,
  bound: Bound,
  checkDecl: (q: string) => CheckedDecl | undefined,
): { type: Type; check: (v: Value | undefined, span: Span) => Value | undefined } | undefined {
  const target = key.map((k) => k.name).join(".");
  const head = key[0] as Ident;
  if (key.length === 1) {
    const sym = bound.params.get(head.name);
    if (!sym) {
      const help = didYouMean(head.name, bound.params.keys());
      host.report(
        diagnostic("sweepTargetNotFound", { target }, head.span, { help: help ?? "an axis is a param (`beta`) or a nested setting (`dpo.objective.beta`)" }),
      );
      return undefined;
    }
    const t = paramType(sym.node, host.report);
    if (!t) return undefined;
    const p = { name: head.name, type: t.type, ...(t.allowed ? { allowed: t.allowed } : {}) };
    return { type: t.type, check: (v, span) => checkValueAgainstParam(p, v, span, host.report) };
  }
  // A setting path: find the declaration (possibly behind namespaces), then walk its constructor's schema.
  const decl = bound.decls.find((d) =>
    key.some(
      (_, i) =>
        d.qualified ===
        key
          .slice(0, i + 1)
          .map((k) => k.name)
          .join("."),
    ),
  );
  const declLength = decl ? decl.qualified.split(".").length : 0;
  const checked = decl ? checkDecl(decl.qualified) : undefined;
  if (!decl || !checked?.call) {
    const help = didYouMean(target, [...bound.params.keys(), ...bound.decls.map((d) => d.qualified)]);
    host.report(diagnostic("sweepTargetNotFound", { target }, head.span, help ? { help } : {}));
    return undefined;
  }
  let fields: Fields = checked.call.ctor.fields;
  let value: Value | undefined = { k: "record", fields: checked.call.settings };
  for (let i = declLength; i < key.length; i++) {
    const k = key[i] as Ident;
    const field = fields[k.name];
    if (!field) {
      const help = didYouMean(k.name, Object.keys(fields));
      host.report(diagnostic("sweepTargetNotFound", { target }, k.span, help ? { help } : { help: `settings here: ${Object.keys(fields).join(", ")}` }));
      return undefined;
    }
    const inner: Value | undefined = value?.k === "record" ? value.fields[k.name] : undefined;
    if (i === key.length - 1) {
      const type = field.type;
      return { type, check: (v) => v };
    }
    if (field.type.t === "record") fields = field.type.fields;
    else if (field.type.t === "ctor") {
      const ctorName = inner?.k === "record" ? inner.ctor : undefined;
      const ctor = ctorName ? findCtor(field.type.family, ctorName) : undefined;
      if (!ctor) {
        host.report(diagnostic("sweepTargetNotFound", { target }, k.span));
        return undefined;
      }
      fields = ctor.fields;
    } else {
      host.report(
        diagnostic("sweepTargetNotFound", { target }, (key[i + 1] as Ident).span, {
          help: `${key
            .slice(0, i + 1)
            .map((x) => x.name)
            .join(".")} has no nested settings`,
        }),
      );
      return undefined;
    }
    value = inner;
  }
  return undefined;
}
