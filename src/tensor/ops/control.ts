// Control flow: Loop and If with bodies built by callbacks. Loop bodies may read any tensor of the enclosing
// graphs (frozen weights, staged batches) by name, so only changing state needs to be loop-carried. Neither has a
// gradient rule: a training step differentiates inside the Loop body. The reference kernels run bodies through
// `runSubgraph`, which nests a scope in the caller's, so bodies read outer-scope tensors as ONNX allows.
import type { Graph, Tensor } from "../ir/graph.ts";
import { formatShape, isStatic, type Shape, ShapeError, sameShape } from "../ir/shape.ts";
import * as ref from "../reference/kernel.ts";
import { makeValue, type Value } from "../reference/value.ts";
import { type Builder, builderOf } from "./builder.ts";
import type { OpDef } from "./op-def.ts";

export interface LoopBodyResult {
  /** New values of the loop-carried state, in the order of `carried`. */
  carried: Tensor[];
  /** Per-iteration values, stacked along a new first axis of length `trips` in the Loop's outputs. */
  scans?: Tensor[];
}

export interface LoopResult {
  carried: Tensor[];
  scans: Tensor[];
}

/**
 * Runs `body` `trips` times (trip count known at build time, so scan outputs have static shapes; the count may
 * also be fed at run time as `tripsInput`, an int64 scalar). The condition is a pass-through, as ORT wants.
 */
export function loop(
  b: Builder,
  trips: number,
  carried: readonly Tensor[],
  body: (iteration: Tensor, state: Tensor[]) => LoopBodyResult,
  options: { name?: string; tripsInput?: Tensor } = {},
): LoopResult {
  const name = options.name ?? "loop";
  let scanSpecs: { dtype: Tensor["dtype"]; shape: Shape }[] = [];
  const graph: Graph = b.subgraph(`${name}_body`, () => {
    const iteration = b.input(`${name}_iter`, "int64", []);
    const condIn = b.input(`${name}_cond_in`, "bool", []);
    const state = carried.map((t) => b.input(`${t.name}_in`, t.dtype, t.shape));
    const result = body(iteration, state);
    if (result.carried.length !== carried.length)
      throw new ShapeError(`Loop "${name}": the body returned ${result.carried.length} carried values, expected ${carried.length}`);
    result.carried.forEach((t, i) => {
      const want = carried[i]!;
      if (t.dtype !== want.dtype || !sameShape(t.shape, want.shape))
        throw new ShapeError(
          `Loop "${name}": carried value ${i} ("${want.name}") changes from ${want.dtype}${formatShape(want.shape)} to ${t.dtype}${formatShape(t.shape)}`,
        );
    });
    b.output(condIn, `${name}_cond_out`);
    result.carried.forEach((t, i) => {
      b.output(t, `${carried[i]!.name}_next`);
    });
    const scans = result.scans ?? [];
    scanSpecs = scans.map((t) => ({ dtype: t.dtype, shape: t.shape }));
    scans.forEach((t) => {
      b.output(t, `${t.name}_scan`);
    });
  });
  const tripsTensor = options.tripsInput ?? b.tensor("int64", trips);
  const cond = b.tensor("bool", 1);
  const outs = b.emit(
    "Loop",
    [tripsTensor, cond, ...carried],
    [
      ...carried.map((t) => ({ dtype: t.dtype, shape: t.shape, name: `${t.name}_final` })),
      ...scanSpecs.map((s) => ({ dtype: s.dtype, shape: [trips, ...s.shape], name: `${name}_scan` })),
    ],
    { body: { type: "graph", value: graph } },
  );
  return { carried: outs.slice(0, carried.length), scans: outs.slice(carried.length) };
}

/** If with two branches that must produce outputs of equal dtypes and shapes. */
export function cond(c: Tensor, thenBranch: () => Tensor[], elseBranch: () => Tensor[]): Tensor[] {
  const b = builderOf(c);
  let thenOuts: Tensor[] = [];
  let elseOuts: Tensor[] = [];
  const thenGraph = b.subgraph("then", () => {
    thenOuts = thenBranch();
    thenOuts.forEach((t) => {
      b.output(t, `${t.name}_then`);
    });
  });
  const elseGraph = b.subgraph("else", () => {
    elseOuts = elseBranch();
    elseOuts.forEach((t) => {
      b.output(t, `${t.name}_else`);
    });
  });
  if (thenOuts.length !== elseOuts.length || thenOuts.some((t, i) => t.dtype !== elseOuts[i]!.dtype || !sameShape(t.shape, elseOuts[i]!.shape)))
    throw new ShapeError("If: the two branches must return the same number of outputs with equal types and shapes");
  return b.emit(
    "If",
    [c],
    thenOuts.map((t) => ({ dtype: t.dtype, shape: t.shape })),
    { then_branch: { type: "graph", value: thenGraph }, else_branch: { type: "graph", value: elseGraph } },
  );
}

// ── reference kernels ──

const scalar = (dtype: "int64" | "bool", v: number): Value => makeValue(dtype, [], Float64Array.of(v));

/**
 * Inputs (trip count M?, cond?, carried…); body (iteration, cond_in, carried…) → (cond_out, carried…, scans…).
 * Runs while i < M and cond; scan outputs are stacked along a new first axis.
 */
function loopKernel(a: ref.KernelArgs): Value[] {
  const body = ref.graphAttr(a, "body");
  const trips = ref.optionalInput(a, 0);
  const condIn = ref.optionalInput(a, 1);
  if (!trips && !condIn) throw new Error(`reference Loop (node ${a.node.name}): neither a trip count nor a condition; it would never stop`);
  const maxTrips = trips ? trips.data[0]! : Number.POSITIVE_INFINITY;
  let cond = condIn ? condIn.data[0]! !== 0 : true;
  let state = a.inputs.slice(2).map((_, i) => ref.input(a, i + 2));
  const scanSpecs = body.outputs.slice(1 + state.length);
  const scans: Value[][] = scanSpecs.map(() => []);
  for (let i = 0; i < maxTrips && cond; i++) {
    const outs = a.runSubgraph(body, [scalar("int64", i), scalar("bool", cond ? 1 : 0), ...state]);
    cond = outs[0]!.data[0]! !== 0;
    state = outs.slice(1, 1 + state.length);
    outs.slice(1 + state.length).forEach((v, k) => {
      scans[k]!.push(v);
    });
  }
  const stacked = scans.map((vs, k) => {
    const spec = scanSpecs[k]!;
    const elementShape = vs[0]?.shape ?? (isStatic(spec.shape) ? [...spec.shape] : null);
    if (!elementShape) throw new Error(`reference Loop (node ${a.node.name}): zero iterations and scan output "${spec.name}" has no static shape`);
    const data = new Float64Array(vs.reduce((n, v) => n + v.data.length, 0));
    let offset = 0;
    for (const v of vs) {
      data.set(v.data, offset);
      offset += v.data.length;
    }
    return makeValue(spec.dtype, [vs.length, ...elementShape], data);
  });
  return [...state, ...stacked];
}

function ifKernel(a: ref.KernelArgs): Value[] {
  const branch = ref.input(a, 0).data[0]! !== 0 ? "then_branch" : "else_branch";
  return a.runSubgraph(ref.graphAttr(a, branch), []);
}

// ── the registry entries ──

export const controlOps: readonly OpDef[] = [
  { onnxType: "Loop", reference: loopKernel },
  { onnxType: "If", reference: ifKernel },
];
