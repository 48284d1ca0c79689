// CST → AST. Chevrotain's CST groups children by name, so operator chains are put back in source order by
// offset. Error recovery can leave children out; missing parts become `Error` expressions, and callers only
// check files without syntax errors, so those never reach the checker.
//
// The CST of `a + b + c …` is flat (the parser loops), but its AST is nested: each operator is a node
// whose left operand is the chain so far. Every later phase walks expressions recursively, so the builder
// bounds how deep an expression may nest (MAX_EXPRESSION_DEPTH): a deeper one is reported once (ALN1013)
// and replaced by an `Error` node, so no later phase ever sees it.
import type { CstElement, CstNode, IToken } from "chevrotain";
import { type Diagnostic, diagnostic, type Span } from "../../diagnostics/diagnostic.ts";
import type { SourceFile } from "../../diagnostics/source-file.ts";
import type * as A from "./ast.ts";

type Children = Record<string, CstElement[] | undefined>;

function isToken(e: CstElement): e is IToken {
  return (e as IToken).image !== undefined;
}

function startOf(e: CstElement): number {
  if (isToken(e)) return e.startOffset;
  const off = e.location?.startOffset;
  return off === undefined || Number.isNaN(off) ? Number.MAX_SAFE_INTEGER : off;
}

function endOf(e: CstElement): number {
  if (isToken(e)) return (e.endOffset ?? e.startOffset) + 1;
  const off = e.location?.endOffset;
  return off === undefined || Number.isNaN(off) ? -1 : off + 1;
}

/**
 * Deepest expression tree the builder accepts: every operator, bracket, call and block counts one level.
 * Brackets alone stop at 128 (parse/brackets.ts); real experiments stay far below either limit.
 */
export const MAX_EXPRESSION_DEPTH = 256;

export class AstBuilder {
  /** Problems found while building: expressions nested deeper than MAX_EXPRESSION_DEPTH. */
  readonly diagnostics: Diagnostic[] = [];
  /** Depth of each expression built (a leaf is 1), kept beside the tree rather than in it. */
  private readonly depths = new WeakMap<A.Expression, number>();

  constructor(private readonly source: SourceFile) {}

  private depthOf(e: A.Expression): number {
    return this.depths.get(e) ?? 1;
  }

  /**
   * Records the depth of a node one level above `children`; a node past the limit is reported and
   * becomes an `Error` node, so the walks of later phases stay shallow.
   */
  private nest<E extends A.Expression>(e: E, children: readonly A.Expression[]): E | A.ErrorExpression {
    let depth = 0;
    for (const c of children) depth = Math.max(depth, this.depthOf(c));
    return this.limited(e, depth + 1);
  }

  private limited<E extends A.Expression>(e: E, depth: number): E | A.ErrorExpression {
    if (depth > MAX_EXPRESSION_DEPTH) {
      this.diagnostics.push(diagnostic("expressionTooDeep", { depth, limit: MAX_EXPRESSION_DEPTH }, e.span));
      return { kind: "Error", span: e.span };
    }
    this.depths.set(e, depth);
    return e;
  }

  private spanOf(...elements: (CstElement | undefined)[]): Span {
    let start = Number.MAX_SAFE_INTEGER;
    let end = -1;
    for (const e of elements) {
      if (!e) continue;
      start = Math.min(start, startOf(e));
      end = Math.max(end, endOf(e));
    }
    if (start === Number.MAX_SAFE_INTEGER) start = this.source.text.length;
    if (end < start) end = start;
    return this.source.span(start, end);
  }

  private tok(c: Children, name: string, index = 0): IToken | undefined {
    const e = c[name]?.[index];
    return e && isToken(e) && !Number.isNaN(e.startOffset) && !e.isInsertedInRecovery ? e : undefined;
  }

  private sub(c: Children, name: string, index = 0): CstNode | undefined {
    const e = c[name]?.[index];
    return e && !isToken(e) ? e : undefined;
  }

  private subs(c: Children, name: string): CstNode[] {
    return (c[name] ?? []).filter((e): e is CstNode => !isToken(e));
  }

