// The formatter behind `alignc fmt`: prints a syntax tree in the one canonical layout, keeping every comment.
//
// Layout rules:
// - `align N` first (after any comments that open the file), then the statements, one per line or group of lines.
// - Top-level blank lines: exactly one between statements, except that statements of the same kind (`param` and
//   `param`, `dataset` and `dataset`, ... — declarations compare their keyword) that sit on adjacent lines in the
//   source stay together. Always one after `align N`. Own-line comments belong to the statement after them; the
//   blank-line rule looks at the first of those comments, and a blank line between a comment and what follows it
//   is kept. Runs of blank lines become one. These are the only decisions that read source line numbers; the
//   rest is computed from the tree and the comments' positions, so formatting formatted text changes nothing.
// - 2-space indentation, single spaces around `=`, `|`, `in` and binary operators, `key: value`, `a..b`,
//   `, ` after commas, `-x` and `not x` (`- -x` for a double minus), no trailing whitespace, one final newline.
//   Literals print their raw source text, strings included (escapes and `${...}` untouched); parentheses are
//   kept exactly where written.
// - Blocks `{ a: 1, b: 2 }`, lists `[1, 2]` and call arguments `f(a, b)` (evaluate blocks included: one rule
//   for every bracket) stay on one line when they fit in 100 columns at their position (counting what must
//   follow on that line, like a `,`) and hold no comment. Otherwise each entry or item gets its own line,
//   indented one level: block entries without commas, list items and arguments with a comma after every item
//   but the last (the grammar allows no trailing comma). Empty ones print `{}`, `[]`, `()`.
//   Parameter domains (`(0, 1]`, `0..12`, `{8, 16, 32}`) always print on one line.
// - Comments: each one is printed once, verbatim (line comments lose trailing spaces), in source order. A
//   comment with code before it on its source line stays at the end of the output line that holds that code;
//   a comment on its own line stays on its own line before the next statement, entry, list item or argument (or
//   before the closing bracket), at that level's indentation. A block comment followed on its line by that next
//   item stays in front of it. A bracket that holds a comment is always broken into lines. A comment where no
//   line break can go (`a + /* c */ b`, inside a parameter domain) moves forward: to the end of the output line,
//   or, when it stood on a line of its own and no bracket follows, onto its own line after that entry/statement.

import type { Diagnostic, Span } from "../../diagnostics/diagnostic.ts";
import type { SourceFile } from "../../diagnostics/source-file.ts";
import type * as A from "../ast/ast.ts";
import { pathText } from "../ast/ast.ts";
import { domainText } from "../ast/domain.ts";
import { parseSource } from "../parse/parse.ts";

/** Column limit for putting a bracket on one line. */
export const MAX_LINE_WIDTH = 100;
const INDENT = 2;

export type FormatResult = { text: string; diagnostics: [] } | { text?: undefined; diagnostics: Diagnostic[] };

/** Parses and formats one source; a file with any error diagnostic is never reformatted. */
export function formatSource(source: SourceFile): FormatResult {
  const parsed = parseSource(source);
  if (!parsed.ast || parsed.diagnostics.some((d) => d.severity === "error")) return { diagnostics: parsed.diagnostics };
  return { text: formatAst(parsed.ast), diagnostics: [] };
}

/** The canonical text of a syntax tree without syntax errors (an `Error` node throws). */
export function formatAst(ast: A.AlignFile): string {
  const doc = new DocBuilder(ast).file();
  propagateBreaks(doc);
  return render(doc);
}

// ---------------------------------------------------------------------------------------------------------
// A small Wadler/Prettier-style document: groups print flat when they fit, broken otherwise.

type Doc = string | Doc[] | Group | Indent | Line | Suffix | IfBreak;

interface Group {
  t: "group";
  contents: Doc;
  broken: boolean;
}
interface Indent {
  t: "indent";
  contents: Doc;
}
/** A space (or nothing, when soft) in a flat group; a newline in a broken one; always a newline when hard. */
interface Line {
  t: "line";
  soft: boolean;
  hard: boolean;
}
/** Text held back until the end of the current output line (trailing comments). */
interface Suffix {
  t: "suffix";
  text: string;
}
interface IfBreak {
  t: "ifBreak";
  broken: Doc;
  flat: Doc;
}

