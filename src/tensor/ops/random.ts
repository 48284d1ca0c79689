// Random tensors. A fixed `seed` makes a session's sequence reproducible: the generator is created with the
// session and advances on every call, so two fresh sessions with the same seed produce the same values.
import type { DType } from "../ir/dtype.ts";
import { ONNX_DTYPE } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { float, int } from "./attrs.ts";
import { builderOf } from "./builder.ts";
import type { OpDef } from "./op-def.ts";

export function randomUniformLike(like: Tensor, seed: number, low = 0, high = 1, dtype: DType = like.dtype): Tensor {
  const attrs = { low: float(low), high: float(high), seed: float(seed), dtype: int(ONNX_DTYPE[dtype]) };
  return builderOf(like).emit("RandomUniformLike", [like], [{ dtype, shape: like.shape }], attrs)[0]!;
}

export function randomNormalLike(like: Tensor, seed: number, mean = 0, scale = 1, dtype: DType = like.dtype): Tensor {
  const attrs = { mean: float(mean), scale: float(scale), seed: float(seed), dtype: int(ONNX_DTYPE[dtype]) };
  return builderOf(like).emit("RandomNormalLike", [like], [{ dtype, shape: like.shape }], attrs)[0]!;
}

// No gradient (samples are constants to autodiff) and no reference kernel (ORT's generator cannot be reproduced).
export const randomOps: readonly OpDef[] = [{ onnxType: "RandomUniformLike" }, { onnxType: "RandomNormalLike" }];