  /** All children with the given names, in source order. */
  private ordered(c: Children, names: string[]): CstElement[] {
    const all: CstElement[] = [];
    for (const n of names) for (const e of c[n] ?? []) all.push(e);
    return all.sort((a, b) => startOf(a) - startOf(b));
  }

  private ident(t: IToken | undefined, fallback: CstNode): A.Ident {
    if (!t) return { kind: "Ident", name: "", span: this.spanOf(fallback) };
    return { kind: "Ident", name: t.image, span: this.spanOf(t) };
  }

  file(cst: CstNode, comments: IToken[]): A.AlignFile {
    const c = cst.children;
    const versionNode = this.sub(c, "versionLine");
    const statements = this.subs(c, "statement")
      .map((s) => this.statement(s))
      .filter((s): s is A.Statement => s !== undefined);
    const result: A.AlignFile = {
      kind: "File",
      source: this.source,
      statements,
      comments: comments.map((t) => ({ kind: "Comment", text: t.image, block: t.image.startsWith("/*"), span: this.spanOf(t) })),
      span: this.source.span(0, this.source.text.length),
    };
    const versionToken = versionNode && this.tok(versionNode.children, "IntLiteral");
    if (versionNode && versionToken) result.version = { value: versionToken.image, span: this.spanOf(versionNode) };
    return result;
  }

  private statement(node: CstNode): A.Statement | undefined {
    const c = node.children;
    const imp = this.sub(c, "importDecl");
    if (imp) return this.importDecl(imp);
    const param = this.sub(c, "paramDecl");
    if (param) return this.paramDecl(param);
    const decl = this.sub(c, "declaration");
    if (decl) return this.declaration(decl);
    const ev = this.sub(c, "evaluateDecl");
    if (ev) return this.evaluateDecl(ev);
    return undefined;
  }

  private importDecl(node: CstNode): A.ImportStatement {
    const c = node.children;
    const pathTok = this.tok(c, "StringLiteral");
    const result: A.ImportStatement = {
      kind: "Import",
      path: pathTok ? this.stringLiteral(pathTok) : { kind: "String", value: "", raw: '""', parts: [], span: this.spanOf(node) },
      span: this.spanOf(node),
    };
    const alias = this.tok(c, "Identifier");
    if (alias) result.alias = this.ident(alias, node);
    return result;
  }

  private paramDecl(node: CstNode): A.ParamDeclaration {
    const c = node.children;
    const typeNode = this.sub(c, "paramType");
    const type = typeNode ? (typeNode.children.Identifier ?? []).filter(isToken).map((t) => this.ident(t, typeNode)) : [];
    const result: A.ParamDeclaration = { kind: "Param", name: this.ident(this.tok(c, "Identifier"), node), type, span: this.spanOf(node) };
    const domain = this.sub(c, "paramDomain");
    if (domain) {
      const d = this.paramDomain(domain);
      if (d) result.domain = d;
    }
    const def = this.sub(c, "expression");
    if (def) result.defaultValue = this.expression(def);
    return result;
  }

  private paramDomain(node: CstNode): A.ParamDomain | undefined {
    const c = node.children;
    const interval = this.sub(c, "interval");
    if (interval) {
      const ic = interval.children;
      const [lo, hi] = this.subs(ic, "bound").map((b) => this.bound(b));
      if (!lo || !hi) return undefined;
      const open = this.tok(ic, "LParen") ?? this.tok(ic, "LBracket");
      const close = this.tok(ic, "RParen") ?? this.tok(ic, "RBracket");
      return { kind: "Interval", lo, hi, loOpen: open?.image === "(", hiOpen: close?.image === ")", span: this.spanOf(interval) };
    }
    const range = this.sub(c, "closedRange");
    if (range) {
      const [lo, hi] = this.subs(range.children, "bound").map((b) => this.bound(b));
      if (!lo || !hi) return undefined;
      return { kind: "ClosedRange", lo, hi, span: this.spanOf(range) };
    }
    const set = this.sub(c, "valueSet");
    if (set) {
      const items = this.ordered(set.children, ["bound", "StringLiteral", "Kw_true", "Kw_false", "Identifier"]).map(
        (e): A.NumericLiteral | A.StringLiteral | A.BoolLiteral | A.Reference => {
          if (!isToken(e)) return this.bound(e);
          if (e.tokenType.name === "StringLiteral") return this.stringLiteral(e);
          if (e.tokenType.name === "Identifier") return { kind: "Ref", path: [this.ident(e, set)], span: this.spanOf(e) };
          return { kind: "Bool", value: e.image === "true", span: this.spanOf(e) };
        },
      );
      return { kind: "ValueSet", items, span: this.spanOf(set) };
    }
    return undefined;
  }

