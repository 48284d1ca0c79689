// The syntax tree of one .align file, as written: no names resolved, no defaults filled. Every node has a
// span. Built from Chevrotain's CST by build.ts; read by the binder, the checker and the formatter.
import type { Span } from "../../diagnostics/diagnostic.ts";
import type { SourceFile } from "../../diagnostics/source-file.ts";

export interface Ident {
  kind: "Ident";
  name: string;
  span: Span;
}

export interface Comment {
  kind: "Comment";
  text: string;
  block: boolean;
  span: Span;
}

export interface AlignFile {
  kind: "File";
  source: SourceFile;
  version?: { value: string; span: Span };
  statements: Statement[];
  comments: Comment[];
  span: Span;
}

export type Statement = ImportStatement | ParamDeclaration | Declaration | EvaluateDeclaration;

export interface ImportStatement {
  kind: "Import";
  path: StringLiteral;
  alias?: Ident;
  span: Span;
}

export type DeclarationKind = "model" | "dataset" | "rater" | "similarity" | "phase" | "sweep";

export interface Declaration {
  kind: "Declaration";
  declKind: DeclarationKind;
  keywordSpan: Span;
  name: Ident;
  value: Expression;
  span: Span;
}

export interface EvaluateDeclaration {
  kind: "Evaluate";
  name: Ident;
  block: Block;
  span: Span;
}

export interface ParamDeclaration {
  kind: "Param";
  name: Ident;
  /** `float`, or several symbols for a union type: `sigmoid | ipo | hinge`. */
  type: Ident[];
  domain?: ParamDomain;
  defaultValue?: Expression;
  span: Span;
}

export type ParamDomain =
  | { kind: "Interval"; lo: NumericLiteral; hi: NumericLiteral; loOpen: boolean; hiOpen: boolean; span: Span }
  | { kind: "ClosedRange"; lo: NumericLiteral; hi: NumericLiteral; span: Span }
  /** Items the checker accepts are numbers and strings; booleans and names parse only to be reported clearly. */
  | { kind: "ValueSet"; items: (NumericLiteral | StringLiteral | BoolLiteral | Reference)[]; span: Span };

export type Expression =
  | NumberLiteral
  | DurationLiteral
  | PercentLiteral
  | StringLiteral
  | BoolLiteral
  | Interpolation
  | ListExpression
  | Block
  | Reference
  | Call
  | BinaryExpression
  | UnaryExpression
  | RangeExpression
  | ParenExpression
  | ErrorExpression;

export type NumericLiteral = NumberLiteral | DurationLiteral | PercentLiteral;

export interface NumberLiteral {
  kind: "Number";
  value: number;
  isInt: boolean;
  raw: string;
  span: Span;
}

export interface DurationLiteral {
  kind: "Duration";
  seconds: number;
  raw: string;
  span: Span;
}

/** `3%`: value is 3 (the fraction is value / 100). */
export interface PercentLiteral {
  kind: "Percent";
  value: number;
  raw: string;
  span: Span;
}

export type StringPart = { kind: "text"; text: string } | { kind: "param"; name: string; span: Span };

export interface StringLiteral {
  kind: "String";
  /** The unescaped text, `${...}` left as written. */
  value: string;
  raw: string;
  parts: StringPart[];
  span: Span;
}

export interface BoolLiteral {
  kind: "Bool";
  value: boolean;
  span: Span;
}

/** `${name}` used as a whole value. */
export interface Interpolation {
  kind: "Interp";
  name: Ident;
  span: Span;
}

export interface ListExpression {
  kind: "List";
  items: Expression[];
  span: Span;
}

export interface Entry {
  kind: "Entry";
  key: Ident[];
  value: Expression;
  span: Span;
}

export interface Block {
  kind: "Block";
  entries: Entry[];
  span: Span;
}

/** `name` or `a.b.c` with no arguments and no block. */
export interface Reference {
  kind: "Ref";
  path: Ident[];
  span: Span;
}

/** `name(args)`, `name { block }` or `name(args) { block }`. `args` is undefined when no parentheses were written. */
export interface Call {
  kind: "Call";
  callee: Ident[];
  args?: Expression[];
  block?: Block;
  span: Span;
}

export type BinaryOperator = "+" | "-" | "*" | "/" | "<" | "<=" | ">" | ">=" | "==" | "!=" | "and" | "or";

export interface BinaryExpression {
  kind: "Binary";
  op: BinaryOperator;
  left: Expression;
  right: Expression;
  span: Span;
}

export interface UnaryExpression {
  kind: "Unary";
  op: "-" | "not";
  operand: Expression;
  span: Span;
}

export interface RangeExpression {
  kind: "Range";
  lo: Expression;
  hi: Expression;
  span: Span;
}

export interface ParenExpression {
  kind: "Paren";
  expression: Expression;
  span: Span;
}

/** Stands where error recovery skipped input; only present in files that have syntax errors. */
export interface ErrorExpression {
  kind: "Error";
  span: Span;
}

export function calleeName(call: Call): string {
  return call.callee.map((i) => i.name).join(".");
}

export function pathText(path: readonly Ident[]): string {
  return path.map((i) => i.name).join(".");
}
