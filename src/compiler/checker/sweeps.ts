// Sweep declarations: each axis names a param or a nested setting of a declaration, and every value on the
// axis is checked once against that target's type (not once per trial). Expansion into trials is lazy and
// lives in src/compiler/sweep/.

import { diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../diagnostics/messages.ts";
import type { Block, Call, Declaration, Expression, Ident } from "../ast/ast.ts";
import type { DeclSymbol } from "../binder/scope.ts";
import { suggest } from "../values/suggest.ts";
import { type Value, valueJson, valueText } from "../values/types.ts";
import { type Ctor, ctorsOf, findCtor } from "./catalog/index.ts";
import type { EvalHost, Evaluator } from "./evaluate.ts";
import { checkDistribution, DISTRIBUTIONS, type Distribution, resolveTarget, type SweepContext, type SweepTarget } from "./sweep-targets.ts";

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
  /** The `slurm { … }` settings as plain values (partition, time, gpus_per_task, cpus_per_task, sbatch). */
  slurm?: Record<string, unknown>;
  span: Span;
}

const MAX_TRIALS = 1_000_000;

/** Settings of a sweep checked here rather than by their schema: an axis's values are checked against its target. */
const AXIS_SETTINGS = ["over", "exclude"];

/**
 * A sweep declaration: its settings are checked against the sweep constructor's schema in the catalog (count, seed,
 * slurm; unknown and missing keys), its axes and exclusions against their targets.
 */
export function checkSweep(sym: DeclSymbol, decl: Declaration, ev: Evaluator, host: EvalHost, ctx: SweepContext): CheckedSweep | undefined {
  const found = sweepConstructor(decl, host);
  if (!found) return undefined;
  const { ctor, call } = found;
  const mode = ctor.name as CheckedSweep["mode"];
  ev.args(ctor, call);
  const block: Block = call.block ?? { kind: "Block", entries: [], span: call.span };
  const written = ev.fields(ctor.fields, block, `a ${mode} sweep`, sym.qualified, {
    missingAt: call.callee[0]?.span ?? call.span,
    ctor,
    deferred: AXIS_SETTINGS,
    unknownKeyHelp: helpTexts.sweepSettings,
  });
  // A missing `over` was reported with the other settings.
  const over = written.deferred.over;
  if (over === undefined) return undefined;
  if (over.kind !== "Block") {
    host.report(diagnostic("typeMismatch", { expected: "a block of axes { target: [values] }", found: "another value" }, over.span));
    return undefined;
  }
  const sweep: CheckedSweep = { name: sym.qualified, mode, axes: [], seed: 0, exclude: [], span: decl.name.span };
  const { slurm, count, seed } = written.settings;
  if (slurm) sweep.slurm = valueJson(slurm) as Record<string, unknown>;
  if (count?.k === "int") sweep.count = count.v;
  if (seed?.k === "int") sweep.seed = seed.v;
  const targets = checkAxes(over, sweep, ev, host, ctx);
  checkTrialCount(sweep, over.span, host);
  const exclude = written.deferred.exclude;
  if (exclude) sweep.exclude = checkExclusions(exclude, targets, sweep.axes, ev, host);
  return sweep;
}

/** The sweep constructor a declaration calls (`grid { … }`, or just `grid`), reported when it is none. */
function sweepConstructor(decl: Declaration, host: EvalHost): { ctor: Ctor; call: Call } | undefined {
  const e = decl.value;
  const callee = e.kind === "Call" ? e.callee : e.kind === "Ref" ? e.path : [];
  const name = callee.length === 1 ? (callee[0] as Ident).name : "";
  const ctor = findCtor("sweep", name);
  if (!ctor) {
    const extras = suggest(name, ctorsOf("sweep").keys(), callee[0]?.span) ?? { help: helpTexts.sweepForms() };
    host.report(diagnostic("unknownConstructor", { name: name || "?", category: "sweep" }, callee[0]?.span ?? e.span, extras));
    return undefined;
  }
  return { ctor, call: e.kind === "Call" ? e : { kind: "Call", callee, span: e.span } };
}

/** The axes of `over`, each target resolved and its values checked; returns the targets by name, for exclusions. */
function checkAxes(over: Block, sweep: CheckedSweep, ev: Evaluator, host: EvalHost, ctx: SweepContext): Map<string, SweepTarget> {
  const targets = new Map<string, SweepTarget>();
  for (const entry of over.entries) {
    const target = entry.key.map((k) => k.name).join(".");
    if (targets.has(target)) {
      host.report(diagnostic("duplicateKey", { key: target }, entry.key[0]?.span));
      continue;
    }
    const resolved = resolveTarget(entry.key, host, ev, ctx);
    if (!resolved) continue;
    targets.set(target, resolved);
    const axis: SweepAxis = { target, kind: entry.key.length === 1 && ctx.paramTypes.has(target) ? "param" : "setting", span: entry.span };
    if (fillAxisValues(axis, entry.value, sweep.mode, resolved, ev, host)) sweep.axes.push(axis);
  }
  return targets;
}