const line: Line = { t: "line", soft: false, hard: false };
const softline: Line = { t: "line", soft: true, hard: false };
const hardline: Line = { t: "line", soft: false, hard: true };
const group = (contents: Doc, broken = false): Group => ({ t: "group", contents, broken });
const indent = (contents: Doc): Indent => ({ t: "indent", contents });
const suffix = (text: string): Suffix => ({ t: "suffix", text });
const ifBreak = (broken: Doc, flat: Doc): IfBreak => ({ t: "ifBreak", broken, flat });

/** Marks every group that contains a hard line or a broken group as broken. Returns whether `doc` does. */
function propagateBreaks(doc: Doc): boolean {
  if (typeof doc === "string") return false;
  if (Array.isArray(doc)) {
    let any = false;
    for (const d of doc) if (propagateBreaks(d)) any = true;
    return any;
  }
  switch (doc.t) {
    case "group":
      if (propagateBreaks(doc.contents)) doc.broken = true;
      return doc.broken;
    case "indent":
      return propagateBreaks(doc.contents);
    case "ifBreak": {
      const a = propagateBreaks(doc.broken);
      const b = propagateBreaks(doc.flat);
      return a || b;
    }
    case "line":
      return doc.hard;
    case "suffix":
      return false;
  }
}

const FLAT = 0;
const BREAK = 1;
type Mode = typeof FLAT | typeof BREAK;
type Command = [indent: number, mode: Mode, doc: Doc];

