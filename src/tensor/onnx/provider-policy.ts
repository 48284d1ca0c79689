// Which ops the execution providers alignc targets cannot run in which dtype, and what the builder computes them in
// instead. Op constructors ask `kernelDtype` (through `inKernelDtype`, ops/unary.ts) and emit such an op between a
// cast to the wider dtype and a cast back.
//
// A program's bytes must not depend on the device it will run on (sessions are cached by the sha256 of the bytes,
// and programs are built before a device is chosen), so every provider's gaps apply to every program.
import type { DType } from "../ir/dtype.ts";

export type TargetProvider = "cpu" | "cuda";

export interface DtypeGap {
  /** The dtype the provider cannot run `ops` in. */
  dtype: DType;
  /** The dtype they are computed in instead. */
  computeIn: DType;
  ops: readonly string[];
}

const REDUCTIONS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceLogSumExp", "ReduceProd", "ReduceSumSquare"];

export const DTYPE_GAPS: Readonly<Record<TargetProvider, readonly DtypeGap[]>> = {
  // None listed: bfloat16 programs run on CUDA only (a bf16 phase on CPU is refused, docs/gpu.md), and float16 ones
  // run on CPU as written (ORT computes most float16 ops in float32 behind casts it inserts).
  cpu: [],
  cuda: [
    // ONNX Runtime 1.29's CUDA provider has no bfloat16 kernel for these: the session refuses to load (found one after
    // the other on an H100). Padding in float32 is exact both ways.
    { dtype: "bfloat16", computeIn: "float32", ops: ["Pad", "ReduceMean", "Reciprocal"] },
    // Not gaps but a choice: PyTorch's autocast runs reductions and transcendental ops in float32, for accuracy.
    { dtype: "bfloat16", computeIn: "float32", ops: REDUCTIONS },
    { dtype: "bfloat16", computeIn: "float32", ops: ["Sqrt", "Exp", "Log", "Erf", "Tanh", "Sigmoid", "Softplus"] },
  ],
};

const widened = new Map<string, DType>();
for (const gaps of Object.values(DTYPE_GAPS))
  for (const gap of gaps)
    for (const op of gap.ops) {
      const key = `${op}|${gap.dtype}`;
      const before = widened.get(key);
      if (before !== undefined && before !== gap.computeIn)
        throw new Error(`provider policy: ${op} in ${gap.dtype} is widened to both ${before} and ${gap.computeIn}`);
      widened.set(key, gap.computeIn);
    }

/** The dtype to compute `op` in when its input is `dtype`: `dtype` itself unless some target provider lacks the kernel. */
export function kernelDtype(op: string, dtype: DType): DType {
  return widened.get(`${op}|${dtype}`) ?? dtype;
}
