// Training programs end to end: optimizers against float64 reference implementations, resume and accumulation
// equivalences, determinism, and two models that must actually learn inside Loop runs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { applyLora, loraWeight } from "../src/models/params/lora.ts";
import { ParamSet } from "../src/models/params/param-set.ts";
import { Trainer } from "../src/runtime/engine/trainer.ts";
import type { Graph, Tensor, TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import * as op from "../src/tensor/ops/index.ts";
import { scheduleFactor } from "../src/tensor/optim/schedule.ts";
import { adamw, type OptimizerConfig, type ScheduleConfig, sgd } from "../src/tensor/optim/types.ts";
import { buildTrainProgram, type TrainProgramSpec } from "../src/tensor/program/train-program.ts";
import { Rng } from "../src/util/random.ts";
import { initDecoder } from "./support/decoder-lm.ts";
import { cpuOnly, testRuntime } from "./support/device.ts";
import { buildEvalProgram } from "./support/eval-program.ts";
import { copyBatches, copyTaskSpec, initialParameters } from "./support/toy-lm.ts";

const f64 = (shape: number[], values: number[]): TensorData => ({ dtype: "float64", shape, data: Float64Array.from(values) });

/** loss = Σ c·w + ½·Σ w², so ∂loss/∂w = c + w: gradients known in closed form. */
function quadraticSpec(optimizer: OptimizerConfig, steps: number, schedule?: ScheduleConfig, clipNorm?: number): TrainProgramSpec {
  return {
    trainable: [{ name: "w", dtype: "float64", shape: [3] }],
    batch: { c: { dtype: "float64", shape: [3] } },
    steps,
    optimizer,
    schedule,
    clipNorm,
    loss: (p, b) => ({ loss: op.add(op.reduceSum(op.mul(b.c!, p.w!)), op.mul(op.reduceSum(op.mul(p.w!, p.w!)), 0.5)) }),
  };
}

/** PyTorch's AdamW / SGD, written out in float64 for one parameter vector. */
function referenceRun(
  o: OptimizerConfig,
  w0: number[],
  cs: number[][],
  schedule?: ScheduleConfig,
  clipNorm?: number,
): { w: number[]; lr: number[]; norm: number[] } {
  const w = [...w0];
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  const buf = w.map(() => 0);
  const lrs: number[] = [];
  const norms: number[] = [];
  cs.forEach((c, t) => {
    let g = w.map((wi, i) => c[i]! + wi);
    const norm = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
    norms.push(norm);
    if (clipNorm) g = g.map((x) => x * Math.min(1, clipNorm / (norm + 1e-6)));
    const lr = o.lr * (schedule ? scheduleFactor(schedule, t) : 1);
    lrs.push(lr);
    const step = t + 1;
    for (let i = 0; i < w.length; i++) {
      if (o.kind === "adamw") {
        w[i] = w[i]! * (1 - lr * o.weightDecay);
        m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g[i]!;
        v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g[i]! * g[i]!;
        const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - o.beta2 ** step) + o.eps;
        w[i] = w[i]! - (lr / (1 - o.beta1 ** step)) * (m[i]! / denom);
      } else {
        let d = g[i]! + o.weightDecay * w[i]!;
        if (o.momentum > 0) {
          buf[i] = step === 1 ? d : o.momentum * buf[i]! + (1 - o.dampening) * d;
          d = o.nesterov ? d + o.momentum * buf[i]! : buf[i]!;
        }
        w[i] = w[i]! - lr * d;
      }
    }
  });
  return { w, lr: lrs, norm: norms };
}

async function runQuadratic(o: OptimizerConfig, runs: number, k: number, schedule?: ScheduleConfig, clipNorm?: number) {
  const cs = Array.from({ length: runs * k }, (_, i) => [Math.sin(i + 1), Math.cos(2 * i), 0.5 - (i % 3)]);
  const spec = quadraticSpec(o, k, schedule, clipNorm);
  const trainer = new Trainer(testRuntime(), buildTrainProgram(spec), spec, new Map([["w", f64([3], [0.3, -0.2, 1.5])]]));
  const lr: number[] = [];
  const norm: number[] = [];
  for (let r = 0; r < runs; r++) {
    const m = await trainer.run({ c: f64([k, 3], cs.slice(r * k, (r + 1) * k).flat()) });
    lr.push(...m.values.lr!);
    norm.push(...m.values.grad_norm!);
  }
  return {
    got: { w: Array.from(trainer.parameters().get("w")!.data as Float64Array), lr, norm },
    want: referenceRun(o, [0.3, -0.2, 1.5], cs, schedule, clipNorm),
  };
}

