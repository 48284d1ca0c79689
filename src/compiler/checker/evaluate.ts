// Schema-directed evaluation: an AST expression is checked against the Type a place expects and becomes a
// Value. The expected type decides what a bare name means (a symbol, a declaration, a constructor), so the
// grammar stays small and every mistake is reported where it was written.

import { type Diagnostic, type DiagnosticExtras, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts, labelTexts, type TableText } from "../../diagnostics/messages.ts";
import type { Block, Call, Entry, Expression, Ident } from "../ast/ast.ts";
import type { Scope } from "../binder/scope.ts";
import { toExprTree } from "../values/expressions.ts";
import { suggest } from "../values/suggest.ts";
import {
  type Category,
  datasetKindText,
  durationText,
  type Field,
  type Fields,
  inBounds,
  percentText,
  rangePhrase,
  type Type,
  typeName,
  type Value,
  valueText,
} from "../values/types.ts";
import type { CheckedArg, CheckedCall, ResultInfo } from "./catalog/ctor.ts";
import { type Ctor, ctorsOf, familyOf, findCtor } from "./catalog/index.ts";

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
  /** Depth of alternatives being tried quietly (see `quietly`). */
  private muted = 0;
  /** What a reference's target is, as found when the reference was checked (asked once: cycles report once). */
  private readonly refInfo = new WeakMap<Value, ResultInfo>();

  constructor(
    private readonly host: EvalHost,
    private readonly scope: Scope,
    /** Plain imports of this file that could not be read: an unknown name may be declared there. */
    private readonly unreadableImports: readonly string[] = [],
  ) {}

  // ── values ────────────────────────────────────────────────────────────────
  value(e: Expression, type: Type, what: string): Value | undefined {
    if (e.kind === "Paren" && type.t !== "score" && type.t !== "predicate") return this.value(e.expression, type, what);
    if (e.kind === "Interp") {
      const v = this.host.paramValue(e.name);
      return v === undefined ? undefined : this.coerce(v, type, what, e.span);
    }
    switch (type.t) {
      case "int":
      case "float":
        return this.number(e, type, what);
      case "fraction": {
        if (e.kind === "Percent") return this.checkFraction(e.value / 100, type, what, e.span, e.raw);
        const n = this.constant(e);
        if (n === undefined) return this.mismatch(type, e);
        // `bias: 80` means 80%: suggested for a number from 2 to 100 when the percentage would be accepted.
        const unit = { min: 0, max: 1, minOpen: type.minOpen && type.min === undefined, maxOpen: type.maxOpen && type.max === undefined };
        const percent = e.kind === "Number" && n >= 2 && inBounds(n / 100, unit) && inBounds(n / 100, type) ? rewrite(`${e.raw}%`, e.span) : undefined;
        return this.checkFraction(n, type, what, e.span, e.kind === "Number" ? e.raw : String(n), percent);
      }
      case "duration":
        // `timeout: 30` means 30 seconds.
        if (e.kind !== "Duration") return this.mismatch(type, e, e.kind === "Number" ? rewrite(`${e.raw}s`, e.span) : undefined);
        if (!inBounds(e.seconds, type)) return this.outOfRange(what, e.raw, rangePhrase(type, durationText), e.span);
        return { k: "duration", seconds: e.seconds };
      case "string":
        if (e.kind !== "String") {
          const name = e.kind === "Ref" && e.path.length === 1 ? (e.path[0] as Ident).name : undefined;
          return this.mismatch(type, e, name === undefined ? undefined : rewrite(JSON.stringify(name), e.span, helpTexts.writeQuoted(name)));
        }
        return this.checkPattern(this.stringValue(e), type, what, e.span);
      case "bool":
        return e.kind === "Bool" ? { k: "bool", v: e.value } : this.mismatch(type, e);
      case "enum":
      case "name":
        return this.symbol(e, type);
      case "range":
        return this.range(e, type, what);
      case "list":
        return this.list(e, type, what);
      case "record":
        if (e.kind !== "Block") return this.mismatch(type, e);
        return { k: "record", fields: this.fields(type.fields, e, type.name, what).settings };
      case "map":
        return this.map(e, type, what);
      case "ctor":
        return this.ctorValue(e, type.family, what);
      case "ref":
        return this.reference(e, type);
      case "union":
        return this.union(e, type, what);
      case "score":
      case "predicate":
        return toExprTree(e, type.t, (d) => this.report(d));
    }
  }

  /** A param's (or referenced setting's) value placed where `type` is expected. */
  coerce(v: Value, type: Type, what: string, span: Span): Value | undefined {
    switch (type.t) {
      case "int":
        if (v.k === "int") return inBounds(v.v, type) ? v : this.outOfRange(what, String(v.v), rangePhrase(type), span);
        break;
      case "float":
        if (v.k === "int" || v.k === "float") return inBounds(v.v, type) ? { k: "float", v: v.v } : this.outOfRange(what, String(v.v), rangePhrase(type), span);
        break;
      case "fraction":
        if (v.k === "fraction" || v.k === "int" || v.k === "float") return this.checkFraction(v.v, type, what, span, valueText(v));
        break;
      case "duration":
        if (v.k === "duration") return inBounds(v.seconds, type) ? v : this.outOfRange(what, durationText(v.seconds), rangePhrase(type, durationText), span);
        break;
      case "string":
        if (v.k === "string") return this.checkPattern(v, type, what, span);
        break;
      case "enum":
        if (v.k === "symbol" && type.values.includes(v.name)) return v;
        if (v.k === "symbol") return this.fail(diagnostic("unknownSymbol", { value: v.name, allowed: type.values.join(", ") }, span));
        break;
      case "union":
        for (const alt of type.of) {
          const r = this.quietly(() => this.coerce(v, alt, what, span));
          if (r) return r;
        }
        break;
      default:
        if (sameKind(v, type)) return v;
    }
    return this.fail(diagnostic("typeMismatch", { expected: typeName(type), found: `${valueText(v)}` }, span));
  }

  private number(e: Expression, type: Type & { t: "int" | "float" }, what: string): Value | undefined {
    if (e.kind === "Percent") return this.mismatch(type, e, rewrite(String(e.value / 100), e.span, helpTexts.writeNumber(String(e.value / 100))));
    const n = this.constant(e);
    if (n === undefined) return this.mismatch(type, e);
    // Arithmetic on representable literals can still overflow: `1e300 * 1e300`.
    if (!Number.isFinite(n) || (type.t === "int" && Number.isInteger(n) && !Number.isSafeInteger(n)))
      return this.fail(diagnostic("invalidValue", { what, reason: "the result is too large to be represented exactly" }, e.span));
    if (type.t === "int" && !Number.isInteger(n)) return this.fail(diagnostic("typeMismatch", { expected: typeName(type), found: `the number ${n}` }, e.span));
    if (!inBounds(n, type)) return this.outOfRange(what, String(n), rangePhrase(type), e.span);
    return type.t === "int" ? { k: "int", v: n } : { k: "float", v: n };
  }

  /** Constant folding of numeric expressions, params included: `${rank} * 2`. */
  constant(e: Expression): number | undefined {
    switch (e.kind) {
      case "Number":
        return e.value;
      case "Paren":
        return this.constant(e.expression);
      case "Unary":
        if (e.op !== "-") return undefined;
        return negate(this.constant(e.operand));
      case "Interp": {
        const v = this.host.paramValue(e.name);
        return v && (v.k === "int" || v.k === "float" || v.k === "fraction") ? v.v : undefined;
      }
      case "Binary": {
        const a = this.constant(e.left);
        const b = this.constant(e.right);
        if (a === undefined || b === undefined) return undefined;
        switch (e.op) {
          case "+":
            return a + b;
          case "-":
            return a - b;
          case "*":
            return a * b;
          case "/":
            return b === 0 ? undefined : a / b;
          default:
            return undefined;
        }
      }
      default:
        return undefined;
    }
  }

  /** A fraction is in [0, 1] (ends open as the type says); a percent param's domain may narrow it further. */
  private checkFraction(n: number, type: Type & { t: "fraction" }, what: string, span: Span, shown: string, extras?: DiagnosticExtras): Value | undefined {
    const unit = { min: 0, max: 1, minOpen: type.minOpen && type.min === undefined, maxOpen: type.maxOpen && type.max === undefined };
    // Bounds read as percentages when the value was written as one.
    const show = shown.endsWith("%") ? percentText : String;
    if (!inBounds(n, unit)) return this.outOfRange(what, shown, rangePhrase(unit, show), span, extras);
    if (!inBounds(n, type)) return this.outOfRange(what, shown, rangePhrase(type, show), span, extras);
    return { k: "fraction", v: n };
  }

  private checkPattern(v: Value & { k: "string" }, type: Type & { t: "string" }, what: string, span: Span): Value | undefined {
    if (type.pattern && !type.pattern.test(v.v))
      return this.fail(diagnostic("invalidSettingValue", { what, value: JSON.stringify(v.v), expected: type.patternHelp ?? type.pattern.source }, span));
    return v;
  }

  stringValue(e: Expression & { kind: "String" }): Value & { k: "string" } {
    let text = "";
    for (const part of e.parts) {
      if (part.kind === "text") text += part.text;
      else {
        const v = this.host.paramValue({ kind: "Ident", name: part.name, span: part.span });
        text += v === undefined ? "" : v.k === "string" ? v.v : valueText(v);
      }
    }
    return { k: "string", v: text };
  }

  private symbol(e: Expression, type: Type & { t: "enum" | "name" }): Value | undefined {
    if (e.kind !== "Ref" || e.path.length !== 1) {
      if (e.kind === "String" && type.t === "enum" && type.values.includes(e.value))
        return this.mismatch(type, e, rewrite(e.value, e.span, helpTexts.writeUnquoted(e.value)));
      return this.mismatch(type, e);
    }
    const name = (e.path[0] as Ident).name;
    if (type.t === "name" || type.values.includes(name)) return { k: "symbol", name };
    if (this.host.isParam(name)) return this.fail(bareParam(name, e.span));
    return this.fail(diagnostic("unknownSymbol", { value: name, allowed: type.values.join(", ") }, e.span, suggest(name, type.values, e.span)));
  }

  private range(e: Expression, type: Type & { t: "range" }, what: string): Value | undefined {
    if (e.kind !== "Range") return this.mismatch(type, e);
    const lo = this.constant(e.lo);
    const hi = this.constant(e.hi);
    if (lo === undefined || hi === undefined || !Number.isInteger(lo) || !Number.isInteger(hi)) return this.mismatch(type, e);
    if (lo > hi) return this.fail(diagnostic("badRange", { lo: String(lo), hi: String(hi) }, e.span));
    const bounds = { min: type.min, max: type.max };
    if (!inBounds(lo, bounds) || !inBounds(hi, bounds)) return this.outOfRange(what, `${lo}..${hi}`, rangePhrase(bounds), e.span);
    return { k: "range", lo, hi };
  }

  private list(e: Expression, type: Type & { t: "list" }, what: string): Value | undefined {
    if (e.kind !== "List") return this.mismatch(type, e);
    if (type.min !== undefined && e.items.length < type.min) return this.fail(diagnostic("emptyList", { what }, e.span));
    const items: Value[] = [];
    const seen = new Map<string, Span>();
    let ok = true;
    for (const item of e.items) {
      const v = this.value(item, type.of, what);
      if (v === undefined) {
        ok = false;
        continue;
      }
      if (type.unique) {
        const key = valueText(v);
        const prev = seen.get(key);
        if (prev)
          this.report(
            diagnostic("duplicateKey", { key }, item.span, { labels: [{ span: prev, message: labelTexts.firstHere() }], help: helpTexts.removeRepeated() }),
          );
        seen.set(key, item.span);
      }
      items.push(v);
    }
    return ok ? { k: "list", items } : undefined;
  }

  private map(e: Expression, type: Type & { t: "map" }, what: string): Value | undefined {
    if (e.kind !== "Block") return this.mismatch(type, e);
    const fields: Record<string, Value> = {};
    for (const entry of e.entries) {
      const key = entry.key.map((k) => k.name).join(".");
      if (key in fields) {
        this.report(diagnostic("duplicateKey", { key }, entry.key[0]?.span));
        continue;
      }
      const v = this.value(entry.value, type.of, `${what}.${key}`);
      if (v !== undefined) fields[key] = v;
    }
    return { k: "record", fields };
  }

  private union(e: Expression, type: Type & { t: "union" }, what: string): Value | undefined {
    for (const alt of type.of) {
      const v = this.quietly(() => this.value(e, alt, what));
      if (v !== undefined) return v;
    }
    // Report with the alternative that best matches the expression's shape, so the message is specific.
    const refLike = e.kind === "Ref";
    const best =
      (e.kind === "String" ? type.of.find((t) => t.t === "string") : undefined) ??
      type.of.find((t) => (refLike ? t.t === "ref" || t.t === "enum" : t.t !== "ref")) ??
      type.of[0];
    if (refLike && e.path.length === 1) {
      const name = (e.path[0] as Ident).name;
      if (!this.scope.has(name) && !this.host.isParam(name) && this.fromUnreadableImport(name, e.span)) return undefined;
      if (!this.scope.has(name)) {
        const symbols = type.of.flatMap((t) => (t.t === "enum" ? t.values : []));
        const names = [...symbols, ...this.namesOf(type.of)];
        return this.fail(diagnostic("typeMismatch", { expected: typeName(type), found: `'${name}'` }, e.span, suggest(name, names, e.span)));
      }
    }
    return best ? this.value(e, best, what) : undefined;
  }

  private namesOf(types: readonly Type[]): string[] {
    const cats = new Set(types.flatMap((t) => (t.t === "ref" ? [t.category] : [])));
    const out: string[] = [];
    for (const [name, entry] of this.scope) if (entry.kind === "decl" && cats.has(entry.declKind as Category)) out.push(name);
    return out;
  }

  // ── references ────────────────────────────────────────────────────────────
  private reference(e: Expression, type: Type & { t: "ref" }): Value | undefined {
    if (e.kind !== "Ref") {
      if (e.kind === "Call")
        return this.fail(
          diagnostic("typeMismatch", { expected: `${typeName(type)} name`, found: "a constructor call" }, e.span, { help: helpTexts.declareFirst() }),
        );
      return this.mismatch(type, e);
    }
    const resolved = this.resolvePath(e.path, type.category);
    if (!resolved) return undefined;
    if (resolved.kind === "setting") {
      return this.fail(diagnostic("typeMismatch", { expected: typeName(type), found: `the setting ${resolved.text}` }, e.span));
    }
    const { symbol, port } = resolved;
    const accepts = (cat: string) => cat === type.category || (type.category === "model" && cat === "phase");
    if (!accepts(symbol.declKind)) {
      return this.fail(
        diagnostic("wrongDeclarationKind", { name: symbol.qualified, expected: type.category, found: symbol.declKind }, e.span, {
          labels: [{ span: symbol.node.name.span, message: labelTexts.declaredAs(symbol.declKind) }],
        }),
      );
    }
    const info = this.host.infoOf(symbol.qualified, e.span);
    if (info?.category === "dataset") {
      if (info.ports && port === undefined) {
        return this.fail(
          diagnostic(
            "typeMismatch",
            { expected: "one part of the split", found: `the whole split '${symbol.qualified}'` },
            e.span,
            rewrite(`${symbol.qualified}.${info.ports[0] ?? "part"}`, e.span, helpTexts.writePart(symbol.qualified, info.ports[0] ?? "part")),
          ),
        );
      }
      if (type.datasetKinds && !type.datasetKinds.includes(info.kind)) {
        return this.fail(
          diagnostic(
            "wrongDatasetKind",
            { name: symbol.qualified, expected: type.datasetKinds.map(datasetKindText).join(" or "), found: datasetKindText(info.kind) },
            e.span,
          ),
        );
      }
    }
    const ref: Value =
      port === undefined
        ? { k: "ref", target: symbol.qualified, category: symbol.declKind as Category }
        : { k: "ref", target: symbol.qualified, category: symbol.declKind as Category, port };
    if (info) this.refInfo.set(ref, info);
    return ref;
  }

  /**
   * Walks a dotted path: namespaces (`common.sft`), split parts (`parts.train`), or nested settings
   * (`dpo.objective.beta`).
   */
  resolvePath(
    path: Ident[],
    wanted?: string,
  ): { kind: "decl"; symbol: import("../binder/scope.ts").DeclSymbol; port?: string } | { kind: "setting"; value: Value; text: string } | undefined {
    let scope = this.scope;
    for (let i = 0; i < path.length; i++) {
      const id = path[i] as Ident;
      const entry = scope.get(id.name);
      if (!entry) {
        if (i === 0 && this.host.isParam(id.name)) return this.fail(bareParam(id.name, id.span));
        if (i === 0 && this.fromUnreadableImport(id.name, id.span)) return undefined;
        const candidates = [...scope.entries()]
          .filter(([, s]) => !wanted || s.kind === "namespace" || s.declKind === wanted || (wanted === "model" && s.declKind === "phase"))
          .map(([n]) => n);
        // A declared name close to it comes first (`pair` for `pairs`), even when the word also names a constructor.
        const ctorFamily = i === 0 ? familyOf(id.name) : undefined;
        const extra =
          suggest(id.name, candidates.length > 0 ? candidates : scope.keys(), id.span) ??
          (ctorFamily ? { help: helpTexts.constructorNotName(id.name, ctorFamily) } : {});
        if (i === 0) return this.fail(diagnostic("unknownName", { name: id.name, kind: wanted ?? "name" }, id.span, extra));
        return this.fail(
          diagnostic(
            "unknownMember",
            {
              path: path
                .slice(0, i)
                .map((p) => p.name)
                .join("."),
              member: id.name,
            },
            id.span,
            extra,
          ),
        );
      }
      if (entry.kind === "namespace") {
        if (entry.unreadable !== undefined) {
          const name = path.map((p) => p.name).join(".");
          this.fromUnreadableImport(name, spanOfPath(path, id.span), entry.unreadable);
          return undefined;
        }
        scope = entry.scope;
        continue;
      }
      const rest = path.slice(i + 1);
      if (rest.length === 0) return { kind: "decl", symbol: entry };
      const info = this.host.infoOf(entry.qualified, id.span);
      if (info?.category === "dataset" && info.ports && rest.length === 1) {
        const port = (rest[0] as Ident).name;
        if (info.ports.includes(port)) return { kind: "decl", symbol: entry, port };
        return this.fail(diagnostic("unknownMember", { path: entry.qualified, member: port }, rest[0]?.span, suggest(port, info.ports, rest[0]?.span)));
      }
      const settings = this.host.settingsOf(entry.qualified, id.span);
      if (!settings) return undefined;
      let value: Value = { k: "record", fields: settings };
      for (let j = 0; j < rest.length; j++) {
        const key = rest[j] as Ident;
        const next: Value | undefined = value.k === "record" ? value.fields[key.name] : undefined;
        if (next === undefined) {
          return this.fail(
            diagnostic(
              "unknownMember",
              { path: [entry.qualified, ...rest.slice(0, j).map((r) => r.name)].join("."), member: key.name },
              key.span,
              value.k === "record" ? suggest(key.name, Object.keys(value.fields), key.span) : undefined,
            ),
          );
        }
        value = next;
      }
      return { kind: "setting", value, text: [entry.qualified, ...rest.map((r) => r.name)].join(".") };
    }
    return undefined;
  }

  /** A setting whose value is a reference to another declaration's nested setting: `beta: dpo.objective.beta`. */
  settingReference(e: Expression, type: Type, what: string): Value | undefined {
    if (e.kind !== "Ref" || e.path.length < 2) return undefined;
    const head = this.scope.get((e.path[0] as Ident).name);
    if (head?.kind !== "decl") return undefined;
    const info = this.host.infoOf(head.qualified, e.span);
    if (info?.category === "dataset" && info.ports) return undefined;
    const r = this.resolvePath(e.path);
    if (r?.kind !== "setting") return undefined;
    return this.coerce(r.value, type, what, e.span);
  }

  // ── constructors and blocks ───────────────────────────────────────────────
  /** A value built by a constructor of a family (optimizer, schedule): `adamw { lr: 1e-4 }` or just `cosine`. */
  /**
   * `spans`, when given, receives where each setting of the constructor was written, and `defaulted` the settings it
   * did not write (see `fields`).
   */
  private ctorValue(e: Expression, family: string, what: string, prefix = "", spans?: Record<string, Span>, defaulted?: string[]): Value | undefined {
    const callee = e.kind === "Call" ? e.callee : e.kind === "Ref" ? e.path : undefined;
    if (callee?.length !== 1)
      return this.fail(
        diagnostic("typeMismatch", { expected: `a ${family} (${[...ctorsOf(family).keys()].join(", ")})`, found: describeExpression(e) }, e.span),
      );
    const name = (callee[0] as Ident).name;
    const ctor = findCtor(family, name);
    if (!ctor) {
      return this.fail(
        diagnostic(
          "unknownConstructor",
          { name, category: family },
          callee[0]?.span,
          suggest(name, ctorsOf(family).keys(), callee[0]?.span) ?? { help: helpTexts.oneOf([...ctorsOf(family).keys()].join(", ")) },
        ),
      );
    }
    const call = e.kind === "Call" ? e : ({ kind: "Call", callee, span: e.span } satisfies Call);
    const checked = this.call(ctor, call, prefix || `${what}.`);
    if (checked && spans) Object.assign(spans, checked.valueSpans);
    if (checked && defaulted) defaulted.push(...checked.defaulted);
    return checked ? { k: "record", ctor: ctor.name, fields: checked.settings } : undefined;
  }

  /** Checks a constructor call: positional arguments, then settings. `prefix` addresses sweep overrides. */
  call(ctor: Ctor, e: Call, prefix: string): CheckedCall | undefined {
    const calleeSpan = spanOfPath(e.callee, e.span);
    const args: CheckedArg[] = [];
    const given = e.args ?? [];
    const variadic = ctor.args[ctor.args.length - 1]?.variadic === true;
    const fixed = variadic ? ctor.args.length - 1 : ctor.args.length;
    const tooFew = given.length < ctor.args.length;
    const tooMany = !variadic && given.length > ctor.args.length;
    if (tooFew || tooMany) {
      const expected =
        ctor.args.length === 0
          ? "no arguments"
          : `${variadic ? "at least " : ""}${ctor.args.length} argument${ctor.args.length === 1 ? "" : "s"} (${ctor.args.map((a) => a.name + (a.variadic ? "…" : "")).join(", ")})`;
      const help =
        ctor.args.length === 0 && given.length > 0 ? helpTexts.settingsInBlock(ctor.name) : ctor.example ? helpTexts.example(ctor.example) : undefined;
      this.report(
        diagnostic(
          "wrongArgumentCount",
          { callee: ctor.name, expected, found: given.length },
          e.args && given.length > 0 ? spanOver(given, e.span) : calleeSpan,
          help ? { help } : {},
        ),
      );
    }
    let ok = !(tooFew || tooMany);
    given.forEach((arg, i) => {
      const spec = ctor.args[Math.min(i, variadic ? ctor.args.length - 1 : i)];
      if (!spec || (!variadic && i >= fixed && i >= ctor.args.length)) return;
      const v = this.value(arg, spec.type, spec.name);
      if (v === undefined) {
        ok = false;
        return;
      }
      const checked: CheckedArg = { value: v, span: arg.span };
      const info = v.k === "ref" ? this.refInfo.get(v) : undefined;
      if (info) checked.info = info;
      args.push(checked);
    });
    const block = e.block ?? { kind: "Block", entries: [], span: e.span };
    const {
      settings,
      settingSpans,
      valueSpans,
      defaulted,
      ok: fieldsOk,
    } = this.fields(ctor.fields, block, ctor.name, prefix.replace(/\.$/, ""), calleeSpan, ctor);
    if (!ok || !fieldsOk) return undefined;
    return { ctor, args, settings, settingSpans, valueSpans, defaulted, span: e.span, calleeSpan };
  }

  /**
   * Checks a block against a schema: unknown keys (with did-you-mean), duplicates, dotted keys as nested
   * blocks, defaults and required settings, exclusive settings, and sweep overrides. `settingSpans` has
   * the entry (`key: value`) of each key written here; `valueSpans` the value of every setting written,
   * nested ones included, by dotted path (`objective.label_smoothing`), for checks that point at one. `defaulted`
   * has the dotted paths of the settings whose value is the schema's default because nothing gave one (not written,
   * not set by a sweep): a whole nested block not written is one path (`objective`), a setting left out of a written
   * block its own (`objective.label_smoothing`).
   */
  fields(
    schema: Fields,
    block: Block,
    construct: string,
    path: string,
    missingAt: Span = block.span,
    ctor?: Ctor,
  ): { settings: Record<string, Value>; settingSpans: Record<string, Span>; valueSpans: Record<string, Span>; defaulted: string[]; ok: boolean } {
    const settings: Record<string, Value> = {};
    const settingSpans: Record<string, Span> = {};
    const valueSpans: Record<string, Span> = {};
    const defaulted: string[] = [];
    let ok = true;
    const groups = new Map<string, { entries: Entry[]; span: Span }>();
    for (const entry of block.entries) {
      const head = entry.key[0];
      if (!head || head.name === "") continue;
      if (!(head.name in schema)) {
        const nested = nestedHome(head.name, schema);
        this.report(
          diagnostic(
            "unknownKey",
            { key: head.name, construct },
            head.span,
            suggest(head.name, Object.keys(schema), head.span) ?? { help: nested ?? helpTexts.settingsOf(construct, Object.keys(schema).join(", ")) },
          ),
        );
        ok = false;
        continue;
      }
      const group = groups.get(head.name);
      const dotted = entry.key.length > 1;
      if (group && (!dotted || group.entries.some((x) => x.key.length === 1))) {
        this.report(
          diagnostic("duplicateKey", { key: entry.key.map((k) => k.name).join(".") }, head.span, {
            labels: [{ span: group.span, message: labelTexts.firstGivenHere() }],
          }),
        );
        ok = false;
        continue;
      }
      if (group) group.entries.push(entry);
      else groups.set(head.name, { entries: [entry], span: head.span });
    }
    for (const [key, field] of Object.entries(schema)) {
      const fullPath = path ? `${path}.${key}` : key;
      const over = this.host.override(fullPath);
      const group = groups.get(key);
      let v: Value | undefined;
      if (over !== undefined) {
        v = over;
      } else if (group) {
        const first = group.entries[0] as Entry;
        const expr: Expression =
          first.key.length === 1 ? first.value : { kind: "Block", entries: group.entries.map((x) => ({ ...x, key: x.key.slice(1) })), span: first.span };
        const nested: Record<string, Span> = {};
        const nestedDefaults: string[] = [];
        v = this.settingReference(expr, field.type, key) ?? this.fieldValue(expr, field, key, fullPath, nested, nestedDefaults);
        if (v === undefined) ok = false;
        else {
          settingSpans[key] = first.span;
          valueSpans[key] = first.key.length === 1 ? first.value.span : first.span;
          for (const [k, span] of Object.entries(nested)) valueSpans[`${key}.${k}`] = span;
          for (const k of nestedDefaults) defaulted.push(`${key}.${k}`);
        }
      } else if (this.host.hasOverrideUnder(`${fullPath}.`) && (field.type.t === "record" || field.type.t === "ctor")) {
        const empty: Block = { kind: "Block", entries: [], span: block.span };
        const ctorName = field.default?.k === "record" ? field.default.ctor : undefined;
        const nestedDefaults: string[] = [];
        v =
          field.type.t === "ctor" && ctorName
            ? this.ctorValue(
                { kind: "Ref", path: [{ kind: "Ident", name: ctorName, span: block.span }], span: block.span },
                field.type.family,
                key,
                `${fullPath}.`,
                undefined,
                nestedDefaults,
              )
            : this.fieldValue(empty, field, key, fullPath, undefined, nestedDefaults);
        for (const k of nestedDefaults) defaulted.push(`${key}.${k}`);
      } else if (field.default !== undefined) {
        v = field.type.t === "record" ? this.withDefaults(field, fullPath) : field.default;
        defaulted.push(key);
      } else if (field.required) {
        this.report(diagnostic("missingKey", { key, construct }, missingAt, { help: helpTexts.addSetting(key, field.doc) }));
        ok = false;
      }
      if (v !== undefined) settings[key] = v;
    }
    for (const [a, b] of ctor?.exclusive ?? []) {
      if (groups.has(a) && groups.has(b)) {
        this.report(diagnostic("conflictingKeys", { a, b }, groups.get(b)?.span));
        ok = false;
      }
    }
    for (const group of ctor?.oneOf ?? []) {
      if (!group.some((k) => settings[k] !== undefined)) {
        this.report(diagnostic("needsOneOf", { keys: group.map((k) => `'${k}'`).join(" or ") }, missingAt));
        ok = false;
      }
    }
    return { settings, settingSpans, valueSpans, defaulted, ok };
  }

  /** `spans`, when given, receives the value spans of a nested block's settings, and `defaulted` those it left out. */
  private fieldValue(expr: Expression, field: Field, key: string, fullPath: string, spans?: Record<string, Span>, defaulted?: string[]): Value | undefined {
    if (field.type.t === "record") {
      if (expr.kind !== "Block") return this.mismatch(field.type, expr);
      const r = this.fields(field.type.fields, expr, field.type.name, fullPath);
      if (spans) Object.assign(spans, r.valueSpans);
      if (defaulted) defaulted.push(...r.defaulted);
      return r.ok ? { k: "record", fields: r.settings } : undefined;
    }
    if (field.type.t === "ctor") return this.ctorValue(expr, field.type.family, key, `${fullPath}.`, spans, defaulted);
    return this.value(expr, field.type, key);
  }

  /** A nested record that was not written: its own defaults, so plans and hashes show the full configuration. */
  private withDefaults(field: Field, fullPath: string): Value | undefined {
    if (field.type.t !== "record") return field.default;
    const r = this.fields(field.type.fields, { kind: "Block", entries: [], span: emptySpan }, field.type.name, fullPath);
    return { k: "record", fields: r.settings };
  }

  // ── helpers ───────────────────────────────────────────────────────────────
  /** Whether `name` may come from an import that could not be read; the host reports it once per declaration. */
  private fromUnreadableImport(name: string, span: Span, path = this.unreadableImports[0]): boolean {
    if (path === undefined) return false;
    if (this.muted === 0) this.host.unresolved(name, span, path);
    return true;
  }

  /**
   * Tries an alternative without reporting. Only this evaluator is muted: a declaration checked on the
   * way (a reference's target) reports through its own evaluator, or its errors would be lost.
   */
  private quietly<T>(f: () => T): T {
    this.muted++;
    try {
      return f();
    } finally {
      this.muted--;
    }
  }

  private report(d: Diagnostic): void {
    if (this.muted === 0) this.host.report(d);
  }

  private mismatch(type: Type, e: Expression, extras?: DiagnosticExtras): undefined {
    if (e.kind === "Ref" && e.path.length === 1 && this.host.isParam((e.path[0] as Ident).name)) {
      return this.fail(bareParam((e.path[0] as Ident).name, e.span));
    }
    return this.fail(diagnostic("typeMismatch", { expected: typeName(type), found: describeExpression(e) }, e.span, extras));
  }

  /** `range` is a phrase: "in [0, 1]", "> 0". */
  private outOfRange(what: string, value: string, range: string, span: Span, extras?: DiagnosticExtras): undefined {
    return this.fail(diagnostic("outOfRange", { what, value, range }, span, extras));
  }

  private fail(d: Diagnostic): undefined {
    this.report(d);
    return undefined;
  }
}

