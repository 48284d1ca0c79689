// Source text → AST, with every lexical and syntax problem as a diagnostic. Drives the Chevrotain lexer
// and parser in grammar/, checks bracket nesting first (so absurdly deep input never reaches the recursive
// parser), and hands the CST to the AST builder.
import { EOF, type IToken, type TokenType } from "chevrotain";
import * as T from "../../../grammar/lexer.ts";
import { alignParser } from "../../../grammar/parser.ts";
import type { AlignFile } from "../ast/ast.ts";
import { AstBuilder } from "../ast/build.ts";
import { type Diagnostic, diagnostic } from "../diagnostics/diagnostic.ts";
import type { SourceFile } from "../source/source-file.ts";

export const LANGUAGE_VERSION = 1;
/** Deepest nesting of brackets (and chains of prefix operators) the parser accepts. */
export const MAX_NESTING = 128;
/** Most tokens in one file. Real experiment files have a few thousand; the CST of millions would exhaust memory. */
export const MAX_TOKENS = 100_000;

export interface ParseResult {
  /** Undefined only when the input could not be parsed at all (nesting beyond MAX_NESTING). */
  ast?: AlignFile;
  diagnostics: Diagnostic[];
}

const openers = new Map<TokenType, { close: string }>([
  [T.LBrace, { close: "}" }],
  [T.LBracket, { close: "]" }],
  [T.LParen, { close: ")" }],
]);
const closers = new Set<TokenType>([T.RBrace, T.RBracket, T.RParen]);

export function parseSource(source: SourceFile): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const estimate = estimateTokens(source.text);
  if (estimate.count > MAX_TOKENS) {
    // Refuse before lexing: millions of token objects would take seconds and gigabytes.
    diagnostics.push(
      diagnostic("tooManyTokens", { limit: MAX_TOKENS, count: estimate.count }, source.span(estimate.offsetAtLimit, estimate.offsetAtLimit + 1)),
    );
    return { diagnostics };
  }
  const lexed = T.alignLexer.tokenize(source.text);

  for (const err of lexed.errors) {
    const text = source.text.slice(err.offset, err.offset + Math.min(err.length, 20));
    diagnostics.push(diagnostic("unexpectedCharacter", { text: JSON.stringify(text) }, source.span(err.offset, err.offset + err.length)));
  }
  for (const t of lexed.groups.errors ?? []) {
    const span = source.span(t.startOffset, t.startOffset + Math.min(t.image.length, 2));
    diagnostics.push(
      t.tokenType === T.UnterminatedString
        ? diagnostic("unterminatedString", {}, source.span(t.startOffset, t.startOffset + t.image.length))
        : diagnostic("unterminatedComment", {}, span),
    );
  }

  if (lexed.tokens.length > MAX_TOKENS) {
    const t = lexed.tokens[MAX_TOKENS] as IToken;
    diagnostics.push(
      diagnostic("tooManyTokens", { limit: MAX_TOKENS, count: lexed.tokens.length }, source.span(t.startOffset, t.startOffset + t.image.length)),
    );
    return { diagnostics };
  }
  const lexErrorLines = new Set(diagnostics.map((d) => d.span?.line ?? 0));
  const brackets = checkBrackets(source, lexed.tokens);
  diagnostics.push(...brackets.diagnostics);
  if (brackets.tooDeep) return { diagnostics };

  alignParser.input = lexed.tokens;
  let cst: ReturnType<typeof alignParser.file>;
  try {
    cst = alignParser.file();
  } catch (error) {
    if (error instanceof RangeError) {
      diagnostics.push(diagnostic("nestingTooDeep", { limit: MAX_NESTING }, source.span(0, 0)));
      return { diagnostics };
    }
    throw error;
  }
  for (const err of alignParser.errors) {
    const tok = err.token;
    const atEof = tok.tokenType === EOF || Number.isNaN(tok.startOffset);
    if (atEof && brackets.unclosed) continue; // "'{' is never closed" already says it, at a better place
    if (!atEof && brackets.reportedAt.has(tok.startOffset)) continue;
    if (!atEof && lexErrorLines.has(tok.startLine ?? 0)) continue; // a dropped character explains the rest of its line
    const offset = atEof ? source.text.length : tok.startOffset;
    const span = source.span(offset, atEof ? offset : tok.startOffset + tok.image.length);
    diagnostics.push(diagnostic("syntaxError", { expected: expectedText(err.message), found: atEof ? "end of file" : describeToken(tok) }, span));
  }

  const ast = new AstBuilder(source).file(cst, lexed.groups.comments ?? []);
  diagnostics.push(...checkVersion(source, ast, diagnostics.length > 0));
  return { ast, diagnostics };
}

function checkVersion(source: SourceFile, ast: AlignFile, hasSyntaxErrors: boolean): Diagnostic[] {
  if (!ast.version) {
    // A broken first line already has a syntax error; don't pile on.
    if (hasSyntaxErrors && /^\s*align\b/.test(source.text)) return [];
    return [diagnostic("missingVersionLine", {}, source.span(0, Math.min(source.lineText(1).length, 1)))];
  }
  if (ast.version.value !== String(LANGUAGE_VERSION)) {
    return [diagnostic("unsupportedVersion", { version: ast.version.value, supported: LANGUAGE_VERSION }, ast.version.span)];
  }
  return [];
}

