// The bracket pass, run on the tokens before the parser: reports unclosed, stray and mismatched brackets
// once each, rejects nesting deeper than MAX_NESTING (so absurd input never reaches the recursive
// parser), and hands the parser a repaired token stream so that one missing `}` or one unterminated
// string does not become a cascade of syntax errors:
//   - a declaration keyword at the start of a line closes whatever is still open (the `}` was forgotten);
//   - a stray closer is dropped; a closer of the wrong kind is read as the right one when that explains
//     the rest of the statement better than "the brackets in between were never closed";
//   - an unterminated string becomes a string, and brackets opened before it on its line are closed
//     silently right after it: their closer is most likely inside the string. The rest of that
//     statement is not reliable, so its parse errors and stray closers are not reported.
// Parse errors inside the `regions` returned are consequences of a reported problem and are not shown.
import { createTokenInstance, type IToken, type TokenType } from "chevrotain";
import * as T from "../../../grammar/lexer.ts";
import { type Diagnostic, diagnostic } from "../../diagnostics/diagnostic.ts";
import { labelTexts } from "../../diagnostics/messages.ts";
import type { SourceFile } from "../../diagnostics/source-file.ts";

/** Deepest nesting of brackets (and chains of prefix operators) the parser accepts. */
export const MAX_NESTING = 128;
/** At most this many unclosed brackets are reported at one place. */
const MAX_UNCLOSED_REPORTS = 5;
/** How far the choice between two readings of a wrong closer looks ahead, and how often it may. */
const LOOKAHEAD = 400;
const MAX_SIMULATIONS = 50;

const closerOf = new Map<TokenType, TokenType>([
  [T.LBrace, T.RBrace],
  [T.LBracket, T.RBracket],
  [T.LParen, T.RParen],
]);
const closers = new Set<TokenType>([T.RBrace, T.RBracket, T.RParen]);
const statementKeywords = new Set<TokenType>([T.Model, T.Dataset, T.Rater, T.Similarity, T.Phase, T.Sweep, T.Evaluate, T.Param, T.Import]);

export interface BracketCheck {
  diagnostics: Diagnostic[];
  tooDeep: boolean;
  /** The tokens for the parser, repaired as described above. */
  tokens: IToken[];
  /** Offset ranges [start, end) whose parse errors a reported bracket or string problem explains. */
  regions: [number, number][];
}

/** `(0, 1]` and `[0, 1)` are intervals: a ( or [ may end with ) or ]. */
function closes(open: TokenType, close: TokenType): boolean {
  if (closerOf.get(open) === close) return true;
  return (open === T.LParen || open === T.LBracket) && (close === T.RParen || close === T.RBracket);
}

/** A declaration keyword first on its line and followed by a name (or `import` by a path). */
function startsStatement(tokens: readonly IToken[], i: number): boolean {
  const t = tokens[i] as IToken;
  if (!statementKeywords.has(t.tokenType)) return false;
  const prev = tokens[i - 1];
  if (prev && (prev.endLine ?? prev.startLine ?? 0) >= (t.startLine ?? 0)) return false;
  const next = tokens[i + 1]?.tokenType;
  return t.tokenType === T.Import ? next === T.StringLiteral : next === T.Identifier;
}

/** Problems left in the rest of the statement if the brackets in `open` are the ones still open. */
function simulate(open: TokenType[], tokens: readonly IToken[], from: number): number {
  const stack = [...open];
  let problems = 0;
  for (let j = from; j < tokens.length && j < from + LOOKAHEAD; j++) {
    if (startsStatement(tokens, j)) break;
    const type = (tokens[j] as IToken).tokenType;
    if (closerOf.has(type)) stack.push(type);
    else if (closers.has(type)) {
      const m = stack.findLastIndex((o) => closes(o, type));
      if (m < 0) problems++;
      else {
        problems += stack.length - 1 - m;
        stack.length = m;
      }
    }
  }
  return problems + stack.length;
}

