// A program that computes a training loss and its gradients with respect to chosen parameters, run once on the test
// device: what the loss checks against transformers and PEFT compare (test/hf-train.test.ts, test/hf-llava.test.ts).
import assert from "node:assert/strict";
import { grad } from "../../src/tensor/grad.ts";
import type { Tensor, TensorData } from "../../src/tensor/ir/graph.ts";
import { serializeModel } from "../../src/tensor/onnx/serialize.ts";
import { Builder } from "../../src/tensor/ops/builder.ts";
import type { LossFn, TensorSpec } from "../../src/tensor/program/train-program.ts";
import { testRuntime } from "./device.ts";

/** A program computing `loss` and its gradients with respect to `trainable` (inputs); `frozen` are initializers. */
export async function lossAndGrads(
  trainable: Map<string, TensorData>,
  frozen: Map<string, TensorData>,
  batch: Record<string, TensorSpec>,
  fn: LossFn,
  feeds: Record<string, TensorData>,
) {
  const b = new Builder("loss_and_grads");
  const params: Record<string, Tensor> = {};
  for (const [name, t] of frozen) params[name] = b.data(t.dtype, t.data, t.shape, name);
  const wrt: Tensor[] = [];
  for (const [name, t] of trainable) {
    params[name] = b.input(`param/${name}`, t.dtype, t.shape);
    wrt.push(params[name]);
  }
  const fields = Object.fromEntries(Object.entries(batch).map(([f, s]) => [f, b.input(f, s.dtype, s.shape)]));
  const { loss, metrics } = fn(params, fields);
  b.output(loss, "loss");
  for (const [name, m] of Object.entries(metrics ?? {})) b.output(m, `metric/${name}`);
  const names = [...trainable.keys()];
  grad(loss, wrt).forEach((g, i) => {
    b.output(g, `grad/${names[i]}`);
  });
  const rt = testRuntime();
  try {
    const inputs = Object.fromEntries([...trainable].map(([n, t]) => [`param/${n}`, t]));
    return await rt.run(await rt.load(serializeModel(b.root)), { ...inputs, ...feeds });
  } finally {
    await rt.release();
  }
}

/**
 * A DPO loss's results against PEFT's (`want`: logps [2], loss [1], grad/<name>): the log-probs and loss within 1e-4
 * (relative), and the largest gradient difference over `names`, which the caller bounds.
 */
export function dpoAgainstPeft(got: Record<string, TensorData>, want: ReadonlyMap<string, TensorData>, names: Iterable<string>): { worstGrad: number } {
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b)), `${what}: alignc ${a}, peft ${b}`);
  const first = (t: TensorData | undefined, i = 0) => {
    assert.ok(t, "a result the check needs is missing");
    return (t.data as Float32Array)[i] as number;
  };
  close(first(got["metric/logps/chosen"]), first(want.get("logps")), "chosen log-prob");
  close(first(got["metric/logps/rejected"]), first(want.get("logps"), 1), "rejected log-prob");
  close(first(got.loss), first(want.get("loss")), "loss");
  let worstGrad = 0;
  for (const name of names) {
    const a = got[`grad/${name}`]?.data as Float32Array;
    const b = want.get(`grad/${name}`)?.data as Float32Array;
    assert.ok(a && b, `gradient of ${name}`);
    assert.equal(a.length, b.length, name);
    for (let i = 0; i < b.length; i++) worstGrad = Math.max(worstGrad, Math.abs((b[i] as number) - (a[i] as number)));
  }
  return { worstGrad };
}
