// The Hugging Face decoders' training losses (src/models/hf/train.ts) against transformers and PEFT: on each fixture
// checkpoint, the SFT loss and the L2 norm of every full-fine-tuning gradient, and the DPO loss (base + the fixture's
// LoRA adapter as policy, base as reference) and every LoRA gradient, to 1e-4 — numbers written by
// scripts/make-hf-fixtures.py from transformers and peft (golden/*.json: sft_loss, dpo). And activation recomputation
// per decoder layer (tensor/ops/recompute.ts): the same numbers bit for bit, the backward reading no layer's insides.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { loadSafetensors } from "../src/formats/safetensors.ts";
import { readHfConfig } from "../src/models/hf/config.ts";
import { decoderWeightSpecs } from "../src/models/hf/decoder.ts";
import { adapterSpecs, type HfLora } from "../src/models/hf/lora.ts";
import { decoderShapeOf } from "../src/models/hf/shape.ts";
import { hfDpoBatch, hfDpoLoss, hfSequenceBatch, hfSftLoss } from "../src/models/hf/train.ts";
import { sequenceFeeds } from "../src/runtime/models/hf/feeds.ts";
import { grad } from "../src/tensor/grad.ts";
import type { Node, Tensor, TensorData } from "../src/tensor/ir/graph.ts";
import { Builder } from "../src/tensor/ops/builder.ts";
import * as op from "../src/tensor/ops/index.ts";
import { repoRoot } from "./support/align-files.ts";
import { lossAndGrads } from "./support/loss-grads.ts";

const FIXTURES = path.join(repoRoot, "test", "fixtures", "hf");

interface TrainGolden {
  applies_to: string[];
  adapter: string;
  sft_loss: { input_ids: number[]; labels: number[]; loss: number; grad_global_l2_norm: number; grad_l2_norms: Record<string, number> };
  dpo: {
    beta: number;
    prompt_ids: number[];
    chosen_ids: number[];
    rejected_ids: number[];
    lora: { r: number; lora_alpha: number; target_modules: string[] };
    reference_chosen_logp: number;
    reference_rejected_logp: number;
    policy_chosen_logp: number;
    policy_rejected_logp: number;
    loss: number;
    lora_grads: Record<string, { shape: number[]; values: number[] }>;
  };
}

/** Every tensor of a checkpoint folder (one file or shards), under the file's names. */
function loadAll(dir: string): Map<string, TensorData> {
  const index = path.join(dir, "model.safetensors.index.json");
  if (!existsSync(index)) return loadSafetensors(path.join(dir, "model.safetensors")).tensors;
  const map = JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> };
  const out = new Map<string, TensorData>();
  for (const shard of new Set(Object.values(map.weight_map))) for (const [k, v] of loadSafetensors(path.join(dir, shard)).tensors) out.set(k, v);
  return out;
}

/** A fixture's decoder shape and weights (the last folder its golden applies to). */
function fixtureDecoder(golden: TrainGolden) {
  const dir = path.join(repoRoot, golden.applies_to.at(-1)!);
  const config = readHfConfig(dir);
  assert.ok(config.ok);
  const s = decoderShapeOf(config.config);
  const weights = loadAll(dir);
  return { s, decoder: new Map(decoderWeightSpecs(s).map((w) => [w.name, weights.get(w.name)!])) };
}