function assertClose(got: number[], want: number[], tol: number, what: string) {
  assert.equal(got.length, want.length, what);
  for (const [i, g] of got.entries()) assert.ok(Math.abs(g - want[i]!) <= tol * (1 + Math.abs(want[i]!)), `${what}[${i}]: ${g} vs ${want[i]}`);
}

test("AdamW matches PyTorch's update across runs (bias correction from the step offset, decoupled decay, cosine warmup, clipping)", async () => {
  const { got, want } = await runQuadratic(adamw({ lr: 0.05, weightDecay: 0.1 }), 3, 4, { kind: "cosine", warmupSteps: 3, totalSteps: 12 }, 1.5);
  assertClose(got.w, want.w, 1e-12, "w");
  assertClose(got.lr, want.lr, 1e-12, "lr");
  assertClose(got.norm, want.norm, 1e-12, "grad_norm");
});

test("SGD with momentum, Nesterov and weight decay matches PyTorch's update; linear schedule", async () => {
  const { got, want } = await runQuadratic(sgd({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }), 2, 5, {
    kind: "linear",
    warmupSteps: 2,
    totalSteps: 10,
  });
  assertClose(got.w, want.w, 1e-12, "w");
  assertClose(got.lr, want.lr, 1e-12, "lr");
  const plain = await runQuadratic(sgd({ lr: 0.1, momentum: 0.5, dampening: 0.1 }), 1, 6);
  assertClose(plain.got.w, plain.want.w, 1e-12, "w (dampened momentum)");
});

test("parameters of one dtype, shape and learning rate are updated as one group, each exactly as it would be alone", async () => {
  // Four independent quadratics: a and b share shape and lr (one group), c shares their shape at half the lr, d is alone.
  const names = ["a", "b", "c", "d"] as const;
  const shapes: Record<string, number[]> = { a: [3], b: [3], c: [3], d: [2] };
  const scales: Record<string, number | undefined> = { a: undefined, b: undefined, c: 0.5, d: undefined };
  const o = adamw({ lr: 0.05, weightDecay: 0.1 });
  const k = 3;
  const spec: TrainProgramSpec = {
    trainable: names.map((n) => ({ name: n, dtype: "float64" as const, shape: shapes[n]!, ...(scales[n] ? { lrScale: scales[n] } : {}) })),
    batch: Object.fromEntries(names.map((n) => [`c_${n}`, { dtype: "float64" as const, shape: shapes[n]! }])),
    steps: k,
    optimizer: o,
    loss: (p, b) => ({
      loss: names.map((n) => op.add(op.reduceSum(op.mul(b[`c_${n}`]!, p[n]!)), op.mul(op.reduceSum(op.mul(p[n]!, p[n]!)), 0.5))).reduce((x, y) => op.add(x, y)),
    }),
  };
  const program = buildTrainProgram(spec);
  const body = program.builder.root.nodes.find((n) => n.op === "Loop")!.attrs.body!.value as Graph;
  const count = (kind: string) => body.nodes.filter((n) => n.op === kind).length;
  // One group of two: parameter, gradient and both moments concatenated (4), parameter and moments split back (3).
  assert.equal(count("Concat"), 4);
  assert.equal(count("Split"), 3);
  const w0: Record<string, number[]> = { a: [0.3, -0.2, 1.5], b: [-1, 0.5, 0.25], c: [2, -0.7, 0.1], d: [0.9, -1.1] };
  const cs: Record<string, number[][]> = Object.fromEntries(
    names.map((n, j) => [
      n,
      Array.from({ length: 2 * k }, (_, i) => Array.from({ length: shapes[n]![0]! }, (_, e) => Math.sin(i + 1 + j) * (e + 1) - 0.3 * j)),
    ]),
  );
  const trainer = new Trainer(testRuntime(), program, spec, new Map(names.map((n) => [n, f64(shapes[n]!, w0[n]!)])));
  for (let r = 0; r < 2; r++)
    await trainer.run(Object.fromEntries(names.map((n) => [`c_${n}`, f64([k, ...shapes[n]!], cs[n]!.slice(r * k, (r + 1) * k).flat())])));
  const got = trainer.parameters();
  for (const n of names) {
    const want = referenceRun({ ...o, lr: o.lr * (scales[n] ?? 1) }, w0[n]!, cs[n]!);
    assertClose(Array.from(got.get(n)!.data as Float64Array), want.w, 1e-12, n);
  }
});

