// The run directory: where `alignc run` keeps everything it makes (docs/run-directory.md). The layout is a stable
// contract: tools and people read it.
//
//   <run dir>/
//     plan.json                 the execution graph of the latest run, with each node's store key
//     align.lock                YAML: settings, and the keys of code, models and data the latest run used
//     store/<kk>/<key>/         content-addressed node outputs (complete entries only), each with node.json
//     outputs/<node id>         symbolic link to the node's store entry in the latest run
//     metrics/<node id>.jsonl   per-step training metrics, written while training
//     evaluations/<node id>.md  evaluation tables (and .json); all-models.md: every evaluated model in one table
//     tensorboard/<node id>/    TensorBoard event files of each training phase and evaluation (run/tensorboard.ts)
//     logs/run.log              every run's log lines, appended
import path from "node:path";

/** The names alignc keeps at the top of a run directory; exports and other user files may not use them (the checker refuses them too). */
export { RESERVED_NAMES } from "../../graph/run-directory-names.ts";

export class RunLayout {
  readonly store: string;

  constructor(
    readonly root: string,
    store?: string,
  ) {
    this.store = store ?? path.join(root, "store");
  }

  /** The default run directory of an entry file: runs/<file name without .align> next to it. */
  static defaultRoot(entryAbsPath: string): string {
    return path.join(path.dirname(entryAbsPath), "runs", path.basename(entryAbsPath).replace(/\.align$/, ""));
  }

  get plan(): string {
    return path.join(this.root, "plan.json");
  }
  get lock(): string {
    return path.join(this.root, "align.lock");
  }
  get log(): string {
    return path.join(this.root, "logs", "run.log");
  }
  output(id: string): string {
    return path.join(this.root, "outputs", id);
  }
  /** The TensorBoard folders' default place (alignc run --tensorboard DIR puts them elsewhere). */
  get tensorboard(): string {
    return path.join(this.root, "tensorboard");
  }
  metrics(id: string): string {
    return path.join(this.root, "metrics", `${id}.jsonl`);
  }
  /** Every evaluated model of the latest run in one table (when it had several evaluations). */
  get evaluationSummary(): string {
    return path.join(this.root, "evaluations", "all-models.md"); // a hyphen: no node id can take this name
  }
  evaluation(id: string, ext: "md" | "json"): string {
    return path.join(this.root, "evaluations", `${id}.${ext}`);
  }
}
