// The .align grammar as a Chevrotain CstParser. Error recovery is on, so one run reports several syntax
// errors. The EBNF in docs/language.md and docs/grammar.html are generated from this class (scripts/gen-grammar-docs.ts).
import { type CstNode, CstParser, type IToken, type TokenType } from "chevrotain";
import { expectedMessages } from "./expected.ts";
import * as T from "./lexer.ts";

const keyNameTokens: TokenType[] = [T.Identifier, ...T.keywordTokens];

export class AlignParser extends CstParser {
  constructor() {
    // Chevrotain's grammar validations (ambiguities, left recursion, …) run from the sources, so in every test; the
    // bundle `npm ci` builds (scripts/build.ts, which sets ALIGNC_BUNDLE) skips them, a third of the parser's start-up.
    super(T.allTokens, {
      recoveryEnabled: true,
      maxLookahead: 3,
      nodeLocationTracking: "full",
      errorMessageProvider: expectedMessages,
      skipValidations: process.env.ALIGNC_BUNDLE === "1",
    });
    this.performSelfAnalysis();
  }

  /** file := versionLine? statement* */
  public file = this.RULE("file", () => {
    this.OPTION(() => this.SUBRULE(this.versionLine));
    this.MANY(() => this.SUBRULE(this.statement));
  });

  private versionLine = this.RULE("versionLine", () => {
    this.CONSUME(T.Align);
    this.CONSUME(T.IntLiteral);
  });

