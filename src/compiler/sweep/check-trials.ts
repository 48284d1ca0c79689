// Every trial of a sweep, checked as `alignc run --trial N` checks it: with the trial's param values and setting
// overrides, so that `check` finds what only a trial breaks (a margin of 20 on a 0..12 score, a setting the runtime
// does not run). Up to MAX_CHECKED_TRIALS per sweep (ALN4015 says when a sweep has more).
//
// A trial is checked incrementally: only the declarations it can change are checked again — those that read a param
// whose value the trial changes, those whose settings it overrides, and everything that refers to those — the rest
// are taken from the checked program as they are (check.ts, `reuse`). An error is reported once per place, from the
// first trial that makes it, with a label at the sweep naming that trial (ordinal, id, values) and how many more do.

import { type Diagnostic, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { labelTexts } from "../../diagnostics/messages.ts";
import type { Program } from "../binder/load.ts";
import type { Bound } from "../binder/scope.ts";
import { type CheckedProgram, check, type TrialReuse } from "../checker/check.ts";
import type { CheckedParam } from "../checker/params.ts";
import type { CheckedSweep } from "../checker/sweeps.ts";
import { type Value, valueText } from "../values/types.ts";
import { combinationCount, type Trial, trials } from "./expand.ts";

/** Trials of one sweep that `check` checks; the rest of a larger sweep are checked when they run. */
export const MAX_CHECKED_TRIALS = 10_000;

/** The errors of every sweep's trials (`base`: the program checked without trial values, and without errors). */
export function checkTrials(program: Program, bound: Bound, base: CheckedProgram, set?: string[], limit = MAX_CHECKED_TRIALS): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const sweep of base.sweeps.values()) out.push(...checkSweepTrials(program, bound, base, sweep, set, limit));
  return out;
}

function checkSweepTrials(program: Program, bound: Bound, base: CheckedProgram, sweep: CheckedSweep, set: string[] | undefined, limit: number): Diagnostic[] {
  const reuse = reuseFor(base, sweep);
  const found = new Map<string, { diagnostic: Diagnostic; trial: Trial; others: number }>();
  let checked = 0;
  for (const trial of trials(sweep, base.params)) {
    if (checked === limit) {
      return [
        ...reports(sweep, found),
        diagnostic(
          "sweepPartlyChecked",
          // Counting the trials an exclusion leaves would mean making every one of them.
          { sweep: sweep.name, checked: String(limit), total: `${sweep.exclude.length > 0 ? "up to " : ""}${combinationCount(sweep)}` },
          sweep.span,
        ),
      ];
    }
    checked++;
    const trialParams = new Map<string, Value>();
    const overrides = new Map<string, Value>();
    for (const a of trial.assignments) (a.kind === "param" ? trialParams : overrides).set(a.target, a.value);
    const { diagnostics } = check(program, bound, { ...(set ? { set } : {}), trialParams, overrides, reuse });
    for (const error of diagnostics) {
      if (error.severity !== "error") continue;
      // A value a trial overrides has no place of its own in the declaration: the error points at the sweep's axis.
      const d = error.span ? error : { ...error, span: overrideSpan(sweep, trial) };
      const key = `${d.code}\0${d.span?.file}:${d.span?.start}:${d.span?.end}`;
      const seen = found.get(key);
      if (seen) seen.others++;
      else found.set(key, { diagnostic: d, trial, others: 0 });
    }
  }
  return reports(sweep, found);
}

/** Each error with a label at the sweep's name: the first trial that makes it, and how many more do. */
function reports(sweep: CheckedSweep, found: Map<string, { diagnostic: Diagnostic; trial: Trial; others: number }>): Diagnostic[] {
  return [...found.values()].map(({ diagnostic: d, trial, others }) => {
    const values = trial.assignments.map((a) => `${a.target} = ${valueText(a.value)}`).join(", ");
    const label = { span: sweep.span, message: labelTexts.inTrial(sweep.name, trial.ordinal, trial.id, values, others) };
    return { ...d, labels: [...d.labels, label] };
  });
}

/** The axis of the first setting a trial overrides, else the sweep's name. */
function overrideSpan(sweep: CheckedSweep, trial: Trial): Span {
  return sweep.axes.find((a) => a.kind === "setting" && trial.assignments.some((t) => t.target === a.target))?.span ?? sweep.span;
}

/** What a trial of `sweep` checks again: the declarations a changed param or an override reaches, and their dependants. */
function reuseFor(base: CheckedProgram, sweep: CheckedSweep): TrialReuse {
  const dependants = new Map<string, string[]>();
  const readers = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, k: string, v: string) => {
    const list = m.get(k);
    if (list) list.push(v);
    else m.set(k, [v]);
  };
  for (const d of base.decls.values()) {
    if (d.category === "sweep") continue; // sweeps choose trials; a trial does not change them
    for (const u of d.uses) if (u !== d.qualified) add(dependants, u, d.qualified);
    for (const p of d.params) add(readers, p, d.qualified);
  }
  const targets = sweep.axes.filter((a) => a.kind === "setting").map((a) => a.target);
  const overridden = [...base.decls.values()]
    .filter((d) => d.category !== "sweep" && targets.some((t) => t.startsWith(`${d.qualified}.`)))
    .map((d) => d.qualified);
  return {
    base,
    recheck(params: ReadonlyMap<string, CheckedParam>): ReadonlySet<string> {
      const out = new Set<string>();
      const todo = [...overridden];
      for (const [name, p] of params) {
        const was = base.params.get(name);
        if (!was || valueText(was.value) !== valueText(p.value)) todo.push(...(readers.get(name) ?? []));
      }
      for (const [name] of base.params) if (!params.has(name)) todo.push(...(readers.get(name) ?? []));
      while (todo.length > 0) {
        const q = todo.pop() as string;
        if (out.has(q)) continue;
        out.add(q);
        todo.push(...(dependants.get(q) ?? []));
      }
      return out;
    },
  };
}
