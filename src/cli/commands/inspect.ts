// alignc inspect RUN NODE: what a node of a run produced — dataset records (prompts, responses, scores, chosen and
// rejected answers, BDHS tries) in the terminal or as JSON, or the summary of any other node. What a run directory
// holds came from data and programs: text is printed with its control characters escaped (util/printable.ts), and
// JSON with the characters JSON leaves raw (DEL, C1, bidi overrides) as \u escapes.
import { existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { type Dataset, readDataset } from "../../runtime/data/prefdata/records.ts";
import { RunLayout } from "../../runtime/pipeline/layout.ts";
import { ENTRY_INFO, type EntryInfo } from "../../runtime/pipeline/store.ts";
import { printable, printableJson, printableLine } from "../../util/printable.ts";
import { type Command, colorOptions, colorOptionsHelp } from "../common/command.ts";
import { EXIT_OK, EXIT_USER, formatOption, UsageError } from "../common/io.ts";
import { renderRecords } from "../common/render-records.ts";

export const inspectCommand: Command = {
  name: "inspect",
  summary: "show the records or summary a node of a run produced",
  help: `Usage: alignc inspect RUN NODE [options]

RUN is a run directory (runs/<file name> beside the .align file, or --run-dir of alignc run); NODE is a node
id of its latest run (alignc plan lists them; a split part is NODE.PART). For datasets, prints records:
prompt, image path, ground truth, responses with their scores, chosen and rejected answers with the samples,
scores and rater that made them, BDHS tries; for other nodes, what node.json records.

Options:
  --format text|json  text for people (default), or JSON: { node, kind, summary, dataset kind, records }
  --json              the same as --format json
  --limit N           records to show (default 5 in text, all in JSON)
  --id ID             only the record with this id (or whose item has it)
${colorOptionsHelp}`,
  options: { format: { type: "string" }, json: { type: "boolean" }, limit: { type: "string" }, id: { type: "string" }, ...colorOptions },
  async run(positionals, values) {
    if (positionals.length !== 2) throw new UsageError("name a run directory and a node: alignc inspect RUN NODE");
    const [run, nodeArg] = positionals as [string, string];
    const format = values.json ? "json" : formatOption(values, ["text", "json"]);
    const layout = new RunLayout(path.resolve(run));
    if (!existsSync(layout.plan) && !existsSync(path.join(layout.root, "outputs")))
      throw new UsageError(`${run} is not a run directory (no plan.json); give the directory alignc run printed at its end`);
    const [id, part] = splitNodeArg(layout, nodeArg);
    const link = layout.output(id);
    if (!existsSync(link)) {
      const known = existsSync(path.join(layout.root, "outputs")) ? listOutputs(layout) : [];
      process.stderr.write(
        printable(
          `error: node '${printableLine(id)}' has no output in ${run}${known.length ? `; nodes with outputs: ${known.map(printableLine).join(", ")}` : ""}\n`,
        ),
      );
      return EXIT_USER;
    }
    const entry = realpathSync(link);
    const info = JSON.parse(readFileSync(path.join(entry, ENTRY_INFO), "utf8")) as EntryInfo;
    const dataDir = part ? path.join(entry, "parts", part) : entry;
    if (part && !existsSync(dataDir)) {
      const parts = existsSync(path.join(entry, "parts")) ? readdirSync(path.join(entry, "parts")).sort() : [];
      process.stderr.write(
        printable(
          `error: ${printableLine(id)} has no part '${printableLine(part)}'${parts.length ? `; its parts: ${parts.map(printableLine).join(", ")}` : " (it is not a split)"}\n`,
        ),
      );
      return EXIT_USER;
    }
    const isDataset = existsSync(path.join(dataDir, "items.jsonl")) || existsSync(path.join(dataDir, "records.jsonl"));
    if (!isDataset) {
      const out = { node: info.node, kind: info.kind, key: info.key, entry, seconds: info.seconds, summary: info.summary };
      process.stdout.write(
        printableJson(
          format === "json"
            ? `${JSON.stringify(out, null, 2)}\n`
            : `${printableLine(info.node)} (${printableLine(info.kind)}) in ${entry}\n${JSON.stringify(info.summary, null, 2)}\n`,
        ),
      );
      return EXIT_OK;
    }
    const dataset = readDataset(dataDir);
    let indices = dataset.records.map((_, i) => i);
    if (typeof values.id === "string") {
      const want = values.id;
      indices = indices.filter((i) => recordMatches(dataset, i, want));
      if (indices.length === 0) {
        process.stderr.write(`error: no record of ${printableLine(nodeArg)} has id '${printableLine(want)}'\n`);
        return EXIT_USER;
      }
    }
    const limit = typeof values.limit === "string" ? Number(values.limit) : format === "json" ? Number.POSITIVE_INFINITY : 5;
    if (!(limit >= 0)) throw new UsageError(`--limit must be a number ≥ 0, got '${values.limit}'`);
    indices = indices.slice(0, limit);
    if (format === "json") {
      const records = indices.map((i) => dataset.records[i]);
      process.stdout.write(
        printableJson(
          `${JSON.stringify({ node: info.node, kind: info.kind, key: info.key, summary: info.summary, dataset: dataset.kind, total: dataset.records.length, records }, null, 2)}\n`,
        ),
      );
    } else
      process.stdout.write(
        printable(`${printableLine(info.node)}${part ? `.${printableLine(part)}` : ""} (${printableLine(info.kind)}): ${renderRecords(dataset, indices)}\n`),
      );
    return EXIT_OK;
  },
};

/** NODE or NODE.PART: a dotted argument is a split part when NODE alone has an output and NODE.PART has none. */
function splitNodeArg(layout: RunLayout, arg: string): [string, string | undefined] {
  if (existsSync(layout.output(arg))) return [arg, undefined];
  const dot = arg.lastIndexOf(".");
  if (dot > 0 && existsSync(layout.output(arg.slice(0, dot)))) return [arg.slice(0, dot), arg.slice(dot + 1)];
  return [arg, undefined];
}

function listOutputs(layout: RunLayout): string[] {
  return readdirSync(path.join(layout.root, "outputs")).sort();
}

function recordMatches(dataset: Dataset, i: number, id: string): boolean {
  const r = dataset.records[i] as { id: string; item?: { id: string } };
  return r.id === id || r.item?.id === id;
}
