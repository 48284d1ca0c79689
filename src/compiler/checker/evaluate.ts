// Schema-directed evaluation: an AST expression is checked against the Type a place expects and becomes a
// Value. The expected type decides what a bare name means (a symbol, a declaration, a constructor), so the
// grammar stays small and every mistake is reported where it was written.
//
// The Evaluator dispatches on the expected type to its parts, which call back into `value` for what they hold:
// single values (eval-scalars.ts), lists, maps and unions (eval-collections.ts), references (eval-references.ts),
// blocks of settings (eval-settings.ts) and constructor calls (eval-constructors.ts). All report through one
// EvalReporter (eval-reporter.ts), which a union mutes while it tries its alternatives.

import type { Diagnostic, Span } from "../../diagnostics/diagnostic.ts";
import type { Block, Call, Expression, Ident } from "../ast/ast.ts";
import type { Scope } from "../binder/scope.ts";
import { toExprTree } from "../values/expressions.ts";
import type { Fields, Type, Value } from "../values/types.ts";
import type { CheckedArg, CheckedCall, ResultInfo } from "./catalog/ctor.ts";
import type { Ctor } from "./catalog/index.ts";
import { CollectionChecker } from "./eval-collections.ts";
import { ConstructorChecker, type NestedCtor } from "./eval-constructors.ts";
import { ReferenceResolver } from "./eval-references.ts";
import { EvalReporter } from "./eval-reporter.ts";
import { ScalarChecker } from "./eval-scalars.ts";
import { type CheckedFields, type FieldOptions, SettingsChecker } from "./eval-settings.ts";

export { describeExpression } from "./eval-reporter.ts";
export type { CheckedFields, FieldOptions } from "./eval-settings.ts";

export interface EvalHost {
  report(d: Diagnostic): void;
  /** Value of a param for `${name}`; undefined when unknown (the host reports). */
  paramValue(name: Ident): Value | undefined;
  isParam(name: string): boolean;
  /** Result info of a declaration, checking it first if needed (cycle detection lives in the host). */
  infoOf(qualified: string, at: Span): ResultInfo | undefined;
  /** Checked settings of a declaration, for references into nested settings. */
  settingsOf(qualified: string, at: Span): Record<string, Value> | undefined;
  /** Sweep overrides by full setting path (`dpo.objective.beta`). */
  override(path: string): Value | undefined;
  hasOverrideUnder(prefix: string): boolean;
  /** A name that may be declared in an import that could not be read (`path`): reported once per declaration. */
  unresolved(name: string, span: Span, path: string): void;
}

export class Evaluator {
  private readonly out: EvalReporter;
  private readonly scalars: ScalarChecker;
  private readonly collections: CollectionChecker;
  private readonly references: ReferenceResolver;
  private readonly settings: SettingsChecker;
  private readonly constructors: ConstructorChecker;

  constructor(
    private readonly host: EvalHost,
    scope: Scope,
    /** Plain imports of this file that could not be read: an unknown name may be declared there. */
    unreadableImports: readonly string[] = [],
  ) {
    this.out = new EvalReporter(host, unreadableImports);
    this.scalars = new ScalarChecker(host, this.out);
    this.collections = new CollectionChecker(this, host, scope, this.out);
    this.references = new ReferenceResolver(host, scope, this.out, this.scalars);
    this.settings = new SettingsChecker(this, host, this.out);
    this.constructors = new ConstructorChecker(this, this.out);
  }

  /** `e` checked as a value of `type`; `what` names the place in messages. Undefined after reporting. */
  value(e: Expression, type: Type, what: string): Value | undefined {
    if (e.kind === "Paren" && type.t !== "score" && type.t !== "predicate") return this.value(e.expression, type, what);
    if (e.kind === "Interp") {
      const v = this.host.paramValue(e.name);
      return v === undefined ? undefined : this.coerce(v, type, what, e.span);
    }
    switch (type.t) {
      case "int":
      case "float":
        return this.scalars.number(e, type, what);
      case "fraction":
        return this.scalars.fraction(e, type, what);
      case "duration":
        return this.scalars.duration(e, type, what);
      case "string":
        return this.scalars.string(e, type, what);
      case "bool":
        return e.kind === "Bool" ? { k: "bool", v: e.value } : this.out.mismatch(type, e);
      case "enum":
      case "name":
        return this.scalars.symbol(e, type);
      case "range":
        return this.scalars.range(e, type, what);
      case "list":
        return this.collections.list(e, type, what);
      case "map":
        return this.collections.map(e, type, what);
      case "union":
        return this.collections.union(e, type, what);
      case "record":
        if (e.kind !== "Block") return this.out.mismatch(type, e);
        return { k: "record", fields: this.fields(type.fields, e, type.name, what).settings };
      case "ctor":
        return this.constructors.ctorValue(e, type.family, what);
      case "ref":
        return this.references.reference(e, type);
      case "score":
      case "predicate":
        return toExprTree(e, type.t, (d) => this.out.report(d));
    }
  }

  /** A param's (or referenced setting's) value placed where `type` is expected. */
  coerce(v: Value, type: Type, what: string, span: Span): Value | undefined {
    return this.scalars.coerce(v, type, what, span);
  }

  /** Constant folding of numeric expressions, params included: `${rank} * 2`. */
  constant(e: Expression): number | undefined {
    return this.scalars.constant(e);
  }

  /** Checks a block against a schema (eval-settings.ts); `path` addresses sweep overrides. */
  fields(schema: Fields, block: Block, construct: string, path: string, options: FieldOptions = {}): CheckedFields {
    return this.settings.fields(schema, block, construct, path, options);
  }

  /** Checks a constructor call: positional arguments, then settings. `prefix` addresses sweep overrides. */
  call(ctor: Ctor, e: Call, prefix: string): CheckedCall | undefined {
    return this.constructors.call(ctor, e, prefix);
  }

  /** A call's positional arguments alone, for constructs whose settings are checked apart (sweeps). */
  args(ctor: Ctor, e: Call): CheckedArg[] | undefined {
    return this.constructors.args(ctor, e);
  }

  /** A value built by a constructor of `family`, nested in a setting. */
  ctorValue(e: Expression, family: string, what: string, nested: NestedCtor = {}): Value | undefined {
    return this.constructors.ctorValue(e, family, what, nested);
  }

  /** A setting written as a reference to another declaration's nested setting: `beta: dpo.objective.beta`. */
  settingReference(e: Expression, type: Type, what: string): Value | undefined {
    return this.references.settingReference(e, type, what);
  }

  /** What the target of a reference this evaluator checked was found to be. */
  referenceInfo(ref: Value): ResultInfo | undefined {
    return this.references.infoOf(ref);
  }
}
