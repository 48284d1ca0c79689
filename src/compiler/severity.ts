// Per-code severity control. `--warn CODE=LEVEL` (repeatable, on the compiling commands) applies to every file; a
// pragma `// alignc: CODE=LEVEL` among the comments at the top of a file (before its first import or declaration)
// applies to the diagnostics in that file and wins over `--warn`. LEVEL is off, info, warning or error. Only codes
// whose severity is warning or info can be changed freely; an error code accepts only `error` (errors are never
// lowered or hidden). A setting that cannot be applied is ALN4014.

import { type Diagnostic, type DiagnosticExtras, diagnostic, type Severity, type Span } from "../diagnostics/diagnostic.ts";
import { findByCode, helpTexts, severityReasons } from "../diagnostics/messages.ts";
import type { AlignFile } from "./ast/ast.ts";

export type SeverityLevel = Severity | "off";
export const SEVERITY_LEVELS: readonly SeverityLevel[] = ["off", "info", "warning", "error"];

/** `// alignc: …` — the text after the colon holds the settings. */
const PRAGMA = /^\/\/\s*alignc\s*:(.*)$/;

export interface SeverityControl {
  /** The diagnostic with its severity as set for its code and file; undefined when the setting is `off`. */
  apply(d: Diagnostic): Diagnostic | undefined;
  /** Settings that cannot be applied (ALN4014), with spans for pragmas. */
  problems: Diagnostic[];
}

type Setting = { ok: true; code: string; level: SeverityLevel } | { ok: false; reason: string; malformed?: true };

/** One `CODE=LEVEL`: the code as `alignc explain` accepts it (ALN3017, aln3017, 3017). */
export function parseSeveritySetting(text: string): Setting {
  const m = /^([^=\s]+)=([^=\s]+)$/.exec(text.trim());
  const level = m?.[2]?.toLowerCase() as SeverityLevel | undefined;
  if (!m || !level || !SEVERITY_LEVELS.includes(level)) return { ok: false, reason: severityReasons.malformed(), malformed: true };
  const found = findByCode(m[1] as string);
  if (!found) return { ok: false, reason: severityReasons.unknownCode(m[1] as string) };
  if (found.severity === "error" && level !== "error") return { ok: false, reason: severityReasons.cannotLower(found.code) };
  return { ok: true, code: found.code, level };
}

/** How to write a setting, for one that is not CODE=LEVEL. */
function helpFor(s: Setting): DiagnosticExtras {
  return !s.ok && s.malformed ? { help: helpTexts.severitySetting() } : {};
}

/** The settings of one `--warn` value or pragma, split at commas and spaces, with their offsets in `text`. */
function settingsIn(text: string): { text: string; offset: number }[] {
  return [...text.matchAll(/[^\s,]+/g)].map((m) => ({ text: m[0], offset: m.index ?? 0 }));
}

/** Severity settings from `--warn` values and from the pragmas of `files`. */
export function severityControl(warn: readonly string[], files: Iterable<AlignFile>): SeverityControl {
  const problems: Diagnostic[] = [];
  const global = new Map<string, SeverityLevel>();
  const perFile = new Map<string, Map<string, SeverityLevel>>();

  for (const value of warn) {
    for (const item of settingsIn(value)) {
      const s = parseSeveritySetting(item.text);
      if (s.ok) global.set(s.code, s.level);
      else problems.push(diagnostic("badSeverity", { setting: item.text, reason: s.reason }, undefined, helpFor(s)));
    }
  }

  for (const file of files) {
    const firstStatement = file.statements[0]?.span.start ?? Number.POSITIVE_INFINITY;
    const own = new Map<string, SeverityLevel>();
    for (const comment of file.comments) {
      if (comment.block) continue;
      const m = PRAGMA.exec(comment.text);
      if (!m) continue;
      const body = m[1] ?? "";
      const bodyStart = comment.span.start + comment.text.length - body.length;
      const at = (offset: number, length: number): Span => file.source.span(bodyStart + offset, bodyStart + offset + length);
      if (comment.span.start > firstStatement) {
        problems.push(diagnostic("badSeverity", { setting: body.trim(), reason: severityReasons.notAtTop() }, comment.span, { help: helpTexts.movePragma() }));
        continue;
      }
      for (const item of settingsIn(body)) {
        const s = parseSeveritySetting(item.text);
        if (s.ok) own.set(s.code, s.level);
        else problems.push(diagnostic("badSeverity", { setting: item.text, reason: s.reason }, at(item.offset, item.text.length), helpFor(s)));
      }
    }
    if (own.size > 0) perFile.set(file.source.displayPath, own);
  }

  const apply = (d: Diagnostic): Diagnostic | undefined => {
    const level = (d.span ? perFile.get(d.span.file)?.get(d.code) : undefined) ?? global.get(d.code);
    if (level === undefined || level === d.severity) return d;
    if (level === "off") return undefined;
    return { ...d, severity: level };
  };
  return { apply, problems };
}
