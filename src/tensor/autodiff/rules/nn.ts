// VJP rules of Softmax, LogSoftmax and LayerNormalization.
import type { Tensor } from "../../ir/graph.ts";
import { intAttr } from "../../ops/attrs.ts";
import * as op from "../../ops/index.ts";
import { unbroadcast } from "../helpers.ts";
import { dy, type VjpRule } from "../rule.ts";

export const nnRules: Record<string, VjpRule> = {
  // dx = y·(dy − Σ dy·y)
  Softmax: (a) => {
    const axis = intAttr(a.node.attrs, "axis", -1);
    const y = a.outputs[0]!;
    const g = dy(a);
    return [op.mul(y, op.sub(g, op.reduceSum(op.mul(g, y), [axis], true)))];
  },
  // dx = dy − exp(y)·Σ dy
  LogSoftmax: (a) => {
    const axis = intAttr(a.node.attrs, "axis", -1);
    const y = a.outputs[0]!;
    const g = dy(a);
    return [op.sub(g, op.mul(op.exp(y), op.reduceSum(g, [axis], true)))];
  },
  // Recomputes mean and 1/σ with standard ops (LayerNormalization's optional outputs are float-only).
  LayerNormalization: (a) => {
    const [x, scale, bias] = [a.inputs[0]!, a.inputs[1]!, a.inputs[2] ?? null];
    const axis = intAttr(a.node.attrs, "axis", -1);
    const first = axis < 0 ? axis + x.rank : axis;
    const eps = a.node.attrs.epsilon?.type === "float" ? a.node.attrs.epsilon.value : 1e-5;
    const axes = x.shape.map((_, i) => i).filter((i) => i >= first);
    const mean = (t: Tensor) => op.reduceMean(t, axes, true);
    const xc = op.sub(x, mean(x));
    const inv = op.reciprocal(op.sqrt(op.add(mean(op.mul(xc, xc)), eps)));
    const xhat = op.mul(xc, inv);
    const g = dy(a);
    let dx = null;
    if (a.needs[0]) {
      const dxhat = op.mul(g, scale);
      dx = op.mul(inv, op.sub(op.sub(dxhat, mean(dxhat)), op.mul(xhat, mean(op.mul(dxhat, xhat)))));
    }
    const dScale = a.needs[1] ? unbroadcast(op.mul(g, xhat), scale.shape) : null;
    const dBias = bias && a.needs[2] ? unbroadcast(g, bias.shape) : null;
    return [dx, dScale, dBias];
  },
};
