// alignc plan: the execution graph as an indented text plan (or JSON).
import { compile } from "../../compiler/compile.ts";
import { renderPlan } from "../../compiler/lower/render-plan.ts";
import { type Command, compileOptions, compileOptionsHelp } from "../command.ts";
import { EXIT_OK, EXIT_USER, formatOption, oneFile, report } from "../io.ts";
import { compileArgs } from "./check.ts";

export const planCommand: Command = {
  name: "plan",
  summary: "show the execution graph a file compiles to",
  help: `Usage: alignc plan FILE [options]

Compiles FILE and prints its execution graph: one node per declaration in dependency order, with the
node's kind, inputs, resolved settings and content hash.

Options:
  --format text|json  a readable plan (default) or the execution graph as JSON
${compileOptionsHelp}`,
  options: compileOptions,
  async run(positionals, values) {
    const file = oneFile(positionals);
    const format = formatOption(values, ["text", "json"]);
    const result = await compile(file, compileArgs(values));
    // Warnings go to stderr; with --format json stdout holds only the graph.
    if (report(result.diagnostics, result.sources, { ...values, format: "text" }) || !result.graph) return EXIT_USER;
    process.stdout.write(`${format === "json" ? JSON.stringify(result.graph, null, 2) : renderPlan(result.graph)}\n`);
    return EXIT_OK;
  },
};
