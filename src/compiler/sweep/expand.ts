// Lazy sweep expansion: trial k of a grid is computed from k by mixed-radix digits, a random trial from a
// counter-based generator seeded with (seed, k), so listing or picking trials never builds them all.

import { contentHash } from "../../util/content-hash.ts";
import { mulberry32 } from "../../util/random.ts";
import type { CheckedParam } from "../checker/params.ts";
import type { CheckedSweep } from "../checker/sweeps.ts";
import { type Value, valueJson, valueText } from "../values/types.ts";

export interface TrialAssignment {
  target: string;
  kind: "param" | "setting";
  value: Value;
}

export interface Trial {
  /** Position among the sweep's trials after exclusions, from 0. */
  ordinal: number;
  /** Stable id from the resolved content: every param's value and every setting override. */
  id: string;
  assignments: TrialAssignment[];
}

/** Number of combinations before exclusions. */
export function combinationCount(sweep: CheckedSweep): number {
  if (sweep.mode === "random") return sweep.count ?? 0;
  if (sweep.axes.length === 0) return 0;
  if (sweep.mode === "zip") return Math.min(...sweep.axes.map((a) => a.values?.length ?? 0));
  return sweep.axes.reduce((n, a) => n * (a.values?.length ?? 0), 1);
}

function combination(sweep: CheckedSweep, k: number): TrialAssignment[] {
  if (sweep.mode === "zip") return sweep.axes.map((a) => ({ target: a.target, kind: a.kind, value: a.values?.[k] as Value }));
  if (sweep.mode === "grid") {
    const out: TrialAssignment[] = [];
    let rest = k;
    for (let i = sweep.axes.length - 1; i >= 0; i--) {
      const a = sweep.axes[i];
      const n = a?.values?.length ?? 1;
      out[i] = { target: a?.target ?? "", kind: a?.kind ?? "param", value: a?.values?.[rest % n] as Value };
      rest = Math.floor(rest / n);
    }
    return out;
  }
  const rng = mulberry32(seedFor(sweep.seed, k));
  return sweep.axes.map((a) => {
    const u = rng();
    if (a.values) return { target: a.target, kind: a.kind, value: a.values[Math.floor(u * a.values.length)] as Value };
    const d = a.dist;
    let value: Value = { k: "float", v: 0 };
    if (d?.dist === "uniform") value = { k: "float", v: round6(d.lo + u * (d.hi - d.lo)) };
    else if (d?.dist === "log_uniform") value = { k: "float", v: round6(Math.exp(Math.log(d.lo) + u * (Math.log(d.hi) - Math.log(d.lo)))) };
    else if (d?.dist === "int_uniform") value = { k: "int", v: Math.ceil(d.lo) + Math.floor(u * (Math.floor(d.hi) - Math.ceil(d.lo) + 1)) };
    return { target: a.target, kind: a.kind, value };
  });
}

function excluded(sweep: CheckedSweep, assignments: TrialAssignment[]): boolean {
  return sweep.exclude.some((rule) => [...rule].every(([target, text]) => assignments.some((a) => a.target === target && valueText(a.value) === text)));
}

export function trialId(params: ReadonlyMap<string, CheckedParam>, assignments: TrialAssignment[]): string {
  const resolved: Record<string, unknown> = {};
  for (const [name, p] of params) resolved[name] = valueJson(p.value);
  const overrides: Record<string, unknown> = {};
  for (const a of assignments) {
    if (a.kind === "param") resolved[a.target] = valueJson(a.value);
    else overrides[a.target] = valueJson(a.value);
  }
  return `t${contentHash({ params: resolved, overrides }).slice(0, 10)}`;
}

/** Whether any combination survives the exclusions (stops at the first that does). */
export function hasTrials(sweep: CheckedSweep): boolean {
  const total = combinationCount(sweep);
  for (let k = 0; k < total; k++) if (!excluded(sweep, combination(sweep, k))) return true;
  return false;
}

/** The trials in order, computed one at a time. */
export function* trials(sweep: CheckedSweep, params: ReadonlyMap<string, CheckedParam>): Generator<Trial> {
  const total = combinationCount(sweep);
  let ordinal = 0;
  for (let k = 0; k < total; k++) {
    const assignments = combination(sweep, k);
    if (excluded(sweep, assignments)) continue;
    yield { ordinal: ordinal++, id: trialId(params, assignments), assignments };
  }
}

/** A trial by ordinal ("3") or id ("t1a2b3c4d5"). */
export function findTrial(sweep: CheckedSweep, params: ReadonlyMap<string, CheckedParam>, key: string): Trial | undefined {
  const byOrdinal = /^\d+$/.test(key) ? Number(key) : undefined;
  if (byOrdinal !== undefined && sweep.exclude.length === 0) {
    if (byOrdinal >= combinationCount(sweep)) return undefined;
    const assignments = combination(sweep, byOrdinal);
    return { ordinal: byOrdinal, id: trialId(params, assignments), assignments };
  }
  for (const t of trials(sweep, params)) if (t.ordinal === byOrdinal || t.id === key) return t;
  return undefined;
}

function round6(x: number): number {
  return Number(x.toPrecision(6));
}

function seedFor(seed: number, k: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (k + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
