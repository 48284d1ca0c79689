// alignc report DIR: one self-contained HTML file for a run directory or a sweep directory.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { buildReport, ReportError } from "../../runtime/report/report.ts";
import type { Command } from "../command.ts";
import { EXIT_OK, EXIT_USER, oneFile } from "../io.ts";

export const reportCommand: Command = {
  name: "report",
  summary: "write one self-contained HTML report of a run or a sweep (graph, curves, evaluations, samples)",
  help: `Usage: alignc report DIR [--out FILE]

DIR is a run directory (alignc run's: plan.json, metrics/, evaluations/, outputs/) or a sweep directory
(alignc sweep's: sweep.json). The report is one HTML file that works offline and makes no requests:

  run    the execution graph with each node's status and time, metric curves of every training phase
         (loss, token accuracy, reward accuracy and margins, KL, gradient norm), the evaluation tables, and a
         viewer of the run's pair datasets (image, prompt, chosen and rejected answers, scores, BDHS tries)
  sweep  a sortable table of the trials (swept values, status, time, headline figures), a chart of each
         figure against each swept setting, and the run report of the first finished trial

Options:
  --out FILE   where to write it (default DIR/report.html)`,
  options: { out: { type: "string" } },
  async run(positionals, values) {
    const dir = path.resolve(oneFile(positionals));
    const out = typeof values.out === "string" ? path.resolve(values.out) : path.join(dir, "report.html");
    try {
      writeFileSync(out, buildReport(dir));
    } catch (e) {
      if (!(e instanceof ReportError)) throw e;
      process.stderr.write(`error: ${e.message}\n`);
      return EXIT_USER;
    }
    process.stderr.write(`wrote ${path.relative(process.cwd(), out) || out}\n`);
    return EXIT_OK;
  },
};
