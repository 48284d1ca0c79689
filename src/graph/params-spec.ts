// What each setting of a node's params holds, as data. The lowering writes params as plain JSON
// (docs/execution-graph.md, "Params encoding"); these specs say, per node kind, which settings there are, which JSON
// each holds and what a left-out one defaults to. They are generated from the checker's catalog
// (scripts/gen-node-params.ts writes params.generated.ts), and the runtime decodes every node's params against them
// (params.ts) before anything runs, so the two sides read one declaration of every setting.
import type { ExprTree } from "./vocabulary.ts";

/** A setting that names another declaration: the lowering makes it an input, and params hold the input's name. */
export interface InputRef {
  input: string;
}

/** A score or filter expression: its canonical text and its tree. */
export interface ExprParam {
  text: string;
  tree: ExprTree;
}

/** An integer range such as a rater's scale `0..4`. */
export interface RangeParam {
  min: number;
  max: number;
}

export interface NumberBounds {
  min?: number;
  max?: number;
  minOpen?: boolean;
  maxOpen?: boolean;
}

/** The JSON a setting holds (fractions and durations are numbers; constructor values objects with a `type`). */
export type SettingSpec =
  | ({ t: "int" } & NumberBounds)
  | ({ t: "number" } & NumberBounds)
  | { t: "string"; pattern?: RegExp; help?: string }
  | { t: "bool" }
  | { t: "enum"; values: readonly string[] }
  | { t: "list"; of: SettingSpec; min?: number; max?: number; unique?: boolean }
  /** Keys chosen by the file (field renames, split parts), values of one kind; their order is kept. */
  | { t: "map"; of: SettingSpec }
  | { t: "range"; min?: number; max?: number }
  /** A nested block of settings: `lora { … }`, `objective { … }`. */
  | { t: "block"; name: string; fields: FieldsSpec }
  /** A constructor value: `adamw { lr: 1e-4 }` is `{ "type": "adamw", "lr": 0.0001, … }`. */
  | { t: "ctor"; family: string; ctors: Readonly<Record<string, FieldsSpec>> }
  | { t: "input" }
  | { t: "expr" }
  | { t: "union"; of: readonly SettingSpec[] };

export interface FieldSpec {
  type: SettingSpec;
  /** The value the checker writes when the file does not (JSON, before decoding). */
  default?: unknown;
  /** Present in every graph; without a default or `required`, a setting is absent unless written. */
  required?: boolean;
}

export type FieldsSpec = Readonly<Record<string, FieldSpec>>;

export interface KindParamsSpec {
  fields: FieldsSpec;
  /** Settings that exclude each other. */
  exclusive?: readonly (readonly [string, string])[];
  /** Groups of settings of which one must be given. */
  oneOf?: readonly (readonly string[])[];
}