  private statement = this.RULE("statement", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.importDecl) },
      { ALT: () => this.SUBRULE(this.paramDecl) },
      { ALT: () => this.SUBRULE(this.declaration) },
      { ALT: () => this.SUBRULE(this.evaluateDecl) },
    ]);
  });

  /** import "path.align" (as name)? */
  private importDecl = this.RULE("importDecl", () => {
    this.CONSUME(T.Import);
    this.CONSUME(T.StringLiteral);
    this.OPTION(() => {
      this.CONSUME(T.As);
      this.CONSUME(T.Identifier);
    });
  });

  /** param name: type (in domain)? (= default)? */
  private paramDecl = this.RULE("paramDecl", () => {
    this.CONSUME(T.Param);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.paramType);
    this.OPTION(() => {
      this.CONSUME(T.In);
      this.SUBRULE(this.paramDomain);
    });
    this.OPTION2(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression);
    });
  });

  /** int | float | string | bool | duration | percent, or a union of symbols: sigmoid | ipo | hinge */
  private paramType = this.RULE("paramType", () => {
    this.CONSUME(T.Identifier);
    this.MANY(() => {
      this.CONSUME(T.Pipe);
      this.CONSUME2(T.Identifier);
    });
  });

  private paramDomain = this.RULE("paramDomain", () => {
    this.OR([{ ALT: () => this.SUBRULE(this.interval) }, { ALT: () => this.SUBRULE(this.valueSet) }, { ALT: () => this.SUBRULE(this.closedRange) }]);
  });

  /** (0, 1]  [0, 1)  (0, 1)  — a closed interval is written a..b */
  private interval = this.RULE("interval", () => {
    this.OR([{ ALT: () => this.CONSUME(T.LParen) }, { ALT: () => this.CONSUME(T.LBracket) }]);
    this.SUBRULE(this.bound);
    this.CONSUME(T.Comma);
    this.SUBRULE2(this.bound);
    this.OR2([{ ALT: () => this.CONSUME(T.RParen) }, { ALT: () => this.CONSUME(T.RBracket) }]);
  });

  /** 0..12 */
  private closedRange = this.RULE("closedRange", () => {
    this.SUBRULE(this.bound);
    this.CONSUME(T.DotDot);
    this.SUBRULE2(this.bound);
  });

  /** {8, 16, 32} or {"a", "b"} */
  private valueSet = this.RULE("valueSet", () => {
    this.CONSUME(T.LBrace);
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      // Booleans and names parse so that `bool in {true}` or `string in {a}` get a clear checker error
      // instead of a syntax error.
      DEF: () =>
        this.OR([
          { ALT: () => this.SUBRULE(this.bound) },
          { ALT: () => this.CONSUME(T.StringLiteral) },
          { ALT: () => this.CONSUME(T.True) },
          { ALT: () => this.CONSUME(T.False) },
          { ALT: () => this.CONSUME(T.Identifier) },
        ]),
    });
    this.CONSUME(T.RBrace);
  });

  /** A signed number-like literal: -1, 0.5, 3%, 30s */
  private bound = this.RULE("bound", () => {
    this.OPTION(() => this.CONSUME(T.Minus));
    this.OR([
      { ALT: () => this.CONSUME(T.IntLiteral) },
      { ALT: () => this.CONSUME(T.FloatLiteral) },
      { ALT: () => this.CONSUME(T.PercentLiteral) },
      { ALT: () => this.CONSUME(T.DurationLiteral) },
    ]);
  });

  /** model|dataset|rater|similarity|phase|sweep name = expression */
  private declaration = this.RULE("declaration", () => {
    this.OR(T.declarationKeywords.map((kw) => ({ ALT: () => this.CONSUME(kw) })));
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  /** evaluate name { models: [...], on: data, metrics: [...] } */
  private evaluateDecl = this.RULE("evaluateDecl", () => {
    this.CONSUME(T.Evaluate);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.block);
  });

  public expression = this.RULE("expression", () => {
    this.SUBRULE(this.orExpression);
  });

  private orExpression = this.RULE("orExpression", () => {
    this.SUBRULE(this.andExpression);
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpression);
    });
  });

  private andExpression = this.RULE("andExpression", () => {
    this.SUBRULE(this.notExpression);
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpression);
    });
  });

  private notExpression = this.RULE("notExpression", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpression);
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]);
  });

  private comparison = this.RULE("comparison", () => {
    this.SUBRULE(this.additive);
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Lt) },
        { ALT: () => this.CONSUME(T.Le) },
        { ALT: () => this.CONSUME(T.Gt) },
        { ALT: () => this.CONSUME(T.Ge) },
        { ALT: () => this.CONSUME(T.EqEq) },
        { ALT: () => this.CONSUME(T.NotEq) },
      ]);
      this.SUBRULE2(this.additive);
    });
  });

  private additive = this.RULE("additive", () => {
    this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.multiplicative);
    });
  });

  private multiplicative = this.RULE("multiplicative", () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star) }, { ALT: () => this.CONSUME(T.Slash) }]);
      this.SUBRULE2(this.unary);
    });
  });

  private unary = this.RULE("unary", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.range) },
    ]);
  });

  /** 0..4 */
  private range = this.RULE("range", () => {
    this.SUBRULE(this.primary);
    this.OPTION(() => {
      this.CONSUME(T.DotDot);
      this.SUBRULE2(this.primary);
    });
  });

  private primary = this.RULE("primary", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.literal) },
      { ALT: () => this.SUBRULE(this.list) },
      { ALT: () => this.SUBRULE(this.block) },
      { ALT: () => this.SUBRULE(this.parenthesized) },
      { ALT: () => this.CONSUME(T.Interpolation) },
      { ALT: () => this.SUBRULE(this.reference) },
    ]);
  });

  private literal = this.RULE("literal", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.IntLiteral) },
      { ALT: () => this.CONSUME(T.FloatLiteral) },
      { ALT: () => this.CONSUME(T.DurationLiteral) },
      { ALT: () => this.CONSUME(T.PercentLiteral) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
    ]);
  });

  private parenthesized = this.RULE("parenthesized", () => {
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RParen);
  });

  /** name, a.b.c, name(args), name { block }, name(args) { block } */
  private reference = this.RULE("reference", () => {
    this.CONSUME(T.Identifier);
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.SUBRULE(this.keyName);
    });
    this.OPTION(() => this.SUBRULE(this.callArguments));
    this.OPTION2(() => this.SUBRULE(this.block));
  });

  private callArguments = this.RULE("callArguments", () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression) });
    this.CONSUME(T.RParen);
  });

  private list = this.RULE("list", () => {
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression) });
    this.CONSUME(T.RBracket);
  });

  /** { key: value, nested.key: value } — commas between entries are optional */
  private block = this.RULE("block", () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.entry));
    this.CONSUME(T.RBrace);
  });

  private entry = this.RULE("entry", () => {
    this.SUBRULE(this.keyPath);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.expression);
    this.OPTION(() => this.CONSUME(T.Comma));
  });

  private keyPath = this.RULE("keyPath", () => {
    this.SUBRULE(this.keyName);
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.SUBRULE2(this.keyName);
    });
  });

  /** Keys may be keywords too (`data: …`, `in: …`), so a new keyword never breaks an old file. */
  private keyName = this.RULE("keyName", () => {
    this.OR(keyNameTokens.map((tok) => ({ ALT: () => this.CONSUME(tok) })));
  });
}

/** One parser instance is reused: Chevrotain parsers are stateful but cheap to reset via `input`. */
export const alignParser = new AlignParser();

export interface ParseOutput {
  cst: CstNode;
  tokens: IToken[];
}
