// alignc fmt: canonical layout, comments kept; --check for CI. Files are rewritten atomically and only
// when they parse, so a formatting run never loses anything a user wrote.

import { formatSource } from "../../compiler/format/format.ts";
import type { Diagnostic } from "../../diagnostics/diagnostic.ts";
import type { SourceFile } from "../../diagnostics/source-file.ts";
import { readSourceFile } from "../../diagnostics/source-file.ts";
import { writeFileAtomic } from "../../util/safe-write.ts";
import type { Command } from "../common/command.ts";
import { EXIT_OK, EXIT_USER, report, UsageError } from "../common/io.ts";

export const fmtCommand: Command = {
  name: "fmt",
  summary: "format .align files in the canonical layout",
  help: `Usage: alignc fmt FILE... [options]

Rewrites each FILE in alignc's canonical layout, keeping comments. Files with syntax errors are left
untouched and their errors reported. Formatting is idempotent.

Options:
  --check     write nothing; exit 1 and list the files that are not formatted (for CI)
  --stdout    print the formatted text instead of rewriting the file (one file)
  --no-color  plain output`,
  options: { check: { type: "boolean" }, stdout: { type: "boolean" }, color: { type: "boolean" }, "no-color": { type: "boolean" } },
  async run(positionals, values) {
    if (positionals.length === 0) throw new UsageError("name one or more .align files");
    if (values.stdout && positionals.length !== 1) throw new UsageError("--stdout formats exactly one file");
    const diagnostics: Diagnostic[] = [];
    const sources = new Map<string, SourceFile>();
    const unformatted: string[] = [];
    for (const file of positionals) {
      const read = readSourceFile(file);
      if (!read.ok) {
        diagnostics.push(read.diagnostic);
        continue;
      }
      sources.set(read.file.displayPath, read.file);
      const formatted = formatSource(read.file);
      if (formatted.text === undefined) {
        diagnostics.push(...formatted.diagnostics);
        continue;
      }
      if (values.stdout) process.stdout.write(formatted.text);
      else if (formatted.text !== read.file.text) {
        if (values.check) unformatted.push(read.file.displayPath);
        else {
          writeFileAtomic(read.file.absPath, formatted.text);
          process.stderr.write(`formatted ${read.file.displayPath}\n`);
        }
      }
    }
    const errors = report(diagnostics, sources, values);
    for (const f of unformatted) process.stderr.write(`not formatted: ${f}\n`);
    if (unformatted.length) process.stderr.write(`run \`alignc fmt ${unformatted.join(" ")}\` to format\n`);
    return errors || unformatted.length > 0 ? EXIT_USER : EXIT_OK;
  },
};
