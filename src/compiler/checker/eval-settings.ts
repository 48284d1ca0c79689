// A block of settings checked against its schema: unknown keys (with did-you-mean), duplicates, dotted keys as
// nested blocks, sweep overrides, defaults and required settings, and the constructor's exclusive settings.

import { diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts, labelTexts, type TableText } from "../../diagnostics/messages.ts";
import type { Block, Entry, Expression } from "../ast/ast.ts";
import { suggest } from "../values/suggest.ts";
import type { Field, Fields, Value } from "../values/types.ts";
import { type Ctor, ctorsOf } from "./catalog/index.ts";
import type { EvalReporter } from "./eval-reporter.ts";
import type { EvalHost, Evaluator } from "./evaluate.ts";

export interface FieldOptions {
  /** Where a missing required setting is reported (default: the block). */
  missingAt?: Span;
  /** The constructor whose settings these are: its exclusive settings and groups of which one is required. */
  ctor?: Ctor;
  /**
   * Settings that the caller checks itself: their written expressions come back in `deferred`, unchecked (a sweep's
   * axes, whose values are checked against their targets). One not written gets its default, or is missing, as any.
   */
  deferred?: readonly string[];
  /** Help for an unknown key close to no setting, given the settings' names (default: "settings of …: …"). */
  unknownKeyHelp?: (settings: string) => TableText;
  /** Keys the block may hold besides the settings (named arguments, taken out of it before): did-you-means offer them. */
  alsoKeys?: readonly string[];
}

export interface CheckedFields {
  settings: Record<string, Value>;
  /** The entry (`key: value`) of each key written in this block. */
  settingSpans: Record<string, Span>;
  /** The value of every setting written, nested ones included, by dotted path (`objective.label_smoothing`). */
  valueSpans: Record<string, Span>;
  /**
   * Dotted paths of the settings whose value is the schema's default because nothing gave one (not written, not set
   * by a sweep): a whole nested block not written is one path (`objective`), a setting left out of a written block
   * its own (`objective.label_smoothing`).
   */
  defaulted: string[];
  /** The written expressions of `FieldOptions.deferred` settings. */
  deferred: Record<string, Expression>;
  ok: boolean;
}

/** One block being checked: what its messages call it, where a missing setting is reported, what it found so far. */
interface BlockContext {
  block: Block;
  construct: string;
  missingAt: Span;
  checked: CheckedFields;
}

/** The entries of a block that write one setting: `lr: …`, or dotted ones `objective.beta: …`, `objective.loss: …`. */
interface EntryGroup {
  entries: Entry[];
  span: Span;
}

export class SettingsChecker {
  constructor(
    private readonly ev: Evaluator,
    private readonly host: EvalHost,
    private readonly out: EvalReporter,
  ) {}

  /** Checks `block` against `schema`; `construct` names it in messages, `path` addresses sweep overrides. */
  fields(schema: Fields, block: Block, construct: string, path: string, options: FieldOptions = {}): CheckedFields {
    const checked: CheckedFields = { settings: {}, settingSpans: {}, valueSpans: {}, defaulted: [], deferred: {}, ok: true };
    const cx: BlockContext = { block, construct, missingAt: options.missingAt ?? block.span, checked };
    const groups = this.groupEntries(schema, cx, options.unknownKeyHelp, options.alsoKeys);
    for (const [key, field] of Object.entries(schema)) {
      const group = groups.get(key);
      if (group && options.deferred?.includes(key)) checked.deferred[key] = groupExpression(group);
      else {
        const v = this.setting(key, field, group, path ? `${path}.${key}` : key, cx);
        if (v !== undefined) checked.settings[key] = v;
      }
    }
    this.checkExclusive(options.ctor, groups, cx);
    return checked;
  }

  /** The entries of `block` by setting; unknown keys and repeated ones are reported and left out. */
  private groupEntries(
    schema: Fields,
    cx: BlockContext,
    unknownKeyHelp?: (settings: string) => TableText,
    alsoKeys: readonly string[] = [],
  ): Map<string, EntryGroup> {
    const { construct, checked } = cx;
    const groups = new Map<string, EntryGroup>();
    for (const entry of cx.block.entries) {
      const head = entry.key[0];
      if (!head || head.name === "") continue;
      if (!(head.name in schema)) {
        const keys = [...Object.keys(schema), ...alsoKeys.filter((k) => k !== head.name)];
        const names = keys.join(", ");
        const help = nestedHome(head.name, schema) ?? unknownKeyHelp?.(names) ?? helpTexts.settingsOf(construct, names);
        this.out.report(diagnostic("unknownKey", { key: head.name, construct }, head.span, suggest(head.name, keys, head.span) ?? { help }));
        checked.ok = false;
        continue;
      }
      const group = groups.get(head.name);
      const dotted = entry.key.length > 1;
      if (group && (!dotted || group.entries.some((x) => x.key.length === 1))) {
        const labels = [{ span: group.span, message: labelTexts.firstGivenHere() }];
        this.out.report(diagnostic("duplicateKey", { key: entry.key.map((k) => k.name).join(".") }, head.span, { labels }));
        checked.ok = false;
        continue;
      }
      if (group) group.entries.push(entry);
      else groups.set(head.name, { entries: [entry], span: head.span });
    }
    return groups;
  }

