// What a CLI command is, and the options shared by the commands that compile a file.
import type { ParseArgsConfig } from "node:util";

export interface Command {
  name: string;
  summary: string;
  help: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  run(positionals: string[], values: Record<string, unknown>): Promise<number>;
}

/**
 * `--color` and `--no-color`: every command accepts both, so a script can pass them to any command. Those that print
 * diagnostics (coloured on a terminal) obey them; the others print no colour at all and accept them as no-ops.
 */
export const colorOptions = {
  color: { type: "boolean" },
  "no-color": { type: "boolean" },
} as const;

/** Help lines for a command that prints no colour itself. */
export const colorOptionsHelp = "  --no-color, --color  accepted for scripts that pass them to every command; this one prints no colour";

/** Options shared by the commands that compile a file. */
export const compileOptions = {
  set: { type: "string", multiple: true },
  trial: { type: "string" },
  sweep: { type: "string" },
  warn: { type: "string", multiple: true },
  format: { type: "string" },
  ...colorOptions,
} as const;

export const compileOptionsHelp = `  --set NAME=VALUE   set a param (repeatable); the value is written as in a .align file
  --sweep NAME       the sweep to use when the file declares several
  --trial K          compile trial K of the sweep (an ordinal from 0, or a trial id)
  --warn CODE=LEVEL  the severity of a warning or info code: off, info, warning or error (repeatable;
                     errors cannot be lowered; a file's \`// alignc: CODE=LEVEL\` pragma wins for that file)
  --no-color         plain output (also when NO_COLOR is set or stderr is not a terminal)`;
