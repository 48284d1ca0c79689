// Single values: numbers (constant-folded, params included), fractions and percentages, durations, strings,
// booleans, symbols and integer ranges, and a param's value placed where a type is expected (`coerce`).

import { type DiagnosticExtras, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../diagnostics/messages.ts";
import type { Expression, Ident } from "../ast/ast.ts";
import { suggest } from "../values/suggest.ts";
import { durationText, inBounds, percentText, rangePhrase, type Type, typeName, type Value, valueText } from "../values/types.ts";
import { bareParam, type EvalReporter, rewrite } from "./eval-reporter.ts";
import type { EvalHost } from "./evaluate.ts";

export class ScalarChecker {
  constructor(
    private readonly host: EvalHost,
    private readonly out: EvalReporter,
  ) {}

  number(e: Expression, type: Type & { t: "int" | "float" }, what: string): Value | undefined {
    if (e.kind === "Percent") return this.out.mismatch(type, e, rewrite(String(e.value / 100), e.span, helpTexts.writeNumber(String(e.value / 100))));
    const n = this.constant(e);
    if (n === undefined) return this.out.mismatch(type, e);
    // Arithmetic on representable literals can still overflow: `1e300 * 1e300`.
    if (!Number.isFinite(n) || (type.t === "int" && Number.isInteger(n) && !Number.isSafeInteger(n)))
      return this.out.fail(diagnostic("invalidValue", { what, reason: "the result is too large to be represented exactly" }, e.span));
    if (type.t === "int" && !Number.isInteger(n))
      return this.out.fail(diagnostic("typeMismatch", { expected: typeName(type), found: `the number ${n}` }, e.span));
    if (!inBounds(n, type)) return this.out.outOfRange(what, String(n), rangePhrase(type), e.span);
    return type.t === "int" ? { k: "int", v: n } : { k: "float", v: n };
  }

  fraction(e: Expression, type: Type & { t: "fraction" }, what: string): Value | undefined {
    if (e.kind === "Percent") return this.checkFraction(e.value / 100, type, what, e.span, e.raw);
    const n = this.constant(e);
    if (n === undefined) return this.out.mismatch(type, e);
    // `bias: 80` means 80%: suggested for a number from 2 to 100 when the percentage would be accepted.
    const unit = { min: 0, max: 1, minOpen: type.minOpen && type.min === undefined, maxOpen: type.maxOpen && type.max === undefined };
    const percent = e.kind === "Number" && n >= 2 && inBounds(n / 100, unit) && inBounds(n / 100, type) ? rewrite(`${e.raw}%`, e.span) : undefined;
    return this.checkFraction(n, type, what, e.span, e.kind === "Number" ? e.raw : String(n), percent);
  }

  duration(e: Expression, type: Type & { t: "duration" }, what: string): Value | undefined {
    // `timeout: 30` means 30 seconds.
    if (e.kind !== "Duration") return this.out.mismatch(type, e, e.kind === "Number" ? rewrite(`${e.raw}s`, e.span) : undefined);
    if (!inBounds(e.seconds, type)) return this.out.outOfRange(what, e.raw, rangePhrase(type, durationText), e.span);
    return { k: "duration", seconds: e.seconds };
  }

  string(e: Expression, type: Type & { t: "string" }, what: string): Value | undefined {
    if (e.kind !== "String") {
      const name = e.kind === "Ref" && e.path.length === 1 ? (e.path[0] as Ident).name : undefined;
      return this.out.mismatch(type, e, name === undefined ? undefined : rewrite(JSON.stringify(name), e.span, helpTexts.writeQuoted(name)));
    }
    return this.checkPattern(this.stringValue(e), type, what, e.span);
  }

  /** A string's text with its `${param}` parts filled in. */
  stringValue(e: Expression & { kind: "String" }): Value & { k: "string" } {
    let text = "";
    for (const part of e.parts) {
      if (part.kind === "text") text += part.text;
      else {
        const v = this.host.paramValue({ kind: "Ident", name: part.name, span: part.span });
        text += v === undefined ? "" : v.k === "string" ? v.v : valueText(v);
      }
    }
    return { k: "string", v: text };
  }

  symbol(e: Expression, type: Type & { t: "enum" | "name" }): Value | undefined {
    if (e.kind !== "Ref" || e.path.length !== 1) {
      if (e.kind === "String" && type.t === "enum" && type.values.includes(e.value))
        return this.out.mismatch(type, e, rewrite(e.value, e.span, helpTexts.writeUnquoted(e.value)));
      return this.out.mismatch(type, e);
    }
    const name = (e.path[0] as Ident).name;
    if (type.t === "name" || type.values.includes(name)) return { k: "symbol", name };
    if (this.host.isParam(name)) return this.out.fail(bareParam(name, e.span));
    return this.out.fail(diagnostic("unknownSymbol", { value: name, allowed: type.values.join(", ") }, e.span, suggest(name, type.values, e.span)));
  }

  range(e: Expression, type: Type & { t: "range" }, what: string): Value | undefined {
    if (e.kind !== "Range") return this.out.mismatch(type, e);
    const lo = this.constant(e.lo);
    const hi = this.constant(e.hi);
    if (lo === undefined || hi === undefined || !Number.isInteger(lo) || !Number.isInteger(hi)) return this.out.mismatch(type, e);
    if (lo > hi) return this.out.fail(diagnostic("badRange", { lo: String(lo), hi: String(hi) }, e.span));
    const bounds = { min: type.min, max: type.max };
    if (!inBounds(lo, bounds) || !inBounds(hi, bounds)) return this.out.outOfRange(what, `${lo}..${hi}`, rangePhrase(bounds), e.span);
    return { k: "range", lo, hi };
  }

  /** Constant folding of numeric expressions, params included: `${rank} * 2`. */
  constant(e: Expression): number | undefined {
    switch (e.kind) {
      case "Number":
        return e.value;
      case "Paren":
        return this.constant(e.expression);
      case "Unary": {
        if (e.op !== "-") return undefined;
        const n = this.constant(e.operand);
        return n === undefined ? undefined : -n;
      }
      case "Interp": {
        const v = this.host.paramValue(e.name);
        return v && (v.k === "int" || v.k === "float" || v.k === "fraction") ? v.v : undefined;
      }
      case "Binary": {
        const a = this.constant(e.left);
        const b = this.constant(e.right);
        return a === undefined || b === undefined ? undefined : arithmetic(e.op, a, b);
      }
      default:
        return undefined;
    }
  }

  /** A param's (or referenced setting's) value placed where `type` is expected. */
  coerce(v: Value, type: Type, what: string, span: Span): Value | undefined {
    switch (type.t) {
      case "int":
        if (v.k === "int") return inBounds(v.v, type) ? v : this.out.outOfRange(what, String(v.v), rangePhrase(type), span);
        break;
      case "float":
        if (v.k === "int" || v.k === "float")
          return inBounds(v.v, type) ? { k: "float", v: v.v } : this.out.outOfRange(what, String(v.v), rangePhrase(type), span);
        break;
      case "fraction":
        if (v.k === "fraction" || v.k === "int" || v.k === "float") return this.checkFraction(v.v, type, what, span, valueText(v));
        break;
      case "duration":
        if (v.k === "duration")
          return inBounds(v.seconds, type) ? v : this.out.outOfRange(what, durationText(v.seconds), rangePhrase(type, durationText), span);
        break;
      case "string":
        if (v.k === "string") return this.checkPattern(v, type, what, span);
        break;
      case "enum":
        if (v.k === "symbol" && type.values.includes(v.name)) return v;
        if (v.k === "symbol") return this.out.fail(diagnostic("unknownSymbol", { value: v.name, allowed: type.values.join(", ") }, span));
        break;
      case "union":
        for (const alt of type.of) {
          const r = this.out.quietly(() => this.coerce(v, alt, what, span));
          if (r) return r;
        }
        break;
      default:
        if (sameKind(v, type)) return v;
    }
    return this.out.fail(diagnostic("typeMismatch", { expected: typeName(type), found: `${valueText(v)}` }, span));
  }

  /** A fraction is in [0, 1] (ends open as the type says); a percent param's domain may narrow it further. */
  private checkFraction(n: number, type: Type & { t: "fraction" }, what: string, span: Span, shown: string, extras?: DiagnosticExtras): Value | undefined {
    const unit = { min: 0, max: 1, minOpen: type.minOpen && type.min === undefined, maxOpen: type.maxOpen && type.max === undefined };
    // Bounds read as percentages when the value was written as one.
    const show = shown.endsWith("%") ? percentText : String;
    if (!inBounds(n, unit)) return this.out.outOfRange(what, shown, rangePhrase(unit, show), span, extras);
    if (!inBounds(n, type)) return this.out.outOfRange(what, shown, rangePhrase(type, show), span, extras);
    return { k: "fraction", v: n };
  }

  private checkPattern(v: Value & { k: "string" }, type: Type & { t: "string" }, what: string, span: Span): Value | undefined {
    if (type.pattern && !type.pattern.test(v.v))
      return this.out.fail(diagnostic("invalidSettingValue", { what, value: JSON.stringify(v.v), expected: type.patternHelp ?? type.pattern.source }, span));
    return v;
  }
}

function arithmetic(op: string, a: number, b: number): number | undefined {
  switch (op) {
    case "+":
      return a + b;
    case "-":
      return a - b;
    case "*":
      return a * b;
    case "/":
      return b === 0 ? undefined : a / b;
    default:
      return undefined;
  }
}

function sameKind(v: Value, type: Type): boolean {
  const map: Partial<Record<Type["t"], Value["k"][]>> = {
    bool: ["bool"],
    duration: ["duration"],
    name: ["symbol"],
    range: ["range"],
    list: ["list"],
    record: ["record"],
    map: ["record"],
    ctor: ["record"],
    ref: ["ref"],
    score: ["expr"],
    predicate: ["expr"],
  };
  return map[type.t]?.includes(v.k) ?? false;
}