/** The golden DPO pair of a fixture: its checkpoint's decoder weights, the PEFT adapter, and the pair's feeds. */
function dpoCase(golden: TrainGolden, refs: { chosen: number; rejected: number }) {
  const { s, decoder } = fixtureDecoder(golden);
  const g = golden.dpo;
  const adapter = loadSafetensors(path.join(repoRoot, golden.adapter, "adapter_model.safetensors")).tensors;
  const lora: HfLora = { targets: g.lora.target_modules as HfLora["targets"], rank: g.lora.r, alpha: g.lora.lora_alpha };
  const specs = adapterSpecs(s, lora);
  const rows = [
    { promptIds: g.prompt_ids, answerIds: g.chosen_ids },
    { promptIds: g.prompt_ids, answerIds: g.rejected_ids },
  ];
  const length = g.prompt_ids.length + Math.max(g.chosen_ids.length, g.rejected_ids.length);
  const scored = Math.max(g.chosen_ids.length, g.rejected_ids.length);
  const f32 = (v: number) => ({ dtype: "float32" as const, shape: [1], data: Float32Array.of(v) });
  const feeds = { ...sequenceFeeds(s, rows, 2, length, scored, 0), ref_chosen: f32(refs.chosen), ref_rejected: f32(refs.rejected), weight: f32(1) };
  return { s, decoder, adapter, lora, specs, batch: hfDpoBatch(s, 1, length, scored), feeds };
}

const l2 = (d: ArrayLike<number>) => Math.sqrt(Array.from(d).reduce((a, v) => a + v * v, 0));
const close = (got: number, want: number, what: string, tol = 1e-4) =>
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${what}: alignc ${got}, transformers ${want}`);

for (const file of readdirSync(path.join(FIXTURES, "golden")).filter((f) => f.endsWith(".json"))) {
  const golden = JSON.parse(readFileSync(path.join(FIXTURES, "golden", file), "utf8")) as TrainGolden;
  const { s, decoder } = fixtureDecoder(golden);

  test(`SFT loss and full-fine-tuning gradient norms equal transformers' — ${file}`, async (t) => {
    const g = golden.sft_loss;
    const prompt = g.labels.findIndex((l) => l !== -100);
    const row = { promptIds: g.input_ids.slice(0, prompt), answerIds: g.input_ids.slice(prompt) };
    const length = g.input_ids.length;
    const scored = row.answerIds.length;
    const out = await lossAndGrads(decoder, new Map(), hfSequenceBatch(s, 1, length, scored), hfSftLoss(s), sequenceFeeds(s, [row], 1, length, scored, 0));
    close((out.loss!.data as Float32Array)[0]!, g.loss, "loss");
    let total = 0;
    let worst = 0;
    for (const [name, want] of Object.entries(g.grad_l2_norms)) {
      const got = l2(out[`grad/${name}`]!.data as Float32Array);
      total += got * got;
      worst = Math.max(worst, Math.abs(got - want) / Math.max(1, want));
      close(got, want, `|∂loss/∂${name}|`);
    }
    close(Math.sqrt(total), g.grad_global_l2_norm, "global gradient norm");
    t.diagnostic(`worst relative gradient-norm difference ${worst.toExponential(2)}`);
  });

  test(`DPO loss and LoRA gradients equal PEFT's — ${file}`, async (t) => {
    const g = golden.dpo;
    const { adapter, lora, specs, batch, feeds } = dpoCase(golden, { chosen: g.reference_chosen_logp, rejected: g.reference_rejected_logp });
    assert.deepEqual(specs.flatMap((a) => [a.a, a.b]).sort(), [...adapter.keys()].sort(), "adapter tensor names are PEFT's");
    const objective = { loss: "sigmoid" as const, beta: g.beta, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0 };
    const out = await lossAndGrads(adapter, decoder, batch, hfDpoLoss(s, objective, { lora, adapters: specs }), feeds);
    close((out["metric/logps/chosen"]!.data as Float32Array)[0]!, g.policy_chosen_logp, "policy chosen log-prob");
    close((out["metric/logps/rejected"]!.data as Float32Array)[0]!, g.policy_rejected_logp, "policy rejected log-prob");
    close((out.loss!.data as Float32Array)[0]!, g.loss, "loss");
    let worst = 0;
    for (const [name, want] of Object.entries(g.lora_grads)) {
      const got = out[`grad/${name}`]!.data as Float32Array;
      assert.equal(got.length, want.values.length, name);
      want.values.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(got[i]! - v));
      });
    }
    assert.ok(worst <= 1e-4, `LoRA gradients: max |alignc − peft| = ${worst.toExponential(2)}`);
    t.diagnostic(`LoRA gradients max abs difference ${worst.toExponential(2)}`);
  });
}

