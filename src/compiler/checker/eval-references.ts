// Names that refer to declarations: a reference of a category (with a split's part and the dataset kinds a
// place accepts), dotted paths through namespaces, and references to another declaration's nested setting.

import { diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import { helpTexts, labelTexts } from "../../diagnostics/messages.ts";
import type { Expression, Ident } from "../ast/ast.ts";
import type { DeclSymbol, Scope } from "../binder/scope.ts";
import { suggest } from "../values/suggest.ts";
import { type Category, datasetKindText, type Type, typeName, type Value } from "../values/types.ts";
import type { ResultInfo } from "./catalog/ctor.ts";
import { familyOf } from "./catalog/index.ts";
import { bareParam, type EvalReporter, rewrite, spanOver } from "./eval-reporter.ts";
import type { ScalarChecker } from "./eval-scalars.ts";
import type { EvalHost } from "./evaluate.ts";

/** What a dotted path names: a declaration (a split's part, `port`), or a nested setting of one. */
export type ResolvedPath = { kind: "decl"; symbol: DeclSymbol; port?: string } | { kind: "setting"; value: Value; text: string };

export class ReferenceResolver {
  /** What a reference's target is, as found when the reference was checked (asked once: cycles report once). */
  private readonly refInfo = new WeakMap<Value, ResultInfo>();

  constructor(
    private readonly host: EvalHost,
    private readonly scope: Scope,
    private readonly out: EvalReporter,
    private readonly scalars: ScalarChecker,
  ) {}

  /** What the target of `ref` (a value this resolver made) was found to be. */
  infoOf(ref: Value): ResultInfo | undefined {
    return this.refInfo.get(ref);
  }

  reference(e: Expression, type: Type & { t: "ref" }): Value | undefined {
    if (e.kind !== "Ref") {
      if (e.kind === "Call")
        return this.out.fail(
          diagnostic("typeMismatch", { expected: `${typeName(type)} name`, found: "a constructor call" }, e.span, { help: helpTexts.declareFirst() }),
        );
      return this.out.mismatch(type, e);
    }
    const resolved = this.resolvePath(e.path, type.category);
    if (!resolved) return undefined;
    if (resolved.kind === "setting") {
      return this.out.fail(diagnostic("typeMismatch", { expected: typeName(type), found: `the setting ${resolved.text}` }, e.span));
    }
    const { symbol, port } = resolved;
    const accepts = (cat: string) => cat === type.category || (type.category === "model" && cat === "phase");
    if (!accepts(symbol.declKind)) {
      return this.out.fail(
        diagnostic("wrongDeclarationKind", { name: symbol.qualified, expected: type.category, found: symbol.declKind }, e.span, {
          labels: [{ span: symbol.node.name.span, message: labelTexts.declaredAs(symbol.declKind) }],
        }),
      );
    }
    const info = this.host.infoOf(symbol.qualified, e.span);
    if (info?.category === "dataset" && !this.datasetFits(info, symbol.qualified, port, type, e.span)) return undefined;
    const ref: Value =
      port === undefined
        ? { k: "ref", target: symbol.qualified, category: symbol.declKind as Category }
        : { k: "ref", target: symbol.qualified, category: symbol.declKind as Category, port };
    if (info) this.refInfo.set(ref, info);
    return ref;
  }

  /** A dataset goes where one is expected as one part of a split, and of a kind the place accepts. */
  private datasetFits(info: ResultInfo & { category: "dataset" }, name: string, port: string | undefined, type: Type & { t: "ref" }, span: Span): boolean {
    if (info.ports && port === undefined) {
      const part = info.ports[0] ?? "part";
      const expected = { expected: "one part of the split", found: `the whole split '${name}'` };
      this.out.report(diagnostic("typeMismatch", expected, span, rewrite(`${name}.${part}`, span, helpTexts.writePart(name, part))));
      return false;
    }
    if (type.datasetKinds && !type.datasetKinds.includes(info.kind)) {
      const kinds = { name, expected: type.datasetKinds.map(datasetKindText).join(" or "), found: datasetKindText(info.kind) };
      this.out.report(diagnostic("wrongDatasetKind", kinds, span));
      return false;
    }
    return true;
  }

  /**
   * Walks a dotted path: namespaces (`common.sft`), split parts (`parts.train`), or nested settings
   * (`dpo.objective.beta`).
   */
  resolvePath(path: Ident[], wanted?: string): ResolvedPath | undefined {
    let scope = this.scope;
    for (let i = 0; i < path.length; i++) {
      const id = path[i] as Ident;
      const entry = scope.get(id.name);
      if (!entry) return this.unknownInPath(path, i, scope, wanted);
      if (entry.kind === "namespace") {
        if (entry.unreadable !== undefined) {
          const name = path.map((p) => p.name).join(".");
          this.out.fromUnreadableImport(name, spanOver(path, id.span), entry.unreadable);
          return undefined;
        }
        scope = entry.scope;
        continue;
      }
      return this.memberOf(entry, id, path.slice(i + 1));
    }
    return undefined;
  }

  /** `path[i]` is not in `scope`: a bare param, a name an unreadable import may declare, or a typo. */
  private unknownInPath(path: Ident[], i: number, scope: Scope, wanted: string | undefined): undefined {
    const id = path[i] as Ident;
    if (i === 0 && this.host.isParam(id.name)) return this.out.fail(bareParam(id.name, id.span));
    if (i === 0 && this.out.fromUnreadableImport(id.name, id.span)) return undefined;
    const candidates = [...scope.entries()]
      .filter(([, s]) => !wanted || s.kind === "namespace" || s.declKind === wanted || (wanted === "model" && s.declKind === "phase"))
      .map(([n]) => n);
    // A declared name close to it comes first (`pair` for `pairs`), even when the word also names a constructor.
    const ctorFamily = i === 0 ? familyOf(id.name) : undefined;
    const extra =
      suggest(id.name, candidates.length > 0 ? candidates : scope.keys(), id.span) ??
      (ctorFamily ? { help: helpTexts.constructorNotName(id.name, ctorFamily) } : {});
    if (i === 0) return this.out.fail(diagnostic("unknownName", { name: id.name, kind: wanted ?? "name" }, id.span, extra));
    const before = path
      .slice(0, i)
      .map((p) => p.name)
      .join(".");
    return this.out.fail(diagnostic("unknownMember", { path: before, member: id.name }, id.span, extra));
  }

  /** What follows a declaration's name in a path: nothing, a split's part, or a path into its settings. */
  private memberOf(entry: DeclSymbol, id: Ident, rest: Ident[]): ResolvedPath | undefined {
    if (rest.length === 0) return { kind: "decl", symbol: entry };
    const info = this.host.infoOf(entry.qualified, id.span);
    if (info?.category === "dataset" && info.ports && rest.length === 1) {
      const port = (rest[0] as Ident).name;
      if (info.ports.includes(port)) return { kind: "decl", symbol: entry, port };
      return this.out.fail(diagnostic("unknownMember", { path: entry.qualified, member: port }, rest[0]?.span, suggest(port, info.ports, rest[0]?.span)));
    }
    const settings = this.host.settingsOf(entry.qualified, id.span);
    if (!settings) return undefined;
    let value: Value = { k: "record", fields: settings };
    for (let j = 0; j < rest.length; j++) {
      const key = rest[j] as Ident;
      const next: Value | undefined = value.k === "record" ? value.fields[key.name] : undefined;
      if (next === undefined) {
        return this.out.fail(
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

  /** A setting whose value is a reference to another declaration's nested setting: `beta: dpo.objective.beta`. */
  settingReference(e: Expression, type: Type, what: string): Value | undefined {
    if (e.kind !== "Ref" || e.path.length < 2) return undefined;
    const head = this.scope.get((e.path[0] as Ident).name);
    if (head?.kind !== "decl") return undefined;
    const info = this.host.infoOf(head.qualified, e.span);
    if (info?.category === "dataset" && info.ports) return undefined;
    const r = this.resolvePath(e.path);
    if (r?.kind !== "setting") return undefined;
    return this.scalars.coerce(r.value, type, what, e.span);
  }
}
