// alignc world: generate the built-in shapes world to a dataset directory, check a directory (generated or a
// user's own data in the same format), and score predictions on it.
import { readFileSync } from "node:fs";
import { failureLine } from "../../diagnostics/failures.ts";
import { evaluateWorld, type WorldReport } from "../../runtime/eval/index.ts";
import {
  formatProblem,
  NEGATIVES,
  readWorld,
  TASKS,
  WorldDirError,
  type WorldOptions,
  WorldOptionsError,
  worldOptions,
  writeWorld,
} from "../../runtime/world/index.ts";
import { printable, printableJson } from "../../util/printable.ts";
import { type Command, colorOptions, colorOptionsHelp } from "../common/command.ts";
import { EXIT_OK, EXIT_USER, formatOption, UsageError } from "../common/io.ts";

/** Problems printed before the rest are summarised as a count. */
const SHOWN = 50;

export const worldCommand: Command = {
  name: "world",
  summary: "generate, check or score the built-in shapes world dataset",
  help: `Usage: alignc world generate --out DIR [options]
       alignc world check DIR [--format text|json]
       alignc world eval DIR --predictions FILE [--format text|json]

generate  writes a dataset directory: manifest.json, items.jsonl (one item per line) and images/*.png.
          The same options give a byte-identical directory. See docs/world.md for the format.
check     validates a dataset directory, generated or your own; every problem names the file and line.
          Exit code 1 if there are problems.
eval      scores predictions (a JSONL file of {"id", "prediction"} lines) on a dataset: POPE accuracy,
          precision, recall, F1 and yes-ratio per negative split; CHAIR_i, CHAIR_s and object recall for
          descriptions; exact-match accuracy for attribute, count and text-only questions.

Options of generate (the settings of the .align constructor \`shapes\`):
  --out DIR            the directory to write (new or empty)
  --split S            train (default), val or test; splits never share a scene
  --count N            number of items (default 1000)
  --seed S             world seed (default 0)
  --bias P             co-occurrence bias, a fraction or a percentage: 0.8 or 80% (default 0.5)
  --image-size PX      image side in pixels, 16…512 (default 48, what nano takes)
  --max-objects N      objects per scene, at most, 1…12 (default 4)
  --tasks LIST         comma-separated, from ${TASKS.join(", ")} (default all)
  --negatives LIST     POPE negative sampling, from ${NEGATIVES.join(", ")} (default all)
  --force              replace the world dataset in a non-empty DIR (its manifest, items and generated
                       images; other files stay). A non-empty DIR without one is never written to.

Options of check and eval:
  --predictions FILE   eval: the model's answers, one {"id": "...", "prediction": "..."} per line
  --format text|json   a report for people (default) or JSON on stdout
${colorOptionsHelp}`,
  options: {
    ...colorOptions,
    out: { type: "string" },
    split: { type: "string" },
    count: { type: "string" },
    seed: { type: "string" },
    bias: { type: "string" },
    "image-size": { type: "string" },
    "max-objects": { type: "string" },
    tasks: { type: "string" },
    negatives: { type: "string" },
    force: { type: "boolean" },
    predictions: { type: "string" },
    format: { type: "string" },
  },
  async run(positionals, values) {
    const [sub, ...rest] = positionals;
    if (sub === "generate") return generate(rest, values);
    if (sub === "check") return check(oneDir(rest), formatOption(values, ["text", "json"]));
    if (sub === "eval") return score(oneDir(rest), values);
    throw new UsageError(sub ? `unknown subcommand '${sub}'; use generate, check or eval` : "name a subcommand: generate, check or eval");
  },
};

function oneDir(rest: string[]): string {
  if (rest.length !== 1) throw new UsageError(rest.length === 0 ? "name the dataset directory" : `expected one directory, got ${rest.join(" ")}`);
  return rest[0] as string;
}

function generate(rest: string[], values: Record<string, unknown>): number {
  if (rest.length > 0) throw new UsageError(`generate takes no arguments (the directory is --out DIR), got ${rest.join(" ")}`);
  const out = values.out;
  if (typeof out !== "string" || out === "") throw new UsageError("name the directory to write with --out DIR");
  const options = parseOptions(values);
  const start = performance.now();
  try {
    const m = writeWorld(out, options, { force: values.force === true });
    const seconds = (performance.now() - start) / 1000;
    process.stdout.write(`wrote ${m.counts.items} ${options.split} items (${m.counts.images} images) to ${out} in ${seconds.toFixed(2)} s\n`);
    return EXIT_OK;
  } catch (error) {
    if (!(error instanceof WorldDirError)) throw error;
    process.stderr.write(`alignc world: ${failureLine(error)}\n`);
    return EXIT_USER;
  }
}

/** The flags as generator options; a bad value is a usage error naming the flag. */
function parseOptions(values: Record<string, unknown>): WorldOptions {
  const input: Record<string, unknown> = { split: values.split ?? "train", count: 1000 };
  const number = (flag: string, key: string) => {
    const v = values[flag];
    if (v === undefined) return;
    if (!/^-?\d+$/.test(v as string)) throw new UsageError(`--${flag} must be an integer, got '${v}'`);
    input[key] = Number(v);
  };
  number("count", "count");
  number("seed", "seed");
  number("image-size", "image_size");
  number("max-objects", "max_objects");
  if (values.bias !== undefined) {
    const text = values.bias as string;
    const m = /^(\d+(?:\.\d+)?|\.\d+)(%?)$/.exec(text);
    if (!m) throw new UsageError(`--bias must be a fraction such as 0.8 or a percentage such as 80%, got '${text}'`);
    input.bias = Number(m[1]) / (m[2] ? 100 : 1);
  }
  for (const key of ["tasks", "negatives"]) if (values[key] !== undefined) input[key] = (values[key] as string).split(",").map((s) => s.trim());
  try {
    return worldOptions(input);
  } catch (error) {
    if (!(error instanceof WorldOptionsError)) throw error;
    throw new UsageError(`--${error.option.replaceAll("_", "-")} ${error.message.slice(error.option.length + 1)}`);
  }
}

