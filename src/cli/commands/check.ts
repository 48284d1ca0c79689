// alignc check: every diagnostic of a file and its imports, nothing else.
import { compile } from "../../compiler/compile.ts";
import { summary } from "../../diagnostics/render-terminal.ts";
import { type Command, compileOptions, compileOptionsHelp } from "../common/command.ts";
import { EXIT_OK, EXIT_USER, formatOption, oneFile, report } from "../common/io.ts";

export const checkCommand: Command = {
  name: "check",
  summary: "report every problem in a .align file and its imports",
  help: `Usage: alignc check FILE [options]

Parses and checks FILE (and its imports) without running anything. Exit code 1 if there are errors.

Options:
  --format text|json  diagnostics for people (default) or as JSON on stdout
${compileOptionsHelp}`,
  options: compileOptions,
  async run(positionals, values) {
    const file = oneFile(positionals);
    const format = formatOption(values, ["text", "json"]);
    const result = await compile(file, { ...compileArgs(values), checkOnly: true });
    const errors = report(result.diagnostics, result.sources, values);
    if (format === "text") {
      const e = result.diagnostics.filter((d) => d.severity === "error").length;
      const w = result.diagnostics.filter((d) => d.severity === "warning").length;
      if (e + w === 0) process.stderr.write(`${file}: ${summary(0, 0)}\n`);
    }
    return errors ? EXIT_USER : EXIT_OK;
  },
};

export function compileArgs(values: Record<string, unknown>): { set?: string[]; trial?: string; sweep?: string; warn?: string[] } {
  const out: { set?: string[]; trial?: string; sweep?: string; warn?: string[] } = {};
  if (Array.isArray(values.set)) out.set = values.set as string[];
  if (Array.isArray(values.warn)) out.warn = values.warn as string[];
  if (typeof values.trial === "string") out.trial = values.trial;
  if (typeof values.sweep === "string") out.sweep = values.sweep;
  return out;
}
