// Runs one gradient-check case on one provider: builds loss = Σ f(x)·R (R fixed random weights) and its gradients
// with the compiler's autodiff, serializes the model, and compares against central finite differences computed by
// re-running the same session with perturbed inputs. float64 where the provider has kernels for every op of the
// case, float32 (with wider tolerances) otherwise.

import { grad } from "../../../tensor/grad.ts";
import { allocate, type DType, type TypedArray } from "../../../tensor/ir/dtype.ts";
import type { Tensor } from "../../../tensor/ir/graph.ts";
import { numel, staticShape } from "../../../tensor/ir/shape.ts";
import { serializeModel } from "../../../tensor/onnx/serialize.ts";
import { Builder } from "../../../tensor/ops/builder.ts";
import * as op from "../../../tensor/ops/index.ts";
import type { GradCase, GradInput } from "../../../tensor/ops/op-def.ts";
import { mulberry32 } from "../../../util/random.ts";
import type { Provider } from "../providers.ts";
import { Runtime } from "../session.ts";
import type { GradCheckRow } from "./types.ts";

const DEFAULTS: Record<"float64" | "float32", { eps: number; tolerance: number }> = {
  // float64: truncation error O(eps²) ≈ 1e-12 and rounding ≈ 1e-16/eps ≈ 1e-10, so 1e-6 leaves a wide margin.
  float64: { eps: 1e-6, tolerance: 1e-6 },
  // float32: rounding of the loss (~1e-7 relative, summed over the output) divided by 2·eps dominates.
  float32: { eps: 1e-2, tolerance: 2e-2 },
};

/**
 * CUDA: ORT's float64 Softmax, LogSoftmax and LayerNormalization kernels are accurate only to ~1e-8 relative
 * (measured on an H100: with eps 1e-6 the finite differences were off by up to 9e-2), so the step is larger
 * (rounding ≈ 1e-8/1e-4 = 1e-4, truncation ≈ 1e-8) and the tolerance 1e-3. float32 on CUDA runs MatMul in TF32
 * (10-bit mantissa, not switchable from Node), so its tolerance is wider too.
 */
const CUDA_DEFAULTS: typeof DEFAULTS = {
  float64: { eps: 1e-4, tolerance: 1e-3 },
  float32: { eps: 1e-2, tolerance: 5e-2 },
};

export interface CheckOptions {
  provider: Provider;
  dtype: "float64" | "float32";
  seed?: number;
}

function inputData(spec: GradInput, dtype: DType, rand: () => number): TypedArray {
  const n = numel(spec.shape);
  const kind = spec.kind ?? "float";
  const out = allocate(kind === "int" ? "int64" : kind === "bool" ? "bool" : dtype, n);
  for (let i = 0; i < n; i++) {
    const fixed = spec.values?.[i];
    if (out instanceof BigInt64Array) out[i] = BigInt(fixed ?? Math.floor(rand() * (spec.max ?? 2)));
    else if (kind === "bool") (out as Uint8Array)[i] = fixed ?? (rand() < 0.5 ? 1 : 0);
    else {
      const u = rand();
      const v = spec.domain === "positive" ? 0.5 + 1.5 * u : spec.domain === "awayFromZero" ? (u < 0.5 ? -1 : 1) * (0.2 + u) : 2 * u - 1;
      (out as Float64Array)[i] = fixed ?? v;
    }
  }
  return out;
}

export async function checkCase(c: GradCase, o: CheckOptions): Promise<GradCheckRow> {
  const base = { op: c.op, case: c.case, provider: o.provider, dtype: o.dtype };
  const defaults = (o.provider === "cuda" ? CUDA_DEFAULTS : DEFAULTS)[o.dtype];
  const eps = c.eps ?? defaults.eps;
  const tolerance = Math.max(c.tolerance ?? 0, defaults.tolerance);
  try {
    const rand = mulberry32(o.seed ?? 1234);
    const b = new Builder("gradcheck");
    const tensors: Record<string, Tensor> = {};
    const feeds: Record<string, { dtype: DType; data: TypedArray; shape: number[] }> = {};
    for (const spec of c.inputs) {
      const kind = spec.kind ?? "float";
      const dtype: DType = kind === "int" ? "int64" : kind === "bool" ? "bool" : o.dtype;
      tensors[spec.name] = b.input(spec.name, dtype, spec.shape);
      feeds[spec.name] = { dtype, data: inputData(spec, o.dtype, rand), shape: spec.shape };
    }
    const y = c.build(b, tensors, o.dtype);
    const shape = staticShape(y.shape, `${c.op} ${c.case}`);
    const weights = allocate(o.dtype, numel(shape)) as Float64Array;
    for (let i = 0; i < weights.length; i++) weights[i] = 2 * rand() - 1;
    const loss = op.reduceSum(op.mul(y, b.data(o.dtype, weights, shape, "weights")));
    const floatInputs = c.inputs.filter((s) => (s.kind ?? "float") === "float" && !s.constant).map((s) => tensors[s.name]!);
    const grads = grad(loss, floatInputs);
    b.output(loss, "loss");
    grads.forEach((g, i) => {
      b.output(g, `grad_${floatInputs[i]!.name}`);
    });

    // Optimizations off: the check is of our rules, not of ORT's fusions. Failures are reported as rows, so ORT's log stays quiet.
    const runtime = new Runtime({ provider: o.provider, graphOptimizationLevel: "disabled", logSeverity: 4 });
    const session = await runtime.load(serializeModel(b.root));
    const run = (override?: { name: string; data: TypedArray }) =>
      runtime.run(session, Object.fromEntries(Object.entries(feeds).map(([name, v]) => [name, override?.name === name ? { ...v, data: override.data } : v])));
    const analytic = await run();
    let maxAbs = 0;
    let maxRel = 0;
    let ok = true;
    for (const t of floatInputs) {
      const g = analytic[`grad_${t.name}`]!.data as Float64Array;
      const x = feeds[t.name]!.data as Float64Array;
      for (let i = 0; i < x.length; i++) {
        const plus = x.slice();
        plus[i] = x[i]! + eps;
        const minus = x.slice();
        minus[i] = x[i]! - eps;
        const lp = Number((await run({ name: t.name, data: plus })).loss!.data[0]);
        const lm = Number((await run({ name: t.name, data: minus })).loss!.data[0]);
        const numeric = (lp - lm) / (2 * eps);
        const abs = Math.abs(numeric - g[i]!);
        const rel = abs / Math.max(Math.abs(numeric), Math.abs(g[i]!), 1e-12);
        maxAbs = Math.max(maxAbs, abs);
        maxRel = Math.max(maxRel, rel);
        if (!(abs <= tolerance * (1 + Math.abs(numeric)))) ok = false;
      }
    }
    await runtime.release();
    return { ...base, maxAbsError: maxAbs, maxRelError: maxRel, tolerance, ok };
  } catch (e) {
    return { ...base, maxAbsError: Number.NaN, maxRelError: Number.NaN, tolerance, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Whether a failure means "this provider has no kernel for this dtype", so the case should fall back to float32. */
export function isMissingKernel(row: GradCheckRow): boolean {
  // CUDA reports a node it cannot place (OneHot in float64) as "Provider type for … is not set".
  return !!row.error && /NOT_IMPLEMENTED|Could not find an implementation|not implemented|Provider type for .* is not set/i.test(row.error);
}