function check(dir: string, format: string): number {
  const { manifest, items, problems } = readWorld(dir);
  if (format === "json") {
    process.stdout.write(printableJson(`${JSON.stringify({ ok: problems.length === 0, items: items.length, problems }, null, 2)}\n`));
    return problems.length === 0 ? EXIT_OK : EXIT_USER;
  }
  printProblems(problems.map(formatProblem));
  const images = items.filter((it) => it.image !== null).length;
  const what = manifest ? `${manifest.options.split} split, ` : "";
  process.stderr.write(
    problems.length === 0
      ? `${dir}: ${what}${items.length} items, ${images} images, no problems\n`
      : `${dir}: ${problems.length} problem${problems.length === 1 ? "" : "s"}\n`,
  );
  return problems.length === 0 ? EXIT_OK : EXIT_USER;
}

function printProblems(lines: string[]): void {
  // Problems quote what the files hold: shown with control characters escaped.
  for (const line of lines.slice(0, SHOWN)) process.stderr.write(`${printable(line)}\n`);
  if (lines.length > SHOWN) process.stderr.write(`… and ${lines.length - SHOWN} more\n`);
}

function score(dir: string, values: Record<string, unknown>): number {
  const format = formatOption(values, ["text", "json"]);
  const file = values.predictions;
  if (typeof file !== "string") throw new UsageError("name the predictions file with --predictions FILE");
  const { items, problems } = readWorld(dir, { images: false });
  const predictions = readPredictions(file, problems.length === 0 ? new Set(items.map((it) => it.id)) : undefined);
  const all = [...problems.map(formatProblem), ...predictions.problems];
  if (all.length > 0) {
    printProblems(all);
    process.stderr.write(`alignc world: fix the problems above, then run eval again\n`);
    return EXIT_USER;
  }
  const report = evaluateWorld(items, predictions.byId);
  process.stdout.write(format === "json" ? printableJson(`${JSON.stringify(report, null, 2)}\n`) : printable(renderReport(report)));
  return EXIT_OK;
}

/** Predictions by id; problems name the file and line. */
function readPredictions(file: string, ids: Set<string> | undefined): { byId: Map<string, string>; problems: string[] } {
  const byId = new Map<string, string>();
  const problems: string[] = [];
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    return { byId, problems: [`${file}: cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`] };
  }
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const at = `${file}:${i + 1}`;
    let v: { id?: unknown; prediction?: unknown };
    try {
      v = JSON.parse(line);
    } catch (error) {
      problems.push(`${at}: not valid JSON: ${(error as Error).message}`);
      return;
    }
    if (typeof v?.id !== "string" || typeof v.prediction !== "string") problems.push(`${at}: each line must be {"id": string, "prediction": string}`);
    else if (ids && !ids.has(v.id)) problems.push(`${at}: id '${v.id}' is not an item of the dataset`);
    else if (byId.has(v.id)) problems.push(`${at}: a second prediction for '${v.id}'`);
    else byId.set(v.id, v.prediction);
  });
  return { byId, problems };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function renderReport(r: WorldReport): string {
  const out: string[] = [];
  if (r.missing > 0) out.push(`${r.missing} items have no prediction (scored as empty answers)`, "");
  if (r.pope) {
    out.push("POPE          n     accuracy  precision  recall  F1      yes-ratio  unparseable");
    const rows = [...Object.entries(r.pope.splits), ["all", r.pope.all] as const];
    for (const [name, s] of rows)
      if (s)
        out.push(
          `  ${name.padEnd(11)} ${String(s.n).padEnd(5)} ${pct(s.accuracy).padEnd(9)} ${pct(s.precision).padEnd(10)} ${pct(s.recall).padEnd(7)} ${pct(s.f1).padEnd(7)} ${pct(s.yesRatio).padEnd(10)} ${s.unparseable}`,
        );
    out.push("");
  }
  if (r.describe) {
    const d = r.describe;
    out.push(
      `Descriptions  n ${d.descriptions}  CHAIR_i ${pct(d.chairI)}  CHAIR_s ${pct(d.chairS)}  object recall ${pct(d.recall)}  colour errors ${d.colorErrors}/${d.colorMentions}`,
    );
    if (d.topHallucinated.length > 0) out.push(`  most hallucinated: ${d.topHallucinated.map((h) => `${h.shape} (${h.count})`).join(", ")}`);
    out.push("");
  }
  for (const task of ["attribute", "count", "text"] as const) {
    const s = r[task];
    if (!s) continue;
    const kinds = Object.entries(s.byKind).map(([k, v]) => `${k} ${pct(v.accuracy)}`);
    out.push(`${task.padEnd(13)} n ${s.n}  accuracy ${pct(s.accuracy)}  (${kinds.join(", ")})`);
  }
  return `${out.join("\n")}\n`;
}
