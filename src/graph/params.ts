// A node's params, typed and decoded: `decodeParams("stage.pair", node.params)` checks the JSON against the kind's
// spec (params.generated.ts, generated from the checker's catalog) — every setting present once defaults are filled
// in, of its JSON type, within its bounds, an enum's value one of its values, nested blocks and constructor values
// (`optimizer: adamw { … }`, an object with a `type`) likewise, no setting the kind does not have — and returns them
// as `Params<"stage.pair">`. The runtime decodes every node of a graph this way before anything runs
// (src/runtime/pipeline/runner/run-graph.ts), so a graph made elsewhere with bad params is refused naming the node and
// the setting, and executors read typed settings without fallbacks or checks of their own.
import type { NodeKind } from "./node-kinds.ts";
import { NODE_PARAM_SPECS, type NodeParamsMap } from "./params.generated.ts";
import type { FieldsSpec, KindParamsSpec, NumberBounds, SettingSpec } from "./params-spec.ts";

export type * from "./params.generated.ts";
export type { ExprParam, InputRef, RangeParam } from "./params-spec.ts";

/** The decoded params of a node of kind K. */
export type Params<K extends NodeKind> = NodeParamsMap[K];

/** Why a node's params do not fit its kind: the setting, by dotted path in params (`objective.beta`), and what is wrong. */
export interface ParamsProblem {
  setting: string;
  problem: string;
}

export type Decoded<K extends NodeKind> = { ok: true; params: Params<K> } | ({ ok: false } & ParamsProblem);

/** `json` (a node's params as the graph holds them) checked against `kind`'s spec, with defaults filled in. */
export function tryDecodeParams<K extends NodeKind>(kind: K, json: unknown): Decoded<K> {
  try {
    const spec: KindParamsSpec = NODE_PARAM_SPECS[kind];
    if (!isObject(json)) throw new Unfit("params", `expected an object, got ${show(json)}`);
    checkRules(spec, json);
    return { ok: true, params: decodeFields(spec.fields, json, "", kind) as Params<K> };
  } catch (e) {
    if (!(e instanceof Unfit)) throw e;
    return { ok: false, setting: e.setting, problem: e.problem };
  }
}

/**
 * The decoded params of a node whose graph the runtime has checked already (or a test's): a problem here is a bug of
 * the caller, thrown as such. Users meet problems through tryDecodeParams, which the runner reports.
 */
export function decodeParams<K extends NodeKind>(kind: K, json: unknown): Params<K> {
  const decoded = tryDecodeParams(kind, json);
  if (!decoded.ok) throw new Error(`${kind} params: ${decoded.setting}: ${decoded.problem}`);
  return decoded.params;
}

/** Unwinds a decoding to tryDecodeParams, which returns it as a ParamsProblem. */
class Unfit {
  constructor(
    readonly setting: string,
    readonly problem: string,
  ) {}
}

/** The spec of a kind's params (for tests and tools that walk them). */
export function paramsSpec(kind: NodeKind): KindParamsSpec {
  return NODE_PARAM_SPECS[kind];
}

function checkRules(spec: KindParamsSpec, json: Record<string, unknown>): void {
  const given = (key: string) => json[key] !== undefined;
  for (const [a, b] of spec.exclusive ?? []) if (given(a) && given(b)) throw new Unfit(b, `excludes ${a}; give one of them`);
  for (const group of spec.oneOf ?? []) if (!group.some(given)) throw new Unfit(group.join(" | "), `one of ${group.join(", ")} is needed`);
}

function decodeFields(fields: FieldsSpec, json: Record<string, unknown>, prefix: string, owner: string): Record<string, unknown> {
  for (const key of Object.keys(json))
    if (!Object.hasOwn(fields, key)) {
      const known = Object.keys(fields);
      throw new Unfit(`${prefix}${key}`, `${owner} has no such setting${known.length > 0 ? ` (its settings: ${known.join(", ")})` : ""}`);
    }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    // Only a setting left out takes its default: null is a value, and a wrong one for every setting.
    const value = json[key] !== undefined ? json[key] : field.default;
    if (value === undefined) {
      if (field.required) throw new Unfit(`${prefix}${key}`, `is missing (${describe(field.type)})`);
      continue;
    }
    out[key] = decodeValue(field.type, value, `${prefix}${key}`);
  }
  return out;
}

