// The `alignc` command line: parses arguments, dispatches to one command module, and maps outcomes to exit
// codes — 0 ok, 1 a problem in the user's input (reported as diagnostics), 2 an internal error (a bug). Only the
// command asked for is loaded (commands.ts), so what one command needs costs nothing to the others.
import { parseArgs } from "node:util";
import { failureLine } from "../diagnostics/failures.ts";
import { printable, printableLine } from "../util/printable.ts";
import { UnreadableFileError } from "../util/read-json.ts";
import { UnsafePathError } from "../util/safe-write.ts";
import { type Command, type CommandEntry, commands } from "./commands.ts";
import { EXIT_INTERNAL, EXIT_OK, EXIT_USER, UsageError } from "./common/io.ts";

const GLOBAL_HELP = `alignc — a typed language and toolchain for multimodal preference alignment

Usage: alignc <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`).join("\n")}

Run \`alignc <command> --help\` for a command's options.
Exit codes: 0 success, 1 problems in the input (see the diagnostics), 2 internal error.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${GLOBAL_HELP}\n`);
    return name ? EXIT_OK : EXIT_USER;
  }
  if (name === "--version" || name === "-v") {
    const { ALIGNC_VERSION } = await import("../version.ts");
    process.stdout.write(`alignc ${ALIGNC_VERSION}\n`);
    return EXIT_OK;
  }
  const entry: CommandEntry | undefined = commands.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`alignc: unknown command '${printableLine(name)}'\n\n${GLOBAL_HELP}\n`);
    return EXIT_USER;
  }
  let command: Command;
  try {
    command = await entry.load();
  } catch (error) {
    return internalError(error);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`alignc ${command.name}: ${printable((error as Error).message)}\n\n${command.help}\n`);
    return EXIT_USER;
  }
  if (parsed.values.help) {
    process.stdout.write(`${command.help}\n`);
    return EXIT_OK;
  }
  try {
    return await command.run(parsed.positionals, parsed.values as Record<string, unknown>);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`alignc ${command.name}: ${printable(error.message)}\n\nRun \`alignc ${command.name} --help\` for usage.\n`);
      return EXIT_USER;
    }
    // A file alignc keeps that cannot be read back, or a write refused because it would leave the directory alignc
    // owns: problems with the user's files, each message naming the file and what to do.
    if (error instanceof UnreadableFileError || error instanceof UnsafePathError) {
      process.stderr.write(`alignc ${command.name}: ${printable(failureLine(error))}\n`);
      return EXIT_USER;
    }
    return internalError(error);
  }
}

function internalError(error: unknown): number {
  process.stderr.write(
    `alignc: internal error (this is a bug in alignc, please report it with the input that caused it)\n${printable((error as Error).stack ?? String(error))}\n`,
  );
  return EXIT_INTERNAL;
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