  /** One setting's value: a sweep's override, what was written, defaults under an override, or the default. */
  private setting(key: string, field: Field, group: EntryGroup | undefined, fullPath: string, cx: BlockContext): Value | undefined {
    const over = this.host.override(fullPath);
    if (over !== undefined) return over;
    if (group) {
      const v = this.written(key, field, group, fullPath, cx.checked);
      if (v === undefined) cx.checked.ok = false;
      return v;
    }
    if (this.host.hasOverrideUnder(`${fullPath}.`) && (field.type.t === "record" || field.type.t === "ctor"))
      return this.overriddenInside(key, field, fullPath, cx);
    if (field.default !== undefined) {
      cx.checked.defaulted.push(key);
      return field.type.t === "record" ? this.withDefaults(field, fullPath) : field.default;
    }
    if (field.required) {
      cx.checked.ok = false;
      this.out.report(diagnostic("missingKey", { key, construct: cx.construct }, cx.missingAt, { help: helpTexts.addSetting(key, field.doc) }));
    }
    return undefined;
  }

  /** A block not written here in which a sweep sets a setting: the block's defaults with that setting changed. */
  private overriddenInside(key: string, field: Field, fullPath: string, cx: BlockContext): Value | undefined {
    const { block } = cx;
    const ctorName = field.default?.k === "record" ? field.default.ctor : undefined;
    const defaulted: string[] = [];
    const v =
      field.type.t === "ctor" && ctorName
        ? this.ev.ctorValue({ kind: "Ref", path: [{ kind: "Ident", name: ctorName, span: block.span }], span: block.span }, field.type.family, key, {
            prefix: `${fullPath}.`,
            defaulted,
          })
        : this.fieldValue({ kind: "Block", entries: [], span: block.span }, field, key, fullPath, undefined, defaulted);
    for (const k of defaulted) cx.checked.defaulted.push(`${key}.${k}`);
    return v;
  }

  /** A setting written in this block, with where it and its nested settings were written. */
  private written(key: string, field: Field, group: EntryGroup, fullPath: string, checked: CheckedFields): Value | undefined {
    const first = group.entries[0] as Entry;
    const expr = groupExpression(group);
    const nested: Record<string, Span> = {};
    const nestedDefaults: string[] = [];
    const v = this.ev.settingReference(expr, field.type, key) ?? this.fieldValue(expr, field, key, fullPath, nested, nestedDefaults);
    if (v === undefined) return undefined;
    checked.settingSpans[key] = first.span;
    checked.valueSpans[key] = first.key.length === 1 ? first.value.span : first.span;
    for (const [k, span] of Object.entries(nested)) checked.valueSpans[`${key}.${k}`] = span;
    for (const k of nestedDefaults) checked.defaulted.push(`${key}.${k}`);
    return v;
  }

  /** `spans`, when given, receives the value spans of a nested block's settings, and `defaulted` those it left out. */
  private fieldValue(expr: Expression, field: Field, key: string, fullPath: string, spans?: Record<string, Span>, defaulted?: string[]): Value | undefined {
    if (field.type.t === "record") {
      if (expr.kind !== "Block") return this.out.mismatch(field.type, expr);
      const r = this.fields(field.type.fields, expr, field.type.name, fullPath);
      if (spans) Object.assign(spans, r.valueSpans);
      if (defaulted) defaulted.push(...r.defaulted);
      return r.ok ? { k: "record", fields: r.settings } : undefined;
    }
    if (field.type.t === "ctor") {
      const nested = { prefix: `${fullPath}.`, ...(spans ? { spans } : {}), ...(defaulted ? { defaulted } : {}) };
      return this.ev.ctorValue(expr, field.type.family, key, nested);
    }
    return this.ev.value(expr, field.type, key);
  }

  /** A nested record that was not written: its own defaults, so plans and hashes show the full configuration. */
  private withDefaults(field: Field, fullPath: string): Value | undefined {
    if (field.type.t !== "record") return field.default;
    const r = this.fields(field.type.fields, { kind: "Block", entries: [], span: emptySpan }, field.type.name, fullPath);
    return { k: "record", fields: r.settings };
  }

  /** Settings of the constructor that exclude each other, and groups of which one must be given. */
  private checkExclusive(ctor: Ctor | undefined, groups: ReadonlyMap<string, EntryGroup>, cx: BlockContext): void {
    const { checked, missingAt } = cx;
    for (const [a, b] of ctor?.exclusive ?? []) {
      if (groups.has(a) && groups.has(b)) {
        this.out.report(diagnostic("conflictingKeys", { a, b }, groups.get(b)?.span));
        checked.ok = false;
      }
    }
    for (const group of ctor?.oneOf ?? []) {
      if (!group.some((k) => checked.settings[k] !== undefined)) {
        this.out.report(diagnostic("needsOneOf", { keys: group.map((k) => `'${k}'`).join(" or ") }, missingAt));
        checked.ok = false;
      }
    }
  }
}

/** A group's value: the one entry's, or dotted entries as the nested block they abbreviate. */
function groupExpression(group: EntryGroup): Expression {
  const first = group.entries[0] as Entry;
  if (first.key.length === 1) return first.value;
  return { kind: "Block", entries: group.entries.map((x) => ({ ...x, key: x.key.slice(1) })), span: first.span };
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

const emptySpan: Span = { file: "", start: 0, end: 0, line: 1, column: 1, endLine: 1, endColumn: 1 };
