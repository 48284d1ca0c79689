// alignc expand: the trials of a sweep with their resolved values and stable ids, computed lazily.

import type { CheckedParam } from "../../compiler/checker/params.ts";
import type { CheckedSweep } from "../../compiler/checker/sweeps.ts";
import { chooseSweep, compile } from "../../compiler/compile.ts";
import { combinationCount, trials } from "../../compiler/sweep/expand.ts";
import { valueJson, valueText } from "../../compiler/values/types.ts";
import { type Command, compileOptions } from "../common/command.ts";
import { EXIT_OK, EXIT_USER, formatOption, oneFile, report, UsageError } from "../common/io.ts";

export const expandCommand: Command = {
  name: "expand",
  summary: "list the trials of a sweep with their values and ids",
  help: `Usage: alignc expand FILE [options]

Lists the trials of the file's sweep: ordinal, stable trial id, and the value of every axis.
Run one trial with \`alignc plan FILE --trial K\`.

Options:
  --format text|jsonl  a table (default) or one JSON object per trial
  --sweep NAME         the sweep, when the file declares several
  --limit N            list at most N trials
  --set NAME=VALUE     set a param (repeatable)
  --warn CODE=LEVEL    the severity of a warning or info code: off, info, warning or error (repeatable)
  --no-color           plain output`,
  options: { ...compileOptions, limit: { type: "string" } },
  async run(positionals, values) {
    const file = oneFile(positionals);
    const format = formatOption(values, ["text", "jsonl"]);
    const limit = values.limit === undefined ? Number.POSITIVE_INFINITY : Number(values.limit);
    if (values.limit !== undefined && (!Number.isInteger(limit) || limit < 0))
      throw new UsageError(`--limit takes a whole number, got '${String(values.limit)}'`);
    const loaded = await loadSweep(file, values);
    if (!loaded) return EXIT_USER;
    const { sweep, params } = loaded;
    const out: string[] = [];
    if (format === "text")
      out.push(
        `sweep ${sweep.name} (${sweep.mode}): ${combinationCount(sweep)} combination${combinationCount(sweep) === 1 ? "" : "s"}${sweep.exclude.length ? ` before ${sweep.exclude.length} exclusion rule${sweep.exclude.length === 1 ? "" : "s"}` : ""}`,
      );
    let shown = 0;
    let total = 0;
    for (const t of trials(sweep, params)) {
      total++;
      if (shown >= limit) continue;
      shown++;
      if (format === "jsonl")
        out.push(JSON.stringify({ ordinal: t.ordinal, id: t.id, values: Object.fromEntries(t.assignments.map((a) => [a.target, valueJson(a.value)])) }));
      else out.push(`${String(t.ordinal).padStart(5)}  ${t.id}  ${t.assignments.map((a) => `${a.target}=${valueText(a.value)}`).join("  ")}`);
      if (out.length >= 1000) {
        process.stdout.write(`${out.join("\n")}\n`);
        out.length = 0;
      }
    }
    if (format === "text") out.push(`${total} trial${total === 1 ? "" : "s"}${shown < total ? ` (${shown} shown)` : ""}`);
    if (out.length) process.stdout.write(`${out.join("\n")}\n`);
    return EXIT_OK;
  },
};

/** The file's sweep (--sweep, --set) and params, checked; diagnostics are reported and undefined returned on errors. */
export async function loadSweep(
  file: string,
  values: Record<string, unknown>,
): Promise<{ sweep: CheckedSweep; params: ReadonlyMap<string, CheckedParam> } | undefined> {
  const result = await compile(file, {
    checkOnly: true,
    ...(Array.isArray(values.set) ? { set: values.set as string[] } : {}),
    ...(Array.isArray(values.warn) ? { warn: values.warn as string[] } : {}),
  });
  const diagnostics = [...result.diagnostics];
  const sweep =
    result.checked && result.ok
      ? chooseSweep(result.checked, typeof values.sweep === "string" ? values.sweep : undefined, file, (d) => diagnostics.push(d))
      : undefined;
  if (report(diagnostics, result.sources, { ...values, format: "text" }) || !sweep || !result.checked) return undefined;
  return { sweep, params: result.checked.params };
}