function render(doc: Doc): string {
  const lines: string[] = [];
  let current = "";
  let column = 0;
  let pending: string[] = [];
  const stack: Command[] = [[0, BREAK, doc]];
  while (stack.length > 0) {
    const [ind, mode, d] = stack.pop() as Command;
    if (typeof d === "string") {
      current += d;
      const nl = d.lastIndexOf("\n");
      column = nl < 0 ? column + d.length : d.length - nl - 1;
      continue;
    }
    if (Array.isArray(d)) {
      for (let i = d.length - 1; i >= 0; i--) stack.push([ind, mode, d[i] as Doc]);
      continue;
    }
    switch (d.t) {
      case "indent":
        stack.push([ind + INDENT, mode, d.contents]);
        break;
      case "group": {
        const m: Mode = d.broken ? BREAK : mode === FLAT || fits([ind, FLAT, d.contents], stack, MAX_LINE_WIDTH - column) ? FLAT : BREAK;
        stack.push([ind, m, d.contents]);
        break;
      }
      case "ifBreak":
        stack.push([ind, mode, mode === BREAK ? d.broken : d.flat]);
        break;
      case "suffix":
        pending.push(d.text);
        break;
      case "line":
        if (mode === FLAT && !d.hard) {
          if (!d.soft) {
            current += " ";
            column += 1;
          }
          break;
        }
        lines.push((current + pending.join("")).trimEnd());
        pending = [];
        current = " ".repeat(ind);
        column = ind;
        break;
    }
  }
  lines.push((current + pending.join("")).trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** Whether `next`, printed flat, and what follows it up to the next possible line break fit in `width`. */
function fits(next: Command, rest: readonly Command[], width: number): boolean {
  const cmds: Command[] = [next];
  let restIndex = rest.length;
  while (width >= 0) {
    let cmd = cmds.pop();
    if (!cmd) {
      if (restIndex === 0) return true;
      cmd = rest[--restIndex] as Command;
    }
    const [ind, mode, d] = cmd;
    if (typeof d === "string") {
      const nl = d.indexOf("\n");
      if (nl >= 0) return width - nl >= 0;
      width -= d.length;
      continue;
    }
    if (Array.isArray(d)) {
      for (let i = d.length - 1; i >= 0; i--) cmds.push([ind, mode, d[i] as Doc]);
      continue;
    }
    switch (d.t) {
      case "indent":
        cmds.push([ind + INDENT, mode, d.contents]);
        break;
      case "group":
        cmds.push([ind, d.broken ? BREAK : mode, d.contents]);
        break;
      case "ifBreak":
        cmds.push([ind, mode, mode === BREAK ? d.broken : d.flat]);
        break;
      case "suffix":
        break;
      case "line":
        if (mode === BREAK || d.hard) return true;
        if (!d.soft) width -= 1;
        break;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Tree → document, with comments attached at line positions as the tree is walked in source order.

/** Own-line comments that share one output line (block comments written side by side). */
interface CommentLine {
  text: string;
  startLine: number;
  endLine: number;
  endsWithBlock: boolean;
}

interface CommentBatch {
  /** Comments with code before them on their source line: they go at the end of the current output line. */
  trailing: A.Comment[];
  /** Comments on lines of their own, in order. */
  lines: CommentLine[];
  /** The last own-line comment is a block comment that ends on the line where the next item starts. */
  joinNext: boolean;
}

interface TopItem {
  doc: Doc[];
  startLine: number;
  endLine: number;
  /** Unset for a line of comments. */
  statement?: A.Statement | "version";
}

interface ContainerItem {
  start: number;
  line: number;
  build: () => Doc;
}

function commentText(c: A.Comment): string {
  return c.block ? c.text : c.text.trimEnd();
}

function sameKind(a: A.Statement | "version", b: A.Statement | "version"): boolean {
  if (a === "version" || b === "version") return false;
  if (a.kind !== b.kind) return false;
  return a.kind !== "Declaration" || a.declKind === (b as A.Declaration).declKind;
}

class DocBuilder {
  private readonly comments: A.Comment[];
  private readonly commentByEnd = new Map<number, A.Comment>();
  private next = 0;
  /**
   * A line comment has been printed at the end of the current output line (as far as the builder can tell: a
   * line break in a group that may print flat does not count). Nothing may follow it there, so until a certain
   * line break, comments cannot trail: they wait for the next line position and go on lines of their own.
   */
  private lineOpen = false;

  constructor(private readonly ast: A.AlignFile) {
    this.comments = [...ast.comments].sort((a, b) => a.span.start - b.span.start);
    for (const c of this.comments) this.commentByEnd.set(c.span.end, c);
  }

  file(): Doc {
    const items: TopItem[] = [];
    const place = (offset: number, nextLine: number | undefined): { prefix: Doc[]; startLine?: number } => {
      const batch = this.split(this.take(offset), nextLine, items.length > 0);
      const last = items[items.length - 1];
      for (const c of batch.trailing) {
        if (!last) continue; // unreachable: split only makes comments trailing when something precedes them
        last.doc.push(suffix(` ${commentText(c)}`));
        last.endLine = Math.max(last.endLine, c.span.endLine);
      }
      this.lineOpen = false; // top-level items are separated by line breaks
      const lines = [...batch.lines];
      const joined = batch.joinNext ? lines.pop() : undefined;
      for (const l of lines) items.push({ doc: [l.text], startLine: l.startLine, endLine: l.endLine });
      return joined ? { prefix: [joined.text, " "], startLine: joined.startLine } : { prefix: [] };
    };

    const version = this.ast.version;
    if (version) {
      const p = place(version.span.start, version.span.line);
      items.push({
        doc: [...p.prefix, `align ${version.value}`],
        startLine: p.startLine ?? version.span.line,
        endLine: version.span.endLine,
        statement: "version",
      });
    }
    for (const s of this.ast.statements) {
      const p = place(s.span.start, s.span.line);
      const doc = this.statement(s);
      items.push({ doc: [...p.prefix, doc], startLine: p.startLine ?? s.span.line, endLine: s.span.endLine, statement: s });
    }
    place(Number.POSITIVE_INFINITY, undefined);

    // The statement each item's unit leads to: itself, or the first statement after a run of comments.
    const unitStatement: (A.Statement | "version" | undefined)[] = new Array(items.length);
    let upcoming: A.Statement | "version" | undefined;
    for (let i = items.length - 1; i >= 0; i--) {
      upcoming = items[i]?.statement ?? upcoming;
      unitStatement[i] = upcoming;
    }

    const parts: Doc[] = [];
    items.forEach((item, i) => {
      const prev = items[i - 1];
      if (prev) parts.push(this.blankBetween(prev, item, unitStatement[i]) ? [hardline, hardline] : hardline);
      parts.push(item.doc);
    });
    return parts;
  }

  private blankBetween(prev: TopItem, item: TopItem, nextStatement: A.Statement | "version" | undefined): boolean {
    const gap = item.startLine > prev.endLine + 1;
    if (!prev.statement || !nextStatement) return gap;
    if (prev.statement === "version") return true;
    return gap || !sameKind(prev.statement, nextStatement);
  }

  // --- comments ---

  /** Takes every comment not yet printed that starts before `offset`. */
  private take(offset: number): A.Comment[] {
    const out: A.Comment[] = [];
    for (let c = this.comments[this.next]; c && c.span.start < offset; c = this.comments[++this.next]) out.push(c);
    return out;
  }

  private hasCommentBefore(offset: number): boolean {
    const c = this.comments[this.next];
    return c !== undefined && c.span.start < offset;
  }

  /** Whether code (not just other comments) comes before the comment on its source line. */
  private isTrailing(c: A.Comment): boolean {
    const text = this.ast.source.text;
    let i = c.span.start - 1;
    for (;;) {
      while (i >= 0 && /[ \t\r\f\v\uFEFF]/.test(text[i] as string)) i--;
      if (i < 0 || text[i] === "\n") return false;
      const before = this.commentByEnd.get(i + 1);
      if (!before || before === c) return true;
      i = before.span.start - 1;
    }
  }

  private split(batch: A.Comment[], nextLine: number | undefined, canTrail: boolean): CommentBatch {
    const trailing: A.Comment[] = [];
    const lines: CommentLine[] = [];
    for (const c of batch) {
      if (lines.length === 0 && canTrail && !this.lineOpen && this.isTrailing(c)) {
        trailing.push(c);
        if (!c.block) this.lineOpen = true;
        continue;
      }
      const last = lines[lines.length - 1];
      if (last?.endsWithBlock && c.span.line === last.endLine) {
        last.text += ` ${commentText(c)}`;
        last.endLine = c.span.endLine;
        last.endsWithBlock = c.block;
      } else {
        lines.push({ text: commentText(c), startLine: c.span.line, endLine: c.span.endLine, endsWithBlock: c.block });
      }
    }
    const lastLine = lines[lines.length - 1];
    const joinNext = nextLine !== undefined && lastLine?.endsWithBlock === true && lastLine.endLine === nextLine;
    return { trailing, lines, joinNext };
  }

  /** Comments left over from places where no line break can go: they ride to the end of the current line. */
  private carry(offset: number): Doc[] {
    const out: Doc[] = [];
    for (let c = this.comments[this.next]; c && c.span.start < offset && !this.lineOpen; c = this.comments[++this.next]) {
      out.push(suffix(` ${commentText(c)}`));
      if (!c.block) this.lineOpen = true;
    }
    return out;
  }

  // --- statements ---

  private statement(s: A.Statement): Doc {
    switch (s.kind) {
      case "Import":
        return ["import ", s.path.raw, s.alias ? ` as ${s.alias.name}` : ""];
      case "Param": {
        const parts: Doc[] = [`param ${s.name.name}: ${s.type.map((t) => t.name).join(" | ")}`];
        if (s.domain) parts.push(` in ${domainText(s.domain)}`);
        if (s.defaultValue) parts.push(" = ", this.expression(s.defaultValue));
        return parts;
      }
      case "Declaration":
        return [`${s.declKind} ${s.name.name} = `, this.expression(s.value)];
      case "Evaluate":
        return [`evaluate ${s.name.name} `, this.block(s.block)];
    }
  }

  // --- expressions ---

  private expression(e: A.Expression): Doc {
    switch (e.kind) {
      case "Number":
      case "Duration":
      case "Percent":
      case "String":
        return e.raw;
      case "Bool":
        return e.value ? "true" : "false";
      case "Interp":
        return `\${${e.name.name}}`;
      case "Ref":
        return pathText(e.path);
      case "List":
        return this.container("[", "]", e.span.start, e.span.end, e.span.end - 1, "list", this.items(e.items));
      case "Block":
        return this.block(e);
      case "Call": {
        const parts: Doc[] = [pathText(e.callee)];
        const calleeEnd = e.callee[e.callee.length - 1]?.span.end ?? e.span.start;
        if (e.args) {
          // Arguments have no span of their own: they run from the callee to the block, or to the call's end.
          const end = e.block ? e.block.span.start : e.span.end;
          parts.push(this.container("(", ")", calleeEnd, end, e.block ? end : end - 1, "args", this.items(e.args)));
        }
        if (e.block) parts.push(" ", this.block(e.block));
        return parts;
      }
      case "Binary": {
        // Left-nested chains are walked iteratively: `a + b + ... + z` can be long.
        const rights: { op: A.BinaryOperator; right: A.Expression }[] = [];
        let leftmost: A.Expression = e;
        while (leftmost.kind === "Binary") {
          rights.push({ op: leftmost.op, right: leftmost.right });
          leftmost = leftmost.left;
        }
        const parts: Doc[] = [this.expression(leftmost)];
        for (let i = rights.length - 1; i >= 0; i--) {
          const r = rights[i] as (typeof rights)[number];
          parts.push(` ${r.op} `, this.expression(r.right));
        }
        return parts;
      }
      case "Unary": {
        // `- -x`, not `--x`: both lex the same, but the space reads as two minus signs.
        const doubleMinus = e.op === "-" && e.operand.kind === "Unary" && e.operand.op === "-";
        return [e.op === "not" ? "not " : doubleMinus ? "- " : "-", this.expression(e.operand)];
      }
      case "Range":
        return [this.expression(e.lo), "..", this.expression(e.hi)];
      case "Paren":
        return ["(", this.expression(e.expression), ")"];
      case "Error":
        throw new Error(`formatAst: the syntax tree has an error node at ${describe(e.span)}; only files without syntax errors can be formatted`);
    }
  }

  private items(expressions: A.Expression[]): ContainerItem[] {
    return expressions.map((x) => ({ start: x.span.start, line: x.span.line, build: () => this.expression(x) }));
  }

  private block(b: A.Block): Doc {
    const entries = b.entries.map(
      (entry): ContainerItem => ({ start: entry.span.start, line: entry.span.line, build: () => [pathText(entry.key), ": ", this.expression(entry.value)] }),
    );
    return this.container("{", "}", b.span.start, b.span.end, b.span.end - 1, "block", entries);
  }

  /**
   * A bracketed sequence that prints flat or one item per line. [start, end) is the bracket's extent in the
   * source; comments before `closeAt` that no item took are printed before the closing bracket.
   */
  private container(open: string, close: string, start: number, end: number, closeAt: number, kind: "block" | "list" | "args", items: ContainerItem[]): Doc {
    const carried = this.carry(start);
    const forceBreak = this.hasCommentBefore(end);
    if (items.length === 0 && !forceBreak) return [...carried, open + close];
    const edge = kind === "block" ? line : softline;
    const inner: Doc[] = [];
    items.forEach((item, i) => {
      if (i > 0) inner.push(kind === "block" ? ifBreak("", ",") : ",");
      const batch = this.split(this.take(item.start), item.line, true);
      for (const c of batch.trailing) inner.push(suffix(` ${commentText(c)}`));
      inner.push(i === 0 ? edge : line);
      if (forceBreak) this.lineOpen = false;
      batch.lines.forEach((l, k) => {
        inner.push(l.text, k === batch.lines.length - 1 && batch.joinNext ? " " : hardline);
      });
      inner.push(item.build());
    });
    const batch = this.split(this.take(closeAt), undefined, true);
    for (const c of batch.trailing) inner.push(suffix(` ${commentText(c)}`));
    for (const l of batch.lines) inner.push(hardline, l.text);
    if (forceBreak) this.lineOpen = false; // the closing bracket starts a line
    return [...carried, group([open, indent(inner), items.length > 0 ? edge : softline, close], forceBreak)];
  }
}

function describe(span: Span): string {
  return `${span.file}:${span.line}:${span.column}`;
}
