// The declarations a declaration refers to, read from its syntax, and orders over them computed with
// explicit stacks. The checker checks a declaration's references as it meets them, recursively; for long
// chains of declarations (thousands of files, each using the one it imports) it uses these to check the
// rest of a chain dependencies first, so the recursion stays shallow (see check.ts).
import type { Declaration, EvaluateDeclaration, Expression, Ident } from "../ast/ast.ts";
import type { DeclSymbol, Scope } from "../binder/scope.ts";

/**
 * Qualified names of the declarations that `node` names, in source order, each once: references
 * (`train`, `common.sft`, `dpo.objective.beta`) and, in a sweep, the targets of its axes. A name the
 * checker reads as something else (a symbol, a constructor) may be listed too: the list only orders work.
 */
export function referencedDeclarations(node: Declaration | EvaluateDeclaration, scope: Scope): string[] {
  const out = new Set<string>();
  const add = (path: readonly Ident[]) => {
    const target = resolveDeclaration(path, scope);
    if (target) out.add(target.qualified);
  };
  const sweep = node.kind === "Declaration" && node.declKind === "sweep";
  const pending: Expression[] = node.kind === "Evaluate" ? [node.block] : [node.value];
  while (pending.length > 0) {
    const e = pending.pop() as Expression;
    const children: Expression[] = [];
    switch (e.kind) {
      case "Ref":
        add(e.path);
        break;
      case "Call":
        children.push(...(e.args ?? []));
        if (e.block) children.push(e.block);
        break;
      case "Block":
        for (const entry of e.entries) {
          if (sweep) add(entry.key);
          children.push(entry.value);
        }
        break;
      case "List":
        children.push(...e.items);
        break;
      case "Binary":
        children.push(e.left, e.right);
        break;
      case "Range":
        children.push(e.lo, e.hi);
        break;
      case "Unary":
        children.push(e.operand);
        break;
      case "Paren":
        children.push(e.expression);
        break;
      default:
        break;
    }
    // Reversed onto the stack, so they come off in source order.
    for (let i = children.length - 1; i >= 0; i--) pending.push(children[i] as Expression);
  }
  return [...out];
}

/** The declaration a dotted path starts with, through `as` namespaces; undefined when it names none. */
function resolveDeclaration(path: readonly Ident[], scope: Scope): DeclSymbol | undefined {
  let current = scope;
  for (const id of path) {
    const entry = current.get(id.name);
    if (!entry) return undefined;
    if (entry.kind === "decl") return entry;
    current = entry.scope;
  }
  return undefined;
}

/**
 * Depth-first post-order from `roots`: every node after the nodes it leads to (`next`), each once. Nodes
 * for which `skip` holds are not entered; an edge back to a node still open (a cycle) is ignored.
 */
export function postOrder(roots: Iterable<string>, next: (node: string) => Iterable<string>, skip: (node: string) => boolean = () => false): string[] {
  const order: string[] = [];
  const entered = new Set<string>();
  for (const root of roots) {
    if (entered.has(root) || skip(root)) continue;
    entered.add(root);
    const stack: { node: string; rest: Iterator<string> }[] = [{ node: root, rest: next(root)[Symbol.iterator]() }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { node: string; rest: Iterator<string> };
      const step = top.rest.next();
      if (step.done) {
        stack.pop();
        order.push(top.node);
        continue;
      }
      const child = step.value;
      if (entered.has(child) || skip(child)) continue;
      entered.add(child);
      stack.push({ node: child, rest: next(child)[Symbol.iterator]() });
    }
  }
  return order;
}