test("schedules follow the Hugging Face definitions", () => {
  assert.equal(scheduleFactor({ kind: "linear", warmupSteps: 10, totalSteps: 110 }, 0), 0);
  assert.equal(scheduleFactor({ kind: "linear", warmupSteps: 10, totalSteps: 110 }, 5), 0.5);
  assert.equal(scheduleFactor({ kind: "linear", warmupSteps: 10, totalSteps: 110 }, 60), 0.5);
  assert.ok(Math.abs(scheduleFactor({ kind: "cosine", warmupSteps: 0, totalSteps: 100 }, 50) - 0.5) < 1e-15);
  assert.equal(scheduleFactor({ kind: "cosine", warmupSteps: 0, totalSteps: 100 }, 100), 0);
  assert.equal(scheduleFactor({ kind: "constant", warmupSteps: 4 }, 100), 1);
});

test("an MLP learns XOR-of-signs classification (SGD with momentum, 300 steps in 3 runs)", async () => {
  const batch = 64;
  const k = 100;
  const spec: TrainProgramSpec = {
    trainable: [
      { name: "w1", dtype: "float32", shape: [2, 16] },
      { name: "b1", dtype: "float32", shape: [16] },
      { name: "w2", dtype: "float32", shape: [16, 2] },
    ],
    batch: { x: { dtype: "float32", shape: [batch, 2] }, y: { dtype: "int64", shape: [batch] } },
    steps: k,
    optimizer: sgd({ lr: 0.1, momentum: 0.9 }),
    loss: (p, b) => {
      const logits = op.matmul(op.tanh(op.add(op.matmul(b.x!, p.w1!), p.b1!)), p.w2!);
      const picked = op.gatherElements(op.logSoftmax(logits, -1), op.unsqueeze(b.y!, [-1]), -1);
      return { loss: op.neg(op.reduceMean(picked)) };
    },
  };
  const rng = new Rng(3);
  const init = (shape: number[]) => ({
    dtype: "float32" as const,
    shape,
    data: Float32Array.from({ length: shape[0]! * (shape[1] ?? 1) }, () => rng.normal()),
  });
  const trainer = new Trainer(
    testRuntime(),
    buildTrainProgram(spec),
    spec,
    new Map([
      ["w1", init([2, 16])],
      ["b1", init([16])],
      ["w2", init([16, 2])],
    ]),
  );
  let loss = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 3; r++) {
    const x = Float32Array.from({ length: k * batch * 2 }, () => 2 * rng.uniform() - 1);
    const y = BigInt64Array.from({ length: k * batch }, (_, i) => (x[2 * i]! * x[2 * i + 1]! > 0 ? 1n : 0n));
    const m = await trainer.run({ x: { dtype: "float32", shape: [k, batch, 2], data: x }, y: { dtype: "int64", shape: [k, batch], data: y } });
    loss = m.values.loss!.slice(-10).reduce((a, v) => a + v, 0) / 10;
  }
  assert.ok(loss < 0.15, `mean loss of the last 10 steps ${loss} should be below 0.15 (chance: ln 2 ≈ 0.69)`);
});

const task = { model: { vocab: 8, context: 16, width: 32, layers: 2, heads: 2 }, batch: 16, half: 6 };

