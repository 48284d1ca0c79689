// Names alignc keeps at the top of a run directory (docs/run-directory.md). Part of the contract between
// the compiler and the runtime: the checker refuses export paths inside them (ALN3019), and the runtime's
// layout (src/runtime/pipeline/layout.ts) writes them.
export const RESERVED_NAMES = ["plan.json", "align.lock", "store", "outputs", "metrics", "evaluations", "logs", "checkpoints", "tensorboard"] as const;
