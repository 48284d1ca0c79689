// Score and predicate expressions: checked AST → ExprTree, canonical text, and interval arithmetic to bound
// a score expression's spread over a rater's scale (so an unreachable margin is a compile error).

import { type Diagnostic, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import type { Expression } from "../ast/ast.ts";
import { suggest } from "./suggest.ts";
import type { ExprTree, Value } from "./types.ts";

const arithmetic = new Set(["+", "-", "*", "/"]);
const comparisons = new Set(["<", "<=", ">", ">=", "==", "!="]);
const logical = new Set(["and", "or"]);

/**
 * Where each name of a checked expression was first written, so that a later check (an aspect the rater does not
 * score, a field the records lack) underlines the name rather than the whole expression. Kept beside the value,
 * not in it: spans are not part of what a value means (nor of its hash).
 */
const nameSpans = new WeakMap<Value, ReadonlyMap<string, Span>>();

/** Where `name` is first written in the expression `value`, when it was checked from source text. */
export function spanOfName(value: Value, name: string): Span | undefined {
  return nameSpans.get(value)?.get(name);
}

/**
 * Converts an expression. `allowNames` lists the names the expression may use (aspects, record fields);
 * undefined means any name (checked later against the rater). Predicates allow comparisons and logic.
 */
export function toExprTree(expr: Expression, kind: "score" | "predicate", report: (d: Diagnostic) => void, allowNames?: readonly string[]): Value | undefined {
  const names = new Set<string>();
  const spans = new Map<string, Span>();
  let ok = true;
  const walk = (e: Expression): ExprTree => {
    switch (e.kind) {
      case "Number":
        return { op: "num", value: e.value };
      case "Percent":
        return { op: "num", value: e.value / 100 };
      case "Paren":
        return walk(e.expression);
      case "Ref": {
        const name = e.path.map((p) => p.name).join(".");
        if (allowNames && !allowNames.includes(name)) {
          report(diagnostic("unknownField", { field: name, fields: allowNames.join(", ") }, e.span, suggest(name, allowNames, e.span)));
          ok = false;
        }
        names.add(name);
        if (!spans.has(name)) spans.set(name, e.span);
        return { op: "name", name };
      }
      case "Unary":
        if (e.op === "not" && kind !== "predicate") break;
        return { op: e.op === "-" ? "neg" : "not", arg: walk(e.operand) };
      case "Binary":
        if (arithmetic.has(e.op) || (kind === "predicate" && (comparisons.has(e.op) || logical.has(e.op)))) {
          return { op: e.op, left: walk(e.left), right: walk(e.right) };
        }
        break;
      default:
        break;
    }
    report(diagnostic("expressionNotAllowed", { what: describe(e) }, e.span));
    ok = false;
    return { op: "num", value: 0 };
  };
  const tree = walk(expr);
  if (!ok) return undefined;
  const value: Value = { k: "expr", text: exprText(tree), tree, names: [...names].sort() };
  nameSpans.set(value, spans);
  return value;
}

function describe(e: Expression): string {
  switch (e.kind) {
    case "Binary":
      return `operator '${e.op}'`;
    case "Unary":
      return `operator '${e.op}'`;
    case "String":
      return "a string";
    case "Call":
      return "a call";
    case "List":
      return "a list";
    case "Block":
      return "a block";
    case "Interp":
      return "a param (write its value, or use it outside the expression)";
    default:
      return `a ${e.kind.toLowerCase()}`;
  }
}

const precedence: Record<string, number> = { or: 1, and: 2, "<": 4, "<=": 4, ">": 4, ">=": 4, "==": 4, "!=": 4, "+": 5, "-": 5, "*": 6, "/": 6 };

/** Canonical text with the fewest parentheses that keep the meaning. */
export function exprText(t: ExprTree, parent = 0, rightSide = false): string {
  switch (t.op) {
    case "num":
      return String(t.value);
    case "name":
      return t.name;
    case "neg":
      return `-${exprText(t.arg, 7)}`;
    case "not":
      return `not ${exprText(t.arg, 3)}`;
    default: {
      const p = precedence[t.op] ?? 0;
      const s = `${exprText(t.left, p)} ${t.op} ${exprText(t.right, p, true)}`;
      return p < parent || (p === parent && rightSide) ? `(${s})` : s;
    }
  }
}

/** Largest possible difference between two values of a score expression when every name ranges over the scale. */
export function scoreSpread(tree: ExprTree, scale: { lo: number; hi: number }): number {
  const [lo, hi] = bounds(tree, scale);
  return hi - lo;
}

function bounds(t: ExprTree, scale: { lo: number; hi: number }): [number, number] {
  switch (t.op) {
    case "num":
      return [t.value, t.value];
    case "name":
      return [scale.lo, scale.hi];
    case "neg": {
      const [a, b] = bounds(t.arg, scale);
      return [-b, -a];
    }
    case "+":
    case "-":
    case "*":
    case "/": {
      const [a, b] = bounds(t.left, scale);
      const [c, d] = bounds(t.right, scale);
      if (t.op === "+") return [a + c, b + d];
      if (t.op === "-") return [a - d, b - c];
      const right = t.op === "*" ? [c, d] : c <= 0 && d >= 0 ? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY] : [1 / d, 1 / c];
      const products = [a * (right[0] ?? 0), a * (right[1] ?? 0), b * (right[0] ?? 0), b * (right[1] ?? 0)];
      return [Math.min(...products), Math.max(...products)];
    }
    default:
      return [0, 1];
  }
}
