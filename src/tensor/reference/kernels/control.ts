// Loop and If. Bodies are evaluated through `runSubgraph`, which nests a scope in the caller's, so bodies read
// outer-scope tensors by reference as ONNX allows.
import { isStatic } from "../../ir/shape.ts";
import { graphAttr, input, type Kernel, type KernelArgs, optionalInput } from "../kernel.ts";
import { makeValue, type Value } from "../value.ts";

const scalar = (dtype: "int64" | "bool", v: number): Value => makeValue(dtype, [], Float64Array.of(v));

/**
 * Inputs (trip count M?, cond?, carried…); body (iteration, cond_in, carried…) → (cond_out, carried…, scans…).
 * Runs while i < M and cond; scan outputs are stacked along a new first axis.
 */
function loop(a: KernelArgs): Value[] {
  const body = graphAttr(a, "body");
  const trips = optionalInput(a, 0);
  const condIn = optionalInput(a, 1);
  if (!trips && !condIn) throw new Error(`reference Loop (node ${a.node.name}): neither a trip count nor a condition; it would never stop`);
  const maxTrips = trips ? trips.data[0]! : Number.POSITIVE_INFINITY;
  let cond = condIn ? condIn.data[0]! !== 0 : true;
  let state = a.inputs.slice(2).map((_, i) => input(a, i + 2));
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

function ifOp(a: KernelArgs): Value[] {
  const branch = input(a, 0).data[0]! !== 0 ? "then_branch" : "else_branch";
  return a.runSubgraph(graphAttr(a, branch), []);
}

export const controlKernels: Record<string, Kernel> = { Loop: loop, If: ifOp };