test("the backward recomputes the half copy of the attention probabilities and SiLU's sigmoid instead of keeping them", () => {
  const golden = JSON.parse(readFileSync(path.join(FIXTURES, "golden", "llama-gqa.json"), "utf8")) as TrainGolden;
  const { s, decoder, batch } = dpoCase(golden, { chosen: -70, rejected: -120 });
  const objective = { loss: "sigmoid" as const, beta: 0.1, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0 };
  for (const recompute of [false, true, "attention"] as const) {
    const b = new Builder("half");
    const params: Record<string, Tensor> = {};
    for (const [name, t] of decoder) params[name] = b.input(name, "float16", t.shape);
    const fields = Object.fromEntries(Object.entries(batch).map(([f, spec]) => [f, b.input(f, spec.dtype, spec.shape)]));
    const { loss } = hfDpoLoss(s, objective, { recompute })(params, fields);
    grad(op.cast(loss, "float32"), Object.values(params));
    // The float32 probabilities' half copies (Cast of a Softmax output), and who reads them.
    const forward = b.root.nodes
      .filter((n) => n.op === "Cast" && n.inputs[0]?.producer?.op === "Softmax" && !n.outputs[0]!.name.endsWith("_re"))
      .map((n) => n.outputs[0]!);
    const readers = (t: Tensor) => b.root.nodes.filter((n) => n.inputs.includes(t));
    assert.equal(forward.length, s.layers, "one half copy per layer in the forward");
    for (const h of forward) {
      const r = readers(h);
      // Read once, by the forward's product with v; the backward reads its own copy (recomputed, or a whole layer's).
      assert.deepEqual(
        r.map((n) => n.op),
        ["MatMul"],
        `${h.name} is read by ${r.map((n) => `${n.op} ${n.name}`).join(", ")}`,
      );
    }
    // …and the backward makes each again (the re-emitted segment's copy, named <forward name>_re).
    const copies = new Set(b.root.nodes.filter((n) => n.op === "Cast").map((n) => n.outputs[0]!.name));
    for (const h of forward) assert.ok(copies.has(`${h.name}_re`), `recompute ${recompute}: no backward copy of ${h.name}`);
    // Likewise SiLU's sigmoid: read only by the forward's product with the gate.
    const sigmoids = b.root.nodes
      .filter((n) => n.op === "Sigmoid" && n.outputs[0]!.shape.at(-1) === s.intermediate && !n.outputs[0]!.name.endsWith("_re"))
      .map((n) => n.outputs[0]!);
    assert.equal(sigmoids.length, s.layers);
    for (const g of sigmoids)
      assert.deepEqual(
        readers(g).map((n) => n.op),
        ["Mul"],
        `${g.name} is read by ${readers(g)
          .map((n) => `${n.op} ${n.name}`)
          .join(", ")}`,
      );
  }
});

