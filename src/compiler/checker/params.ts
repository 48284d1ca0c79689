// Params: template values declared with a type and an allowed domain. Their value comes from the default,
// from `--set name=value` (type-checked like source text), or from a sweep trial — in that order of priority.
import path from "node:path";
import type { ParamDeclaration } from "../ast/ast.ts";
import type { Bound, ParamSymbol } from "../binder/scope.ts";
import { type Diagnostic, diagnostic } from "../diagnostics/diagnostic.ts";
import { parseValueText } from "../parse/parse.ts";
import { SourceFile } from "../source/source-file.ts";
import { type EvalHost, Evaluator } from "./evaluate.ts";
import { didYouMean } from "./suggest.ts";
import { type Type, type Value, valueText } from "./types.ts";

export interface CheckedParam {
  name: string;
  symbol: ParamSymbol;
  type: Type;
  /** Allowed values when the domain is a set: {8, 16, 32}. */
  allowed?: Value[];
  value: Value;
  source: "default" | "set" | "trial";
}

export interface ParamInputs {
  /** `--set` arguments as typed: "beta=0.2". */
  set?: string[];
  /** Values chosen by a sweep trial, already checked against the param's type. */
  trialParams?: Map<string, Value>;
}

const BASE_TYPES = ["int", "float", "string", "bool", "duration", "percent"] as const;

export function paramType(node: ParamDeclaration, report: (d: Diagnostic) => void): { type: Type; allowed?: Value[] } | undefined {
  const names = node.type.map((t) => t.name);
  if (names.length > 1) return { type: { t: "enum", values: names } };
  const base = names[0] ?? "";
  const domain = node.domain;
  const bounds =
    domain?.kind === "Interval"
      ? { min: numberOf(domain.lo), max: numberOf(domain.hi), minOpen: domain.loOpen, maxOpen: domain.hiOpen }
      : domain?.kind === "ClosedRange"
        ? { min: numberOf(domain.lo), max: numberOf(domain.hi) }
        : {};
  switch (base) {
    case "int":
      return { type: { t: "int", ...bounds }, ...allowedOf(node) };
    case "float":
      return { type: { t: "float", ...bounds }, ...allowedOf(node) };
    case "percent":
      return { type: { t: "fraction" }, ...allowedOf(node) };
    case "duration":
      return { type: { t: "duration", ...bounds } };
    case "string":
      return { type: { t: "string" }, ...allowedOf(node) };
    case "bool":
      return { type: { t: "bool" } };
    default: {
      const help = didYouMean(base, BASE_TYPES);
      report(
        diagnostic("unknownParamType", { name: base }, node.type[0]?.span ?? node.span, {
          help: help ?? "for a choice of symbols write them as a union: `sigmoid | ipo`",
        }),
      );
      return undefined;
    }
  }
}

function numberOf(lit: { kind: string; value?: number; seconds?: number }): number {
  if (lit.kind === "Percent") return (lit.value ?? 0) / 100;
  if (lit.kind === "Duration") return lit.seconds ?? 0;
  return lit.value ?? 0;
}

function allowedOf(node: ParamDeclaration): { allowed?: Value[] } {
  if (node.domain?.kind !== "ValueSet") return {};
  return {
    allowed: node.domain.items.map((i): Value => {
      if (i.kind === "String") return { k: "string", v: i.value };
      if (i.kind === "Percent") return { k: "fraction", v: i.value / 100 };
      if (i.kind === "Duration") return { k: "duration", seconds: i.seconds };
      return i.isInt ? { k: "int", v: i.value } : { k: "float", v: i.value };
    }),
  };
}

/** An evaluator for constant values (defaults, --set): no declarations, no params. */
function constantEvaluator(report: (d: Diagnostic) => void, isParam: (n: string) => boolean): Evaluator {
  const host: EvalHost = {
    report,
    paramValue: (name) => {
      report(diagnostic("invalidValue", { what: `\${${name.name}}`, reason: "a param's value must be a constant" }, name.span));
      return undefined;
    },
    isParam,
    infoOf: () => undefined,
    settingsOf: () => undefined,
    override: () => undefined,
    hasOverrideUnder: () => false,
  };
  return new Evaluator(host, new Map());
}

export function checkValueAgainstParam(
  p: { type: Type; allowed?: Value[]; name: string },
  v: Value | undefined,
  span: Diagnostic["span"],
  report: (d: Diagnostic) => void,
): Value | undefined {
  if (v === undefined) return undefined;
  if (
    p.allowed &&
    !p.allowed.some((a) => valueText(a) === valueText(v) || ((a.k === "int" || a.k === "float") && (v.k === "int" || v.k === "float") && a.v === v.v))
  ) {
    report(diagnostic("outOfRange", { what: p.name, value: valueText(v), range: `{${p.allowed.map(valueText).join(", ")}}` }, span));
    return undefined;
  }
  return v;
}

export function checkParams(bound: Bound, inputs: ParamInputs, report: (d: Diagnostic) => void): Map<string, CheckedParam> {
  const out = new Map<string, CheckedParam>();
  const isParam = (n: string) => bound.params.has(n);
  const ev = constantEvaluator(report, isParam);
  const sets = new Map<string, string>();
  for (const raw of inputs.set ?? []) {
    const eq = raw.indexOf("=");
    const name = raw.slice(0, eq).trim();
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      report(diagnostic("badSetArgument", { text: raw }));
      continue;
    }
    if (!bound.params.has(name)) {
      const help = didYouMean(name, bound.params.keys());
      report(
        diagnostic(
          "unknownParam",
          { name },
          undefined,
          help ? { help } : { help: bound.params.size ? `params: ${[...bound.params.keys()].join(", ")}` : "the file declares no params" },
        ),
      );
      continue;
    }
    sets.set(name, raw.slice(eq + 1));
  }
  for (const [name, sym] of bound.params) {
    const t = paramType(sym.node, report);
    if (!t) continue;
    const p = { name, type: t.type, ...(t.allowed ? { allowed: t.allowed } : {}) };
    let value: Value | undefined;
    let source: CheckedParam["source"] = "default";
    const trial = inputs.trialParams?.get(name);
    const setText = sets.get(name);
    if (trial !== undefined) {
      value = trial;
      source = "trial";
    } else if (setText !== undefined) {
      source = "set";
      const file = new SourceFile(path.resolve(`--set ${name}`), `--set ${name}`, setText);
      if (t.type.t === "string" && !setText.trim().startsWith('"')) value = { k: "string", v: setText };
      else {
        const parsed = parseValueText(file);
        parsed.diagnostics.forEach(report);
        if (parsed.expression) value = checkValueAgainstParam(p, ev.value(parsed.expression, t.type, name), parsed.expression.span, report);
      }
      if (value === undefined) continue;
    } else if (sym.node.defaultValue) {
      value = checkValueAgainstParam(p, ev.value(sym.node.defaultValue, t.type, name), sym.node.defaultValue.span, report);
      if (value === undefined) continue;
    } else {
      report(diagnostic("paramWithoutValue", { name }, sym.node.name.span));
      continue;
    }
    out.set(name, { ...p, symbol: sym, value, source });
  }
  return out;
}
