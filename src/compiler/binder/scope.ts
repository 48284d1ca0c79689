// Name binding: the declarations visible in each file (its own, those of plain imports, and `as`
// namespaces), the program-wide param table, and qualified names (`common.sft`) that identify each
// declaration across the program. A file's scope refers to the scopes of its imports instead of copying
// them, so a chain of thousands of files, each importing the next, binds in linear time and memory.

import { type Diagnostic, diagnostic } from "../../diagnostics/diagnostic.ts";
import { labelTexts } from "../../diagnostics/messages.ts";
import type { Declaration, DeclarationKind, EvaluateDeclaration, ParamDeclaration } from "../ast/ast.ts";
import type { LoadedFile, Program } from "./load.ts";

export interface DeclSymbol {
  kind: "decl";
  /** Program-wide identity: the entry file's names unqualified, names behind `import … as x` prefixed `x.`. */
  qualified: string;
  declKind: DeclarationKind | "evaluate";
  node: Declaration | EvaluateDeclaration;
  file: LoadedFile;
}

export interface NamespaceSymbol {
  kind: "namespace";
  alias: string;
  scope: Scope;
  /** The import's path as written, when the file could not be read: the namespace is empty. */
  unreadable?: string;
}

export type SymbolEntry = DeclSymbol | NamespaceSymbol;

/** What an import adds to a file's scope: an `as` namespace, or every name the imported file sees. */
type ScopeImport = { alias: string; entry: NamespaceSymbol } | { scope: Scope };

/**
 * The names visible in one file: its own declarations, then each import in the order written: an `as`
 * alias, or (a plain import) every name visible in the imported file. The first definition of a name is
 * the one that counts; the binder reports the others. Lookups walk the imports depth first with an
 * explicit stack, each scope once, and are remembered per scope.
 */
export class Scope implements Iterable<[string, SymbolEntry]> {
  static readonly empty = new Scope(new Map(), []);
  /** Results of `get`, `null` for a name that is not visible. */
  private readonly found = new Map<string, SymbolEntry | null>();

  constructor(
    private readonly own: ReadonlyMap<string, SymbolEntry>,
    private readonly imports: readonly ScopeImport[],
  ) {}