async function trainCopy(seed: number, runs: number, k: number, control = false) {
  const spec = copyTaskSpec(task, k, adamw({ lr: 3e-3, weightDecay: 0 }), { kind: "constant", warmupSteps: 10 });
  const trainer = new Trainer(testRuntime({ intraOpThreads: 2 }), buildTrainProgram(spec), spec, initialParameters(task, seed));
  let last = { loss: 0, accuracy: 0 };
  for (let r = 0; r < runs; r++) {
    const m = await trainer.run(copyBatches(task, k, 1000 * seed + r, control));
    last = { loss: m.values.loss!.at(-1)!, accuracy: m.values.accuracy!.at(-1)! };
  }
  return { trainer, last };
}

test("a 2-layer transformer LM learns the copy task inside Loop runs (200 AdamW steps)", async () => {
  const { last } = await trainCopy(1, 4, 50);
  assert.ok(last.loss < 0.1, `loss ${last.loss} should be below 0.1 (chance: ln 8 ≈ 2.08)`);
  assert.ok(last.accuracy > 0.95, `accuracy ${last.accuracy}`);
});

test("control: with nothing to copy the same model stays near chance (no leak of future tokens)", async () => {
  const { last } = await trainCopy(1, 4, 50, true);
  assert.ok(last.loss > 1.6, `loss ${last.loss} should stay near ln 8 ≈ 2.08`);
  assert.ok(last.accuracy < 0.35, `accuracy ${last.accuracy}`);
});

test("the same seed gives bit-identical parameters across two training runs on CPU", {
  skip: cpuOnly("bit-identical results: CUDA's reductions use atomics and TF32, so runs are not bit-reproducible"),
}, async () => {
  const a = (await trainCopy(7, 2, 10)).trainer.parameters();
  const b = (await trainCopy(7, 2, 10)).trainer.parameters();
  for (const [name, t] of a) assert.deepEqual(Buffer.from(b.get(name)!.data.buffer), Buffer.from(t.data.buffer), name);
});

test("two runs of K steps equal one run of 2K steps, bit for bit (state and step offset fed back)", async () => {
  const cs = f64(
    [8, 3],
    Array.from({ length: 24 }, (_, i) => Math.sin(i)),
  );
  const run = async (k: number) => {
    const spec = quadraticSpec(adamw({ lr: 0.1 }), k, { kind: "cosine", warmupSteps: 2, totalSteps: 8 });
    const tr = new Trainer(testRuntime(), buildTrainProgram(spec), spec, new Map([["w", f64([3], [1, 2, 3])]]));
    for (let r = 0; r < 8 / k; r++) await tr.run({ c: { ...cs, shape: [k, 3], data: (cs.data as Float64Array).slice(r * k * 3, (r + 1) * k * 3) } });
    return tr.parameters().get("w")!.data;
  };
  assert.deepEqual(await run(4), await run(8));
});

test("gradient accumulation over A micro-batches equals one step on their mean gradient", async () => {
  const o = sgd({ lr: 0.5 });
  const c = [
    [1, 2, 3],
    [-3, 0.5, 1],
  ];
  const accSpec: TrainProgramSpec = { ...quadraticSpec(o, 1), accumulation: 2 };
  const acc = new Trainer(testRuntime(), buildTrainProgram(accSpec), accSpec, new Map([["w", f64([3], [0, 0, 0])]]));
  await acc.run({ c: f64([2, 3], c.flat()) });
  const mean = [c[0]!.map((x, i) => (x + c[1]![i]!) / 2)];
  const want = referenceRun(o, [0, 0, 0], mean).w;
  assertClose(Array.from(acc.parameters().get("w")!.data as Float64Array), want, 1e-14, "w");
});

