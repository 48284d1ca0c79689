// alignc explain: the long explanation of a diagnostic code.
import { findByCode, messages, severityControlText } from "../../diagnostics/messages.ts";
import { type Command, colorOptions, colorOptionsHelp } from "../common/command.ts";
import { EXIT_OK, UsageError } from "../common/io.ts";

export const explainCommand: Command = {
  name: "explain",
  summary: "explain a diagnostic code (ALNxxxx)",
  help: `Usage: alignc explain CODE
       alignc explain --list

Prints the long explanation of a diagnostic code such as ALN2003, and whether its severity can be
changed: warnings and infos with --warn CODE=LEVEL on a compiling command, or for one file with a
comment \`// alignc: CODE=LEVEL\` at its top (LEVEL: off, info, warning, error); errors cannot be lowered.

Options:
  --list               every code, its severity and the first sentence of its explanation
${colorOptionsHelp}`,
  options: { list: { type: "boolean" }, ...colorOptions },
  async run(positionals, values) {
    if (values.list) {
      for (const m of Object.values(messages)) process.stdout.write(`${m.code}  ${m.severity.padEnd(7)}  ${m.explain.split(". ")[0]}\n`);
      return EXIT_OK;
    }
    if (positionals.length !== 1) throw new UsageError("name one code, e.g. `alignc explain ALN2003`");
    const found = findByCode(positionals[0] as string);
    if (!found) throw new UsageError(`no diagnostic has the code '${positionals[0]}'; \`alignc explain --list\` lists them`);
    process.stdout.write(`${found.code} (${found.severity})\n\n${found.explain}\n\n${severityControlText(found.code, found.severity)}\n`);
    return EXIT_OK;
  },
};
