// Numeric literals the compiler cannot represent: `1e999` would become Infinity (JSON null in the graph)
// and `99999999999999999999` a silently rounded integer. They are rejected where they are written.
import type { IToken } from "chevrotain";
import * as T from "../../../grammar/lexer.ts";
import { type Diagnostic, diagnostic } from "../../diagnostics/diagnostic.ts";
import type { SourceFile } from "../../diagnostics/source-file.ts";

const FLOAT_LIMIT = "about 1.8e308";
const INT_LIMIT = String(Number.MAX_SAFE_INTEGER);

export function checkNumberLiterals(source: SourceFile, tokens: readonly IToken[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const t of tokens) {
    const limit = limitExceeded(t);
    if (!limit) continue;
    const text = t.image.length > 30 ? `${t.image.slice(0, 27)}...` : t.image;
    out.push(diagnostic("numberTooLarge", { text, limit }, source.span(t.startOffset, t.startOffset + t.image.length)));
  }
  return out;
}

/** The limit a numeric token exceeds, or undefined when its value is representable. */
function limitExceeded(t: IToken): string | undefined {
  switch (t.tokenType) {
    case T.IntLiteral:
      return Number.isSafeInteger(Number(t.image)) ? undefined : INT_LIMIT;
    case T.FloatLiteral:
      return Number.isFinite(Number(t.image)) ? undefined : FLOAT_LIMIT;
    case T.PercentLiteral:
    case T.DurationLiteral: {
      // Units scale by at most 3600 (hours), so the number before the unit must stay well below the limit.
      const n = Number(/^\d+(?:\.\d+)?/.exec(t.image)?.[0] ?? "0");
      return Number.isFinite(n * 3600) ? undefined : FLOAT_LIMIT;
    }
    default:
      return undefined;
  }
}
