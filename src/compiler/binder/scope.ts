// Name binding: the declarations visible in each file (its own, those of plain imports, and `as`
// namespaces), the program-wide param table, and qualified names (`common.sft`) that identify each
// declaration across the program.
import type { Declaration, DeclarationKind, EvaluateDeclaration, ParamDeclaration } from "../ast/ast.ts";
import { type Diagnostic, diagnostic } from "../diagnostics/diagnostic.ts";
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
  scope: Map<string, SymbolEntry>;
  /** The import's path as written, when the file could not be read: the namespace is empty. */
  unreadable?: string;
}

export type SymbolEntry = DeclSymbol | NamespaceSymbol;

export interface ParamSymbol {
  name: string;
  node: ParamDeclaration;
  file: LoadedFile;
}

export interface Bound {
  /** Scope of each file, by absolute path. */
  scopes: Map<string, Map<string, SymbolEntry>>;
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
    while (queue.length > 0) {
      const [abs, prefix] = queue.shift() as [string, string];
      if (prefixes.has(abs)) continue;
      prefixes.set(abs, prefix);
      for (const imp of program.files.get(abs)?.imports ?? []) {
        if (imp.target) queue.push([imp.target, imp.statement.alias ? `${prefix}${imp.statement.alias.name}.` : prefix]);
      }
    }
  }

  const ownSymbols = new Map<string, DeclSymbol[]>();
  for (const [abs, file] of program.files) {
    const prefix = prefixes.get(abs) ?? "";
    const own: DeclSymbol[] = [];
    for (const st of file.ast.statements) {
      if (st.kind === "Declaration" || st.kind === "Evaluate") {
        const sym: DeclSymbol = { kind: "decl", qualified: prefix + st.name.name, declKind: st.kind === "Evaluate" ? "evaluate" : st.declKind, node: st, file };
        own.push(sym);
      } else if (st.kind === "Param") {
        const prev = bound.params.get(st.name.name);
        if (prev) {
          bound.diagnostics.push(
            diagnostic("duplicateDeclaration", { name: st.name.name }, st.name.span, {
              labels: [{ span: prev.node.name.span, message: "first declared here" }],
            }),
          );
        } else {
          bound.params.set(st.name.name, { name: st.name.name, node: st, file });
        }
      }
    }
    ownSymbols.set(abs, own);
  }
  // Entry file's declarations first in `decls`, so plans list them in the order users wrote them.
  const order = [...program.files.keys()].sort((a, b) => (prefixes.get(a) === "" ? 0 : 1) - (prefixes.get(b) === "" ? 0 : 1));
  for (const abs of order) bound.decls.push(...(ownSymbols.get(abs) ?? []));

  // Files are in dependency order, so each import's scope is complete when its importer is bound.
  for (const [abs, file] of program.files) {
    const scope = new Map<string, SymbolEntry>();
    const define = (name: string, entry: SymbolEntry, at: Declaration | EvaluateDeclaration | undefined, importSpan?: Diagnostic["span"]) => {
      const prev = scope.get(name);
      if (prev && prev !== entry && !(prev.kind === "decl" && entry.kind === "decl" && prev.node === entry.node)) {
        const span = at && entry.kind === "decl" && entry.file === file ? at.name.span : importSpan;
        const labels = prev.kind === "decl" ? [{ span: prev.node.name.span, message: "also declared here" }] : [];
        bound.diagnostics.push(diagnostic("duplicateDeclaration", { name }, span, { labels }));
        return;
      }
      scope.set(name, entry);
    };
    for (const sym of ownSymbols.get(abs) ?? []) define(sym.node.name.name, sym, sym.node);
    for (const imp of file.imports) {
      if (imp.unreadable) {
        const written = imp.statement.path.value;
        if (imp.statement.alias)
          define(
            imp.statement.alias.name,
            { kind: "namespace", alias: imp.statement.alias.name, scope: new Map(), unreadable: written },
            undefined,
            imp.statement.alias.span,
          );
        else bound.unreadableImports.set(abs, [...(bound.unreadableImports.get(abs) ?? []), written]);
        continue;
      }
      if (!imp.target) continue;
      const imported = bound.scopes.get(imp.target);
      if (!imported) continue;
      if (imp.statement.alias) {
        define(imp.statement.alias.name, { kind: "namespace", alias: imp.statement.alias.name, scope: imported }, undefined, imp.statement.alias.span);
      } else {
        for (const [name, entry] of imported) define(name, entry, undefined, imp.statement.span);
      }
    }
    bound.scopes.set(abs, scope);
  }
  return bound;
}
