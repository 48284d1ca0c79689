// Grammar documentation computed from the Chevrotain parser (grammar/parser.ts), so the docs can never drift
// from the grammar: an EBNF rendering for docs/grammar.ebnf and docs/language.md, and a self-contained page
// of railroad diagrams for docs/grammar.html. scripts/gen-grammar-docs.ts writes the files; the test
// test/grammar-docs.test.ts checks that the checked-in copies equal what these functions produce now.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createSyntaxDiagramsCode, type ISerializedGast, type TokenType } from "chevrotain";
import * as T from "../../../grammar/lexer.ts";
import { alignParser } from "../../../grammar/parser.ts";

/** Names the EBNF gives the tokens whose text varies; every other token is written as its quoted text. */
const literalTokenNames: ReadonlyArray<readonly [TokenType, string]> = [
  [T.Identifier, "IDENTIFIER"],
  [T.StringLiteral, "STRING"],
  [T.IntLiteral, "INT"],
  [T.FloatLiteral, "FLOAT"],
  [T.DurationLiteral, "DURATION"],
  [T.PercentLiteral, "PERCENT"],
  [T.Interpolation, "INTERPOLATION"],
];

/** Tokens the lexer reads but the parser never sees, listed in the tokens section for completeness. */
const ignoredTokens: ReadonlyArray<readonly [TokenType, string]> = [
  [T.WhiteSpace, "WHITESPACE"],
  [T.LineComment, "LINE_COMMENT"],
  [T.BlockComment, "BLOCK_COMMENT"],
];

const literalByTokenName = new Map<string, string>(literalTokenNames.map(([tok, name]) => [tok.name, name]));

function tokenRegex(tok: TokenType): string {
  const pattern = tok.PATTERN;
  if (!(pattern instanceof RegExp)) throw new Error(`token ${tok.name} has no regular-expression pattern`);
  return `/${pattern.source}/`;
}

function quote(text: string): string {
  return text.includes('"') ? `'${text}'` : `"${text}"`;
}

/** How a terminal is written in the EBNF: a class name for literal tokens, the quoted text for the rest. */
function terminalText(node: { name: string; label?: string; pattern?: string }): string {
  const literal = literalByTokenName.get(node.name);
  if (literal) return literal;
  const label = node.label;
  if (label && label.length >= 3 && label.startsWith("'") && label.endsWith("'")) return quote(label.slice(1, -1));
  if (node.name.startsWith("Kw_")) return quote(node.name.slice(3));
  // A new token with neither a quoted label nor an entry above: fail loudly rather than print something vague.
  throw new Error(`grammar docs: token ${node.name} has no quoted label ('x') and is not listed in literalTokenNames (src/compiler/grammar-docs/ebnf.ts)`);
}

type Gast = ISerializedGast & {
  name?: string;
  label?: string;
  pattern?: string;
  definition?: Gast[];
  separator?: Gast;
};

/** An element that can carry a postfix operator without parentheses. */
function isAtom(defs: Gast[]): boolean {
  return defs.length === 1 && (defs[0]?.type === "Terminal" || defs[0]?.type === "NonTerminal");
}

function group(defs: Gast[]): string {
  const text = renderSequence(defs);
  return isAtom(defs) ? text : `( ${text} )`;
}

function renderAlternatives(alternation: Gast): string[] {
  return (alternation.definition ?? []).map((alt) => {
    const defs = alt.type === "Alternative" ? (alt.definition ?? []) : [alt];
    return defs.length === 0 ? "/* empty */" : renderSequence(defs);
  });
}

