// alignc report DIR: one self-contained HTML file for a run directory or a sweep directory, or its evaluation tables
// as Markdown (a sweep's as mean ± sd across its seeds).
import path from "node:path";
import { failureLine } from "../../diagnostics/failures.ts";
import { buildReport, ReportError } from "../../runtime/reports/report.ts";
import { printable } from "../../util/printable.ts";
import { writeFileAtomic } from "../../util/safe-write.ts";
import { type Command, colorOptions, colorOptionsHelp } from "../common/command.ts";
import { EXIT_OK, EXIT_USER, oneFile } from "../common/io.ts";

export const reportCommand: Command = {
  name: "report",
  summary: "write one self-contained HTML report of a run or a sweep (graph, curves, evaluations, samples), or its tables as Markdown",
  help: `Usage: alignc report DIR [--out FILE] [--format html|md] [--across AXIS]

DIR is a run directory (alignc run's: plan.json, metrics/, evaluations/, outputs/) or a sweep directory
(alignc sweep's: sweep.json). The report is one HTML file that works offline and makes no requests:

  run    the execution graph with each node's status and time, every node's settings (defaults marked),
         metric curves of every training phase (loss, token accuracy, reward accuracy and margins, KL,
         gradient norm), the evaluation tables, and a viewer of the run's pair datasets (image, prompt,
         chosen and rejected answers, scores, BDHS tries)
  sweep  the figures across seeds (one row per model and other swept settings: mean ± sample standard
         deviation over the seed axis, and n), a sortable table of the trials (swept values, status, time,
         headline figures), a chart of each figure against each swept setting (a colour per model, with a
         legend), and the run report of the first finished trial

With --format md (the default for an --out ending in .md) the report is the evaluation tables as Markdown:
a run's table of every evaluated model, or a sweep's tables across seeds with the trials' time and device,
as in docs/results.md. A sweep without a seed axis gets its trials table.

Options:
  --out FILE        where to write it (default DIR/report.html, or DIR/results.md with --format md)
  --format html|md  the self-contained page (default) or Markdown tables
  --across AXIS     the sweep axis that replicates differ by (default: the axis named seed)
${colorOptionsHelp}`,
  options: { out: { type: "string" }, format: { type: "string" }, across: { type: "string" }, ...colorOptions },
  async run(positionals, values) {
    const dir = path.resolve(oneFile(positionals));
    const out = typeof values.out === "string" ? path.resolve(values.out) : undefined;
    const format = values.format ?? (out?.endsWith(".md") ? "md" : "html");
    if (format !== "html" && format !== "md") {
      process.stderr.write(`error: --format must be html or md, got '${String(format)}'\n`);
      return EXIT_USER;
    }
    const target = out ?? path.join(dir, format === "md" ? "results.md" : "report.html");
    try {
      const text = buildReport(dir, { format, across: typeof values.across === "string" ? values.across : undefined });
      // Into the run or sweep directory by default (checked to stay inside it), or where --out says.
      writeFileAtomic(target, text, out === undefined ? { root: dir } : {});
    } catch (e) {
      if (!(e instanceof ReportError)) throw e;
      process.stderr.write(`${printable(failureLine(e))}\n`);
      return EXIT_USER;
    }
    process.stderr.write(`wrote ${path.relative(process.cwd(), target) || target}\n`);
    return EXIT_OK;
  },
};
