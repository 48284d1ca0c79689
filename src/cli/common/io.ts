// Shared CLI plumbing: exit codes, usage errors, how diagnostics are printed, options every command reads.
import type { Diagnostic } from "../../diagnostics/diagnostic.ts";
import { renderDiagnosticsJson } from "../../diagnostics/render-json.ts";
import { renderDiagnostics } from "../../diagnostics/render-terminal.ts";
import type { SourceFile } from "../../diagnostics/source-file.ts";

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_INTERNAL = 2;

/** A mistake in how the command was called (missing file argument, bad flag value). */
export class UsageError extends Error {}

export function useColor(values: Record<string, unknown>): boolean {
  if (values["no-color"]) return false;
  if (values.color) return true;
  return process.stderr.isTTY === true && !process.env.NO_COLOR;
}

/** Prints diagnostics to stderr (text) or stdout (json). Returns whether there were errors. */
export function report(diagnostics: readonly Diagnostic[], sources: ReadonlyMap<string, SourceFile>, values: Record<string, unknown>): boolean {
  const errors = diagnostics.some((d) => d.severity === "error");
  if (values.format === "json") process.stdout.write(`${renderDiagnosticsJson(diagnostics)}\n`);
  else if (diagnostics.length > 0) process.stderr.write(`${renderDiagnostics(diagnostics, sources, { color: useColor(values) })}\n`);
  return errors;
}

export function formatOption(values: Record<string, unknown>, allowed: string[]): string {
  const f = String(values.format ?? allowed[0]);
  if (!allowed.includes(f)) throw new UsageError(`--format must be one of ${allowed.join(", ")}, got '${f}'`);
  return f;
}

/** `--device`: cpu, cuda, cuda:N or auto; without it the ALIGNC_DEVICE environment variable, else cpu. */
export function deviceOption(values: Record<string, unknown>): string {
  const fromEnv = typeof values.device !== "string" && process.env.ALIGNC_DEVICE !== undefined;
  const device = typeof values.device === "string" ? values.device : (process.env.ALIGNC_DEVICE ?? "cpu");
  if (!/^(cpu|cuda(:\d+)?|auto)$/.test(device))
    throw new UsageError(`${fromEnv ? "ALIGNC_DEVICE" : "--device"} must be cpu, cuda, cuda:N or auto, got '${device}'`);
  return device;
}

/**
 * `--tf32 on|off`: whether CUDA's float32 matrix products may use TF32 (on: CUDA's default, as PyTorch's on Ampere and
 * later). Off sets NVIDIA_TF32_OVERRIDE=0 for this process and what it starts, before any CUDA session; without the
 * option the environment decides. Called before anything loads ONNX Runtime's CUDA provider.
 */
export function tf32Option(values: Record<string, unknown>): void {
  const given = values.tf32;
  if (given === undefined) return;
  if (given === "off") process.env.NVIDIA_TF32_OVERRIDE = "0";
  else if (given !== "on") throw new UsageError(`--tf32 must be on or off, got '${String(given)}'`);
  else if (process.env.NVIDIA_TF32_OVERRIDE === "0")
    throw new UsageError("--tf32 on, but NVIDIA_TF32_OVERRIDE=0 is in the environment and turns TF32 off for the whole process: unset it, or use --tf32 off");
}

export function oneFile(positionals: string[]): string {
  if (positionals.length !== 1)
    throw new UsageError(positionals.length === 0 ? "name a .align file" : `expected one .align file, got ${positionals.length} arguments`);
  return positionals[0] as string;
}
