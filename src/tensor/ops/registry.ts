// The op registry: every op type the builder emits, with its VJP rule, reference kernel and gradient-check cases
// (op-def.ts). Autodiff (tensor/grad.ts), the reference interpreter (tensor/evaluate.ts) and the gradient-check
// harness (src/runtime/engine/gradcheck/) look ops up here; each family file defines its ops beside their constructors.
import { binaryOps } from "./binary.ts";
import { controlOps } from "./control.ts";
import { gatherOps } from "./gather.ts";
import { linalgOps } from "./linalg.ts";
import { nnOps } from "./nn.ts";
import type { GradCase, OpDef } from "./op-def.ts";
import { randomOps } from "./random.ts";
import { reduceOps } from "./reduce.ts";
import { shapeOps } from "./shape-ops.ts";
import { sliceOps } from "./slice.ts";
import { unaryOps } from "./unary.ts";

/** The families in the order their gradient checks run. */
const FAMILIES = [binaryOps, unaryOps, linalgOps, shapeOps, sliceOps, gatherOps, reduceOps, nnOps, controlOps, randomOps];

function byType(defs: readonly OpDef[]): ReadonlyMap<string, OpDef> {
  const map = new Map<string, OpDef>();
  for (const d of defs) {
    if (map.has(d.onnxType)) throw new Error(`op registry: ${d.onnxType} is defined twice`);
    map.set(d.onnxType, d);
  }
  return map;
}

export const OPS: ReadonlyMap<string, OpDef> = byType(FAMILIES.flat());

/** The definition of a default-domain op type, if the compiler knows it. */
export function opDef(onnxType: string): OpDef | undefined {
  return OPS.get(onnxType);
}

/** Every op's gradient-check cases, labelled with the op they exercise. */
export const gradCheckCases: readonly GradCase[] = [...OPS.values()].flatMap((d) => (d.gradcheck ?? []).map((c) => ({ ...c, op: d.onnxType })));
