// alignc run: compile a file and execute its graph, storing every node's output by content in the run directory.
import path from "node:path";
import { compile } from "../../compiler/compile.ts";
import { failureLine } from "../../diagnostics/failures.ts";
import { type EvaluationFile, renderComparison } from "../../runtime/eval/compare.ts";
import { RunLayout } from "../../runtime/pipeline/layout.ts";
import { RunLog } from "../../runtime/pipeline/log.ts";
import { RunError, runGraph } from "../../runtime/pipeline/runner/run-graph.ts";
import { printable } from "../../util/printable.ts";
import { readJsonFile } from "../../util/read-json.ts";
import { writeFileAtomic } from "../../util/safe-write.ts";
import { type Command, compileOptions, compileOptionsHelp } from "../common/command.ts";
import { deviceOption, EXIT_OK, EXIT_USER, formatOption, oneFile, report, tf32Option } from "../common/io.ts";
import { compileArgs } from "./check.ts";

export const runCommand: Command = {
  name: "run",
  summary: "run an experiment: data, training and evaluation, cached by content",
  help: `Usage: alignc run FILE [options]

Compiles FILE and runs its execution graph in dependency order. Each node's output is stored under a key
made from its settings, its inputs and the files it reads; a node whose output is already stored is not
run again — so a run that stopped (an error, Ctrl-C, a crash) resumes where it was when run again, and
changing one setting re-runs only what depends on it. Evaluation tables are printed at the end.

A training phase with checkpoint_every: N keeps checkpoints of its progress (linked in
checkpoints/<phase>/step-<S> while it is unfinished). If it was interrupted, running again stops and asks
for a choice: --resume continues from the latest checkpoint (ending with the weights and metrics of an
uninterrupted run), --force PHASE deletes the checkpoints and starts over.

The run directory (default: runs/<file name> next to FILE; layout in docs/run-directory.md) holds
plan.json, align.lock, store/, outputs/<node>, metrics/<node>.jsonl, evaluations/<node>.md,
tensorboard/<node>/ and logs/run.log.

Every training phase and evaluation writes TensorBoard event files, one folder per node (train/loss,
train/learning_rate, train/rewards/accuracies, …, eval/<model>/pope_f1, …); nodes reused from the store
get theirs from the stored metrics. View them with: tensorboard --logdir <run dir>/tensorboard
(or send them to Weights & Biases: wandb sync --sync-tensorboard <run dir>/tensorboard).

Options:
  --run-dir DIR       where to keep the run (default runs/<file name> beside FILE)
  --store DIR         a content-addressed store shared between run directories (default DIR/store)
  --force NODE        run NODE again even if its output is stored (repeatable); a training phase
                      with checkpoints of an interrupted attempt deletes them and starts over
  --resume            training phases interrupted after a checkpoint continue from it
  --device D          device of nodes without a device setting: cpu, cuda, cuda:N or auto
                      (default: the ALIGNC_DEVICE environment variable, else cpu)
  --tf32 on|off       whether CUDA's float32 matrix products may use TF32 tensor cores (default: on, unless
                      NVIDIA_TF32_OVERRIDE=0 is in the environment); off gives float32 results within about 2e-7 of
                      PyTorch's with TF32 off, and is stored apart from TF32 results
  --tensorboard DIR   write the TensorBoard event files under DIR/<node>/ instead of
                      <run dir>/tensorboard/<node>/
  --format text|json  what to print at the end: the evaluation tables (default) or a JSON summary
${compileOptionsHelp}`,
  options: {
    ...compileOptions,
    "run-dir": { type: "string" },
    store: { type: "string" },
    force: { type: "string", multiple: true },
    resume: { type: "boolean" },
    device: { type: "string" },
    tf32: { type: "string" },
    tensorboard: { type: "string" },
  },
  async run(positionals, values) {
    const file = oneFile(positionals);
    const format = formatOption(values, ["text", "json"]);
    const device = deviceOption(values);
    tf32Option(values);
    const result = await compile(file, compileArgs(values));
    if (report(result.diagnostics, result.sources, { ...values, format: "text" }) || !result.graph) return EXIT_USER;
    const entry = path.resolve(file);
    const root = typeof values["run-dir"] === "string" ? path.resolve(values["run-dir"]) : RunLayout.defaultRoot(entry);
    const layout = new RunLayout(root, typeof values.store === "string" ? path.resolve(values.store) : undefined);
    const log = new RunLog(layout.log, undefined, layout.root);
    let outcomes: Awaited<ReturnType<typeof runGraph>>;
    try {
      outcomes = await runGraph(result.graph, {
        layout,
        entryAbsPath: entry,
        log,
        force: (values.force as string[] | undefined) ?? [],
        device,
        resume: values.resume === true,
        ...(typeof values.tensorboard === "string" ? { tensorboard: path.resolve(values.tensorboard) } : {}),
      });
    } catch (e) {
      if (!(e instanceof RunError)) throw e;
      log.line(failureLine(e));
      if (e.node && e.rerun)
        log.line(`Outputs finished before it are kept in ${path.relative(process.cwd(), layout.store) || "."}; run the same command again to resume.`);
      return EXIT_USER;
    }
    const ran = outcomes.filter((o) => o.status === "ran").length;
    log.line(
      `done: ${ran} node${ran === 1 ? "" : "s"} run, ${outcomes.length - ran} already stored; run directory ${path.relative(process.cwd(), root) || "."}`,
    );
    if (format === "json") {
      process.stdout.write(`${JSON.stringify({ runDir: root, nodes: outcomes }, null, 2)}\n`);
      return EXIT_OK;
    }
    const evaluations = result.graph.nodes.filter((n) => n.kind === "eval.metrics");
    // One table of the headline figures of every evaluated model, with a legend; the full tables stay in the files
    // (several evaluations: also written to all-models.md). Names from data are shown with control characters escaped.
    const table = renderComparison(
      evaluations.map((n) => ({ node: n.id, file: readJsonFile<EvaluationFile>(layout.evaluation(n.id, "json"), "run `alignc run` again to rewrite it") })),
    );
    if (table) {
      if (evaluations.length > 1) writeFileAtomic(layout.evaluationSummary, `${table}\n`, { root: layout.root });
      const files = evaluations.map((n) => path.relative(process.cwd(), layout.evaluation(n.id, "md")) || layout.evaluation(n.id, "md"));
      process.stdout.write(`\n${printable(table)}\n\nFull tables (POPE per split, the most hallucinated objects, quality per task): ${files.join(", ")}\n`);
    }
    return EXIT_OK;
  },
};
