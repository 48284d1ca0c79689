// A param's declared type and domain (`param beta: float in (0, 1]`) as a checker Type, plus the set of
// allowed values when the domain is a set. The domain is checked against the type: bounds in the type's
// unit (durations with units, percentages or fractions for percent), sets of strings for strings, and no
// domain at all for bools and unions of symbols (a union is its own domain).

import { type Diagnostic, diagnostic } from "../../diagnostics/diagnostic.ts";
import { helpTexts, type TableText } from "../../diagnostics/messages.ts";
import { type NumericLiteral, type ParamDeclaration, type ParamDomain, pathText } from "../ast/ast.ts";
import { domainText } from "../ast/domain.ts";
import { suggest } from "../values/suggest.ts";
import type { NumberBounds, Type, Value } from "../values/types.ts";
import { describeExpression } from "./evaluate.ts";

export interface ParamType {
  type: Type;
  /** Allowed values when the domain is a set: {8, 16, 32}. */
  allowed?: Value[];
  /** The domain as written, for messages: `{8, 16, 32}`, `0s..10m`. */
  domainText?: string;
}

const BASE_TYPES = ["int", "float", "string", "bool", "duration", "percent"] as const;
type BaseType = (typeof BASE_TYPES)[number];
/** Names from other languages that people write for a base type. */
const ALIASES: Record<string, BaseType> = {
  boolean: "bool",
  integer: "int",
  number: "float",
  double: "float",
  str: "string",
  percentage: "percent",
};

export function paramType(node: ParamDeclaration, report: (d: Diagnostic) => void): ParamType | undefined {
  const names = node.type.map((t) => t.name);
  const domain = node.domain;
  if (names.length > 1) {
    if (domain) noDomain("union", domain, helpTexts.unionNoDomain(), report);
    return { type: { t: "enum", values: names } };
  }
  const base = names[0] ?? "";
  if (!(BASE_TYPES as readonly string[]).includes(base)) {
    const alias = ALIASES[base.toLowerCase()];
    const at = node.type[0]?.span;
    const extras = alias ? suggest(alias, [alias], at) : suggest(base, BASE_TYPES, at);
    report(diagnostic("unknownParamType", { name: base }, at ?? node.span, extras ?? { help: helpTexts.unionOfSymbols() }));
    return undefined;
  }
  const t = base as BaseType;
  if (t === "bool") {
    if (domain) noDomain("bool", domain, helpTexts.boolNoDomain(), report);
    return { type: { t: "bool" } };
  }
  if (!domain) return { type: baseType(t, {}) };
  const text = domainText(domain);
  if (domain.kind === "ValueSet") {
    const allowed: Value[] = [];
    for (const item of domain.items) {
      const v = itemValue(t, item, report);
      if (v) allowed.push(v);
    }
    return { type: baseType(t, {}), allowed, domainText: text };
  }
  if (t === "string") {
    noDomain("string", domain, helpTexts.stringSetDomain(), report);
    return { type: { t: "string" } };
  }
  const lo = boundValue(t, domain.lo, report);
  const hi = boundValue(t, domain.hi, report);
  if (lo === undefined || hi === undefined) return { type: baseType(t, {}) };
  if (lo > hi) {
    report(diagnostic("badRange", { lo: domain.lo.raw, hi: domain.hi.raw }, domain.span));
    return { type: baseType(t, {}) };
  }
  const open = domain.kind === "Interval" ? { minOpen: domain.loOpen, maxOpen: domain.hiOpen } : {};
  return { type: baseType(t, { min: lo, max: hi, ...open, text }), domainText: text };
}

function baseType(t: Exclude<BaseType, "bool">, bounds: NumberBounds): Type {
  switch (t) {
    case "int":
      return { t: "int", ...bounds };
    case "float":
      return { t: "float", ...bounds };
    case "percent":
      return { t: "fraction", ...bounds };
    case "duration":
      return { t: "duration", ...bounds };
    case "string":
      return { t: "string" };
  }
}

function noDomain(type: string, domain: ParamDomain, help: TableText, report: (d: Diagnostic) => void): void {
  report(diagnostic("paramDomainNotAllowed", { type, domain: domainText(domain) }, domain.span, { help }));
}

/** A bound's value in the param's unit (seconds, a fraction), or undefined after reporting a wrong unit. */
function boundValue(t: Exclude<BaseType, "bool">, lit: NumericLiteral, report: (d: Diagnostic) => void): number | undefined {
  const expected = ITEM_TEXT[t];
  const ok = t === "duration" ? lit.kind === "Duration" : t === "percent" ? lit.kind !== "Duration" : lit.kind === "Number";
  if (!ok) {
    // `in 10..60` for a duration means seconds.
    const seconds = `${lit.raw}s`;
    const extras = t === "duration" && lit.kind === "Number" ? { help: helpTexts.didYouMeanValue(seconds), fix: { span: lit.span, replacement: seconds } } : {};
    report(diagnostic("typeMismatch", { expected, found: describeExpression(lit) }, lit.span, extras));
    return undefined;
  }
  if (lit.kind === "Duration") return lit.seconds;
  if (lit.kind === "Percent") return lit.value / 100;
  return lit.value;
}

type DomainItem = Extract<ParamDomain, { kind: "ValueSet" }>["items"][number];
const ITEM_TEXT: Record<Exclude<BaseType, "bool">, string> = {
  int: "an integer",
  float: "a number",
  percent: "a percentage or a fraction",
  duration: "a duration",
  string: "a string",
};

function itemValue(t: Exclude<BaseType, "bool">, item: DomainItem, report: (d: Diagnostic) => void): Value | undefined {
  if (t === "string" || item.kind === "String" || item.kind === "Bool" || item.kind === "Ref") {
    if (t === "string" && item.kind === "String") return { k: "string", v: item.value };
    const name = t === "string" && item.kind === "Ref" ? pathText(item.path) : undefined;
    const extras = name === undefined ? {} : { help: helpTexts.writeQuoted(name), fix: { span: item.span, replacement: JSON.stringify(name) } };
    report(diagnostic("typeMismatch", { expected: ITEM_TEXT[t], found: describeExpression(item) }, item.span, extras));
    return undefined;
  }
  const n = boundValue(t, item, report);
  if (n === undefined) return undefined;
  if (t === "int" && !Number.isInteger(n)) {
    report(diagnostic("typeMismatch", { expected: ITEM_TEXT.int, found: describeExpression(item) }, item.span));
    return undefined;
  }
  if (t === "percent") return { k: "fraction", v: n };
  if (t === "duration") return { k: "duration", seconds: n };
  return t === "int" ? { k: "int", v: n } : { k: "float", v: n };
}
