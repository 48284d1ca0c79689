// LoRA (Hu et al., 2021): a frozen 2-D weight W [in, out] gains a trainable low-rank update, used as
// W + (alpha/r)·A·B with A [in, r] and B [r, out]. B starts at zero, so the adapted model starts out equal
// to the base model. The adapters' rank and alpha are kept in the set's metadata so that a saved set can be
// wired into a graph or merged later without the original options.

import { isFloat } from "../../tensor/ir/dtype.ts";
import type { Tensor, TensorData } from "../../tensor/ir/graph.ts";
import { formatShape, ShapeError } from "../../tensor/ir/shape.ts";
import type { Builder } from "../../tensor/ops/builder.ts";
import { add, matmul, mul } from "../../tensor/ops/index.ts";
import type { Rng } from "../../util/random.ts";
import { normal, zeros } from "./init.ts";
import { ParamError, ParamSet } from "./param-set.ts";
import { type Selector, selectNames } from "./select.ts";

/** Metadata key: JSON object from weight name to {rank, alpha}. */
export const LORA_META = "alignc.lora";

export interface LoraOptions {
  /** The 2-D weights to adapt, e.g. ["*.attn.q", "*.mlp.up"]; every pattern must match something. */
  targets: Selector;
  rank: number;
  alpha: number;
  /** Seeds A; each A draws from `rng.fork(<A's name>)`. */
  rng: Rng;
  /** Parameters that stay trainable besides the adapters (e.g. a task head); everything else is frozen. */
  keepTrainable?: Selector;
}

export interface LoraAdapter {
  weight: string;
  a: string;
  b: string;
  rank: number;
  alpha: number;
}

const aName = (w: string) => `${w}.lora_a`;
const bName = (w: string) => `${w}.lora_b`;
const isAdapterParam = (n: string) => n.endsWith(".lora_a") || n.endsWith(".lora_b");

/**
 * Adds adapters to `ps` in place: A ~ N(0, 1/in) (Kaiming-style fan-in scaling; gain 1), B = 0, both
 * trainable; then freezes every other parameter except `keepTrainable`. Checks every target first, so a
 * bad selection leaves the set unchanged.
 */
export function applyLora(ps: ParamSet, o: LoraOptions): LoraAdapter[] {
  if (!Number.isSafeInteger(o.rank) || o.rank < 1) throw new ParamError(`applyLora: rank must be a positive integer, got ${o.rank}`);
  if (!Number.isFinite(o.alpha)) throw new ParamError(`applyLora: alpha must be a finite number, got ${o.alpha}`);
  const targets = selectNames(
    ps.names().filter((n) => !isAdapterParam(n)),
    o.targets,
    "applyLora",
  );
  for (const w of targets) {
    const p = ps.get(w);
    if (p.shape.length !== 2) throw new ParamError(`applyLora: "${w}" has shape ${formatShape(p.shape)}; LoRA adapts 2-D weights [in, out] only`);
    if (p.dtype !== "float32" && p.dtype !== "float64") throw new ParamError(`applyLora: "${w}" is ${p.dtype}; LoRA needs float32 or float64 weights`);
    if (ps.has(aName(w)) || ps.has(bName(w))) throw new ParamError(`applyLora: "${w}" already has a LoRA adapter`);
  }
  const keepTrainable = o.keepTrainable === undefined ? [] : selectNames(ps.names(), o.keepTrainable, "applyLora keepTrainable");
  const config = readConfig(ps);
  const adapters: LoraAdapter[] = [];
  for (const w of targets) {
    const { dtype, shape } = ps.get(w);
    const [fanIn, out] = shape as [number, number];
    ps.add(aName(w), normal(o.rng.fork(aName(w)), [fanIn, o.rank], 1 / Math.sqrt(fanIn), 0, dtype));
    ps.add(bName(w), zeros([o.rank, out], dtype));
    config[w] = { rank: o.rank, alpha: o.alpha };
    adapters.push({ weight: w, a: aName(w), b: bName(w), rank: o.rank, alpha: o.alpha });
  }
  ps.metadata.set(LORA_META, JSON.stringify(config));
  ps.freezeAllExcept([...Object.keys(config).flatMap((w) => [aName(w), bName(w)]), ...keepTrainable]);
  return adapters;
}

type Config = Record<string, { rank: number; alpha: number }>;

function readConfig(ps: ParamSet): Config {
  const text = ps.metadata.get(LORA_META);
  if (text === undefined) return Object.create(null) as Config;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = undefined;
  }
  const ok = (e: unknown) =>
    typeof e === "object" && e !== null && Number.isSafeInteger((e as { rank: unknown }).rank) && Number.isFinite((e as { alpha: unknown }).alpha);
  if (typeof v !== "object" || v === null || Array.isArray(v) || !Object.values(v).every(ok)) {
    throw new ParamError(`metadata "${LORA_META}" must be a JSON object of {rank, alpha} per weight`);
  }
  // A null-prototype copy: a weight may be named "__proto__", which plain-object assignment would swallow.
  return Object.assign(Object.create(null) as Config, v);
}

