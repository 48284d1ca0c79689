// VJP rules of MatMul and Gemm.
import { intAttr } from "../../ops/attrs.ts";
import * as op from "../../ops/index.ts";
import { transposeLast2, unbroadcast } from "../helpers.ts";
import { dy, type VjpRule } from "../rule.ts";

export const linalgRules: Record<string, VjpRule> = {
  // Y = A·B: dA = dY·Bᵀ, dB = Aᵀ·dY, summed over broadcast batch axes.
  MatMul: (a) => {
    const [A, B] = [a.inputs[0]!, a.inputs[1]!];
    return [
      a.needs[0] ? unbroadcast(op.matmul(dy(a), transposeLast2(B)), A.shape) : null,
      a.needs[1] ? unbroadcast(op.matmul(transposeLast2(A), dy(a)), B.shape) : null,
    ];
  },
  // Y = α·op(A)·op(B) + β·C.
  Gemm: (a) => {
    const [A, B, C] = [a.inputs[0]!, a.inputs[1]!, a.inputs[2] ?? null];
    const transA = intAttr(a.node.attrs, "transA", 0) === 1;
    const transB = intAttr(a.node.attrs, "transB", 0) === 1;
    const alpha = intAttr(a.node.attrs, "alpha", 1);
    const beta = intAttr(a.node.attrs, "beta", 1);
    const g = dy(a);
    const opA = transA ? op.transpose(A) : A;
    const opB = transB ? op.transpose(B) : B;
    const scale = (t: typeof g, s: number) => (s === 1 ? t : op.mul(t, s));
    let dA = null;
    let dB = null;
    if (a.needs[0]) {
      const dOpA = scale(op.matmul(g, op.transpose(opB)), alpha);
      dA = transA ? op.transpose(dOpA) : dOpA;
    }
    if (a.needs[1]) {
      const dOpB = scale(op.matmul(op.transpose(opA), g), alpha);
      dB = transB ? op.transpose(dOpB) : dOpB;
    }
    const dC = C && a.needs[2] ? unbroadcast(scale(g, beta), C.shape) : null;
    return [dA, dB, dC];
  },
};
