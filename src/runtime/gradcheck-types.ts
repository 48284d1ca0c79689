// The contract between `alignc doctor` and the gradient checks of the tensor compiler
// (src/compiler/tensor/gradcheck/index.ts, loaded dynamically so a build without it still runs doctor).

/** One gradient check: an op's analytic gradient (from the ONNX backward graph) against a numeric one. */
export interface GradCheckRow {
  op: string;
  case: string;
  provider: string;
  dtype: string;
  maxAbsError: number;
  maxRelError: number;
  tolerance: number;
  ok: boolean;
  /** Set when the check could not run (the error message). */
  error?: string;
}

export interface GradCheckOptions {
  provider: string;
  /** Only the cases of these ops. */
  ops?: readonly string[];
  /** Called with each row as soon as it is checked (progress for people watching a long run). */
  log?: (row: GradCheckRow) => void;
}

/** What the gradcheck module exports. */
export interface GradCheckModule {
  runGradientChecks(options: GradCheckOptions): Promise<GradCheckRow[]>;
}