function renderElement(node: Gast, alone: boolean): string {
  const defs = node.definition ?? [];
  switch (node.type) {
    case "Terminal":
      return terminalText(node as Gast & { name: string });
    case "NonTerminal":
      return node.name ?? "?";
    case "Option":
      return `${group(defs)}?`;
    case "Repetition":
      return `${group(defs)}*`;
    case "RepetitionMandatory":
      return `${group(defs)}+`;
    case "RepetitionWithSeparator":
    case "RepetitionMandatoryWithSeparator": {
      if (!node.separator) throw new Error(`grammar docs: ${node.type} without a separator`);
      const item = isAtom(defs) ? renderSequence(defs) : `( ${renderSequence(defs)} )`;
      const sep = renderElement(node.separator, false);
      const body = `${item} ( ${sep} ${item} )*`;
      return node.type === "RepetitionWithSeparator" ? `( ${body} )?` : body;
    }
    case "Alternation": {
      const text = renderAlternatives(node).join(" | ");
      return alone ? text : `( ${text} )`;
    }
    case "Alternative":
      return renderSequence(defs);
    default:
      throw new Error(`grammar docs: unexpected grammar node ${node.type}`);
  }
}

function renderSequence(defs: Gast[]): string {
  return defs.map((d) => renderElement(d, defs.length === 1)).join(" ");
}

/** The parser's rules as serialized by Chevrotain, in definition order. */
export function serializedGrammar(): ISerializedGast[] {
  return alignParser.getSerializedGastProductions();
}

/** The names of all parser rules, in definition order. */
export function grammarRuleNames(): string[] {
  return serializedGrammar().map((r) => (r as Gast).name ?? "");
}

/** The whole grammar as EBNF text, ending in a newline. Deterministic: the same parser gives the same bytes. */
export function grammarEbnf(): string {
  const rules = serializedGrammar() as Gast[];
  const width = Math.max(...rules.map((r) => (r.name ?? "").length));
  const lines: string[] = [
    "/* The .align grammar, generated from grammar/parser.ts by `npm run docs:grammar`. Do not edit by hand. */",
    "/* Notation: 'a b' sequence, 'a | b' choice, 'x?' optional, 'x*' zero or more, 'x+' one or more. */",
    "/* Quoted text is a keyword or punctuation token; UPPERCASE names are the tokens defined at the end. */",
    "",
  ];
  for (const rule of rules) {
    const name = (rule.name ?? "").padEnd(width);
    const defs = rule.definition ?? [];
    const only = defs.length === 1 ? defs[0] : undefined;
    if (only?.type === "Alternation" && (only.definition?.length ?? 0) > 1) {
      // A rule that is one choice: one alternative per line.
      const alts = renderAlternatives(only);
      lines.push(`${name} ::= ${alts[0]}`);
      for (const alt of alts.slice(1)) lines.push(`${" ".repeat(width)}   | ${alt}`);
    } else {
      lines.push(`${name} ::= ${defs.length === 0 ? "/* empty */" : renderSequence(defs)}`);
    }
  }
  lines.push("");
  lines.push("/* Tokens, as regular expressions from grammar/lexer.ts. Keywords are reserved except as keys. */");
  const tokens = [...literalTokenNames, ...ignoredTokens];
  const tokenWidth = Math.max(...tokens.map(([, n]) => n.length));
  for (const [tok, name] of literalTokenNames) lines.push(`${name.padEnd(tokenWidth)} ::= ${tokenRegex(tok)}`);
  lines.push("");
  lines.push("/* Skipped between tokens. */");
  for (const [tok, name] of ignoredTokens) lines.push(`${name.padEnd(tokenWidth)} ::= ${tokenRegex(tok)}`);
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------------------
// Railroad diagrams

const resourceMarker = "alignc-diagrams-resource:";
const cssMarker = "alignc-diagrams-css";

/** The folder of the chevrotain package, whose diagrams/ folder holds the scripts the diagrams page needs. */
function chevrotainRoot(): string {
  const require = createRequire(import.meta.url);
  // chevrotain's "exports" has no ./package.json entry; its main file is lib/src/api.js.
  let dir = dirname(require.resolve("chevrotain"));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "chevrotain") return dir;
    } catch {
      // not the package root yet
    }
    dir = dirname(dir);
  }
  throw new Error("grammar docs: cannot find the chevrotain package folder");
}

