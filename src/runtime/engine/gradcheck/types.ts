// Gradient-check cases and results. A case builds a forward function of named inputs; the harness checks the
// compiler's gradients of a random linear functional of its output against central finite differences.
import type { DType } from "../../../tensor/ir/dtype.ts";
import type { Tensor } from "../../../tensor/ir/graph.ts";
import type { Builder } from "../../../tensor/ops/builder.ts";

export interface GradInput {
  name: string;
  shape: number[];
  /** "float" inputs are differentiated; "int" ones are indices in [0, max); "bool" ones masks. */
  kind?: "float" | "int" | "bool";
  /** Where float values are drawn from: away from kinks and poles where an op needs it. */
  domain?: "any" | "positive" | "awayFromZero";
  /** Exclusive upper bound for "int" inputs. */
  max?: number;
  /** A float input that is fed but not differentiated (masks, reference log-probs behind a stop-gradient). */
  constant?: boolean;
  /** Fixed values instead of random ones. */
  values?: number[];
}

export interface GradCase {
  /** The op whose rule this case exercises (or "composite"). */
  op: string;
  case: string;
  inputs: GradInput[];
  build: (b: Builder, inputs: Record<string, Tensor>, dtype: DType) => Tensor;
  /** Finite-difference step and tolerances, when the defaults do not fit (say why in the case). */
  eps?: number;
  tolerance?: number;
}

export interface GradCheckRow {
  op: string;
  case: string;
  provider: string;
  dtype: string;
  maxAbsError: number;
  maxRelError: number;
  tolerance: number;
  ok: boolean;
  error?: string;
}