/** Where a key belongs when it is a setting of a nested block: `beta` → `objective: { beta: … }`. */
function nestedHome(key: string, schema: Fields): TableText | undefined {
  for (const [name, field] of Object.entries(schema)) {
    if (field.type.t === "record" && key in field.type.fields) return helpTexts.nestedSetting(key, name);
    if (field.type.t === "ctor") {
      for (const ctor of ctorsOf(field.type.family).values()) {
        if (key in ctor.fields) return helpTexts.nestedCtorSetting(key, field.type.family, name, ctor.name);
      }
    }
  }
  return undefined;
}

/** A param written as a bare name: the fix writes it as `${name}`. */
function bareParam(name: string, span: Span): Diagnostic {
  return diagnostic("paramAsBareName", { name }, span, { fix: { span, replacement: `\${${name}}` } });
}

/**
 * A suggestion to write `replacement` instead of what `span` holds: "did you mean 80%?" unless another help line
 * says it better ("write it in quotes: …").
 */
function rewrite(replacement: string, span: Span, help: TableText = helpTexts.didYouMeanValue(replacement)): DiagnosticExtras {
  return { help, fix: { span, replacement } };
}

const emptySpan: Span = { file: "", start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };

function negate(n: number | undefined): number | undefined {
  return n === undefined ? undefined : -n;
}

function sameKind(v: Value, type: Type): boolean {
  const map: Partial<Record<Type["t"], Value["k"][]>> = {
    bool: ["bool"],
    duration: ["duration"],
    name: ["symbol"],
    range: ["range"],
    list: ["list"],
    record: ["record"],
    map: ["record"],
    ctor: ["record"],
    ref: ["ref"],
    score: ["expr"],
    predicate: ["expr"],
  };
  return map[type.t]?.includes(v.k) ?? false;
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

function spanOfPath(path: Ident[], fallback: Span): Span {
  const first = path[0];
  const last = path[path.length - 1];
  if (!first || !last) return fallback;
  return { ...first.span, end: last.span.end, endLine: last.span.endLine, endColumn: last.span.endColumn };
}

function spanOver(items: Expression[], fallback: Span): Span {
  const first = items[0];
  const last = items[items.length - 1];
  if (!first || !last) return fallback;
  return { ...first.span, end: last.span.end, endLine: last.span.endLine, endColumn: last.span.endColumn };
}
