// Diagnostics for people: `file:line:col: severity[CODE]: message`, the source line with an underline,
// labelled secondary spans, notes and a help line — in the spirit of rustc and the TypeScript compiler. A fix
// (a suggested replacement) is shown under its help line as the source line would read with it, the
// replacement marked with `~`.
// A .align file may come from someone else: control characters in its text (in a source line, or quoted in a
// message) are shown as escapes (src/util/printable.ts), and the underline is placed by the escaped widths.
import { printable, printableLine } from "../util/printable.ts";
import type { Diagnostic, Fix, Span } from "./diagnostic.ts";
import type { SourceFile } from "./source-file.ts";

export interface RenderOptions {
  color: boolean;
}

const codes = { red: 31, yellow: 33, blue: 34, cyan: 36, bold: 1, dim: 2 } as const;

export function renderDiagnostics(diagnostics: readonly Diagnostic[], sources: ReadonlyMap<string, SourceFile>, options: RenderOptions): string {
  const paint = (style: keyof typeof codes, s: string) => (options.color ? `\u001b[${codes[style]}m${s}\u001b[0m` : s);
  const blocks = diagnostics.map((d) => {
    const sevColor = d.severity === "error" ? "red" : d.severity === "warning" ? "yellow" : "blue";
    const where = d.span ? `${d.span.file}:${d.span.line}:${d.span.column}: ` : "";
    const lines = [`${where}${paint(sevColor, `${d.severity}[${d.code}]`)}: ${paint("bold", printable(d.message))}`];
    if (d.span) lines.push(...snippet(d.span, sources, "^", "", paint, sevColor));
    for (const label of d.labels) {
      if (label.span.file !== d.span?.file) lines.push(`  ${paint("cyan", "-->")} ${label.span.file}:${label.span.line}:${label.span.column}`);
      lines.push(...snippet(label.span, sources, "-", printable(label.message), paint, "cyan"));
    }
    for (const note of d.notes) lines.push(`  ${paint("cyan", "=")} note: ${printable(note)}`);
    if (d.help) lines.push(`  ${paint("cyan", "=")} help: ${printable(d.help)}`);
    if (d.fix) lines.push(...fixSnippet(d.fix, sources, paint));
    return lines.join("\n");
  });
  const errors = diagnostics.filter((d) => d.severity === "error").length;
  const warnings = diagnostics.filter((d) => d.severity === "warning").length;
  if (diagnostics.length > 0) blocks.push(summary(errors, warnings));
  return blocks.join("\n\n");
}

export function summary(errors: number, warnings: number): string {
  const parts = [];
  if (errors) parts.push(`${errors} error${errors === 1 ? "" : "s"}`);
  if (warnings) parts.push(`${warnings} warning${warnings === 1 ? "" : "s"}`);
  return parts.length ? `found ${parts.join(" and ")}` : "no problems found";
}

type Paint = (style: keyof typeof codes, s: string) => string;

/**
 * The line of a fix's span as it reads with the replacement, the replacement marked. Only for a fix within one line
 * of a file at hand, replaced by text of one line; otherwise the help line says it alone.
 */
function fixSnippet(fix: Fix, sources: ReadonlyMap<string, SourceFile>, paint: Paint): string[] {
  const source = sources.get(fix.span.file);
  if (!source || fix.span.endLine !== fix.span.line || /[\r\n]/.test(fix.replacement)) return [];
  const line = source.lineText(fix.span.line);
  const from = fix.span.column - 1;
  const to = Math.min(line.length, fix.span.endColumn - 1);
  if (from < 0 || from > line.length || to < from) return [];
  const text = line.slice(0, from) + fix.replacement + line.slice(to);
  const width = Math.max(1, fix.replacement.length);
  return snippetOf(text, fix.span.line, fix.span.column, fix.span.column + width, "~", "", paint, "cyan");
}

/** The span's first line with a gutter and a marker row; long lines are cut around the span. */
function snippet(span: Span, sources: ReadonlyMap<string, SourceFile>, mark: string, label: string, paint: Paint, color: keyof typeof codes): string[] {
  const source = sources.get(span.file);
  if (!source) return label ? [`  ${paint("cyan", "=")} ${label} (${span.file}:${span.line}:${span.column})`] : [];
  const text = source.lineText(span.line);
  const endCol = span.endLine === span.line ? Math.max(span.endColumn, span.column + 1) : text.length + 1;
  return snippetOf(text, span.line, span.column, endCol, mark, label, paint, color);
}

/** A line of text with a gutter and a marker row under columns [startCol, endCol). */
function snippetOf(
  lineText: string,
  line: number,
  column: number,
  endCol: number,
  mark: string,
  label: string,
  paint: Paint,
  color: keyof typeof codes,
): string[] {
  let text = lineText;
  let startCol = column;
  const MAX = 120;
  let prefix = "";
  if (text.length > MAX) {
    const from = Math.max(0, startCol - 40);
    text = text.slice(from, from + MAX);
    prefix = from > 0 ? "…" : "";
    startCol = startCol - from + prefix.length;
  }
  const width = Math.max(1, Math.min(endCol - column, text.length - startCol + 2));
  const gutter = String(line);
  const pad = " ".repeat(gutter.length);
  const raw = (prefix + text).replace(/\t/g, " ");
  const visible = printableLine(raw);
  // Columns as shown: a control character before or under the span takes the width of its escape.
  const before = printableLine(raw.slice(0, Math.max(0, startCol - 1))).length;
  const marked = raw.slice(Math.max(0, startCol - 1), Math.max(0, startCol - 1) + width);
  const shownWidth = Math.max(1, printableLine(marked).length + Math.max(0, width - marked.length));
  const underline = `${" ".repeat(before)}${mark.repeat(shownWidth)}${label ? ` ${label}` : ""}`;
  return [
    `${pad} ${paint("cyan", "|")}`,
    `${paint("cyan", gutter)} ${paint("cyan", "|")} ${visible}`,
    `${pad} ${paint("cyan", "|")} ${paint(color, underline)}`,
  ];
}
