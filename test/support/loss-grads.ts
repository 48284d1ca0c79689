// A program that computes a training loss and its gradients with respect to chosen parameters, run once on the test
// device: what the loss checks against transformers and PEFT compare (test/hf-train.test.ts, test/hf-llava.test.ts).
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
