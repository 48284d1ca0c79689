// Constructor calls: a declaration's right-hand side (`dpo(base, pairs) { … }`) or a value of a family
// (`adamw { lr: 1e-4 }`, just `cosine`): the constructor looked up, its arguments (positional, or by name in the block
// where the catalog allows it: `cosine { model: … }`; a model's call written in place of its name, `hf("…")`, where it
// allows that), then its settings.

import { diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts, labelTexts } from "../../diagnostics/messages.ts";
import type { Block, Call, Entry, Expression, Ident } from "../ast/ast.ts";
import { suggest } from "../values/suggest.ts";
import { type Type, typeName, type Value } from "../values/types.ts";
import type { ArgSpec, CheckedArg, CheckedCall } from "./catalog/ctor.ts";
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

  /** Checks a constructor call: its arguments (positional, or named in the block), then settings. `prefix` addresses sweep overrides. */
  call(ctor: Ctor, e: Call, prefix: string): CheckedCall | undefined {
    const calleeSpan = spanOver(e.callee, e.span);
    const alsoKeys = ctor.args.flatMap((a) => (a.named ? [a.name] : []));
    const { named, block, ok } = this.namedArguments(ctor, alsoKeys, e.block ?? { kind: "Block", entries: [], span: e.span });
    const args = this.args(ctor, e, prefix, named);
    const fields = this.ev.fields(ctor.fields, block, ctor.name, prefix.replace(/\.$/, ""), { missingAt: calleeSpan, ctor, alsoKeys });
    if (!args || !fields.ok || !ok) return undefined;
    const { settings, settingSpans, valueSpans, defaulted } = fields;
    return { ctor, args, settings, settingSpans, valueSpans, defaulted, span: e.span, calleeSpan };
  }

  /**
   * The call's arguments, each checked against its spec: written in parentheses, or by name in the block (`named`, the
   * entries namedArguments took out of it). Undefined after reporting a wrong count or value. `prefix` names what an
   * argument written as a constructor call lowers to (`<prefix><argument>`).
   */
  args(ctor: Ctor, e: Call, prefix = "", named: ReadonlyMap<string, Entry> = new Map()): CheckedArg[] | undefined {
    const variadic = ctor.args[ctor.args.length - 1]?.variadic === true;
    const fixed = variadic ? ctor.args.length - 1 : ctor.args.length;
    const written: (Expression | undefined)[] = [...(e.args ?? [])];
    let ok = true;
    for (const [name, entry] of named) {
      const i = ctor.args.findIndex((a) => a.name === name);
      const before = written[i];
      if (before === undefined) {
        written[i] = entry.value;
        continue;
      }
      ok = this.givenTwice(ctor, name, entry.key[0]?.span ?? entry.span, before.span);
    }
    ok = this.checkArgumentCount(ctor, e, variadic, written.filter((x) => x !== undefined).length) && ok;
    const args: CheckedArg[] = [];
    written.forEach((arg, i) => {
      const spec = ctor.args[Math.min(i, variadic ? ctor.args.length - 1 : i)];
      if (!arg || !spec || (!variadic && i >= fixed && i >= ctor.args.length)) return;
      const checked = this.arg(spec, arg, prefix);
      if (checked) args.push(checked);
      else ok = false;
    });
    return ok ? args : undefined;
  }

  /** One argument: a value of its type, or a constructor call written in place of a reference (ArgSpec.inline). */
  private arg(spec: ArgSpec, e: Expression, prefix: string): CheckedArg | undefined {
    if (spec.inline && spec.type.t === "ref" && e.kind === "Call") return this.inlineArg(spec, spec.inline, spec.type, e, prefix);
    const v = this.ev.value(e, spec.type, spec.name);
    if (v === undefined) return undefined;
    const checked: CheckedArg = { value: v, span: e.span };
    const info = v.k === "ref" ? this.ev.referenceInfo(v) : undefined;
    if (info) checked.info = info;
    return checked;
  }

  /**
   * `cosine { model: hf("…") }`: a call of one of `allowed` where a reference of `type` goes, checked as that
   * declaration's call would be (its inspection and runtime support follow with the declaration's, in
   * declarations.ts). The argument refers to the node it lowers to, `<prefix><argument>`.
   */
  private inlineArg(spec: ArgSpec, allowed: readonly string[], type: Type & { t: "ref" }, e: Call, prefix: string): CheckedArg | undefined {
    const name = e.callee.length === 1 ? (e.callee[0] as Ident).name : undefined;
    const ctor = name !== undefined && allowed.includes(name) ? findCtor(type.category, name) : undefined;
    if (!ctor) {
      const expected = `${typeName(type)} name or ${allowed.map((c) => `${c}(…)`).join(" or ")}`;
      return this.out.fail(diagnostic("typeMismatch", { expected, found: describeExpression(e) }, e.span, { help: helpTexts.declareFirst() }));
    }
    const target = `${prefix}${spec.name}`;
    const call = this.call(ctor, e, `${target}.`);
    return call ? { value: { k: "ref", target, category: type.category }, span: e.span, inline: call } : undefined;
  }

  /**
   * The entries of a call's block that write a named argument (`argumentNames`: ArgSpec.named), taken out of the block
   * the settings are checked against; `ok` is false after reporting one written twice.
   */
  private namedArguments(ctor: Ctor, argumentNames: readonly string[], block: Block): { named: Map<string, Entry>; block: Block; ok: boolean } {
    const names = new Set(argumentNames);
    const named = new Map<string, Entry>();
    if (names.size === 0) return { named, block, ok: true };
    const rest: Entry[] = [];
    let ok = true;
    for (const entry of block.entries) {
      const head = entry.key[0];
      if (entry.key.length !== 1 || !head || !names.has(head.name)) {
        rest.push(entry);
        continue;
      }
      const first = named.get(head.name);
      if (first) ok = this.givenTwice(ctor, head.name, head.span, first.key[0]?.span ?? first.span);
      else named.set(head.name, entry);
    }
    return { named, block: { ...block, entries: rest }, ok };
  }

  /** An argument written a second time, at `at` (ALN2013); false, for `ok`. */
  private givenTwice(ctor: Ctor, name: string, at: Span, first: Span): false {
    this.out.report(diagnostic("argumentGivenTwice", { callee: ctor.name, name }, at, { labels: [{ span: first, message: labelTexts.firstGivenHere() }] }));
    return false;
  }

  /** `count`: the arguments written, in parentheses or by name. */
  private checkArgumentCount(ctor: Ctor, e: Call, variadic: boolean, count: number): boolean {
    const given = e.args ?? [];
    const tooFew = count < ctor.args.length;
    const tooMany = !variadic && given.length > ctor.args.length;
    if (!tooFew && !tooMany) return true;
    const names = ctor.args.map((a) => a.name + (a.variadic ? "…" : "")).join(", ");
    const expected =
      ctor.args.length === 0 ? "no arguments" : `${variadic ? "at least " : ""}${ctor.args.length} argument${ctor.args.length === 1 ? "" : "s"} (${names})`;
    const help = ctor.args.length === 0 && given.length > 0 ? helpTexts.settingsInBlock(ctor.name) : ctor.example ? helpTexts.example(ctor.example) : undefined;
    const at = e.args && given.length > 0 ? spanOver(given, e.span) : spanOver(e.callee, e.span);
    this.out.report(diagnostic("wrongArgumentCount", { callee: ctor.name, expected, found: count }, at, help ? { help } : {}));
    return false;
  }
}
