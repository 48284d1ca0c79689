// Tokens of the .align language. The parser (parser.ts) and the TextMate grammar (align.tmLanguage.json)
// both follow this file; a test keeps the keyword list in the TextMate grammar in sync with `keywordTokens`.
import { createToken, Lexer, type TokenType } from "chevrotain";

export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

function keyword(word: string): TokenType {
  return createToken({ name: `Kw_${word}`, pattern: new RegExp(`${word}(?![A-Za-z0-9_])`), longer_alt: Identifier, label: `'${word}'` });
}

export const Align = keyword("align");
export const Import = keyword("import");
export const As = keyword("as");
export const Param = keyword("param");
export const Model = keyword("model");
export const Dataset = keyword("dataset");
export const Rater = keyword("rater");
export const Similarity = keyword("similarity");
export const Phase = keyword("phase");
export const Evaluate = keyword("evaluate");
export const Sweep = keyword("sweep");
export const In = keyword("in");
export const True = keyword("true");
export const False = keyword("false");
export const And = keyword("and");
export const Or = keyword("or");
export const Not = keyword("not");

/** Keywords that start a declaration, in the order the docs list them. */
export const declarationKeywords = [Model, Dataset, Rater, Similarity, Phase, Sweep] as const;
export const keywordTokens = [Align, Import, As, Param, Model, Dataset, Rater, Similarity, Phase, Evaluate, Sweep, In, True, False, And, Or, Not] as const;

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n\f\v\uFEFF]+/, group: Lexer.SKIPPED, line_breaks: true });
export const LineComment = createToken({ name: "LineComment", pattern: /\/\/[^\n\r]*/, group: "comments" });
export const BlockComment = createToken({ name: "BlockComment", pattern: /\/\*[\s\S]*?\*\//, group: "comments", line_breaks: true });
/** An opening comment marker with no end: kept out of the parser, reported by the front end. */
export const UnterminatedBlockComment = createToken({ name: "UnterminatedBlockComment", pattern: /\/\*[\s\S]*/, group: "errors", line_breaks: true });

export const StringLiteral = createToken({ name: "StringLiteral", pattern: /"[^"\\\n\r]*(?:\\[^\n\r][^"\\\n\r]*)*"/, label: "string" });
/** A string that reaches the end of its line without a closing quote. */
export const UnterminatedString = createToken({ name: "UnterminatedString", pattern: /"[^"\\\n\r]*(?:\\[^\n\r][^"\\\n\r]*)*\\?/, group: "errors" });

export const Interpolation = createToken({ name: "Interpolation", pattern: /\$\{[A-Za-z_][A-Za-z0-9_]*\}/, label: "${param}" });
export const DurationLiteral = createToken({ name: "DurationLiteral", pattern: /\d+(?:\.\d+)?(?:ms|s|m|h)(?![A-Za-z0-9_])/, label: "duration" });
export const PercentLiteral = createToken({ name: "PercentLiteral", pattern: /\d+(?:\.\d+)?%/, label: "percentage" });
export const FloatLiteral = createToken({ name: "FloatLiteral", pattern: /\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+/, label: "number" });
export const IntLiteral = createToken({ name: "IntLiteral", pattern: /\d+/, label: "integer" });

export const DotDot = createToken({ name: "DotDot", pattern: /\.\./, label: "'..'" });
export const Dot = createToken({ name: "Dot", pattern: /\./, label: "'.'" });
export const Comma = createToken({ name: "Comma", pattern: /,/, label: "','" });
export const Colon = createToken({ name: "Colon", pattern: /:/, label: "':'" });
export const EqEq = createToken({ name: "EqEq", pattern: /==/, label: "'=='" });
export const NotEq = createToken({ name: "NotEq", pattern: /!=/, label: "'!='" });
export const Le = createToken({ name: "Le", pattern: /<=/, label: "'<='" });
export const Ge = createToken({ name: "Ge", pattern: />=/, label: "'>='" });
export const Lt = createToken({ name: "Lt", pattern: /</, label: "'<'" });
export const Gt = createToken({ name: "Gt", pattern: />/, label: "'>'" });
export const Equals = createToken({ name: "Equals", pattern: /=/, label: "'='" });
export const LBrace = createToken({ name: "LBrace", pattern: /\{/, label: "'{'" });
export const RBrace = createToken({ name: "RBrace", pattern: /\}/, label: "'}'" });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/, label: "'['" });
export const RBracket = createToken({ name: "RBracket", pattern: /\]/, label: "']'" });
export const LParen = createToken({ name: "LParen", pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: "RParen", pattern: /\)/, label: "')'" });
export const Plus = createToken({ name: "Plus", pattern: /\+/, label: "'+'" });
export const Minus = createToken({ name: "Minus", pattern: /-/, label: "'-'" });
export const Star = createToken({ name: "Star", pattern: /\*/, label: "'*'" });
export const Slash = createToken({ name: "Slash", pattern: /\//, label: "'/'" });
export const Pipe = createToken({ name: "Pipe", pattern: /\|/, label: "'|'" });

// Order matters: comments before Slash, longer literals before shorter, keywords before Identifier.
export const allTokens: TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  UnterminatedBlockComment,
  StringLiteral,
  UnterminatedString,
  Interpolation,
  DurationLiteral,
  PercentLiteral,
  FloatLiteral,
  IntLiteral,
  ...keywordTokens,
  Identifier,
  DotDot,
  Dot,
  Comma,
  Colon,
  EqEq,
  NotEq,
  Le,
  Ge,
  Lt,
  Gt,
  Equals,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  LParen,
  RParen,
  Plus,
  Minus,
  Star,
  Slash,
  Pipe,
];

export const alignLexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false });
