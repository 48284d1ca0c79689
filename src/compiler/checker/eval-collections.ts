// Values made of other values: lists (with their length and uniqueness), maps of user-chosen keys, and unions,
// whose alternatives are tried quietly before the best-fitting one reports.

import { diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts, labelTexts } from "../../diagnostics/messages.ts";
import type { Expression, Ident } from "../ast/ast.ts";
import type { Scope } from "../binder/scope.ts";
import { suggest } from "../values/suggest.ts";
import { type Category, type Type, typeName, type Value, valueText } from "../values/types.ts";
import type { EvalReporter } from "./eval-reporter.ts";
import type { EvalHost, Evaluator } from "./evaluate.ts";

export class CollectionChecker {
  constructor(
    private readonly ev: Evaluator,
    private readonly host: EvalHost,
    private readonly scope: Scope,
    private readonly out: EvalReporter,
  ) {}

  list(e: Expression, type: Type & { t: "list" }, what: string): Value | undefined {
    if (e.kind !== "List") return this.out.mismatch(type, e);
    if (type.min !== undefined && e.items.length < type.min) return this.out.fail(diagnostic("emptyList", { what }, e.span));
    const items: Value[] = [];
    const seen = new Map<string, Span>();
    let ok = true;
    for (const item of e.items) {
      const v = this.ev.value(item, type.of, what);
      if (v === undefined) {
        ok = false;
        continue;
      }
      if (type.unique) {
        const key = valueText(v);
        const prev = seen.get(key);
        if (prev)
          this.out.report(
            diagnostic("duplicateKey", { key }, item.span, { labels: [{ span: prev, message: labelTexts.firstHere() }], help: helpTexts.removeRepeated() }),
          );
        seen.set(key, item.span);
      }
      items.push(v);
    }
    return ok ? { k: "list", items } : undefined;
  }

  map(e: Expression, type: Type & { t: "map" }, what: string): Value | undefined {
    if (e.kind !== "Block") return this.out.mismatch(type, e);
    const fields: Record<string, Value> = {};
    for (const entry of e.entries) {
      const key = entry.key.map((k) => k.name).join(".");
      if (key in fields) {
        this.out.report(diagnostic("duplicateKey", { key }, entry.key[0]?.span));
        continue;
      }
      const v = this.ev.value(entry.value, type.of, `${what}.${key}`);
      if (v !== undefined) fields[key] = v;
    }
    return { k: "record", fields };
  }

  union(e: Expression, type: Type & { t: "union" }, what: string): Value | undefined {
    for (const alt of type.of) {
      const v = this.out.quietly(() => this.ev.value(e, alt, what));
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
      if (!this.scope.has(name) && !this.host.isParam(name) && this.out.fromUnreadableImport(name, e.span)) return undefined;
      if (!this.scope.has(name)) {
        const symbols = type.of.flatMap((t) => (t.t === "enum" ? t.values : []));
        const names = [...symbols, ...this.declaredOf(type.of)];
        return this.out.fail(diagnostic("typeMismatch", { expected: typeName(type), found: `'${name}'` }, e.span, suggest(name, names, e.span)));
      }
    }
    return best ? this.ev.value(e, best, what) : undefined;
  }

  /** Declarations in scope of the categories that the reference alternatives among `types` accept. */
  private declaredOf(types: readonly Type[]): string[] {
    const cats = new Set(types.flatMap((t) => (t.t === "ref" ? [t.category] : [])));
    const out: string[] = [];
    for (const [name, entry] of this.scope) if (entry.kind === "decl" && cats.has(entry.declKind as Category)) out.push(name);
    return out;
  }
}
