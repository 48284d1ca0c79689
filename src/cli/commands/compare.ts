// alignc compare RUN_A RUN_B: the differences in settings and results between two run directories.
import path from "node:path";
import { failureLine } from "../../diagnostics/failures.ts";
import { CompareError, compareRuns, compareRunsHtml, readRun } from "../../runtime/reports/compare-runs.ts";
import { printable } from "../../util/printable.ts";
import { writeFileAtomic } from "../../util/safe-write.ts";
import { type Command, colorOptions, colorOptionsHelp } from "../common/command.ts";
import { EXIT_OK, EXIT_USER, UsageError } from "../common/io.ts";

export const compareCommand: Command = {
  name: "compare",
  summary: "show what differs between two runs: settings, trial values, training metrics, evaluations",
  help: `Usage: alignc compare RUN_A RUN_B [--html FILE]

Compares two run directories (what alignc run --run-dir, or a sweep's trials/<trial>, holds) and prints
Markdown: the settings that differ node by node (from plan.json), the trial values when they are trials
of a sweep, each phase's last training metrics (metrics/<phase>.jsonl), and the evaluations' headline
figures (evaluations/<node>.json) side by side.

Options:
  --html FILE   also write the comparison as one self-contained HTML page (sortable tables)
${colorOptionsHelp}`,
  options: { html: { type: "string" }, ...colorOptions },
  async run(positionals, values) {
    if (positionals.length !== 2) throw new UsageError(`name two run directories, got ${positionals.length} argument${positionals.length === 1 ? "" : "s"}`);
    const [a, b] = positionals.map((p) => path.resolve(p)) as [string, string];
    try {
      const [runA, runB] = [readRun(a), readRun(b)];
      // Two run directories' files: names and figures shown with control characters escaped.
      process.stdout.write(`${printable(compareRuns(runA, runB))}\n`);
      if (typeof values.html === "string") {
        writeFileAtomic(path.resolve(values.html), compareRunsHtml(runA, runB));
        process.stderr.write(`wrote ${values.html}\n`);
      }
    } catch (e) {
      if (e instanceof CompareError) {
        process.stderr.write(`${printable(failureLine(e))}\n`);
        return EXIT_USER;
      }
      throw e;
    }
    return EXIT_OK;
  },
};