test("an evaluation program reports the training loss of the current parameters without changing them", async () => {
  const spec = quadraticSpec(sgd({ lr: 0.1 }), 2);
  const trainer = new Trainer(testRuntime(), buildTrainProgram(spec), spec, new Map([["w", f64([3], [0.3, -0.2, 1.5])]]));
  const evalProgram = buildEvalProgram({ params: spec.trainable, batch: spec.batch, batches: 2, loss: spec.loss });
  const runtime = testRuntime();
  const session = await runtime.load(serializeModel(evalProgram.builder.root));
  const c = f64([2, 3], [1, 2, 3, -1, 0, 0.5]);
  const lossOf = (w: number[], ci: number[]) => w.reduce((a, wi, i) => a + ci[i]! * wi + 0.5 * wi * wi, 0);
  for (let round = 0; round < 2; round++) {
    const w = trainer.parameters().get("w")!;
    const out = await runtime.run(session, { "param/w": w, "batch/c": c });
    const got = Array.from(out["metric/loss"]!.data as Float64Array);
    const ws = Array.from(w.data as Float64Array);
    assertClose(got, [lossOf(ws, [1, 2, 3]), lossOf(ws, [-1, 0, 0.5])], 1e-14, "eval loss");
    await trainer.run({ c });
  }
});

test("LoRA: only the adapters are trained (graph inputs), the base stays frozen as initializers, and the loss falls", async () => {
  const ps = new ParamSet();
  for (const p of initDecoder(task.model, new Rng(5))) ps.add(p.name, p.data);
  const adapters = applyLora(ps, { targets: ["*.attn.q", "*.attn.v", "*.mlp.up"], rank: 4, alpha: 8, rng: new Rng(6) });
  const base = copyTaskSpec(task, 50, adamw({ lr: 1e-2, weightDecay: 0 }), { kind: "constant", warmupSteps: 5 });
  const byWeight = new Map(adapters.map((a) => [a.weight, a]));
  const spec: TrainProgramSpec = {
    ...base,
    trainable: ps.trainable().map((p) => ({ name: p.name, dtype: p.dtype, shape: [...p.shape] })),
    frozen: ps.frozen().map((p) => ({ name: p.name, dtype: p.dtype, shape: [...p.shape], data: p.data })),
    loss: (params, batch) => {
      const wrapped: Record<string, Tensor> = { ...params };
      for (const [w, a] of byWeight) wrapped[w] = loraWeight(op.builderOf(params[a.a]!), params[w]!, params[a.a]!, params[a.b]!, a.alpha, a.rank);
      return base.loss(wrapped, batch);
    },
  };
  const program = buildTrainProgram(spec);
  const root = program.builder.root;
  assert.deepEqual(
    root.inputs
      .filter((t) => t.name.startsWith("param/"))
      .map((t) => t.name)
      .sort(),
    adapters.flatMap((a) => [`param/${a.a}`, `param/${a.b}`]).sort(),
  );
  assert.equal([...root.initializers.keys()].filter((t) => t.name.startsWith("frozen/")).length, ps.frozen().length);
  const trainer = new Trainer(testRuntime(), program, spec, new Map(ps.trainable().map((p) => [p.name, p as TensorData])));
  const first = await trainer.run(copyBatches(task, 50, 41));
  const second = await trainer.run(copyBatches(task, 50, 42));
  const start = first.values.loss![0]!;
  const end = second.values.loss!.slice(-10).reduce((x, y) => x + y, 0) / 10;
  assert.ok(end < start - 0.3, `loss should fall: ${start} → ${end}`);
  const trainedB = trainer.parameters().get(adapters[0]!.b)!.data as Float32Array;
  assert.ok(
    trainedB.some((v) => v !== 0),
    "B left zero",
  );
});

test("frozen parameters whose names the builder must make unique (here one ending in _<digits>) still reach the loss", async () => {
  const spec: TrainProgramSpec = {
    ...quadraticSpec(sgd({ lr: 0.1 }), 1),
    frozen: [{ name: "scale_1", dtype: "float64", shape: [3], data: Float64Array.from([2, 2, 2]) }],
    loss: (p, b) => ({ loss: op.reduceSum(op.mul(op.mul(b.c!, p.w!), p.scale_1!)) }),
  };
  const trainer = new Trainer(testRuntime(), buildTrainProgram(spec), spec, new Map([["w", f64([3], [0, 0, 0])]]));
  await trainer.run({ c: f64([1, 3], [1, 2, 3]) });
  assertClose(Array.from(trainer.parameters().get("w")!.data as Float64Array), [-0.2, -0.4, -0.6], 1e-15, "w");
});
