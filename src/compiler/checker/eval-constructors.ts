// Constructor calls: a declaration's right-hand side (`dpo(base, pairs) { … }`) or a value of a family
// (`adamw { lr: 1e-4 }`, just `cosine`): the constructor looked up, its positional arguments, then its settings.

import { diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts } from "../../diagnostics/messages.ts";
import type { Call, Expression, Ident } from "../ast/ast.ts";
import { suggest } from "../values/suggest.ts";
import type { Value } from "../values/types.ts";
import type { CheckedArg, CheckedCall } from "./catalog/ctor.ts";
import { type Ctor, ctorsOf, findCtor } from "./catalog/index.ts";
import { describeExpression, type EvalReporter, spanOver } from "./eval-reporter.ts";
import type { Evaluator } from "./evaluate.ts";

/** Where a nested constructor value's settings are addressed, and what it tells its enclosing block. */
export interface NestedCtor {
  /** Prefix of its settings' paths for sweep overrides (`dpo.optimizer.`); default `what.`. */
  prefix?: string;
  /** Receives where each of its settings was written (see CheckedCall.valueSpans). */
  spans?: Record<string, Span>;
  /** Receives the settings it did not write (see CheckedCall.defaulted). */
  defaulted?: string[];
}

export class ConstructorChecker {
  constructor(
    private readonly ev: Evaluator,
    private readonly out: EvalReporter,
  ) {}

  /** A value built by a constructor of a family (optimizer, schedule): `adamw { lr: 1e-4 }` or just `cosine`. */
  ctorValue(e: Expression, family: string, what: string, nested: NestedCtor = {}): Value | undefined {
    const callee = e.kind === "Call" ? e.callee : e.kind === "Ref" ? e.path : undefined;
    if (callee?.length !== 1)
      return this.out.fail(
        diagnostic("typeMismatch", { expected: `a ${family} (${[...ctorsOf(family).keys()].join(", ")})`, found: describeExpression(e) }, e.span),
      );
    const name = (callee[0] as Ident).name;
    const ctor = findCtor(family, name);
    if (!ctor) {
      return this.out.fail(
        diagnostic(
          "unknownConstructor",
          { name, category: family },
          callee[0]?.span,
          suggest(name, ctorsOf(family).keys(), callee[0]?.span) ?? { help: helpTexts.oneOf([...ctorsOf(family).keys()].join(", ")) },
        ),
      );
    }
    const call = e.kind === "Call" ? e : ({ kind: "Call", callee, span: e.span } satisfies Call);
    const checked = this.call(ctor, call, nested.prefix || `${what}.`);
    if (checked && nested.spans) Object.assign(nested.spans, checked.valueSpans);
    if (checked && nested.defaulted) nested.defaulted.push(...checked.defaulted);
    return checked ? { k: "record", ctor: ctor.name, fields: checked.settings } : undefined;
  }

  /** Checks a constructor call: positional arguments, then settings. `prefix` addresses sweep overrides. */
  call(ctor: Ctor, e: Call, prefix: string): CheckedCall | undefined {
    const calleeSpan = spanOver(e.callee, e.span);
    const args = this.args(ctor, e);
    const block = e.block ?? { kind: "Block", entries: [], span: e.span };
    const fields = this.ev.fields(ctor.fields, block, ctor.name, prefix.replace(/\.$/, ""), { missingAt: calleeSpan, ctor });
    if (!args || !fields.ok) return undefined;
    const { settings, settingSpans, valueSpans, defaulted } = fields;
    return { ctor, args, settings, settingSpans, valueSpans, defaulted, span: e.span, calleeSpan };
  }

  /** The call's positional arguments, each checked against its spec; undefined after reporting a wrong count or value. */
  args(ctor: Ctor, e: Call): CheckedArg[] | undefined {
    const given = e.args ?? [];
    const variadic = ctor.args[ctor.args.length - 1]?.variadic === true;
    const fixed = variadic ? ctor.args.length - 1 : ctor.args.length;
    let ok = this.checkArgumentCount(ctor, e, variadic);
    const args: CheckedArg[] = [];
    given.forEach((arg, i) => {
      const spec = ctor.args[Math.min(i, variadic ? ctor.args.length - 1 : i)];
      if (!spec || (!variadic && i >= fixed && i >= ctor.args.length)) return;
      const v = this.ev.value(arg, spec.type, spec.name);
      if (v === undefined) {
        ok = false;
        return;
      }
      const checked: CheckedArg = { value: v, span: arg.span };
      const info = v.k === "ref" ? this.ev.referenceInfo(v) : undefined;
      if (info) checked.info = info;
      args.push(checked);
    });
    return ok ? args : undefined;
  }

  private checkArgumentCount(ctor: Ctor, e: Call, variadic: boolean): boolean {
    const given = e.args ?? [];
    const tooFew = given.length < ctor.args.length;
    const tooMany = !variadic && given.length > ctor.args.length;
    if (!tooFew && !tooMany) return true;
    const names = ctor.args.map((a) => a.name + (a.variadic ? "…" : "")).join(", ");
    const expected =
      ctor.args.length === 0 ? "no arguments" : `${variadic ? "at least " : ""}${ctor.args.length} argument${ctor.args.length === 1 ? "" : "s"} (${names})`;
    const help = ctor.args.length === 0 && given.length > 0 ? helpTexts.settingsInBlock(ctor.name) : ctor.example ? helpTexts.example(ctor.example) : undefined;
    const at = e.args && given.length > 0 ? spanOver(given, e.span) : spanOver(e.callee, e.span);
    this.out.report(diagnostic("wrongArgumentCount", { callee: ctor.name, expected, found: given.length }, at, help ? { help } : {}));
    return false;
  }
}