/** `value` decoded as `spec` at `at` (its dotted path); objects and lists are fresh copies, never the graph's or a default's. */
function decodeValue(spec: SettingSpec, value: unknown, at: string): unknown {
  const wrong = () => new Unfit(at, `expected ${describe(spec)}, got ${show(value)}`);
  switch (spec.t) {
    case "int":
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value) || (spec.t === "int" && !Number.isInteger(value)) || !within(value, spec)) throw wrong();
      return value;
    case "string":
      if (typeof value !== "string" || (spec.pattern && !spec.pattern.test(value))) throw wrong();
      return value;
    case "bool":
      if (typeof value !== "boolean") throw wrong();
      return value;
    case "enum":
      if (typeof value !== "string" || !spec.values.includes(value)) throw wrong();
      return value;
    case "list":
      return decodeList(spec, value, at, wrong);
    case "map":
      if (!isObject(value)) throw wrong();
      // In the file's order: a split's parts and a file's field renames keep it.
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeValue(spec.of, v, `${at}.${k}`)]));
    case "range":
      if (!isObject(value) || Object.keys(value).length !== 2 || !isInt(value.min) || !isInt(value.max) || value.min > value.max) throw wrong();
      if (!within(value.min, spec) || !within(value.max, spec)) throw wrong();
      return { min: value.min, max: value.max };
    case "block":
      if (!isObject(value)) throw wrong();
      return decodeFields(spec.fields, value, `${at}.`, spec.name);
    case "ctor":
      return decodeCtor(spec, value, at, wrong);
    case "input":
      if (!isObject(value) || Object.keys(value).length !== 1 || typeof value.input !== "string") throw wrong();
      return { input: value.input };
    case "expr":
      if (!isObject(value) || typeof value.text !== "string" || !isExprTree(value.tree)) throw wrong();
      return { text: value.text, tree: value.tree };
    case "union":
      for (const alternative of spec.of) {
        try {
          return decodeValue(alternative, value, at);
        } catch (e) {
          if (!(e instanceof Unfit)) throw e;
        }
      }
      throw wrong();
  }
}

function decodeList(spec: SettingSpec & { t: "list" }, value: unknown, at: string, wrong: () => Unfit): unknown[] {
  if (!Array.isArray(value)) throw wrong();
  if ((spec.min !== undefined && value.length < spec.min) || (spec.max !== undefined && value.length > spec.max)) throw wrong();
  const items = value.map((item, i) => decodeValue(spec.of, item, `${at}[${i}]`));
  if (spec.unique) {
    const seen = new Set<string>();
    for (const item of items) {
      const key = JSON.stringify(item);
      if (seen.has(key)) throw new Unfit(at, `names ${key} twice`);
      seen.add(key);
    }
  }
  return items;
}

function decodeCtor(spec: SettingSpec & { t: "ctor" }, value: unknown, at: string, wrong: () => Unfit): Record<string, unknown> {
  if (!isObject(value)) throw wrong();
  const names = Object.keys(spec.ctors);
  const type = value.type;
  const fields = typeof type === "string" && Object.hasOwn(spec.ctors, type) ? spec.ctors[type] : undefined;
  const use = `use ${names.slice(0, -1).join(", ")}${names.length > 1 ? " or " : ""}${names.at(-1)}`;
  if (!fields) throw new Unfit(at, type === undefined ? `has no "type"; ${use}` : `unknown type ${show(type)}; ${use}`);
  const { type: _, ...settings } = value;
  return { type, ...decodeFields(fields, settings, `${at}.`, type as string) };
}

const EXPR_BINARY = new Set(["+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "and", "or"]);

/** Whether `tree` is an ExprTree (src/graph/vocabulary.ts); walked with a stack, however deep it nests. */
function isExprTree(tree: unknown): boolean {
  const stack: unknown[] = [tree];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!isObject(node) || typeof node.op !== "string") return false;
    if (node.op === "num") {
      if (typeof node.value !== "number") return false;
    } else if (node.op === "name") {
      if (typeof node.name !== "string") return false;
    } else if (node.op === "neg" || node.op === "not") stack.push(node.arg);
    else if (EXPR_BINARY.has(node.op)) stack.push(node.left, node.right);
    else return false;
  }
  return true;
}

function within(v: number, b: NumberBounds): boolean {
  if (b.min !== undefined && (b.minOpen ? v <= b.min : v < b.min)) return false;
  if (b.max !== undefined && (b.maxOpen ? v >= b.max : v > b.max)) return false;
  return true;
}

function boundsText(b: NumberBounds): string {
  if (b.min !== undefined && b.max !== undefined) return ` in ${b.minOpen ? "(" : "["}${b.min}, ${b.max}${b.maxOpen ? ")" : "]"}`;
  if (b.min !== undefined) return b.minOpen ? ` > ${b.min}` : ` ≥ ${b.min}`;
  if (b.max !== undefined) return b.maxOpen ? ` < ${b.max}` : ` ≤ ${b.max}`;
  return "";
}

/** What a spec accepts, as the end of "expected …". */
function describe(spec: SettingSpec): string {
  switch (spec.t) {
    case "int":
      return `an integer${boundsText(spec)}`;
    case "number":
      return `a number${boundsText(spec)}`;
    case "string":
      return spec.help ?? "a string";
    case "bool":
      return "true or false";
    case "enum":
      return `one of ${spec.values.join(", ")}`;
    case "list":
      return `a list${spec.min ? ` of at least ${spec.min}` : ""}${spec.unique ? " distinct" : ""} (each ${describe(spec.of)})`;
    case "map":
      return `an object (each value ${describe(spec.of)})`;
    case "range":
      return `an integer range { "min", "max" }${boundsText(spec)}`;
    case "block":
      return `a ${spec.name} block { ${Object.keys(spec.fields).join(", ")} }`;
    case "ctor":
      return `${/^[aeiou]/.test(spec.family) ? "an" : "a"} ${spec.family} { "type": ${Object.keys(spec.ctors).join(" | ")}, … }`;
    case "input":
      return `an input reference { "input": name }`;
    case "expr":
      return `an expression { "text", "tree" }`;
    case "union":
      return spec.of.map(describe).join(" or ");
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v);
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}
