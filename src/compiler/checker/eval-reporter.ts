// How the evaluator's parts report: through the host, except while an alternative is tried quietly (a union's
// members), and with the shared shapes of their messages (a type mismatch, a value out of range, a bare param).

import { type Diagnostic, type DiagnosticExtras, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts, type TableText } from "../../diagnostics/messages.ts";
import type { Expression, Ident } from "../ast/ast.ts";
import { type Type, typeName } from "../values/types.ts";
import type { EvalHost } from "./evaluate.ts";

export class EvalReporter {
  /** Depth of alternatives being tried quietly (see `quietly`). */
  private muted = 0;

  constructor(
    private readonly host: EvalHost,
    /** Plain imports of this file that could not be read: an unknown name may be declared there. */
    private readonly unreadableImports: readonly string[] = [],
  ) {}

  report(d: Diagnostic): void {
    if (this.muted === 0) this.host.report(d);
  }

  fail(d: Diagnostic): undefined {
    this.report(d);
    return undefined;
  }

  /**
   * Tries an alternative without reporting. Only this evaluator is muted: a declaration checked on the
   * way (a reference's target) reports through its own evaluator, or its errors would be lost.
   */
  quietly<T>(f: () => T): T {
    this.muted++;
    try {
      return f();
    } finally {
      this.muted--;
    }
  }

  /** Whether `name` may come from an import that could not be read; the host reports it once per declaration. */
  fromUnreadableImport(name: string, span: Span, path = this.unreadableImports[0]): boolean {
    if (path === undefined) return false;
    if (this.muted === 0) this.host.unresolved(name, span, path);
    return true;
  }

  mismatch(type: Type, e: Expression, extras?: DiagnosticExtras): undefined {
    if (e.kind === "Ref" && e.path.length === 1 && this.host.isParam((e.path[0] as Ident).name)) {
      return this.fail(bareParam((e.path[0] as Ident).name, e.span));
    }
    return this.fail(diagnostic("typeMismatch", { expected: typeName(type), found: describeExpression(e) }, e.span, extras));
  }

  /** `range` is a phrase: "in [0, 1]", "> 0". */
  outOfRange(what: string, value: string, range: string, span: Span, extras?: DiagnosticExtras): undefined {
    return this.fail(diagnostic("outOfRange", { what, value, range }, span, extras));
  }
}

/** A param written as a bare name: the fix writes it as `${name}`. */
export function bareParam(name: string, span: Span): Diagnostic {
  return diagnostic("paramAsBareName", { name }, span, { fix: { span, replacement: `\${${name}}` } });
}

/**
 * A suggestion to write `replacement` instead of what `span` holds: "did you mean 80%?" unless another help line
 * says it better ("write it in quotes: …").
 */
export function rewrite(replacement: string, span: Span, help: TableText = helpTexts.didYouMeanValue(replacement)): DiagnosticExtras {
  return { help, fix: { span, replacement } };
}

export function describeExpression(e: Expression): string {
  switch (e.kind) {
    case "Number":
      return `the number ${e.raw}`;
    case "Percent":
      return `the percentage ${e.raw}`;
    case "Duration":
      return `the duration ${e.raw}`;
    case "String":
      return `the string ${e.raw.length > 40 ? `${e.raw.slice(0, 37)}..."` : e.raw}`;
    case "Bool":
      return String(e.value);
    case "Interp":
      return `\${${e.name.name}}`;
    case "List":
      return "a list";
    case "Block":
      return "a block";
    case "Ref":
      return `'${e.path.map((p) => p.name).join(".")}'`;
    case "Call":
      return `a call of ${e.callee.map((p) => p.name).join(".")}`;
    case "Binary":
    case "Unary":
      return "an expression";
    case "Range":
      return "a range";
    case "Paren":
      return describeExpression(e.expression);
    case "Error":
      return "nothing";
  }
}

/** From the first item's start to the last one's end (`fallback` when there are none). */
export function spanOver(items: readonly { span: Span }[], fallback: Span): Span {
  const first = items[0];
  const last = items[items.length - 1];
  if (!first || !last) return fallback;
  return { ...first.span, end: last.span.end, endLine: last.span.endLine, endColumn: last.span.endColumn };
}
