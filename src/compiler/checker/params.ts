// Params: template values declared with a type and an allowed domain. Their value comes from the default,
// from `--set name=value` (type-checked like source text), or from a sweep trial — in that order of priority.
import path from "node:path";
import { type Diagnostic, diagnostic } from "../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../diagnostics/messages.ts";
import { SourceFile } from "../../diagnostics/source-file.ts";
import { type Bound, type ParamSymbol, Scope } from "../binder/scope.ts";
import { parseValueText } from "../parse/parse.ts";
import { didYouMean } from "../values/suggest.ts";
import { type Type, type Value, valueText } from "../values/types.ts";
import { type EvalHost, Evaluator } from "./evaluate.ts";
import { type ParamType, paramType } from "./param-types.ts";

export interface CheckedParam {
  name: string;
  symbol: ParamSymbol;
  type: Type;
  /** Allowed values when the domain is a set: {8, 16, 32}. */
  allowed?: Value[];
  domainText?: string;
  value: Value;
  source: "default" | "set" | "trial";
}

export interface ParamInputs {
  /** `--set` arguments as typed: "beta=0.2". */
  set?: string[];
  /** Values chosen by a sweep trial, already checked against the param's type. */
  trialParams?: Map<string, Value>;
}

export interface ParamTable {
  /** Params with a valid value. */
  values: Map<string, CheckedParam>;
  /**
   * Every declared param with its declared type (undefined when the type itself is unknown). A param
   * whose value is invalid stays here, so its uses are not reported again as unknown params.
   */
  types: Map<string, ParamType | undefined>;
}

export { paramType };

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
    unresolved: () => {},
  };
  return new Evaluator(host, Scope.empty);
}

/** A value already of the param's type, checked against its domain: bounds, or the set of allowed values. */
export function checkValueAgainstParam(
  p: ParamType & { name: string },
  v: Value | undefined,
  span: Diagnostic["span"],
  report: (d: Diagnostic) => void,
): Value | undefined {
  if (v === undefined) return undefined;
  if (
    p.allowed &&
    !p.allowed.some((a) => valueText(a) === valueText(v) || ((a.k === "int" || a.k === "float") && (v.k === "int" || v.k === "float") && a.v === v.v))
  ) {
    const range = `one of ${p.domainText ?? `{${p.allowed.map(valueText).join(", ")}}`}`;
    report(diagnostic("outOfRange", { what: p.name, value: valueText(v), range }, span));
    return undefined;
  }
  return v;
}

export function checkParams(bound: Bound, inputs: ParamInputs, report: (d: Diagnostic) => void): ParamTable {
  const table: ParamTable = { values: new Map(), types: new Map() };
  const isParam = (n: string) => bound.params.has(n);
  const ev = constantEvaluator(report, isParam);
  const sets = setArguments(bound, inputs, report);
  for (const [name, sym] of bound.params) {
    const t = paramType(sym.node, report);
    table.types.set(name, t);
    if (!t) continue;
    const p = { name, ...t };
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
      if (t.type.t === "string" && !setText.trim().startsWith('"'))
        value = checkValueAgainstParam(p, { k: "string", v: setText }, file.span(0, setText.length), report);
      else {
        const parsed = parseValueText(file);
        parsed.diagnostics.forEach(report);
        if (parsed.expression) value = checkValueAgainstParam(p, ev.value(parsed.expression, t.type, name), parsed.expression.span, report);
      }
    } else if (sym.node.defaultValue) {
      value = checkValueAgainstParam(p, ev.value(sym.node.defaultValue, t.type, name), sym.node.defaultValue.span, report);
    } else {
      report(diagnostic("paramWithoutValue", { name }, sym.node.name.span));
    }
    // An invalid value was reported; the param stays declared (in `types`) but has no value.
    if (value !== undefined) table.values.set(name, { ...p, symbol: sym, value, source });
  }
  return table;
}

/** `--set name=value` arguments by param name; malformed ones and unknown names are reported. */
function setArguments(bound: Bound, inputs: ParamInputs, report: (d: Diagnostic) => void): Map<string, string> {
  const sets = new Map<string, string>();
  for (const raw of inputs.set ?? []) {
    const eq = raw.indexOf("=");
    const name = raw.slice(0, eq).trim();
    if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      report(diagnostic("badSetArgument", { text: raw }));
      continue;
    }
    if (!bound.params.has(name)) {
      const help = didYouMean(name, bound.params.keys()) ?? helpTexts.paramsDeclared([...bound.params.keys()].join(", "));
      report(diagnostic("unknownParam", { name }, undefined, { help }));
      continue;
    }
    sets.set(name, raw.slice(eq + 1));
  }
  return sets;
}
