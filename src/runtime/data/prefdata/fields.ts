// The numeric fields of a record that `filter { where: … }` conditions use (their names per kind are
// RECORD_FIELDS of the checker's catalog, checked at compile time), and the evaluation of a condition. A field that does not apply to a record (the similarity of a corrupted pair) is NaN,
// and every comparison with NaN is false, so such records are not kept. The expression walker (evaluateWith) also
// evaluates score expressions (score.ts), with its own rules for names, operators and division.

import type { WorldItem } from "../../world/format.ts";
import { words } from "../../world/mentions.ts";
import type { DatasetKind, DatasetRecord, PairRecord, RatedRecord, SampleRecord } from "./records.ts";

export { RECORD_FIELDS } from "../../../graph/vocabulary.ts";

/** An expression tree as the compiler writes it in params (docs/execution-graph.md). */
export type ExprTree =
  | { op: "num"; value: number }
  | { op: "name"; name: string }
  | { op: "neg" | "not"; arg: ExprTree }
  | { op: string; left: ExprTree; right: ExprTree };

const count = (text: string) => words(text).length;

function itemFields(item: WorldItem): Record<string, number> {
  return { prompt_words: count(item.prompt), has_image: item.image ? 1 : 0 };
}

function responseFields(r: SampleRecord): Record<string, number> {
  const lengths = r.responses.map((x) => count(x.text));
  return {
    responses: r.responses.length,
    mean_words: lengths.length ? lengths.reduce((a, b) => a + b, 0) / lengths.length : Number.NaN,
    min_words: lengths.length ? Math.min(...lengths) : Number.NaN,
    max_words: lengths.length ? Math.max(...lengths) : Number.NaN,
  };
}

function pairFields(p: PairRecord): Record<string, number> {
  const s = p.source;
  const rated = s.kind === "rated";
  const bdhs = s.kind === "bdhs";
  return {
    chosen_words: count(p.chosen),
    rejected_words: count(p.rejected),
    margin: rated ? (s.scores[s.chosen] as number) - (s.scores[s.rejected] as number) : Number.NaN,
    chosen_score: rated ? (s.scores[s.chosen] as number) : Number.NaN,
    rejected_score: rated ? (s.scores[s.rejected] as number) : Number.NaN,
    similarity: bdhs ? s.similarity : Number.NaN,
    tries: bdhs ? s.tries.length : Number.NaN,
    accepted: bdhs ? (s.accepted === null ? 0 : 1) : Number.NaN,
    flipped: p.flipped ? 1 : 0,
  };
}

/** Every field of a record of `kind` by name. */
export function recordFields(kind: DatasetKind, record: DatasetRecord): Record<string, number> {
  switch (kind) {
    case "prompts": {
      const item = record as WorldItem;
      return { ...itemFields(item), answer_words: count(item.answer) };
    }
    case "samples":
      return { ...itemFields((record as SampleRecord).item), ...responseFields(record as SampleRecord) };
    case "rated": {
      const r = record as RatedRecord;
      const aspects: Record<string, number> = {};
      for (const name of Object.keys(r.scores[0] ?? {})) aspects[name] = r.scores.reduce((sum, s) => sum + (s[name] ?? Number.NaN), 0) / r.scores.length;
      return { ...itemFields(r.item), ...responseFields(r), ...aspects };
    }
    case "pairs":
      return { ...itemFields((record as PairRecord).item), ...pairFields(record as PairRecord) };
  }
}

/** The value of an expression over named fields; comparisons and logic give 1 or 0. */
export function evaluate(tree: ExprTree, fields: Readonly<Record<string, number>>): number {
  return evaluateWith(tree, {
    lookup(name) {
      const v = fields[name];
      if (v === undefined) throw new Error(`no field '${name}' (fields: ${Object.keys(fields).join(", ")})`);
      return v;
    },
  });
}

/** How `evaluateWith` reads names, and what a language of expressions (filter predicates, scores) leaves out. */
export interface EvalRules {
  /** The value of a name; throws for a name that has none. */
  lookup(name: string): number;
  /** Throws for an op the language lacks; asked for every node (num and name too) before its operands are evaluated. Without it every op is allowed. */
  operator?(op: string): void;
  /** Throws for a divisor the language refuses; without it x / 0 is ±Infinity or NaN. */
  divisor?(d: number): void;
}

/** The one walker over expression trees: the value of `tree` under `rules`; comparisons and logic give 1 or 0. */
export function evaluateWith(tree: ExprTree, rules: EvalRules): number {
  rules.operator?.(tree.op);
  const walk = (t: ExprTree) => evaluateWith(t, rules);
  switch (tree.op) {
    case "num":
      return (tree as { value: number }).value;
    case "name":
      return rules.lookup((tree as { name: string }).name);
    case "neg":
      return -walk((tree as { arg: ExprTree }).arg);
    case "not":
      return walk((tree as { arg: ExprTree }).arg) ? 0 : 1;
  }
  const { left, right } = tree as { left: ExprTree; right: ExprTree };
  const a = walk(left);
  // and/or short-circuit like the words suggest; NaN counts as false.
  if (tree.op === "and") return truthy(a) && truthy(walk(right)) ? 1 : 0;
  if (tree.op === "or") return truthy(a) || truthy(walk(right)) ? 1 : 0;
  const b = walk(right);
  switch (tree.op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      rules.divisor?.(b);
      return a / b;
    case "<":
      return a < b ? 1 : 0;
    case "<=":
      return a <= b ? 1 : 0;
    case ">":
      return a > b ? 1 : 0;
    case ">=":
      return a >= b ? 1 : 0;
    case "==":
      return a === b ? 1 : 0;
    case "!=":
      return a !== b && !Number.isNaN(a) && !Number.isNaN(b) ? 1 : 0;
  }
  throw new Error(`unknown operator '${tree.op}' in an expression`);
}

export const truthy = (v: number): boolean => v !== 0 && !Number.isNaN(v);
