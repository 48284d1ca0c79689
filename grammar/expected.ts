// What the parser expected, in words: Chevrotain's error messages are replaced by a short phrase ("':'",
// "a name", "a value", "end of file") that src/compiler/parse/ puts into ALN1004 "expected X, found Y".
// Building the phrase from Chevrotain's structured data (not by parsing its English) keeps it stable
// across Chevrotain versions.
import { EOF, type IParserErrorMessageProvider, type TokenType } from "chevrotain";
import * as T from "./lexer.ts";

const DECLARATION = "a declaration (model, dataset, rater, similarity, phase, sweep, evaluate, param or import)";

/** Tokens whose label is not already how the text should read. */
const phrases = new Map<TokenType, string>([
  [EOF, "end of file"],
  [T.Identifier, "a name"],
  [T.IntLiteral, "an integer"],
  [T.FloatLiteral, "a number"],
  [T.DurationLiteral, "a duration"],
  [T.PercentLiteral, "a percentage"],
  [T.StringLiteral, "a string"],
  [T.Interpolation, "a ${param}"],
]);
const numeric = new Set<TokenType>([T.IntLiteral, T.FloatLiteral, T.DurationLiteral, T.PercentLiteral, T.Minus]);

/** How one token type reads: its phrase, its quoted label ('model', ':'), or its name as a last resort. */
export function tokenPhrase(t: TokenType): string {
  return phrases.get(t) ?? (typeof t.LABEL === "string" ? t.LABEL : t.name);
}

/** Several alternatives as one phrase; the many starts of a value collapse into "a value" or "a number". */
export function alternativesPhrase(types: readonly TokenType[]): string {
  const set = new Set(types);
  const valueStarts = [T.Identifier, T.StringLiteral, T.True, T.False];
  if (set.has(T.IntLiteral) && valueStarts.some((t) => set.has(t))) return "a value";
  const words = [...set].map((t) => (set.has(T.IntLiteral) && numeric.has(t) ? "a number" : tokenPhrase(t)));
  const unique = [...new Set(words)];
  if (unique.length > 6) return `${unique.slice(0, 6).join(", ")} or another value`;
  if (unique.length <= 1) return unique[0] ?? "something else";
  return `${unique.slice(0, -1).join(", ")} or ${unique[unique.length - 1]}`;
}

const firstTokens = (paths: TokenType[][]): TokenType[] => paths.flatMap((p) => (p[0] ? [p[0]] : []));

export const expectedMessages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected }) => tokenPhrase(expected),
  // Only the top rules end early: a file expects another declaration, a lone value (--set) its end.
  buildNotAllInputParsedMessage: ({ ruleName }) => (ruleName === "file" ? DECLARATION : "the end of the value"),
  buildNoViableAltMessage: ({ expectedPathsPerAlt, ruleName }) =>
    ruleName === "statement" ? DECLARATION : alternativesPhrase(expectedPathsPerAlt.flatMap(firstTokens)),
  buildEarlyExitMessage: ({ expectedIterationPaths }) => alternativesPhrase(firstTokens(expectedIterationPaths)),
};
