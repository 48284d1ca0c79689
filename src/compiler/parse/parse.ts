// Source text → AST, with every lexical and syntax problem as a diagnostic. Drives the Chevrotain lexer
// and parser in grammar/; the bracket pass (brackets.ts) runs first, so absurdly deep input never reaches
// the recursive parser and one bracket or string problem does not become a cascade of syntax errors.
import { EOF, type IToken } from "chevrotain";
import * as T from "../../../grammar/lexer.ts";
import { alignParser } from "../../../grammar/parser.ts";
import { type Diagnostic, diagnostic } from "../../diagnostics/diagnostic.ts";
import type { SourceFile } from "../../diagnostics/source-file.ts";
import type { AlignFile } from "../ast/ast.ts";
import { AstBuilder, MAX_EXPRESSION_DEPTH } from "../ast/build.ts";
import { checkBrackets, MAX_NESTING } from "./brackets.ts";
import { checkNumberLiterals } from "./numbers.ts";

export { MAX_EXPRESSION_DEPTH, MAX_NESTING };
export const LANGUAGE_VERSION = 1;
/** Most tokens in one file. Real experiment files have a few thousand; the CST of millions would exhaust memory. */
export const MAX_TOKENS = 100_000;

export interface ParseResult {
  /** Undefined only when the input could not be parsed at all (nesting beyond MAX_NESTING). */
  ast?: AlignFile;
  diagnostics: Diagnostic[];
}

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
  const unterminatedStrings: IToken[] = [];
  for (const t of lexed.groups.errors ?? []) {
    if (t.tokenType === T.UnterminatedString) {
      unterminatedStrings.push(t);
      diagnostics.push(diagnostic("unterminatedString", {}, source.span(t.startOffset, t.startOffset + t.image.length)));
    } else diagnostics.push(diagnostic("unterminatedComment", {}, source.span(t.startOffset, t.startOffset + Math.min(t.image.length, 2))));
  }

  if (lexed.tokens.length > MAX_TOKENS) {
    const t = lexed.tokens[MAX_TOKENS] as IToken;
    diagnostics.push(
      diagnostic("tooManyTokens", { limit: MAX_TOKENS, count: lexed.tokens.length }, source.span(t.startOffset, t.startOffset + t.image.length)),
    );
    return { diagnostics };
  }
  diagnostics.push(...checkNumberLiterals(source, lexed.tokens));
  const lexErrorLines = new Set(diagnostics.map((d) => d.span?.line ?? 0));
  const brackets = checkBrackets(source, lexed.tokens, unterminatedStrings);
  diagnostics.push(...brackets.diagnostics);
  if (brackets.tooDeep) return { diagnostics };
  const explained = (offset: number) => brackets.regions.some(([start, end]) => start <= offset && offset < end);

  alignParser.input = brackets.tokens;
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
  let previousLine = -1;
  for (const err of alignParser.errors) {
    const tok = err.token;
    const atEof = tok.tokenType === EOF || Number.isNaN(tok.startOffset);
    const offset = atEof ? source.text.length : tok.startOffset;
    if (explained(offset)) continue; // a reported bracket or string problem explains it
    if (!atEof && lexErrorLines.has(tok.startLine ?? 0)) continue; // a dropped character explains the rest of its line
    const line = atEof ? -2 : (tok.startLine ?? 0);
    if (line === previousLine) continue; // recovery resynchronises within a line; its first error says it
    previousLine = line;
    const span = source.span(offset, atEof ? offset : tok.startOffset + tok.image.length);
    // The parser's message is already the expected phrase (grammar/expected.ts).
    diagnostics.push(diagnostic("syntaxError", { expected: err.message, found: atEof ? "end of file" : describeToken(tok) }, span));
  }

  const builder = new AstBuilder(source);
  const ast = builder.file(cst, lexed.groups.comments ?? []);
  diagnostics.push(...builder.diagnostics);
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

function describeToken(t: IToken): string {
  const image = t.image.length > 30 ? `${t.image.slice(0, 27)}...` : t.image;
  return `'${image}'`;
}

/** Parses a lone value, as given on the command line (`--set beta=0.2`), into an expression. */
export function parseValueText(source: SourceFile): { expression?: import("../ast/ast.ts").Expression; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  // The same limit as for a file: the parser's time and memory grow with the tokens.
  const estimate = estimateTokens(source.text);
  if (estimate.count > MAX_TOKENS) {
    const at = estimate.offsetAtLimit;
    return { diagnostics: [diagnostic("tooManyTokens", { limit: MAX_TOKENS, count: estimate.count }, source.span(at, at + 1))] };
  }
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
  diagnostics.push(...checkNumberLiterals(source, lexed.tokens));
  diagnostics.push(...checkBrackets(source, lexed.tokens).diagnostics);
  if (diagnostics.length > 0) return { diagnostics };
  alignParser.input = lexed.tokens;
  const cst = alignParser.expression();
  for (const err of alignParser.errors) {
    const tok = err.token;
    const atEof = tok.tokenType === EOF || Number.isNaN(tok.startOffset);
    const offset = atEof ? source.text.length : tok.startOffset;
    diagnostics.push(diagnostic("syntaxError", { expected: err.message, found: atEof ? "end of value" : describeToken(tok) }, source.span(offset, offset)));
    break; // one problem is enough for a one-line value
  }
  if (diagnostics.length > 0) return { diagnostics };
  const builder = new AstBuilder(source);
  const expression = builder.expression(cst);
  if (builder.diagnostics.length > 0) return { diagnostics: builder.diagnostics };
  return { expression, diagnostics };
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
