// What a constructor is: positional arguments, settings, the kind of value it makes, the cross-setting
// checks it needs, and the execution-graph node it lowers to. The catalog files declare them as data.
import type { Diagnostic, Span } from "../../../diagnostics/diagnostic.ts";
import type { NodeKind } from "../../../graph/node-kinds.ts";
import { type Category, type DatasetKind, type Fields, type Type, type Value, valueText } from "../../values/types.ts";

/**
 * A Hugging Face model (`hf(path)`), as check knows it from its config.json: what LoRA may target and how many
 * positions it attends to. `modules` and `maxPositions` are absent when the config could not be read.
 */
export interface HfModelInfo {
  architecture?: string;
  /** A vision-language model (LLaVA): it has image tokens and a projector. */
  vision?: boolean;
  /** A sentence encoder (BertModel, MPNetModel): only a cosine similarity's model. */
  encoder?: boolean;
  modules?: readonly string[];
  maxPositions?: number;
}

/** What the checker knows about a declaration's value once it is checked. */
export type ResultInfo =
  /** `hf`: a Hugging Face model; absent: a TinyVLM model (or an ONNX one). */
  | { category: "model"; hf?: HfModelInfo }
  /** A trained model: `hf` when it started from a Hugging Face model. */
  | { category: "phase"; hf?: HfModelInfo }
  | { category: "similarity" }
  | { category: "sweep" }
  | { category: "rater"; aspects: string[]; scale: { lo: number; hi: number } }
  | {
      category: "dataset";
      kind: DatasetKind;
      /** For rated samples: the aspects and scale of the rater that scored them. */
      rating?: { rater: string; aspects: string[]; scale: { lo: number; hi: number } };
      /** For split: the names of its parts, referenced as `name.part`. */
      ports?: string[];
    };

export interface ArgSpec {
  name: string;
  type: Type;
  doc: string;
  /** The last argument may repeat: mix(a, b, c). */
  variadic?: boolean;
  /**
   * The argument may be written in the block instead, as `name: value` (`cosine { model: … }`): once, one way or the
   * other.
   */
  named?: true;
  /**
   * Constructors of the argument's category whose call may stand in place of a reference (`hf("…")` for cosine's
   * model): checked as a declaration of its own would be, and lowered to a node of its own, `<declaration>.<argument>`.
   */
  inline?: readonly string[];
}

export interface CheckedArg {
  value: Value;
  span: Span;
  /** Result info of the declaration a reference argument points at, or of the value written in place (`inline`). */
  info?: ResultInfo;
  /**
   * An argument written as a constructor call (ArgSpec.inline): its call, checked as a declaration's. The value is then
   * a reference to the node it lowers to (`<declaration>.<argument>`), which no declaration has.
   */
  inline?: CheckedCall;
}

/** How an argument reads in messages: the name it refers to, or the call written in its place (`hf("…")`). */
export function argText(arg: CheckedArg): string {
  return arg.inline ? `${arg.inline.ctor.name}(${arg.inline.args.map(argText).join(", ")})` : valueText(arg.value);
}

export interface CheckedCall {
  ctor: Ctor;
  args: CheckedArg[];
  /** Settings after defaults; spans where written (absent for defaults): the `key: value` entry. */
  settings: Record<string, Value>;
  settingSpans: Record<string, Span>;
  /** Where each written value is, nested settings included, by dotted path: `objective.label_smoothing`. */
  valueSpans: Record<string, Span>;
  /** Settings whose value is the default because nothing gave one, by dotted path (`objective`, `objective.label_smoothing`). */
  defaulted: string[];
  span: Span;
  calleeSpan: Span;
}

export interface ValidateContext {
  report(d: Diagnostic): void;
  /** Result info of a referenced declaration, by qualified name. */
  infoOf(target: string): ResultInfo | undefined;
}

/** What `inspect` may use: the directory paths are relative to (the declaring file's) and the report. */
export interface InspectContext {
  dir: string;
  report(d: Diagnostic): void;
}

export interface Ctor {
  name: string;
  /** A declaration category, or a value family: optimizer, schedule, distribution. */
  category: Category | "optimizer" | "schedule" | "distribution";
  doc: string;
  args: ArgSpec[];
  fields: Fields;
  /** Settings that exclude each other, and groups of which one is required. */
  exclusive?: [string, string][];
  oneOf?: string[][];
  result?: (call: CheckedCall) => ResultInfo;
  /**
   * Reads what the declaration names at check time, when knowing it is part of checking (hf(path)'s config.json;
   * never weights), reports what is wrong with it and returns the result info it learns. Runs after `validate`, even
   * when the node kind is not runnable yet; takes the place of `result`.
   */
  inspect?: (call: CheckedCall, ctx: InspectContext) => ResultInfo;
  validate?: (call: CheckedCall, ctx: ValidateContext) => void;
  /**
   * Execution-graph node kind. Its version, and what of it `alignc run` cannot run yet (refused at check time), are
   * declared once in src/graph/node-kinds.ts, which the runtime's executors share.
   */
  node?: NodeKind;
  /** An example for the docs. */
  example?: string;
}

export function defineCtors(ctors: Ctor[]): Map<string, Ctor> {
  return new Map(ctors.map((c) => [c.name, c]));
}