  /** A signed literal bound; the sign is folded into the literal's value. */
  private bound(node: CstNode): A.NumericLiteral {
    const c = node.children;
    const minus = this.tok(c, "Minus");
    const t = this.tok(c, "IntLiteral") ?? this.tok(c, "FloatLiteral") ?? this.tok(c, "PercentLiteral") ?? this.tok(c, "DurationLiteral");
    const parsed = t ? this.literalToken(t) : undefined;
    const lit: A.NumericLiteral =
      parsed && (parsed.kind === "Number" || parsed.kind === "Percent" || parsed.kind === "Duration")
        ? parsed
        : { kind: "Number", value: Number.NaN, isInt: false, raw: "?", span: this.spanOf(node) };
    if (!minus) return lit;
    const span = this.spanOf(node);
    switch (lit.kind) {
      case "Number":
        return { ...lit, value: -lit.value, raw: `-${lit.raw}`, span };
      case "Percent":
        return { ...lit, value: -lit.value, raw: `-${lit.raw}`, span };
      case "Duration":
        return { ...lit, seconds: -lit.seconds, raw: `-${lit.raw}`, span };
    }
  }

  private declaration(node: CstNode): A.Declaration {
    const c = node.children;
    const kwNames = ["Kw_model", "Kw_dataset", "Kw_rater", "Kw_similarity", "Kw_phase", "Kw_sweep"];
    const kw = kwNames.map((n) => this.tok(c, n)).find((t) => t !== undefined);
    const value = this.sub(c, "expression");
    return {
      kind: "Declaration",
      declKind: (kw?.image ?? "model") as A.DeclarationKind,
      keywordSpan: this.spanOf(kw ?? node),
      name: this.ident(this.tok(c, "Identifier"), node),
      value: value ? this.expression(value) : { kind: "Error", span: this.spanOf(node) },
      span: this.spanOf(node),
    };
  }

  private evaluateDecl(node: CstNode): A.EvaluateDeclaration {
    const c = node.children;
    const block = this.sub(c, "block");
    return {
      kind: "Evaluate",
      name: this.ident(this.tok(c, "Identifier"), node),
      block: block ? this.block(block) : { kind: "Block", entries: [], span: this.spanOf(node) },
      span: this.spanOf(node),
    };
  }

  expression(node: CstNode): A.Expression {
    const inner = this.sub(node.children, "orExpression");
    return inner ? this.leftAssoc(inner) : { kind: "Error", span: this.spanOf(node) };
  }

  /** Shared by or/and/additive/multiplicative: operands and operators interleaved, folded to the left. */
  private leftAssoc(node: CstNode): A.Expression {
    const c = node.children;
    switch (node.name) {
      case "orExpression":
        return this.fold(node, c, ["andExpression"], ["Kw_or"]);
      case "andExpression":
        return this.fold(node, c, ["notExpression"], ["Kw_and"]);
      case "notExpression": {
        const operand = this.sub(c, "notExpression");
        if (this.tok(c, "Kw_not") || operand) {
          const inner = operand ? this.leftAssoc(operand) : this.errorAt(node);
          return this.nest({ kind: "Unary", op: "not", operand: inner, span: this.spanOf(node) }, [inner]);
        }
        const cmp = this.sub(c, "comparison");
        return cmp ? this.leftAssoc(cmp) : this.errorAt(node);
      }
      case "comparison":
        return this.fold(node, c, ["additive"], ["Lt", "Le", "Gt", "Ge", "EqEq", "NotEq"]);
      case "additive":
        return this.fold(node, c, ["multiplicative"], ["Plus", "Minus"]);
      case "multiplicative":
        return this.fold(node, c, ["unary"], ["Star", "Slash"]);
      case "unary": {
        const operand = this.sub(c, "unary");
        if (operand) {
          const inner = this.leftAssoc(operand);
          return this.nest({ kind: "Unary", op: "-", operand: inner, span: this.spanOf(node) }, [inner]);
        }
        const range = this.sub(c, "range");
        return range ? this.range(range) : this.errorAt(node);
      }
      default:
        return this.errorAt(node);
    }
  }

