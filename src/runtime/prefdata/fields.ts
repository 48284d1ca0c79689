// The numeric fields of a record that `filter { where: … }` conditions use (their names per kind are
// RECORD_FIELDS of the checker's catalog, checked at compile time), and the evaluation of a condition. A field that does not apply to a record (the similarity of a corrupted pair) is NaN,
// and every comparison with NaN is false, so such records are not kept.

import type { WorldItem } from "../world/format.ts";
import { words } from "../world/mentions.ts";
import type { DatasetKind, DatasetRecord, PairRecord, RatedRecord, SampleRecord } from "./records.ts";

export { RECORD_FIELDS } from "../../compiler/checker/catalog/record-fields.ts";

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
  switch (tree.op) {
    case "num":
      return (tree as { value: number }).value;
    case "name": {
      const name = (tree as { name: string }).name;
      const v = fields[name];
      if (v === undefined) throw new Error(`no field '${name}' (fields: ${Object.keys(fields).join(", ")})`);
      return v;
    }
    case "neg":
      return -evaluate((tree as { arg: ExprTree }).arg, fields);
    case "not":
      return evaluate((tree as { arg: ExprTree }).arg, fields) ? 0 : 1;
  }
  const { left, right } = tree as { left: ExprTree; right: ExprTree };
  const a = evaluate(left, fields);
  // and/or short-circuit like the words suggest; NaN counts as false.
  if (tree.op === "and") return truthy(a) && truthy(evaluate(right, fields)) ? 1 : 0;
  if (tree.op === "or") return truthy(a) || truthy(evaluate(right, fields)) ? 1 : 0;
  const b = evaluate(right, fields);
  switch (tree.op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
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
