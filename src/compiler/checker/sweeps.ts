// Sweep declarations: each axis names a param or a nested setting of a declaration, and every value on the
// axis is checked once against that target's type (not once per trial). Expansion into trials is lazy and
// lives in src/compiler/sweep/.

import { diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../diagnostics/messages.ts";
import type { Block, Declaration, Expression, Ident } from "../ast/ast.ts";
import type { DeclSymbol } from "../binder/scope.ts";
import { suggest } from "../values/suggest.ts";
import { type Value, valueJson, valueText } from "../values/types.ts";
import { findCtor } from "./catalog/index.ts";
import { slurmFields } from "./catalog/training.ts";
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

export function checkSweep(sym: DeclSymbol, decl: Declaration, ev: Evaluator, host: EvalHost, ctx: SweepContext): CheckedSweep | undefined {
  const e = decl.value;
  const callee = e.kind === "Call" ? e.callee : e.kind === "Ref" ? e.path : [];
  const modeName = callee.length === 1 ? (callee[0] as Ident).name : "";
  if (!findCtor("sweep", modeName)) {
    const extras = suggest(modeName, ["grid", "zip", "random"], callee[0]?.span) ?? { help: helpTexts.sweepForms() };
    host.report(diagnostic("unknownConstructor", { name: modeName || "?", category: "sweep" }, callee[0]?.span ?? e.span, extras));
    return undefined;
  }
  const mode = modeName as CheckedSweep["mode"];
  const block: Block = e.kind === "Call" && e.block ? e.block : { kind: "Block", entries: [], span: e.span };
  const known = mode === "random" ? ["over", "exclude", "count", "seed", "slurm"] : ["over", "exclude", "slurm"];
  const entries = new Map<string, Expression>();
  for (const entry of block.entries) {
    const key = entry.key.map((k) => k.name).join(".");
    if (!known.includes(key)) {
      const at = entry.key.length === 1 ? entry.key[0]?.span : undefined;
      host.report(
        diagnostic(
          "unknownKey",
          { key, construct: `a ${mode} sweep` },
          entry.key[0]?.span ?? entry.span,
          suggest(key, known, at) ?? { help: helpTexts.sweepSettings(known.join(", ")) },
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
  const slurmExpr = entries.get("slurm");
  if (slurmExpr) {
    const v = ev.value(slurmExpr, { t: "record", name: "slurm", fields: slurmFields }, "slurm");
    if (v) sweep.slurm = valueJson(v) as Record<string, unknown>;
  }
  const countExpr = entries.get("count");
  const seedExpr = entries.get("seed");
  if (mode === "random") {
    if (!countExpr) host.report(diagnostic("missingKey", { key: "count", construct: "a random sweep" }, callee[0]?.span ?? e.span));
    const c = countExpr ? ev.value(countExpr, { t: "int", min: 1, max: MAX_TRIALS }, "count") : undefined;
    if (c?.k === "int") sweep.count = c.v;
    const s = seedExpr ? ev.value(seedExpr, { t: "int", min: 0 }, "seed") : undefined;
    if (s?.k === "int") sweep.seed = s.v;
  }

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
    const value = entry.value;
    const distName = value.kind === "Call" && value.callee.length === 1 ? (value.callee[0] as Ident).name : "";
    if (value.kind === "Call" && (DISTRIBUTIONS as readonly string[]).includes(distName)) {
      const dist = distName as Distribution;
      if (mode !== "random") {
        host.report(
          diagnostic("invalidValue", { what: "axis", reason: `${dist}(…) draws random values; only a random sweep can use it` }, value.span, {
            help: helpTexts.sweepRandomOnly(),
          }),
        );
        continue;
      }
      const d = checkDistribution(value, dist, resolved, target, ev, host);
      if (!d) continue;
      axis.dist = d;
    } else {
      const values = axisValues(value, target, resolved, ev, host);
      if (!values) continue;
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
          const t = targets.get(target);
          if (!t || !sweep.axes.some((a) => a.target === target)) {
            const at = entry.key.length === 1 ? entry.key[0]?.span : undefined;
            const extras = suggest(
              target,
              sweep.axes.map((a) => a.target),
              at,
            );
            host.report(diagnostic("sweepTargetNotFound", { target }, entry.key[0]?.span, extras ?? { help: helpTexts.sweepExclusionAxes() }));
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