  get(name: string): SymbolEntry | undefined {
    if (this.imports.length === 0) return this.own.get(name);
    let result = this.found.get(name);
    if (result === undefined) {
      result = this.search(name) ?? null;
      this.found.set(name, result);
    }
    return result ?? undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Every visible name once, with the definition that counts, in definition order. */
  *entries(): IterableIterator<[string, SymbolEntry]> {
    const names = new Set<string>();
    for (const [name, entry] of this.walk()) {
      if (names.has(name)) continue;
      names.add(name);
      yield [name, entry];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  [Symbol.iterator](): IterableIterator<[string, SymbolEntry]> {
    return this.entries();
  }

  private search(name: string): SymbolEntry | undefined {
    for (const [n, entry] of this.walk(name)) if (n === name) return entry;
    return undefined;
  }

  /**
   * Every definition in order (a name may come more than once): own declarations, then the imports, plain
   * ones expanded in place, each scope once. Given `only`, just the definitions of that name, and scopes that
   * already know the answer give it without being walked.
   */
  private *walk(only?: string): IterableIterator<[string, SymbolEntry]> {
    const seen = new Set<Scope>([this]);
    const stack: { scope: Scope; next: number }[] = [{ scope: this, next: -1 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { scope: Scope; next: number };
      if (top.next < 0) {
        top.next = 0;
        if (only === undefined) yield* top.scope.own;
        else {
          const own = top.scope.own.get(only);
          if (own) yield [only, own];
        }
      }
      const imp = top.scope.imports[top.next++];
      if (imp === undefined) stack.pop();
      else if ("alias" in imp) {
        if (only === undefined || imp.alias === only) yield [imp.alias, imp.entry];
      } else if (!seen.has(imp.scope)) {
        seen.add(imp.scope);
        const known = only === undefined ? undefined : imp.scope.found.get(only);
        if (known === undefined) stack.push({ scope: imp.scope, next: -1 });
        else if (known !== null) yield [only as string, known];
      }
    }
  }
}

export interface ParamSymbol {
  name: string;
  node: ParamDeclaration;
  file: LoadedFile;
}

export interface Bound {
  /** Scope of each file, by absolute path. */
  scopes: Map<string, Scope>;
  /** Every declaration once, in a stable order (entry file first, then imports as met). */
  decls: DeclSymbol[];
  params: Map<string, ParamSymbol>;
  /** Paths (as written) of plain imports that could not be read, by importing file: names may be missing. */
  unreadableImports: Map<string, string[]>;
  diagnostics: Diagnostic[];
}

export function bind(program: Program): Bound {
  const bound: Bound = { scopes: new Map(), decls: [], params: new Map(), unreadableImports: new Map(), diagnostics: [] };
  const prefixes = new Map<string, string>();
  // Qualified-name prefixes follow the first path from the entry, breadth first, so they are stable.
  if (program.entry) {
    const entryPath = [...program.files.entries()].find(([, f]) => f === program.entry)?.[0];
    const queue: [string, string][] = entryPath ? [[entryPath, ""]] : [];
    for (let head = 0; head < queue.length; head++) {
      const [abs, prefix] = queue[head] as [string, string];
      if (prefixes.has(abs)) continue;
      prefixes.set(abs, prefix);
      for (const imp of program.files.get(abs)?.imports ?? []) {
        if (imp.target && !prefixes.has(imp.target)) queue.push([imp.target, imp.statement.alias ? `${prefix}${imp.statement.alias.name}.` : prefix]);
      }
    }
  }

  const ownSymbols = new Map<string, DeclSymbol[]>();
  /** How many places define each name (declarations and `as` aliases): a name defined once cannot clash. */
  const sites = new Map<string, number>();
  const addSite = (name: string) => sites.set(name, (sites.get(name) ?? 0) + 1);
  for (const [abs, file] of program.files) {
    const prefix = prefixes.get(abs) ?? "";
    const own: DeclSymbol[] = [];
    for (const st of file.ast.statements) {
      if (st.kind === "Declaration" || st.kind === "Evaluate") {
        const sym: DeclSymbol = { kind: "decl", qualified: prefix + st.name.name, declKind: st.kind === "Evaluate" ? "evaluate" : st.declKind, node: st, file };
        own.push(sym);
        addSite(st.name.name);
      } else if (st.kind === "Param") {
        const prev = bound.params.get(st.name.name);
        if (prev) {
          bound.diagnostics.push(
            diagnostic("duplicateDeclaration", { name: st.name.name }, st.name.span, {
              labels: [{ span: prev.node.name.span, message: labelTexts.firstDeclaredHere() }],
            }),
          );
        } else {
          bound.params.set(st.name.name, { name: st.name.name, node: st, file });
        }
      } else if (st.alias) addSite(st.alias.name);
    }
    ownSymbols.set(abs, own);
  }
  const clashing = [...sites].flatMap(([name, n]) => (n > 1 ? [name] : []));
  // Entry file's declarations first in `decls`, so plans list them in the order users wrote them.
  const order = [...program.files.keys()].sort((a, b) => (prefixes.get(a) === "" ? 0 : 1) - (prefixes.get(b) === "" ? 0 : 1));
  for (const abs of order) bound.decls.push(...(ownSymbols.get(abs) ?? []));

  // Files are in dependency order, so each import's scope is complete when its importer is bound.
  for (const [abs, file] of program.files) {
    const own = new Map<string, SymbolEntry>();
    const imports: ScopeImport[] = [];
    /** The definition of `name` so far: own declarations, then the imports already added. */
    const earlier = (name: string): SymbolEntry | undefined => own.get(name) ?? new Scope(new Map(), imports).get(name);
    const clash = (name: string, entry: SymbolEntry, span: Diagnostic["span"]) => {
      const prev = earlier(name);
      if (!prev || prev === entry || (prev.kind === "decl" && entry.kind === "decl" && prev.node === entry.node)) return;
      const labels = prev.kind === "decl" ? [{ span: prev.node.name.span, message: labelTexts.alsoDeclaredHere() }] : [];
      bound.diagnostics.push(diagnostic("duplicateDeclaration", { name }, span, { labels }));
    };
    for (const sym of ownSymbols.get(abs) ?? []) {
      clash(sym.node.name.name, sym, sym.node.name.span);
      if (!own.has(sym.node.name.name)) own.set(sym.node.name.name, sym);
    }
    for (const imp of file.imports) {
      const alias = imp.statement.alias;
      if (imp.unreadable && !alias) {
        bound.unreadableImports.set(abs, [...(bound.unreadableImports.get(abs) ?? []), imp.statement.path.value]);
        continue;
      }
      const imported = imp.unreadable ? Scope.empty : imp.target ? bound.scopes.get(imp.target) : undefined;
      if (!imported) continue;
      if (alias) {
        const entry: NamespaceSymbol = imp.unreadable
          ? { kind: "namespace", alias: alias.name, scope: imported, unreadable: imp.statement.path.value }
          : { kind: "namespace", alias: alias.name, scope: imported };
        clash(alias.name, entry, alias.span);
        imports.push({ alias: alias.name, entry });
        continue;
      }
      // Only a name defined in more than one place can clash; with no plain import before this one, only
      // this file's own names and aliases can be defined already.
      const candidates = imports.some((i) => "scope" in i)
        ? clashing
        : [...own.keys(), ...imports.map((i) => ("alias" in i ? i.alias : ""))].filter((n) => (sites.get(n) ?? 0) > 1);
      for (const name of candidates) {
        const entry = imported.get(name);
        if (entry) clash(name, entry, imp.statement.span);
      }
      imports.push({ scope: imported });
    }
    bound.scopes.set(abs, new Scope(own, imports));
  }
  return bound;
}