test("recompute: attention gives the same loss and gradients bit for bit, and the backward reads none of the forward's attention scores or probabilities", async () => {
  const golden = JSON.parse(readFileSync(path.join(FIXTURES, "golden", "llama-gqa.json"), "utf8")) as TrainGolden;
  const { s, decoder, adapter, lora, specs, batch, feeds } = dpoCase(golden, { chosen: -70, rejected: -120 });
  const objective = { loss: "sigmoid" as const, beta: 0.1, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0.5 };
  const options = { lora, adapters: specs };
  const plain = await lossAndGrads(adapter, decoder, batch, hfDpoLoss(s, objective, options), feeds);
  const again = await lossAndGrads(adapter, decoder, batch, hfDpoLoss(s, objective, { ...options, recompute: "attention" }), feeds);
  assert.deepEqual(Object.keys(again).sort(), Object.keys(plain).sort());
  for (const [name, t] of Object.entries(plain)) assert.deepEqual(again[name]!.data, t.data, name);
  // Structure, in half precision: one segment per layer's attention core; its Softmax (and every [B, KV, G, T, S]
  // tensor of the forward) is read only inside the segment — the backward reads the re-emitted copies.
  for (const dtype of ["float32", "float16"] as const) {
    const b = new Builder(`attention-${dtype}`);
    const params: Record<string, Tensor> = {};
    for (const [name, t] of decoder) params[name] = b.input(name, dtype, t.shape);
    const fields = Object.fromEntries(Object.entries(batch).map(([f, spec]) => [f, b.input(f, spec.dtype, spec.shape)]));
    const { loss } = hfDpoLoss(s, objective, { recompute: "attention" })(params, fields);
    grad(op.cast(loss, "float32"), Object.values(params));
    const segmentOf = new Map<Tensor, number>();
    for (const n of b.root.nodes) if (n.meta.segment !== undefined) for (const o of n.outputs) segmentOf.set(o, n.meta.segment);
    const softmaxes = b.root.nodes.filter((n) => n.op === "Softmax" && !n.outputs[0]!.name.endsWith("_re"));
    assert.equal(softmaxes.length, s.layers);
    const coreSegments = new Set(softmaxes.map((n) => n.meta.segment));
    assert.equal(coreSegments.size, s.layers, `${dtype}: one segment per attention core`);
    assert.ok(!coreSegments.has(undefined), `${dtype}: every forward Softmax is in a segment`);
    for (const n of b.root.nodes)
      for (const t of n.inputs) {
        const seg = t ? segmentOf.get(t) : undefined;
        if (seg === undefined || !coreSegments.has(seg) || n.meta.segment === seg) continue;
        // Only the core's result (the attended values) leaves it.
        const last = [...segmentOf].filter(([, id]) => id === seg).at(-1)?.[0];
        assert.equal(t, last, `${dtype}: ${n.op} ${n.name} reads ${t!.name} from inside attention segment ${seg}`);
      }
  }
});

test("recomputing each decoder layer gives the same loss and gradients bit for bit, and the backward reads nothing inside a layer", async () => {
  const golden = JSON.parse(readFileSync(path.join(FIXTURES, "golden", "llama-gqa.json"), "utf8")) as TrainGolden;
  const { s, decoder, adapter, lora, specs, batch, feeds } = dpoCase(golden, { chosen: -70, rejected: -120 });
  const objective = { loss: "sigmoid" as const, beta: 0.1, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0.5 };
  // LoRA over frozen weights, and full fine-tuning (every weight trainable).
  for (const [trainable, frozen, options] of [
    [adapter, decoder, { lora, adapters: specs }],
    [decoder, new Map<string, TensorData>(), {}],
  ] as const) {
    const plain = await lossAndGrads(trainable, frozen, batch, hfDpoLoss(s, objective, options), feeds);
    const again = await lossAndGrads(trainable, frozen, batch, hfDpoLoss(s, objective, { ...options, recompute: true }), feeds);
    assert.deepEqual(Object.keys(again).sort(), Object.keys(plain).sort());
    for (const [name, t] of Object.entries(plain)) assert.deepEqual(again[name]!.data, t.data, name);
  }
  // Structure: a segment's own tensors are read only inside it (the backward reads the copies).
  const b = new Builder("structure");
  const params: Record<string, Tensor> = {};
  for (const [name, t] of decoder) params[name] = b.input(name, t.dtype, t.shape);
  const fields = Object.fromEntries(Object.entries(batch).map(([f, spec]) => [f, b.input(f, spec.dtype, spec.shape)]));
  const { loss } = hfDpoLoss(s, objective, { recompute: true })(params, fields);
  grad(loss, Object.values(params));
  const segmentOf = new Map<Tensor, number>();
  for (const n of b.root.nodes) if (n.meta.segment !== undefined) for (const o of n.outputs) segmentOf.set(o, n.meta.segment);
  assert.equal(new Set(segmentOf.values()).size, s.layers, "one segment per decoder layer");
  for (const n of b.root.nodes)
    for (const t of n.inputs) {
      const seg = t ? segmentOf.get(t) : undefined;
      // A layer's output is the next layer's input: read outside its segment by the forward only (and tied copies).
      if (seg === undefined || n.meta.segment === seg) continue;
      const isLayerOutput = [...segmentOf].filter(([, id]) => id === seg).at(-1)?.[0] === t;
      assert.ok(isLayerOutput, `${n.op} ${n.name} (segment ${n.meta.segment ?? "none"}) reads ${t!.name} from inside segment ${seg}`);
    }
});