function inlineScript(code: string): string {
  // Nothing inside may close the <script> element early.
  return `<script>\n${code.replace(/<\/(script)/gi, "<\\/$1")}\n</script>`;
}

/**
 * docs/grammar.html: chevrotain's `createSyntaxDiagramsCode` page with its scripts and stylesheet inlined
 * from node_modules/chevrotain/diagrams, so it opens offline (the default page loads them from a CDN).
 */
export function grammarDiagramsHtml(): string {
  const grammar = serializedGrammar();
  const json = JSON.stringify(grammar);
  if (/<\/script/i.test(json)) throw new Error("grammar docs: the serialized grammar contains '</script'");
  const page = createSyntaxDiagramsCode(grammar, { resourceBase: resourceMarker, css: cssMarker });
  const root = join(chevrotainRoot(), "diagrams");
  let html = page
    .replace(/^\s*\n/, "")
    .replace(
      "<!-- This is a generated file -->\n<!DOCTYPE html>",
      "<!DOCTYPE html>\n<!-- Generated from grammar/parser.ts by `npm run docs:grammar`. Do not edit by hand. -->",
    )
    .replace('<meta charset="utf-8">', '<meta charset="utf-8">\n<title>.align grammar: syntax diagrams</title>')
    .replace(`<link rel='stylesheet' href='${cssMarker}'>`, () => `<style>\n${readFileSync(join(root, "diagrams.css"), "utf8")}\n</style>`)
    .replace(new RegExp(`<script src='${resourceMarker}([A-Za-z0-9_/.-]+)'></script>`, "g"), (_, path: string) =>
      inlineScript(readFileSync(join(root, path), "utf8")),
    );
  // Normalise trailing spaces and the final newline so the file is stable under editors.
  html = `${html
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n")
    .trimEnd()}\n`;
  if (html.includes(resourceMarker) || html.includes(cssMarker)) {
    throw new Error("grammar docs: createSyntaxDiagramsCode output changed; a resource was not inlined");
  }
  return html;
}

// ---------------------------------------------------------------------------------------------------------
// The generated region of docs/language.md

export const beginMarker = "<!-- BEGIN GENERATED GRAMMAR -->";
export const endMarker = "<!-- END GENERATED GRAMMAR -->";

function markerLines(lines: string[]): { begin: number; end: number } | undefined {
  const begin = lines.findIndex((l) => l.trim() === beginMarker);
  if (begin < 0) return undefined;
  const end = lines.findIndex((l, i) => i > begin && l.trim() === endMarker);
  return end < 0 ? undefined : { begin, end };
}

/** Whether the markdown has both markers, begin before end, each on a line of its own. */
export function hasGeneratedRegion(markdown: string): boolean {
  return markerLines(markdown.split("\n")) !== undefined;
}

/** The markdown with the text between the markers replaced by the EBNF in an ```ebnf fence. */
export function replaceGeneratedRegion(markdown: string, ebnf: string): string {
  const lines = markdown.split("\n");
  const at = markerLines(lines);
  if (!at) throw new Error(`the markdown lacks the lines ${beginMarker} and ${endMarker}`);
  const body = ["```ebnf", ...ebnf.replace(/\n$/, "").split("\n"), "```"];
  return [...lines.slice(0, at.begin + 1), ...body, ...lines.slice(at.end)].join("\n");
}

/** The EBNF in the ```ebnf fence between the markers (with its final newline), or undefined. */
export function extractGeneratedEbnf(markdown: string): string | undefined {
  const lines = markdown.split("\n").map((l) => l.replace(/\r$/, ""));
  const at = markerLines(lines);
  if (!at) return undefined;
  const region = lines.slice(at.begin + 1, at.end);
  while (region.length > 0 && region[0]?.trim() === "") region.shift();
  while (region.length > 0 && region[region.length - 1]?.trim() === "") region.pop();
  if (region[0]?.trim() !== "```ebnf" || region[region.length - 1]?.trim() !== "```" || region.length < 2) return undefined;
  return `${region.slice(1, -1).join("\n")}\n`;
}
