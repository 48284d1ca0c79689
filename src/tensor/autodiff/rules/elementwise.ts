// VJP rules of elementwise ops. Binary rules undo broadcasting with `unbroadcast`.
import type { Tensor } from "../../ir/graph.ts";
import { strAttr } from "../../ops/attrs.ts";
import * as op from "../../ops/index.ts";
import { unbroadcast } from "../helpers.ts";
import { dy, type VjpArgs, type VjpRule } from "../rule.ts";

const x0 = (a: VjpArgs) => a.inputs[0]!;
const x1 = (a: VjpArgs) => a.inputs[1]!;
const out = (a: VjpArgs) => a.outputs[0]!;

/** Per-input gradients of a binary op, computed only where needed and reduced to each input's shape. */
function binary(a: VjpArgs, dA: () => Tensor, dB: () => Tensor): (Tensor | null)[] {
  return [a.needs[0] ? unbroadcast(dA(), x0(a).shape) : null, a.needs[1] ? unbroadcast(dB(), x1(a).shape) : null];
}

export const elementwiseRules: Record<string, VjpRule> = {
  Add: (a) =>
    binary(
      a,
      () => dy(a),
      () => dy(a),
    ),
  Sub: (a) =>
    binary(
      a,
      () => dy(a),
      () => op.neg(dy(a)),
    ),
  Mul: (a) =>
    binary(
      a,
      () => op.mul(dy(a), x1(a)),
      () => op.mul(dy(a), x0(a)),
    ),
  Div: (a) =>
    binary(
      a,
      () => op.div(dy(a), x1(a)),
      () => op.neg(op.div(op.mul(dy(a), out(a)), x1(a))),
    ),
  // d(x^y)/dx = y·x^(y-1); d/dy = x^y·log x (only meaningful for x > 0).
  Pow: (a) =>
    binary(
      a,
      () => op.mul(dy(a), op.mul(x1(a), op.pow(x0(a), op.sub(x1(a), 1)))),
      () => op.mul(dy(a), op.mul(out(a), op.log(x0(a)))),
    ),
  // Ties send the gradient to the first operand (as PyTorch's maximum does not; ties are measure-zero in training).
  Max: (a) => {
    const first = op.greaterOrEqual(x0(a), x1(a));
    return binary(
      a,
      () => op.where(first, dy(a), 0),
      () => op.where(first, 0, dy(a)),
    );
  },
  Min: (a) => {
    const first = op.lessOrEqual(x0(a), x1(a));
    return binary(
      a,
      () => op.where(first, dy(a), 0),
      () => op.where(first, 0, dy(a)),
    );
  },
  Where: (a) => {
    const c = a.inputs[0]!;
    const g = dy(a);
    return [
      null,
      a.needs[1] ? unbroadcast(op.where(c, g, 0), a.inputs[1]!.shape) : null,
      a.needs[2] ? unbroadcast(op.where(c, 0, g), a.inputs[2]!.shape) : null,
    ];
  },
  Sum: (a) => a.inputs.map((t, i) => (a.needs[i] ? unbroadcast(dy(a), t!.shape) : null)),
  Neg: (a) => [op.neg(dy(a))],
  Abs: (a) => [op.mul(dy(a), op.sign(x0(a)))],
  Identity: (a) => [dy(a)],
  Sqrt: (a) => [op.div(op.mul(dy(a), 0.5), out(a))],
  Reciprocal: (a) => [op.neg(op.mul(dy(a), op.mul(out(a), out(a))))],
  Exp: (a) => [op.mul(dy(a), out(a))],
  Log: (a) => [op.div(dy(a), x0(a))],
  Tanh: (a) => [op.mul(dy(a), op.sub(1, op.mul(out(a), out(a))))],
  Sigmoid: (a) => [op.mul(dy(a), op.mul(out(a), op.sub(1, out(a))))],
  Softplus: (a) => [op.mul(dy(a), op.sigmoid(x0(a)))],
  Erf: (a) => [op.mul(dy(a), op.mul(2 / Math.sqrt(Math.PI), op.exp(op.neg(op.mul(x0(a), x0(a))))))],
  Relu: (a) => [op.where(op.greater(x0(a), 0), dy(a), 0)],
  Gelu: (a) => [op.mul(dy(a), strAttr(a.node.attrs, "approximate", "none") === "tanh" ? geluTanhDerivative(x0(a)) : geluDerivative(x0(a)))],
  Cast: (a) => [a.needs[0] ? op.cast(dy(a), x0(a).dtype) : null],
};

/** d/dx x·Φ(x) = Φ(x) + x·φ(x). */
function geluDerivative(x: Tensor): Tensor {
  const cdf = op.mul(0.5, op.add(1, op.erf(op.mul(x, Math.SQRT1_2))));
  const pdf = op.mul(1 / Math.sqrt(2 * Math.PI), op.exp(op.mul(-0.5, op.mul(x, x))));
  return op.add(cdf, op.mul(x, pdf));
}

/** Derivative of 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³). */
function geluTanhDerivative(x: Tensor): Tensor {
  const c = Math.sqrt(2 / Math.PI);
  const x2 = op.mul(x, x);
  const t = op.tanh(op.mul(c, op.add(x, op.mul(0.044715, op.mul(x2, x)))));
  const du = op.mul(c, op.add(1, op.mul(3 * 0.044715, x2)));
  return op.add(op.mul(0.5, op.add(1, t)), op.mul(op.mul(0.5, x), op.mul(op.sub(1, op.mul(t, t)), du)));
}