  /**
   * Folds `a op b op c …` to the left. The depth grows by one per operator, so a chain past the limit is
   * measured to its end without building it, and reported once, for the whole chain.
   */
  private fold(node: CstNode, c: Children, operandNames: string[], operatorNames: string[]): A.Expression {
    const seq = this.ordered(c, [...operandNames, ...operatorNames]);
    let result: A.Expression | undefined;
    let depth = 0;
    let pendingOp: string | undefined;
    for (const e of seq) {
      if (isToken(e)) {
        pendingOp = e.image;
        continue;
      }
      const operand = this.leftAssoc(e);
      if (result === undefined) {
        result = operand;
        depth = this.depthOf(operand);
        continue;
      }
      depth = Math.max(depth, this.depthOf(operand)) + 1;
      const span = this.source.span(result.span.start, operand.span.end);
      result =
        depth > MAX_EXPRESSION_DEPTH
          ? { kind: "Error", span }
          : { kind: "Binary", op: (pendingOp ?? "+") as A.BinaryOperator, left: result, right: operand, span };
    }
    return result === undefined ? this.errorAt(node) : this.limited(result, depth);
  }

  private range(node: CstNode): A.Expression {
    const [lo, hi] = this.subs(node.children, "primary").map((p) => this.primary(p));
    if (!lo) return this.errorAt(node);
    if (!this.tok(node.children, "DotDot")) return lo;
    const upper = hi ?? this.errorAt(node);
    return this.nest({ kind: "Range", lo, hi: upper, span: this.spanOf(node) }, [lo, upper]);
  }

  private primary(node: CstNode): A.Expression {
    const c = node.children;
    const lit = this.sub(c, "literal");
    if (lit) {
      const t = Object.values(lit.children).flat()[0];
      return t && isToken(t) && !Number.isNaN(t.startOffset) ? this.literalToken(t) : this.errorAt(node);
    }
    const list = this.sub(c, "list");
    if (list) {
      const items = this.subs(list.children, "expression").map((e) => this.expression(e));
      return this.nest({ kind: "List", items, span: this.spanOf(list) }, items);
    }
    const block = this.sub(c, "block");
    if (block) return this.blockExpression(block);
    const paren = this.sub(c, "parenthesized");
    if (paren) {
      const inner = this.sub(paren.children, "expression");
      const expression = inner ? this.expression(inner) : this.errorAt(paren);
      return this.nest({ kind: "Paren", expression, span: this.spanOf(paren) }, [expression]);
    }
    const interp = this.tok(c, "Interpolation");
    if (interp) {
      const span = this.spanOf(interp);
      const nameSpan = this.source.span(span.start + 2, span.end - 1);
      return { kind: "Interp", name: { kind: "Ident", name: interp.image.slice(2, -1), span: nameSpan }, span };
    }
    const ref = this.sub(c, "reference");
    if (ref) return this.reference(ref);
    return this.errorAt(node);
  }

