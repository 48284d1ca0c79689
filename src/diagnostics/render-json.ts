// Diagnostics for machines and editors (`--format json`): the data as is, one object per run. Each diagnostic
// carries its code, severity, message and the structured `args` the message was made from, its span, labels,
// notes, help and, for a suggestion, a `fix` ({ span, replacement }) an editor can apply.
import type { Diagnostic } from "./diagnostic.ts";

export interface JsonReport {
  version: 1;
  ok: boolean;
  errors: number;
  warnings: number;
  diagnostics: Diagnostic[];
}

export function renderDiagnosticsJson(diagnostics: readonly Diagnostic[]): string {
  const report: JsonReport = {
    version: 1,
    ok: !diagnostics.some((d) => d.severity === "error"),
    errors: diagnostics.filter((d) => d.severity === "error").length,
    warnings: diagnostics.filter((d) => d.severity === "warning").length,
    diagnostics: diagnostics.map(jsonDiagnostic),
  };
  return JSON.stringify(report, null, 2);
}

/** A diagnostic with its fields in a stable order; `args` always present, `span`, `help` and `fix` when there are. */
function jsonDiagnostic(d: Diagnostic): Diagnostic {
  return {
    code: d.code,
    severity: d.severity,
    message: d.message,
    args: d.args,
    ...(d.span ? { span: d.span } : {}),
    labels: d.labels,
    notes: d.notes,
    ...(d.help !== undefined ? { help: d.help } : {}),
    ...(d.fix ? { fix: d.fix } : {}),
  };
}