/** Fills the axis's values (a list or range) or distribution (random sweeps only); false after reporting. */
function fillAxisValues(axis: SweepAxis, value: Expression, mode: CheckedSweep["mode"], resolved: SweepTarget, ev: Evaluator, host: EvalHost): boolean {
  const distName = value.kind === "Call" && value.callee.length === 1 ? (value.callee[0] as Ident).name : "";
  if (value.kind === "Call" && (DISTRIBUTIONS as readonly string[]).includes(distName)) {
    const dist = distName as Distribution;
    if (mode !== "random") {
      const reason = `${dist}(…) draws random values; only a random sweep can use it`;
      host.report(diagnostic("invalidValue", { what: "axis", reason }, value.span, { help: helpTexts.sweepRandomOnly() }));
      return false;
    }
    const d = checkDistribution(value, dist, resolved, axis.target, ev, host);
    if (d) axis.dist = d;
    return d !== undefined;
  }
  const values = axisValues(value, axis.target, resolved, ev, host);
  if (values) axis.values = values;
  return values !== undefined;
}

/** A zip's axes have one length; a grid's combinations stay under MAX_TRIALS (a random sweep's count is bounded by its type). */
function checkTrialCount(sweep: CheckedSweep, overSpan: Span, host: EvalHost): void {
  if (sweep.mode === "zip") {
    const lengths = sweep.axes.map((a) => a.values?.length ?? 0);
    if (new Set(lengths).size > 1)
      host.report(diagnostic("zipLengthMismatch", { lengths: sweep.axes.map((a) => `${a.target}: ${a.values?.length ?? 0}`).join(", ") }, overSpan));
  }
  if (sweep.mode === "grid") {
    const size = sweep.axes.reduce((n, a) => n * (a.values?.length ?? 1), 1);
    if (size > MAX_TRIALS) host.report(diagnostic("sweepTooLarge", { size: String(size), limit: String(MAX_TRIALS) }, sweep.span));
  }
}

/** `exclude: [{ axis: value, … }]`: each rule as axis → value text, every value checked against its axis's target. */
function checkExclusions(
  e: Expression,
  targets: ReadonlyMap<string, SweepTarget>,
  axes: readonly SweepAxis[],
  ev: Evaluator,
  host: EvalHost,
): Map<string, string>[] {
  if (e.kind !== "List") {
    host.report(diagnostic("typeMismatch", { expected: "a list of blocks [{ target: value }]", found: "another value" }, e.span));
    return [];
  }
  const rules: Map<string, string>[] = [];
  for (const item of e.items) {
    if (item.kind !== "Block") {
      host.report(diagnostic("typeMismatch", { expected: "a block { target: value }", found: "another value" }, item.span));
      continue;
    }
    const rule = new Map<string, string>();
    for (const entry of item.entries) {
      const target = entry.key.map((k) => k.name).join(".");
      const t = targets.get(target);
      if (!t || !axes.some((a) => a.target === target)) {
        const at = entry.key.length === 1 ? entry.key[0]?.span : undefined;
        const extras = suggest(
          target,
          axes.map((a) => a.target),
          at,
        );
        host.report(diagnostic("sweepTargetNotFound", { target }, entry.key[0]?.span, extras ?? { help: helpTexts.sweepExclusionAxes() }));
        continue;
      }
      const v = t.check(ev.value(entry.value, t.type, target), entry.value.span);
      if (v !== undefined) rule.set(target, valueText(v));
    }
    if (rule.size > 0) rules.push(rule);
  }
  return rules;
}

/** The values of a list or integer-range axis, each checked against the target; undefined after reporting. */
function axisValues(e: Expression, target: string, resolved: SweepTarget, ev: Evaluator, host: EvalHost): Value[] | undefined {
  const values: Value[] = [];
  if (e.kind === "List") {
    let ok = true;
    for (const item of e.items) {
      const v = resolved.check(ev.value(item, resolved.type, target), item.span);
      if (v === undefined) ok = false;
      else values.push(v);
    }
    if (!ok) return undefined;
  } else if (e.kind === "Range") {
    const lo = ev.constant(e.lo);
    const hi = ev.constant(e.hi);
    if (lo === undefined || hi === undefined || !Number.isInteger(lo) || !Number.isInteger(hi) || lo > hi || hi - lo > 10_000) {
      host.report(diagnostic("invalidValue", { what: "axis range", reason: "an axis range needs integer ends low ≤ high" }, e.span));
      return undefined;
    }
    for (let n = lo; n <= hi; n++) {
      // One error for the range, at its first value outside the target's domain.
      const v = resolved.check({ k: "int", v: n }, e.span);
      if (v === undefined) return undefined;
      values.push(v);
    }
  } else {
    host.report(
      diagnostic("typeMismatch", { expected: "a list of values, an integer range, or a distribution", found: "another value" }, e.span, {
        help: helpTexts.sweepValuesAsList(),
      }),
    );
    return undefined;
  }
  if (values.length === 0) {
    host.report(diagnostic("emptyList", { what: `axis ${target}` }, e.span));
    return undefined;
  }
  return values;
}
