// VJP rules of data-movement ops: each is the "inverse" movement of the gradient.
import { ShapeError } from "../../ir/shape.ts";
import { intAttr, intsAttr } from "../../ops/attrs.ts";
import * as op from "../../ops/index.ts";
import { initializerValues } from "../constants.ts";
import { reshapeLike, unbroadcast, zerosLike } from "../helpers.ts";
import { dy, type VjpRule } from "../rule.ts";

export const shapeRules: Record<string, VjpRule> = {
  Reshape: (a) => [reshapeLike(dy(a), a.inputs[0]!), null],
  Squeeze: (a) => [reshapeLike(dy(a), a.inputs[0]!), null],
  Unsqueeze: (a) => [reshapeLike(dy(a), a.inputs[0]!), null],
  Transpose: (a) => {
    const perm = intsAttr(a.node.attrs, "perm") ?? a.inputs[0]!.shape.map((_, i, s) => s.length - 1 - i);
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [op.transpose(dy(a), inverse)];
  },
  Expand: (a) => [unbroadcast(dy(a), a.inputs[0]!.shape), null],
  Concat: (a) => {
    const axis = intAttr(a.node.attrs, "axis", 0);
    const sizes = a.inputs.map((t) => t!.shape[axis]);
    if (!sizes.every((s): s is number => typeof s === "number")) throw new ShapeError("autodiff: Concat along a named dimension");
    return op.split(dy(a), axis, sizes).map((g, i) => (a.needs[i] ? g : null));
  },
  Split: (a) => {
    const axis = intAttr(a.node.attrs, "axis", 0);
    const parts = a.grads.map((g, i) => g ?? zerosLike(a.outputs[i]!));
    return [op.concat(parts, axis), null];
  },
  // Slice with steps of 1 is undone by zero padding; other steps would need a scatter (none of our models use them).
  Slice: (a) => {
    const x = a.inputs[0]!;
    const [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => (a.inputs[i] ? initializerValues(a.inputs[i]!, "Slice") : undefined));
    const ax = (axes ?? starts!.map((_, i) => i)).map((v) => (v < 0 ? v + x.rank : v));
    if (steps?.some((s) => s !== 1)) throw new ShapeError("autodiff: Slice with steps other than 1 has no gradient rule");
    const pads = new Array<number>(2 * x.rank).fill(0);
    ax.forEach((axis, k) => {
      const dim = x.shape[axis];
      if (typeof dim !== "number") throw new ShapeError("autodiff: Slice along a named dimension");
      const norm = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      const s = norm(starts![k]!);
      const e = Math.max(norm(ends![k]!), s);
      pads[axis] = s;
      pads[axis + x.rank] = dim - e;
    });
    return [op.pad(dy(a), pads, 0), null, null, null, null];
  },
  Pad: (a) => {
    const x = a.inputs[0]!;
    const pads = initializerValues(a.inputs[1]!, "Pad");
    const starts = x.shape.map((_, i) => pads[i]!);
    const ends = x.shape.map((d, i) => {
      if (typeof d !== "number") throw new ShapeError("autodiff: Pad along a named dimension");
      return pads[i]! + d;
    });
    return [op.slice(dy(a), starts, ends), null, null];
  },
  // Embedding lookup: scatter-add through OneHot + MatMul, which is deterministic on every provider.
  Gather: (a) => {
    const [data, indices] = [a.inputs[0]!, a.inputs[1]!];
    if (intAttr(a.node.attrs, "axis", 0) !== 0) throw new ShapeError("autodiff: Gather has a gradient rule for axis 0 only");
    const rows = data.shape[0];
    if (typeof rows !== "number") throw new ShapeError("autodiff: Gather from a table with a named first dimension");
    const rest = data.shape.slice(1);
    const flatIdx = op.reshape(indices, [-1]);
    const width = rest.reduce<number>((p, d) => p * (d as number), 1);
    const g = op.reshape(dy(a), [-1, width]);
    // ONNX's OneHot has no bfloat16 values: make it in float32 and cast (exact: its entries are 0 and 1).
    const hot = data.dtype === "bfloat16" ? op.cast(op.oneHot(flatIdx, rows, "float32"), "bfloat16") : op.oneHot(flatIdx, rows, data.dtype);
    const table = op.matmul(op.transpose(hot), g);
    return [op.reshape(table, data.shape), null];
  },
  GatherElements: (a) => {
    const [data, indices] = [a.inputs[0]!, a.inputs[1]!];
    const axis = intAttr(a.node.attrs, "axis", 0);
    return [op.scatterElements(zerosLike(data), indices, dy(a), axis, "add"), null];
  },
  CumSum: (a) => {
    const axis = initializerValues(a.inputs[1]!, "CumSum")[0]!;
    const exclusive = intAttr(a.node.attrs, "exclusive", 0) === 1;
    const reverse = intAttr(a.node.attrs, "reverse", 0) === 1;
    return [op.cumSum(dy(a), axis, { exclusive, reverse: !reverse }), null];
  },
  Trilu: (a) => {
    const k = a.inputs[1] ? initializerValues(a.inputs[1], "Trilu")[0]! : 0;
    return [op.trilu(dy(a), intAttr(a.node.attrs, "upper", 1) === 1, k), null];
  },
};