export function checkBrackets(source: SourceFile, lexed: readonly IToken[], unterminatedStrings: readonly IToken[] = []): BracketCheck {
  const input = unterminatedStrings.length ? [...lexed, ...unterminatedStrings].sort((a, b) => a.startOffset - b.startOffset) : lexed;
  const diagnostics: Diagnostic[] = [];
  const regions: [number, number][] = [];
  const out: IToken[] = [];
  const stack: IToken[] = [];
  let prefixRun = 0;
  /** Where an unterminated string in the current statement starts, if there is one. */
  let stringAt: number | undefined;
  /** Bracket pairs closed in the current statement, and the column of each line's first token. */
  const matched: Pair[] = [];
  const firstColumn = new Map<number, number>();
  let simulations = 0;
  const span = (t: IToken) => source.span(t.startOffset, t.startOffset + t.image.length);

  /** A zero-width closer for `open`, placed right after the last token the parser gets. */
  const insertCloser = (open: IToken) => {
    const type = closerOf.get(open.tokenType) as TokenType;
    const last = out[out.length - 1];
    const offset = last ? (last.endOffset ?? last.startOffset) + 1 : 0;
    const line = last?.endLine ?? 1;
    const column = (last?.endColumn ?? 0) + 1;
    out.push(createTokenInstance(type, closeText(open), offset, offset - 1, line, line, column, column - 1));
  };
  /** Reports (outermost first) and closes the given open brackets, innermost first. */
  const closeUnclosed = (opens: IToken[], until: number, atStatementEnd = false) => {
    opens.forEach((o, n) => {
      const blamed = atStatementEnd ? (betterCulprit(o, matched, firstColumn) ?? o) : o;
      if (n < MAX_UNCLOSED_REPORTS) diagnostics.push(diagnostic("unclosedDelimiter", { open: blamed.image, close: closeText(blamed) }, span(blamed)));
      regions.push([Math.min(o.startOffset, blamed.startOffset), until]);
    });
    for (const o of [...opens].reverse()) insertCloser(o);
  };
  const endStatement = (at: number) => {
    if (stringAt !== undefined) regions.push([stringAt, at]);
    stringAt = undefined;
    matched.length = 0;
  };

  const closer = (t: IToken, i: number) => {
    const top = stack[stack.length - 1];
    if (!top) {
      if (stringAt === undefined) diagnostics.push(diagnostic("unmatchedCloser", { text: t.image }, span(t)));
      regions.push([t.startOffset, t.startOffset + 1]);
      return; // dropped: the parser never sees it
    }
    if (closes(top.tokenType, t.tokenType)) {
      stack.pop();
      matched.push({ open: top, close: t });
      out.push(t);
      return;
    }
    const deeper = stack.findLastIndex((o) => closes(o.tokenType, t.tokenType));
    const types = stack.map((o) => o.tokenType);
    const typo =
      deeper < 0 ||
      (simulations++ < MAX_SIMULATIONS &&
        1 + simulate(types.slice(0, -1), input, i + 1) < stack.length - 1 - deeper + simulate(types.slice(0, deeper), input, i + 1));
    if (typo) {
      // A closer of the wrong kind: read as the right one.
      diagnostics.push(
        diagnostic("mismatchedCloser", { found: t.image, open: top.image, close: closeText(top) }, span(t), {
          labels: [{ span: span(top), message: labelTexts.openedHere(top.image) }],
        }),
      );
      regions.push([top.startOffset, t.startOffset + 1]);
      stack.pop();
      const type = closerOf.get(top.tokenType) as TokenType;
      out.push(
        createTokenInstance(
          type,
          closeText(top),
          t.startOffset,
          t.endOffset ?? t.startOffset,
          t.startLine ?? 1,
          t.endLine ?? 1,
          t.startColumn ?? 1,
          t.endColumn ?? 1,
        ),
      );
      return;
    }
    closeUnclosed(stack.splice(deeper + 1), t.startOffset);
    stack.pop();
    out.push(t);
  };

  for (let i = 0; i < input.length; i++) {
    const t = input[i] as IToken;
    if (!firstColumn.has(t.startLine ?? 0)) firstColumn.set(t.startLine ?? 0, t.startColumn ?? 0);
    if (t.tokenType === T.UnterminatedString) {
      stringAt ??= t.startOffset;
      const end = t.endOffset ?? t.startOffset;
      out.push(createTokenInstance(T.StringLiteral, `${t.image}"`, t.startOffset, end, t.startLine ?? 1, t.endLine ?? 1, t.startColumn ?? 1, t.endColumn ?? 1));
      // The string swallowed the rest of its line, closers included.
      const sameLine = stack.findIndex((o) => o.startLine === t.startLine);
      if (sameLine >= 0) for (const o of stack.splice(sameLine).reverse()) insertCloser(o);
      prefixRun = 0;
      continue;
    }
    if (startsStatement(input, i)) {
      if (stack.length > 0) closeUnclosed(stack.splice(0), t.startOffset, true);
      endStatement(t.startOffset);
    }
    prefixRun = t.tokenType === T.Minus || t.tokenType === T.Not ? prefixRun + 1 : 0;
    if (closerOf.has(t.tokenType)) {
      stack.push(t);
      out.push(t);
    } else if (closers.has(t.tokenType)) closer(t, i);
    else out.push(t);
    if (stack.length + prefixRun > MAX_NESTING) {
      diagnostics.push(diagnostic("nestingTooDeep", { limit: MAX_NESTING }, span(t)));
      return { diagnostics, tooDeep: true, tokens: out, regions };
    }
  }
  if (stack.length > 0) closeUnclosed(stack.splice(0), source.text.length + 1, true);
  endStatement(source.text.length + 1);
  return { diagnostics, tooDeep: false, tokens: out, regions };
}

interface Pair {
  open: IToken;
  close: IToken;
}

/**
 * When a statement ends with `open` still open, the closer that was forgotten is often an inner one's:
 *     phase p = sft(m, d) {
 *       optimizer: adamw { lr: 1e-3        <- the `{` that was never closed
 *     }                                    <- lined up with `phase`, so it was meant to close the outer `{`
 * An inner bracket of the same kind, closed by a closer that starts a line at the indentation of the
 * outer bracket's line (and not its own), is the one to blame.
 */
function betterCulprit(open: IToken, matched: Pair[], firstColumn: Map<number, number>): IToken | undefined {
  const indent = firstColumn.get(open.startLine ?? 0);
  for (let k = matched.length - 1; k >= 0; k--) {
    const { open: inner, close } = matched[k] as Pair;
    if (inner.startOffset <= open.startOffset || inner.tokenType !== open.tokenType) continue;
    const closerStartsLine = firstColumn.get(close.startLine ?? 0) === close.startColumn;
    if (closerStartsLine && close.startColumn === indent && firstColumn.get(inner.startLine ?? 0) !== indent) {
      matched.splice(k, 1);
      return inner;
    }
  }
  return undefined;
}

function closeText(open: IToken): string {
  return open.image === "{" ? "}" : open.image === "[" ? "]" : ")";
}