function checkBrackets(source: SourceFile, tokens: IToken[]): { diagnostics: Diagnostic[]; tooDeep: boolean; unclosed: boolean; reportedAt: Set<number> } {
  const diagnostics: Diagnostic[] = [];
  const reportedAt = new Set<number>();
  const stack: IToken[] = [];
  const neverClosed = (open: IToken) => {
    const close = openers.get(open.tokenType)?.close ?? "";
    diagnostics.push(diagnostic("unclosedDelimiter", { open: open.image, close }, source.span(open.startOffset, open.startOffset + 1)));
  };
  let prefixRun = 0;
  for (const t of tokens) {
    prefixRun = t.tokenType === T.Minus || t.tokenType === T.Not ? prefixRun + 1 : 0;
    if (openers.has(t.tokenType)) {
      stack.push(t);
    } else if (closers.has(t.tokenType)) {
      const top = stack[stack.length - 1];
      const intervalEnd = top && (top.image === "(" || top.image === "[") && (t.image === ")" || t.image === "]"); // (0, 1] is legal
      if (top && (openers.get(top.tokenType)?.close === t.image || intervalEnd)) {
        stack.pop();
      } else {
        const match = stack.findLastIndex((o) => openers.get(o.tokenType)?.close === t.image);
        if (match < 0) {
          diagnostics.push(diagnostic("unmatchedCloser", { text: t.image }, source.span(t.startOffset, t.startOffset + 1)));
        } else {
          for (const open of stack.splice(match + 1).reverse()) neverClosed(open);
          stack.pop();
        }
        reportedAt.add(t.startOffset);
      }
    }
    if (stack.length + prefixRun > MAX_NESTING) {
      diagnostics.push(diagnostic("nestingTooDeep", { limit: MAX_NESTING }, source.span(t.startOffset, t.startOffset + t.image.length)));
      return { diagnostics, tooDeep: true, unclosed: false, reportedAt };
    }
  }
  for (const open of stack.slice(0, 5)) neverClosed(open);
  return { diagnostics, tooDeep: false, unclosed: stack.length > 0, reportedAt };
}

function describeToken(t: IToken): string {
  const image = t.image.length > 30 ? `${t.image.slice(0, 27)}...` : t.image;
  return `'${image}'`;
}

/**
 * Chevrotain's messages list expected tokens in several formats; reduce them to "'}' or identifier".
 * Labels come from the token definitions in grammar/lexer.ts.
 */
function expectedText(message: string): string {
  const single = /Expecting token of type --> (.*?) <--/.exec(message);
  if (single?.[1]) return single[1];
  if (/Redundant input, expecting EOF/.test(message)) return "a declaration (model, dataset, rater, similarity, phase, sweep, evaluate, param or import)";
  const firstTokens = new Set<string>();
  for (const line of message.split("\n")) {
    const m = /^\s*\d+\.\s*\[(.*)\]\s*$/.exec(line);
    const first = m?.[1]?.split(", ")[0];
    if (first) firstTokens.add(first);
  }
  if (firstTokens.size === 0) return "something else";
  if (firstTokens.has("Identifier") && firstTokens.has("integer") && firstTokens.has("string")) return "a value";
  const list = [...firstTokens].map((s) => (s === "Identifier" ? "a name" : s));
  if (list.length > 6) return `${list.slice(0, 6).join(", ")} or another value`;
  return list.length === 1 ? (list[0] ?? "") : `${list.slice(0, -1).join(", ")} or ${list[list.length - 1]}`;
}

/** Parses a lone value, as given on the command line (`--set beta=0.2`), into an expression. */
export function parseValueText(source: SourceFile): { expression?: import("../ast/ast.ts").Expression; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const lexed = T.alignLexer.tokenize(source.text);
  for (const err of lexed.errors)
    diagnostics.push(
      diagnostic(
        "unexpectedCharacter",
        { text: JSON.stringify(source.text.slice(err.offset, err.offset + 1)) },
        source.span(err.offset, err.offset + err.length),
      ),
    );
  for (const t of lexed.groups.errors ?? []) diagnostics.push(diagnostic("unterminatedString", {}, source.span(t.startOffset, t.startOffset + t.image.length)));
  const brackets = checkBrackets(source, lexed.tokens);
  diagnostics.push(...brackets.diagnostics);
  if (diagnostics.length > 0) return { diagnostics };
  alignParser.input = lexed.tokens;
  const cst = alignParser.expression();
  for (const err of alignParser.errors) {
    const tok = err.token;
    const atEof = tok.tokenType === EOF || Number.isNaN(tok.startOffset);
    const offset = atEof ? source.text.length : tok.startOffset;
    diagnostics.push(
      diagnostic("syntaxError", { expected: expectedText(err.message), found: atEof ? "end of value" : describeToken(tok) }, source.span(offset, offset)),
    );
  }
  if (diagnostics.length > 0) return { diagnostics };
  return { expression: new AstBuilder(source).expression(cst), diagnostics };
}

/** A fast count of tokens (words, literals and punctuation; strings and comments count once), close to the lexer's. */
function estimateTokens(text: string): { count: number; offsetAtLimit: number } {
  let count = 0;
  let offsetAtLimit = 0;
  let i = 0;
  const n = text.length;
  const word = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46 || c === 37 || c === 36;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      i++;
      continue;
    }
    count++;
    if (count === MAX_TOKENS + 1) offsetAtLimit = i;
    if (c === 34) {
      const end = text.indexOf("\n", i + 1);
      const close = text.indexOf('"', i + 1);
      i = close >= 0 && (end < 0 || close < end) ? close + 1 : end < 0 ? n : end;
    } else if (c === 47 && text.charCodeAt(i + 1) === 47) {
      const end = text.indexOf("\n", i);
      i = end < 0 ? n : end;
    } else if (word(c)) {
      while (i < n && word(text.charCodeAt(i))) i++;
    } else i++;
  }
  return { count, offsetAtLimit };
}
