// Neural-network ops that ONNX has as single nodes.
import { isFloat } from "../ir/dtype.ts";
import type { Tensor } from "../ir/graph.ts";
import { formatShape, normAxis, ShapeError } from "../ir/shape.ts";
import { float, int } from "./attrs.ts";
import { builderOf } from "./builder.ts";

function floatOnly(op: string, x: Tensor): void {
  if (!isFloat(x.dtype)) throw new ShapeError(`${op}: needs a floating-point input, got ${x.dtype}`);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  floatOnly("Softmax", x);
  return builderOf(x).emit("Softmax", [x], [{ dtype: x.dtype, shape: x.shape }], { axis: int(normAxis("Softmax", axis, x.rank)) })[0]!;
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  floatOnly("LogSoftmax", x);
  return builderOf(x).emit("LogSoftmax", [x], [{ dtype: x.dtype, shape: x.shape }], { axis: int(normAxis("LogSoftmax", axis, x.rank)) })[0]!;
}

/** LayerNormalization-17 over the axes from `axis` to the end; scale and bias have the normalised shape. */
export function layerNorm(x: Tensor, scale: Tensor, bias: Tensor | null, axis = -1, epsilon = 1e-5): Tensor {
  floatOnly("LayerNormalization", x);
  const a = normAxis("LayerNormalization", axis, x.rank);
  const normalised = x.shape.slice(a);
  const fits = (t: Tensor) => t.rank === normalised.length && t.shape.every((d, i) => d === normalised[i]);
  if (!fits(scale) || (bias && !fits(bias)))
    throw new ShapeError(
      `LayerNormalization: scale/bias must have shape ${formatShape(normalised)}, got ${formatShape(scale.shape)}${bias ? ` and ${formatShape(bias.shape)}` : ""}`,
    );
  const inputs = bias ? [x, scale, bias] : [x, scale];
  return builderOf(x).emit("LayerNormalization", inputs, [{ dtype: x.dtype, shape: x.shape }], { axis: int(a), epsilon: float(epsilon) })[0]!;
}
