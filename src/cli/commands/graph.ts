// alignc graph: the execution graph for Graphviz (dot) or Mermaid.
import { compile } from "../../compiler/compile.ts";
import { renderDot, renderMermaid } from "../../graph/render.ts";
import { type Command, compileOptions, compileOptionsHelp } from "../common/command.ts";
import { EXIT_OK, EXIT_USER, formatOption, oneFile, report } from "../common/io.ts";
import { compileArgs } from "./check.ts";

export const graphCommand: Command = {
  name: "graph",
  summary: "draw the execution graph as Graphviz dot or Mermaid",
  help: `Usage: alignc graph FILE --format dot|mermaid [options]

Prints the execution graph of FILE. Pipe dot output to \`dot -Tsvg\`; paste Mermaid into Markdown.

Options:
  --format dot|mermaid  output language (default dot)
${compileOptionsHelp}`,
  options: compileOptions,
  async run(positionals, values) {
    const file = oneFile(positionals);
    const format = formatOption(values, ["dot", "mermaid"]);
    const result = await compile(file, compileArgs(values));
    if (report(result.diagnostics, result.sources, { ...values, format: "text" }) || !result.graph) return EXIT_USER;
    process.stdout.write(`${format === "mermaid" ? renderMermaid(result.graph) : renderDot(result.graph)}\n`);
    return EXIT_OK;
  },
};
