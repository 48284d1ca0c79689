// Types of settings (what a key accepts) and checked values (what a key holds after checking).
// Values are plain data: the lowering turns them into the JSON params of execution-graph nodes.
import type { Span } from "../../diagnostics/diagnostic.ts";
import type { DatasetKind, ExprTree } from "../../graph/vocabulary.ts";

export type { DatasetKind, ExprTree };

export type Category = "model" | "dataset" | "rater" | "similarity" | "phase" | "sweep";

export interface NumberBounds {
  min?: number;
  max?: number;
  minOpen?: boolean;
  maxOpen?: boolean;
  /** The bounds as the user wrote them (a param's domain: `0s..10m`, `[0%, 50%)`), for messages. */
  text?: string;
}

export type Type =
  | ({ t: "int" } & NumberBounds)
  | ({ t: "float" } & NumberBounds)
  /** A fraction in [0, 1], written 0.03 or 3%; a percent param's domain may narrow it (min, max). */
  | ({ t: "fraction" } & NumberBounds)
  /** `path`: the string names a file or directory, relative to the .align file that writes it (see PathSpec). */
  | { t: "string"; pattern?: RegExp; patternHelp?: string; path?: PathSpec }
  | { t: "bool" }
  | ({ t: "duration" } & NumberBounds)
  | { t: "enum"; values: readonly string[] }
  /** A free name that is not resolved: aspect names, LoRA targets. */
  | { t: "name" }
  | { t: "range"; min?: number; max?: number }
  | { t: "list"; of: Type; min?: number; max?: number; unique?: boolean }
  | { t: "record"; name: string; fields: Fields }
  /** String keys chosen by the user, values of one type: field mappings, split parts. */
  | { t: "map"; of: Type; keyKind: string }
  /** A value built by a constructor of a category: `adamw { lr: 1e-4 }`. */
  | { t: "ctor"; family: string }
  | { t: "ref"; category: Category; datasetKinds?: readonly DatasetKind[] }
  | { t: "union"; of: readonly Type[] }
  /** Arithmetic over aspect names: `helpfulness + correctness + coherence`. */
  | { t: "score" }
  /** A boolean expression over record fields: `margin >= 3 and chosen_length < 200`. */
  | { t: "predicate" };

/**
 * A string that names something on disk, relative to the .align file that writes it. The lowering relocates it to
 * the entry file's directory (where the runtime resolves it); `check` reports one that `alignc run` would not find,
 * from its metadata only (existence and kind: nothing is opened or read).
 */
export interface PathSpec {
  /** What it names, for messages: "data file", "checkpoint directory". */
  what: string;
  /** A regular file, or a directory. */
  is: "file" | "directory";
  /** For a directory: the files it must hold. */
  holds?: readonly string[];
  /** Whether `check` requires it to exist (false: another check reports it, or the run may not need it). */
  mustExist: boolean;
}

export interface Field {
  type: Type;
  doc: string;
  /** Omitted: the setting is optional and absent unless written. */
  default?: Value;
  required?: boolean;
}

export type Fields = Readonly<Record<string, Field>>;

export type Value =
  | { k: "int"; v: number }
  | { k: "float"; v: number }
  | { k: "fraction"; v: number }
  | { k: "string"; v: string }
  | { k: "bool"; v: boolean }
  | { k: "duration"; seconds: number }
  | { k: "symbol"; name: string }
  | { k: "range"; lo: number; hi: number }
  | { k: "list"; items: Value[] }
  /** A nested block or a constructor value (`ctor` set). */
  | { k: "record"; ctor?: string; fields: Record<string, Value> }
  /** A reference to a declaration (qualified name); `port` selects a part of a split. */
  | { k: "ref"; target: string; category: Category; port?: string }
  /** A checked score or predicate expression, kept as a tree and its canonical text. */
  | { k: "expr"; text: string; tree: ExprTree; names: string[] }
  /** A sweep distribution: uniform / log_uniform / int_uniform over [lo, hi]. */
  | { k: "dist"; dist: "uniform" | "log_uniform" | "int_uniform"; lo: number; hi: number };

/** A value with where it was written, for diagnostics that point at settings after checking. */
export interface Located<V = Value> {
  value: V;
  span?: Span;
}

export function typeName(t: Type): string {
  switch (t.t) {
    case "int":
      return `an integer${boundsText(t)}`;
    case "float":
      return `a number${boundsText(t)}`;
    case "fraction":
      return `a fraction (0.5 or 50%)${t.text ? ` in ${t.text}` : ""}`;
    case "string":
      return "a string";
    case "bool":
      return "true or false";
    case "duration":
      return `a duration (500ms, 30s, 5m, 2h)${t.text ? ` in ${t.text}` : ""}`;
    case "enum":
      return `one of ${t.values.join(", ")}`;
    case "name":
      return "a name";
    case "range":
      return "an integer range such as 0..4";
    case "list":
      return `a list (each ${typeName(t.of)})`;
    case "record":
      return `${article(t.name)} ${t.name} block { … }`;
    case "map":
      return `a block of ${t.keyKind}: value entries`;
    case "ctor":
      return `${article(t.family)} ${t.family}`;
    case "ref":
      return t.datasetKinds ? `a dataset of ${t.datasetKinds.map(datasetKindText).join(" or ")}` : `${article(t.category)} ${t.category}`;
    case "union":
      return t.of.map(typeName).join(" or ");
    case "score":
      return "a score expression over aspects";
    case "predicate":
      return "a condition";
  }
}

