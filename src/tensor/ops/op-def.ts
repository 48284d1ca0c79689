// What the compiler knows about one op type, beyond its constructor: an entry of the op registry (registry.ts).
// Each family file (binary.ts, unary.ts, linalg.ts, …) defines its ops' constructors — which check operands and
// infer the output shape — and, beside them, one entry per op type with its VJP rule, its float64 reference kernel
// and its gradient-check cases.
import type { VjpRule } from "../autodiff/rule.ts";
import type { DType } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import type { Kernel } from "../reference/kernel.ts";
import type { Builder } from "./builder.ts";

export interface OpDef {
  /** The ONNX op type (default domain, opset 21): what nodes are looked up by. */
  readonly onnxType: string;
  /** Reverse mode; without it, differentiating through the op is an error naming it. */
  readonly vjp?: VjpRule;
  /** The float64 reference kernel; without it, the reference interpreter refuses the op. */
  readonly reference?: Kernel;
  /** Finite-difference checks of `vjp` (at least one wherever there is a `vjp`; test/tensor-gradcheck.test.ts). */
  readonly gradcheck?: readonly GradCheckCase[];
}

/** A graph input of a gradient-check case. */
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

/**
 * A gradient check: a forward function of named inputs. The harness (src/runtime/engine/gradcheck/) checks the
 * compiler's gradients of a random linear functional of its output against central finite differences.
 */
export interface GradCheckCase {
  case: string;
  inputs: GradInput[];
  build: (b: Builder, inputs: Record<string, Tensor>, dtype: DType) => Tensor;
  /** Finite-difference step and tolerances, when the defaults do not fit (say why in the case). */
  eps?: number;
  tolerance?: number;
}

/** A case with the op it exercises (an op type, or "composite" for whole blocks): what the harness runs. */
export interface GradCase extends GradCheckCase {
  op: string;
}

/** A differentiated float input of a case, drawn from `domain`. */
export function floatInput(name: string, shape: number[], domain: GradInput["domain"] = "any"): GradInput {
  return { name, shape, domain };
}
