// alignc plan: the execution graph as an indented text plan (or JSON), with each node's status in the run
// directory: stored (it will not run), or why it will run.
import path from "node:path";
import { compile } from "../../compiler/compile.ts";
import { renderPlan } from "../../graph/render.ts";
import { GPU_NAMES, GPUS, type GpuName } from "../../models/hf/sizing/estimate.ts";
import { Devices } from "../../runtime/pipeline/devices.ts";
import { EXECUTORS } from "../../runtime/pipeline/executors/index.ts";
import { RunLayout } from "../../runtime/pipeline/layout.ts";
import { DEFAULT_PROMPT_TOKENS, trainingSizes } from "../../runtime/pipeline/runner/plan-sizes.ts";
import { planStatus } from "../../runtime/pipeline/runner/plan-status.ts";
import { type Command, compileOptions, compileOptionsHelp } from "../common/command.ts";
import { deviceOption, EXIT_OK, EXIT_USER, formatOption, oneFile, report, tf32Option, UsageError } from "../common/io.ts";
import { compileArgs } from "./check.ts";

export const planCommand: Command = {
  name: "plan",
  summary: "show the execution graph a file compiles to, and what a run would compute",
  help: `Usage: alignc plan FILE [options]

Compiles FILE and prints its execution graph: one node per declaration in dependency order, with the
node's kind, inputs, resolved settings and content hash — and, for the run directory, whether the node's
output is already stored (it will not run again) or why it will run: which setting changed (old → new),
which input changed, which files it reads changed, that it is made by different code (its kind's version
changed), or that the latest run did not finish it (and how many results of that attempt are kept). A stored
output whose kind's sources changed since, its version not, is reused and says "made by different code".
A training phase on a Hugging Face model also states the model's parameters and what the phase trains
(from config.json alone: a checkpoint's JSON files are enough), and an estimate of its peak GPU memory and
time per optimizer step on a GPU, with a warning when the estimate exceeds the GPU's memory (an estimate
fitted to alignc's measured runs, not a measurement: docs/hf-models.md, "Sizing a recipe").

Options:
  --format text|json|status  a readable plan with statuses (default), the execution graph as JSON, or the
                             statuses as JSON ([{ id, key, stored, reasons, notes? }])
  --run-dir DIR              the run directory to compare with (default runs/<file name> beside FILE)
  --store DIR                a shared store (default DIR/store)
  --device D                 the device alignc run --device would use: cpu, cuda, cuda:N or auto
                             (default: ALIGNC_DEVICE, else cpu)
                             (a phase trained on CUDA is stored apart from the same phase on CPU)
  --tf32 on|off              as alignc run --tf32 (TF32 off is stored apart from TF32 on)
  --gpu NAME                 the GPU the estimates are for: ${GPU_NAMES.join(", ")} (default h100)
  --prompt-tokens N          text tokens per prompt the estimates assume, images' tokens aside
                             (default ${DEFAULT_PROMPT_TOKENS})
  --answer-tokens N          tokens per answer the estimates assume (default: the phase's max_tokens, else
                             that of the sampling before it, else 256)
${compileOptionsHelp}`,
  options: {
    ...compileOptions,
    "run-dir": { type: "string" },
    store: { type: "string" },
    device: { type: "string" },
    tf32: { type: "string" },
    gpu: { type: "string" },
    "prompt-tokens": { type: "string" },
    "answer-tokens": { type: "string" },
  },
  async run(positionals, values) {
    const file = oneFile(positionals);
    const format = formatOption(values, ["text", "json", "status"]);
    const device = deviceOption(values);
    tf32Option(values);
    const estimate = estimateOptions(values);
    const result = await compile(file, compileArgs(values));
    // Warnings go to stderr; with --format json stdout holds only the graph.
    if (report(result.diagnostics, result.sources, { ...values, format: "text" }) || !result.graph) return EXIT_USER;
    if (format === "json") {
      process.stdout.write(`${JSON.stringify(result.graph, null, 2)}\n`);
      return EXIT_OK;
    }
    const entry = path.resolve(file);
    const root = typeof values["run-dir"] === "string" ? path.resolve(values["run-dir"]) : RunLayout.defaultRoot(entry);
    const layout = new RunLayout(root, typeof values.store === "string" ? path.resolve(values.store) : undefined);
    const statuses = planStatus(result.graph, layout, EXECUTORS, path.dirname(entry), await new Devices(device).kinds(result.graph));
    if (format === "status") {
      process.stdout.write(`${JSON.stringify(statuses, null, 2)}\n`);
      return EXIT_OK;
    }
    const sizes = trainingSizes(result.graph, path.dirname(entry), estimate);
    const notes = new Map(
      statuses.map((s) => {
        const size = sizes.get(s.id);
        const status = s.stored ? [`stored (${s.key.slice(0, 12)}): will not run`, ...(s.notes ?? [])] : s.reasons.map((r) => `will run: ${r}`);
        return [s.id, size ? [...size, ...status] : status];
      }),
    );
    const stored = statuses.filter((s) => s.stored).length;
    process.stdout.write(
      `${renderPlan(result.graph, notes)}\n\n${stored} of ${statuses.length} nodes stored in ${path.relative(process.cwd(), layout.store) || "."}; ${statuses.length - stored} will run\n`,
    );
    return EXIT_OK;
  },
};

/** --gpu, --prompt-tokens and --answer-tokens: what plan's estimates assume. */
function estimateOptions(values: Record<string, unknown>): { gpu: GpuName; promptTokens: number; answerTokens?: number } {
  const gpu = String(values.gpu ?? "h100").toLowerCase();
  if (!(gpu in GPUS)) throw new UsageError(`--gpu must be one of ${GPU_NAMES.join(", ")}, got '${String(values.gpu)}'`);
  const count = (name: string): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
      throw new UsageError(`--${name} must be a whole number of tokens from 1 to 1000000, got '${String(v)}'`);
    return n;
  };
  const answerTokens = count("answer-tokens");
  return { gpu: gpu as GpuName, promptTokens: count("prompt-tokens") ?? DEFAULT_PROMPT_TOKENS, ...(answerTokens !== undefined ? { answerTokens } : {}) };
}
