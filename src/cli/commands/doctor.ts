// alignc doctor: what this machine offers alignc (Node, ONNX Runtime, execution providers, GPUs), then the
// tensor compiler's gradient checks on each usable provider — the analytic gradients of every op rule against
// finite differences, run through ONNX Runtime exactly as training runs them.

import { collectEnvironment, type EnvironmentFacts, environmentRows } from "../../runtime/engine/environment.ts";
import { type GradCheckRow, runGradientChecks } from "../../runtime/engine/gradcheck/index.ts";
import { isProvider, PROVIDERS, type Provider } from "../../runtime/engine/providers.ts";
import { printable, printableJson } from "../../util/printable.ts";
import { type Command, colorOptions, colorOptionsHelp } from "../common/command.ts";
import { EXIT_INTERNAL, EXIT_OK, EXIT_USER, UsageError } from "../common/io.ts";

interface ProviderRun {
  provider: Provider;
  ran: boolean;
  /** Why it did not run. */
  reason?: string;
}

interface GradientChecks {
  status: "passed" | "failed" | "error";
  message?: string;
  providers: ProviderRun[];
  rows: GradCheckRow[];
}

export const doctorCommand: Command = {
  name: "doctor",
  summary: "check this machine: ONNX Runtime, providers, GPUs, gradient checks",
  help: `Usage: alignc doctor [options]

Prints what this machine offers alignc — Node, platform, CPUs, the onnxruntime-node version, which execution
providers work (for CUDA: whether the provider libraries are installed and a test session starts), the GPUs
nvidia-smi lists — and then runs the tensor compiler's gradient checks on each usable provider: every op's
gradient rule against finite differences, with the largest absolute and relative errors.

Exit code 1 if a gradient check fails or a provider named with --provider is unavailable.

Options:
  --provider cpu|cuda|all  where to run the gradient checks (default all: every available provider)
  --op NAME                only the gradient checks of op NAME (repeatable)
  --json                   one JSON object {environment, gradientChecks} on stdout instead of tables
${colorOptionsHelp}`,
  options: {
    ...colorOptions,
    json: { type: "boolean" },
    provider: { type: "string" },
    op: { type: "string", multiple: true },
  },
  async run(positionals, values) {
    if (positionals.length > 0) throw new UsageError(`doctor takes no arguments, got ${positionals.join(" ")}`);
    const which = String(values.provider ?? "all");
    if (which !== "all" && !isProvider(which)) throw new UsageError(`--provider must be cpu, cuda or all, got '${which}'`);
    const ops = Array.isArray(values.op) ? (values.op as string[]) : undefined;

    const environment = await collectEnvironment();
    const checks = await gradientChecks(environment, which === "all" ? PROVIDERS : [which], which !== "all", ops);

    // The environment quotes what programs printed (nvidia-smi): shown with control characters escaped.
    if (values.json) process.stdout.write(printableJson(`${JSON.stringify({ environment, gradientChecks: checks }, null, 2)}\n`));
    else process.stdout.write(printable(renderText(environment, checks)));
    if (checks.status === "error") return EXIT_INTERNAL;
    return checks.status === "failed" ? EXIT_USER : EXIT_OK;
  },
};

/** Runs the checks on each of `providers` that is available; a provider named explicitly and missing is a failure. */
async function gradientChecks(env: EnvironmentFacts, providers: readonly Provider[], explicit: boolean, ops?: string[]): Promise<GradientChecks> {
  const runs: ProviderRun[] = [];
  const rows: GradCheckRow[] = [];
  let failed = false;
  for (const provider of providers) {
    const status = env.providers.find((p) => p.provider === provider);
    if (!status?.available) {
      runs.push({ provider, ran: false, reason: status?.reason ?? "not checked" });
      if (explicit) failed = true;
      continue;
    }
    try {
      rows.push(...(await runGradientChecks(ops ? { provider, ops } : { provider })));
      runs.push({ provider, ran: true });
    } catch (error) {
      return { status: "error", message: `the gradient checks on ${provider} threw: ${(error as Error).stack ?? error}`, providers: runs, rows };
    }
  }
  if (rows.some((r) => !r.ok)) failed = true;
  return { status: failed ? "failed" : "passed", providers: runs, rows };
}

function sci(x: number): string {
  return Number.isFinite(x) ? x.toExponential(1) : String(x);
}

/** A plain table: two spaces between columns, `right` columns right-aligned. */
function table(header: string[], body: string[][], right: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    `  ${r
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd()}\n`;
  return line(header) + body.map(line).join("");
}

function renderText(env: EnvironmentFacts, checks: GradientChecks): string {
  let out = "environment\n";
  const rows = environmentRows(env);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) out += `  ${k.padEnd(width)}  ${v}\n`;
  for (const p of env.providers) if (!p.available && p.hint) out += `\n  ${p.provider}: ${p.hint}\n`;

  out += "\ngradient checks";
  if (checks.status === "error" && checks.providers.length === 0) return `${out}: ${checks.message}\n`;
  out += "\n";
  if (checks.rows.length > 0) {
    const body = checks.rows.map((r) => [
      r.op,
      r.case,
      r.provider,
      r.dtype,
      sci(r.maxAbsError),
      sci(r.maxRelError),
      sci(r.tolerance),
      r.ok ? "ok" : `FAIL${r.error ? `: ${r.error.split("\n")[0]}` : ""}`,
    ]);
    out += table(["op", "case", "provider", "dtype", "max abs", "max rel", "tolerance", "result"], body, new Set([4, 5, 6]));
  }
  for (const run of checks.providers) {
    if (!run.ran) out += `  ${run.provider}: not run (${run.reason})\n`;
    else {
      const mine = checks.rows.filter((r) => r.provider === run.provider);
      const bad = mine.filter((r) => !r.ok).length;
      out += `  ${run.provider}: ${mine.length - bad} of ${mine.length} passed${bad > 0 ? `, ${bad} FAILED` : ""}\n`;
    }
  }
  if (checks.status === "error") out += `  error: ${checks.message}\n`;
  return out;
}
