// Diagnostics for machines and editors (`--format json`): the data as is, one object per run.
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
    diagnostics: [...diagnostics],
  };
  return JSON.stringify(report, null, 2);
}
