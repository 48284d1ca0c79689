// Initial values for parameters. Random ones draw from a seeded `Rng` (pass `rng.fork(name)` for a stream
// per parameter). Weights follow alignc's `x @ W` convention: a 2-D weight is [in, out].

import { allocate, type DType } from "../../tensor/ir/dtype.ts";
import type { TensorData } from "../../tensor/ir/graph.ts";
import { numel } from "../../tensor/ir/shape.ts";
import type { Rng } from "../../util/random.ts";

export class InitError extends Error {
  override name = "InitError";
}

function checkShape(what: string, shape: readonly number[]): number[] {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new InitError(`${what}: shape [${shape.join(", ")}] must hold non-negative integers`);
  return [...shape];
}

export function zeros(shape: readonly number[], dtype: DType = "float32"): TensorData {
  const dims = checkShape("zeros", shape);
  return { dtype, shape: dims, data: allocate(dtype, numel(dims)) };
}

export function ones(shape: readonly number[], dtype: DType = "float32"): TensorData {
  const t = zeros(shape, dtype);
  if (t.data instanceof BigInt64Array) t.data.fill(1n);
  else if (dtype === "float16")
    t.data.fill(0x3c00); // 1.0 in IEEE half precision
  else t.data.fill(1);
  return t;
}

/** Fills a float32/float64 tensor from `draw`; random float16 values are not supported (no rounding here). */
function random(what: string, shape: readonly number[], dtype: DType, draw: () => number): TensorData {
  if (dtype !== "float32" && dtype !== "float64") throw new InitError(`${what}: random initialisation needs float32 or float64, got ${dtype}`);
  const t = zeros(checkShape(what, shape), dtype);
  const data = t.data as Float32Array | Float64Array;
  for (let i = 0; i < data.length; i++) data[i] = draw();
  return t;
}

export function uniform(rng: Rng, shape: readonly number[], low: number, high: number, dtype: DType = "float32"): TensorData {
  return random("uniform", shape, dtype, () => low + (high - low) * rng.uniform());
}

export function normal(rng: Rng, shape: readonly number[], std: number, mean = 0, dtype: DType = "float32"): TensorData {
  if (!(std >= 0)) throw new InitError(`normal: std must be non-negative, got ${std}`);
  return random("normal", shape, dtype, () => mean + std * rng.normal());
}

/** Glorot/Xavier uniform: U(-b, b) with b = gain·√(6 / (fan_in + fan_out)); dims past the second are a receptive field. */
export function xavierUniform(rng: Rng, shape: readonly number[], gain = 1, dtype: DType = "float32"): TensorData {
  if (shape.length < 2) throw new InitError(`xavierUniform: needs a weight of rank >= 2, got shape [${shape.join(", ")}]`);
  const field = numel(shape.slice(2));
  const bound = gain * Math.sqrt(6 / ((shape[0]! + shape[1]!) * field));
  return uniform(rng, shape, -bound, bound, dtype);
}