function article(word: string): string {
  return /^[aeiou]/i.test(word) ? "an" : "a";
}

/** How a dataset kind reads in prose: "rated" → "rated samples". */
export function datasetKindText(kind: string): string {
  return kind === "rated" ? "rated samples" : kind;
}

/** " in [0, 1]", " > 0", " ≤ 8" (with a leading space, to follow a type name); numbers shown by `show`. */
export function boundsText(b: NumberBounds, show: (n: number) => string = String): string {
  if (b.text) return ` in ${b.text}`;
  if (b.min === undefined && b.max === undefined) return "";
  if (b.min !== undefined && b.max !== undefined) return ` in ${b.minOpen ? "(" : "["}${show(b.min)}, ${show(b.max)}${b.maxOpen ? ")" : "]"}`;
  if (b.min !== undefined) return b.minOpen ? ` > ${show(b.min)}` : ` ≥ ${show(b.min)}`;
  return b.maxOpen ? ` < ${show(b.max as number)}` : ` ≤ ${show(b.max as number)}`;
}

/** The bounds as the end of "x must be …": "in [0, 1]", "> 0". */
export function rangePhrase(b: NumberBounds, show: (n: number) => string = String): string {
  return boundsText(b, show).trimStart();
}

/** A duration in its largest whole unit: 600 → "10m", 0.5 → "500ms". */
export function durationText(seconds: number): string {
  if (seconds !== 0 && Number.isInteger(seconds / 3600)) return `${seconds / 3600}h`;
  if (seconds !== 0 && Number.isInteger(seconds / 60)) return `${seconds / 60}m`;
  if (Number.isInteger(seconds)) return `${seconds}s`;
  return `${+(seconds * 1000).toPrecision(12)}ms`;
}

/** A fraction as a percentage: 0.5 → "50%". */
export function percentText(v: number): string {
  return `${+(v * 100).toPrecision(12)}%`;
}

export function inBounds(v: number, b: NumberBounds): boolean {
  if (b.min !== undefined && (b.minOpen ? v <= b.min : v < b.min)) return false;
  if (b.max !== undefined && (b.maxOpen ? v >= b.max : v > b.max)) return false;
  return true;
}

/** How a value reads in messages and plans. */
export function valueText(v: Value): string {
  switch (v.k) {
    case "int":
    case "float":
      return String(v.v);
    case "fraction":
      return percentText(v.v);
    case "string":
      return JSON.stringify(v.v);
    case "bool":
      return String(v.v);
    case "duration":
      return `${v.seconds}s`;
    case "symbol":
      return v.name;
    case "range":
      return `${v.lo}..${v.hi}`;
    case "list":
      return `[${v.items.map(valueText).join(", ")}]`;
    case "record": {
      const body = Object.entries(v.fields)
        .map(([k, x]) => `${k}: ${valueText(x)}`)
        .join(", ");
      return `${v.ctor ? `${v.ctor} ` : ""}{ ${body} }`;
    }
    case "ref":
      return v.port ? `${v.target}.${v.port}` : v.target;
    case "expr":
      return v.text;
    case "dist":
      return `${v.dist}(${v.lo}, ${v.hi})`;
  }
}

/** Plain JSON for execution-graph params: the node's schema gives meaning (durations in seconds, fractions as 0..1). */
export function valueJson(v: Value): unknown {
  switch (v.k) {
    case "int":
    case "float":
    case "fraction":
      return v.v;
    case "string":
      return v.v;
    case "bool":
      return v.v;
    case "duration":
      return v.seconds;
    case "symbol":
      return v.name;
    case "range":
      return { min: v.lo, max: v.hi };
    case "list":
      return v.items.map(valueJson);
    case "record": {
      const out: Record<string, unknown> = {};
      if (v.ctor) out.type = v.ctor;
      for (const k of Object.keys(v.fields).sort()) out[k] = valueJson(v.fields[k] as Value);
      return out;
    }
    case "ref":
      return v.port ? `${v.target}.${v.port}` : v.target;
    case "expr":
      return { text: v.text, tree: v.tree };
    case "dist":
      return { dist: v.dist, min: v.lo, max: v.hi };
  }
}

export const num = (v: number): Value => (Number.isInteger(v) ? { k: "int", v } : { k: "float", v });
export const float = (v: number): Value => ({ k: "float", v });
export const int = (v: number): Value => ({ k: "int", v });
export const sym = (name: string): Value => ({ k: "symbol", name });
export const str = (v: string): Value => ({ k: "string", v });
export const bool = (v: boolean): Value => ({ k: "bool", v });
export const frac = (v: number): Value => ({ k: "fraction", v });
export const list = (...items: Value[]): Value => ({ k: "list", items });
export const record = (fields: Record<string, Value>, ctor?: string): Value => (ctor ? { k: "record", ctor, fields } : { k: "record", fields });