test("a layer's recomputed copies wait for the weight gradients of the layers after it (ONNX Runtime's order would run those last)", () => {
  const golden = JSON.parse(readFileSync(path.join(FIXTURES, "golden", "llama-gqa.json"), "utf8")) as TrainGolden;
  const { s, decoder, batch } = dpoCase(golden, { chosen: -70, rejected: -120 });
  const objective = { loss: "sigmoid" as const, beta: 0.1, labelSmoothing: 0, logps: "sum" as const, sftWeight: 0.5 };
  const b = new Builder("order");
  const params: Record<string, Tensor> = {};
  for (const [name, t] of decoder) params[name] = b.input(name, t.dtype, t.shape);
  const fields = Object.fromEntries(Object.entries(batch).map(([f, spec]) => [f, b.input(f, spec.dtype, spec.shape)]));
  const { loss } = hfDpoLoss(s, objective, { recompute: true })(params, fields);
  const names = Object.keys(params);
  const grads = new Map(grad(loss, Object.values(params)).map((g, k) => [names[k]!, g] as const));
  const ancestors = (from: Tensor): Set<Node> => {
    const seen = new Set<Node>();
    const stack = [from.producer].filter((n): n is Node => !!n);
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      for (const t of n.inputs) if (t?.producer) stack.push(t.producer);
    }
    return seen;
  };
  const size = (t: Tensor) => t.shape.reduce<number>((a, d) => a * (d as number), 1);
  const ancestorsOfCopies = (n: Node, of: Set<Tensor>) => [...ancestors(n.outputs[0]!)].some((m) => m.outputs.some((o) => of.has(o)));
  // Each layer's copies, in layer order (segments are numbered as the forward made them).
  const copies = new Map<number, Node[]>();
  const bySegmentOutput = new Map<string, number>();
  for (const n of b.root.nodes) if (n.meta.segment !== undefined) for (const o of n.outputs) bySegmentOutput.set(`${o.name}_re`, n.meta.segment);
  for (const n of b.root.nodes) {
    const seg = n.outputs.map((o) => bySegmentOutput.get(o.name)).find((v) => v !== undefined);
    if (seg !== undefined) copies.set(seg, [...(copies.get(seg) ?? []), n]);
  }
  const layers = [...copies.keys()].sort((x, y) => x - y);
  assert.equal(layers.length, s.layers);
  for (let l = 0; l + 1 < layers.length; l++) {
    const before = ancestors(copies.get(layers[l]!)![0]!.outputs[0]!);
    const nextCopies = new Set(copies.get(layers[l + 1]!)!.flatMap((n) => n.outputs));
    const weights = names.filter((n) => n.includes(`layers.${l + 1}.`) && n.endsWith("proj.weight"));
    assert.ok(weights.length > 0, `layer ${l + 1} has projection weights`);
    for (const w of weights) {
      // The product that makes w's gradient (a matrix the size of w) reads layer l+1's recomputed activations; it must
      // come before layer l's copies.
      const products = [...ancestors(grads.get(w)!)].filter(
        (n) => (n.op === "MatMul" || n.op === "Gemm") && size(n.outputs[0]!) === size(params[w]!) && ancestorsOfCopies(n, nextCopies),
      );
      assert.ok(products.length > 0, `${w}: its gradient product reads layer ${l + 1}'s copies`);
      assert.ok(
        products.some((n) => before.has(n)),
        `layer ${l}'s recomputed copies do not wait for ${w}'s gradient product (ONNX Runtime would run it after the backward)`,
      );
    }
  }
});
