// The registry of CLI commands. Each lives in its own module under commands/, which is imported only when that
// command is asked for: `alignc --help` loads no command at all, and `alignc check` never loads ONNX Runtime, the
// runtime or the report writer. What `alignc --help` lists (name and summary) is kept here; test/cli-commands.test.ts
// checks it against each module's own name and summary, and that every module under commands/ is registered. A
// command's options and its own help stay in its module, which `alignc <command> --help` therefore loads.
import type { Command } from "./common/command.ts";

export type { Command } from "./common/command.ts";

export interface CommandEntry {
  name: string;
  /** The line `alignc --help` shows; the same as the module's `summary`. */
  summary: string;
  /** Imports the command's module (and with it what the command needs). */
  load(): Promise<Command>;
}

export const commands: readonly CommandEntry[] = [
  {
    name: "run",
    summary: "run an experiment: data, training and evaluation, cached by content",
    load: async () => (await import("./commands/run.ts")).runCommand,
  },
  {
    name: "sweep",
    summary: "run every trial of a sweep as separate processes on a shared store, and summarise them",
    load: async () => (await import("./commands/sweep.ts")).sweepCommand,
  },
  {
    name: "compare",
    summary: "show what differs between two runs: settings, trial values, training metrics, evaluations",
    load: async () => (await import("./commands/compare.ts")).compareCommand,
  },
  {
    name: "report",
    summary: "write one self-contained HTML report of a run or a sweep (graph, curves, evaluations, samples), or its tables as Markdown",
    load: async () => (await import("./commands/report.ts")).reportCommand,
  },
  {
    name: "check",
    summary: "report every problem in a .align file and its imports",
    load: async () => (await import("./commands/check.ts")).checkCommand,
  },
  {
    name: "fmt",
    summary: "format .align files in the canonical layout",
    load: async () => (await import("./commands/fmt.ts")).fmtCommand,
  },
  {
    name: "plan",
    summary: "show the execution graph a file compiles to, and what a run would compute",
    load: async () => (await import("./commands/plan.ts")).planCommand,
  },
  {
    name: "inspect",
    summary: "show the records or summary a node of a run produced",
    load: async () => (await import("./commands/inspect.ts")).inspectCommand,
  },
  {
    name: "graph",
    summary: "draw the execution graph as Graphviz dot or Mermaid",
    load: async () => (await import("./commands/graph.ts")).graphCommand,
  },
  {
    name: "expand",
    summary: "list the trials of a sweep with their values and ids",
    load: async () => (await import("./commands/expand.ts")).expandCommand,
  },
  {
    name: "explain",
    summary: "explain a diagnostic code (ALNxxxx)",
    load: async () => (await import("./commands/explain.ts")).explainCommand,
  },
  {
    name: "doctor",
    summary: "check this machine: ONNX Runtime, providers, GPUs, gradient checks",
    load: async () => (await import("./commands/doctor.ts")).doctorCommand,
  },
  {
    name: "world",
    summary: "generate, check or score the built-in shapes world dataset",
    load: async () => (await import("./commands/world.ts")).worldCommand,
  },
];