  private reference(node: CstNode): A.Expression {
    const c = node.children;
    const head = this.ident(this.tok(c, "Identifier"), node);
    const rest = this.subs(c, "keyName").map((k) => this.keyName(k));
    const path = [head, ...rest];
    const argsNode = this.sub(c, "callArguments");
    const blockNode = this.sub(c, "block");
    const span = this.spanOf(node);
    if (!argsNode && !blockNode) return { kind: "Ref", path, span };
    const call: A.Call = { kind: "Call", callee: path, span };
    if (argsNode) call.args = this.subs(argsNode.children, "expression").map((e) => this.expression(e));
    if (blockNode) call.block = this.block(blockNode);
    // A call and its block count as one level: `sft(a, b) { epochs: 1 }` nests as deep as `[a, b]`.
    return this.nest(call, [...(call.args ?? []), ...(call.block?.entries.map((x) => x.value) ?? [])]);
  }

  /** A block written as a value: one level above its entries' values. */
  private blockExpression(node: CstNode): A.Block | A.ErrorExpression {
    const block = this.block(node);
    return this.nest(
      block,
      block.entries.map((x) => x.value),
    );
  }

  block(node: CstNode): A.Block {
    const entries = this.subs(node.children, "entry").map((e): A.Entry => {
      const ec = e.children;
      const keyPath = this.sub(ec, "keyPath");
      const key = keyPath ? this.subs(keyPath.children, "keyName").map((k) => this.keyName(k)) : [];
      const value = this.sub(ec, "expression");
      return { kind: "Entry", key, value: value ? this.expression(value) : this.errorAt(e), span: this.spanOf(e) };
    });
    return { kind: "Block", entries, span: this.spanOf(node) };
  }

  private keyName(node: CstNode): A.Ident {
    const t = Object.values(node.children).flat()[0];
    return this.ident(t && isToken(t) ? t : undefined, node);
  }

  private literalToken(t: IToken): A.Expression {
    const span = this.spanOf(t);
    const raw = t.image;
    switch (t.tokenType.name) {
      case "IntLiteral":
        return { kind: "Number", value: Number(raw), isInt: true, raw, span };
      case "FloatLiteral":
        return { kind: "Number", value: Number(raw), isInt: false, raw, span };
      case "PercentLiteral":
        return { kind: "Percent", value: Number(raw.slice(0, -1)), raw, span };
      case "DurationLiteral": {
        const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(raw);
        const n = Number(m?.[1] ?? Number.NaN);
        const unit = m?.[2] ?? "s";
        const scale = unit === "ms" ? 0.001 : unit === "s" ? 1 : unit === "m" ? 60 : 3600;
        return { kind: "Duration", seconds: n * scale, raw, span };
      }
      case "StringLiteral":
        return this.stringLiteral(t);
      case "Kw_true":
        return { kind: "Bool", value: true, span };
      case "Kw_false":
        return { kind: "Bool", value: false, span };
      default:
        return { kind: "Error", span };
    }
  }

  stringLiteral(t: IToken): A.StringLiteral {
    const span = this.spanOf(t);
    const body = t.image.slice(1, -1);
    const value = body.replace(/\\(.)/g, (_, ch: string) => (ch === "n" ? "\n" : ch === "t" ? "\t" : ch));
    // Interpolations are found in the raw text so their spans point at the right columns.
    const parts: A.StringPart[] = [];
    const re = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
    let last = 0;
    for (let m = re.exec(body); m; m = re.exec(body)) {
      if (m.index > 0 && body[m.index - 1] === "\\") continue;
      if (m.index > last) parts.push({ kind: "text", text: unescapeText(body.slice(last, m.index)) });
      const start = span.start + 1 + m.index + 2;
      parts.push({ kind: "param", name: m[1] ?? "", span: this.source.span(start, start + (m[1]?.length ?? 0)) });
      last = m.index + m[0].length;
    }
    if (last < body.length) parts.push({ kind: "text", text: unescapeText(body.slice(last)) });
    return { kind: "String", value, raw: t.image, parts, span };
  }

  private errorAt(node: CstElement): A.ErrorExpression {
    return { kind: "Error", span: this.spanOf(node) };
  }
}

function unescapeText(s: string): string {
  return s.replace(/\\(.)/g, (_, ch: string) => (ch === "n" ? "\n" : ch === "t" ? "\t" : ch));
}