/** The adapters recorded in `ps`, checked against the parameters' shapes. */
export function loraAdapters(ps: ParamSet): LoraAdapter[] {
  return Object.entries(readConfig(ps)).map(([w, { rank, alpha }]) => {
    const need = (n: string): TensorData => {
      if (!ps.has(n)) throw new ParamError(`LoRA adapter of "${w}": parameter "${n}" is missing`);
      return ps.get(n);
    };
    const [W, A, B] = [need(w), need(aName(w)), need(bName(w))];
    if (W.shape.length !== 2) throw new ParamError(`LoRA adapter of "${w}": the weight has shape ${formatShape(W.shape)}, not 2-D`);
    const [fanIn, out] = W.shape;
    if (A.shape.join() !== `${fanIn},${rank}` || B.shape.join() !== `${rank},${out}`) {
      throw new ParamError(
        `LoRA adapter of "${w}" ${formatShape(W.shape)}: expected A [${fanIn}, ${rank}] and B [${rank}, ${out}], got ${formatShape(A.shape)} and ${formatShape(B.shape)}`,
      );
    }
    return { weight: w, a: aName(w), b: bName(w), rank, alpha };
  });
}

/** W + (alpha/rank)·A·B in the graph. */
export function loraWeight(b: Builder, W: Tensor, A: Tensor, B: Tensor, alpha: number, rank: number): Tensor {
  if (W.rank !== 2 || A.rank !== 2 || B.rank !== 2)
    throw new ShapeError(`loraWeight: W, A and B must be 2-D, got ${formatShape(W.shape)}, ${formatShape(A.shape)}, ${formatShape(B.shape)}`);
  if (A.shape[1] !== rank || B.shape[0] !== rank)
    throw new ShapeError(`loraWeight: rank ${rank} does not match A ${formatShape(A.shape)} and B ${formatShape(B.shape)}`);
  if (A.shape[0] !== W.shape[0] || B.shape[1] !== W.shape[1]) {
    throw new ShapeError(`loraWeight: A·B is [${A.shape[0]}, ${B.shape[1]}] but W is ${formatShape(W.shape)}`);
  }
  if (!isFloat(W.dtype)) throw new ShapeError(`loraWeight: needs a floating-point weight, got ${W.dtype}`);
  return add(W, mul(matmul(A, B), b.tensor(W.dtype, alpha / rank)));
}

/**
 * What model code calls for a weight: `weight(name)` is the declared parameter, or, for an adapted weight,
 * its LoRA-wrapped form (built once and reused). `declared` is `ps.declare(b)`.
 */
export function weightFn(b: Builder, ps: ParamSet, declared: ReadonlyMap<string, Tensor>): (name: string) => Tensor {
  const adapters = new Map(loraAdapters(ps).map((a) => [a.weight, a]));
  const built = new Map<string, Tensor>();
  const param = (n: string) => {
    const t = declared.get(n);
    if (!t) throw new ParamError(`weight: no declared parameter named "${n}"`);
    return t;
  };
  return (name) => {
    const hit = built.get(name);
    if (hit) return hit;
    const a = adapters.get(name);
    const t = a ? loraWeight(b, param(name), param(a.a), param(a.b), a.alpha, a.rank) : param(name);
    built.set(name, t);
    return t;
  };
}

/**
 * A new set with every adapter folded in (W ← W + (alpha/r)·A·B, accumulated in float64, stored in W's dtype)
 * and the adapter parameters dropped: the plain model, for export. Unchanged parameters share their arrays.
 */
export function mergeLora(ps: ParamSet): ParamSet {
  const adapters = new Map(loraAdapters(ps).map((a) => [a.weight, a]));
  const dropped = new Set([...adapters.values()].flatMap((a) => [a.a, a.b]));
  const out = new ParamSet();
  for (const p of ps) {
    if (dropped.has(p.name)) continue;
    const a = adapters.get(p.name);
    out.add(p.name, a ? merged(p, ps.get(a.a), ps.get(a.b), a.alpha / a.rank) : p, { trainable: p.trainable });
  }
  for (const [k, v] of ps.metadata) if (k !== LORA_META) out.metadata.set(k, v);
  return out;
}

function merged(W: TensorData, A: TensorData, B: TensorData, scale: number): TensorData {
  const [n, m] = W.shape as [number, number];
  const r = A.shape[1]!;
  // Float32Array or Float64Array (applyLora admits only those); typed as one for indexing.
  const [w, a, b] = [W.data as Float64Array, A.data as Float64Array, B.data as Float64Array];
  const data = w.slice();
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += a[i * r + k]! * b[k * m + j]!;
      data[i * m + j] = w[i * m + j]! + scale * s;
    }
  }
  return { dtype: W.dtype, shape: [n, m], data };
}
