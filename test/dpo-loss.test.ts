// The DPO program (src/models/tinyvlm/dpo.ts) against an independent float64 reference
// (test/support/dpo-reference.ts): loss and every TRL-named metric for each objective (sigmoid, conservative
// sigmoid, IPO, hinge), summed and averaged log-probs, unequal pair weights, an SFT term and reference-free
// training, on a tiny TinyVLM fed by dpoFeeds; answerLogProbs (the reference model's log-probs) against the same
// reference; one train step with lr 0; and the gradient of the whole loss against central finite differences,
// in float64 by the reference interpreter and on ONNX Runtime through the repo's gradient-check harness.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DPO_METRICS, type PreferenceObjective } from "../src/models/layers/preference.ts";
import { imageTokens, type TinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { dpoBatch, dpoLoss } from "../src/models/tinyvlm/dpo.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { checkCase, isMissingKernel } from "../src/runtime/engine/gradcheck/harness.ts";
import type { GradCheckRow } from "../src/runtime/engine/gradcheck/types.ts";
import type { LoadedSession } from "../src/runtime/engine/session.ts";
import { trainDpo } from "../src/runtime/models/tinyvlm/dpo.ts";
import { dpoFeeds, type PairExample, pairLengths } from "../src/runtime/models/tinyvlm/dpo-feeds.ts";
import type { Example } from "../src/runtime/models/tinyvlm/feeds.ts";
import { answerLogProbs, type SequenceLogProb } from "../src/runtime/models/tinyvlm/logprobs.ts";
import type { VlmModel } from "../src/runtime/models/tinyvlm/model.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import { evaluate } from "../src/tensor/evaluate.ts";
import { grad } from "../src/tensor/grad.ts";
import type { DType } from "../src/tensor/ir/dtype.ts";
import type { Tensor, TensorData } from "../src/tensor/ir/graph.ts";
import { serializeModel } from "../src/tensor/onnx/serialize.ts";
import { Builder } from "../src/tensor/ops/builder.ts";
import type { GradCase, GradInput } from "../src/tensor/ops/op-def.ts";
import { adamw } from "../src/tensor/optim/types.ts";
import { io } from "../src/tensor/program/train-program.ts";
import { mulberry32, Rng } from "../src/util/random.ts";
import { cpuOnly, TEST_DEVICE, testProvider, testRuntime } from "./support/device.ts";
import { dpoReference, type ReferencePair, referencePairs, type SequenceStats } from "./support/dpo-reference.ts";
import { buildEvalProgram } from "./support/eval-program.ts";

// ---------------------------------------------------------------------------------------------------------------
// A tiny TinyVLM, a handful of pairs, and the reference model's log-probs.

const WORDS = "red green blue cube ball cone left right of the a is big small what colour shape where it".split(" ");
const tok = Tokenizer.train([WORDS.join(" "), "What colour is the cube? Where is the ball? What shape is it?"], { vocabSize: 64 });
const c: TinyVlmConfig = {
  size: "test",
  vocab: tok.vocabSize,
  imageSize: 8,
  patch: 4,
  vision: { width: 8, layers: 1, heads: 2, hidden: 16 },
  text: { width: 16, layers: 2, heads: 2, hidden: 32 },
  textContext: 32,
  dtype: "float32",
};

/** Initial weights with larger embeddings and unembedding, so log-probs differ between tokens, images and models. */
function tinyModel(seed: number): VlmModel {
  const params = new Map<string, TensorData>();
  for (const p of initTinyVlm(c, new Rng(seed))) {
    const scale = p.name === "text.unembed" ? 15 : p.name.startsWith("text.embed") ? 20 : 1;
    params.set(p.name, { ...p.data, data: (p.data.data as Float32Array).map((x) => x * scale) });
  }
  return { config: c, tokenizer: tok, params };
}
const policy = tinyModel(1);
const refModel = tinyModel(2);

const rng = new Rng(7);
const sentence = (n: number) => `${Array.from({ length: n }, () => WORDS[Math.floor(rng.uniform() * WORDS.length)]).join(" ")}.`;
const image = () => Uint8Array.from({ length: c.imageSize * c.imageSize * 3 }, () => Math.floor(rng.uniform() * 256));

/** Five pairs: the first two share prompt, image and chosen answer with weights γ = 0.3 and 1 − γ; the last has no image. */
const basePairs: Omit<PairExample, "refChosen" | "refRejected">[] = (() => {
  const img = image();
  const chosen = sentence(3);
  return [
    { id: "p0", prompt: "What colour is the cube?", chosen, rejected: sentence(5), rgb: img, weight: 0.3 },
    { id: "p1", prompt: "What colour is the cube?", chosen, rejected: sentence(2), rgb: img, weight: 0.7 },
    { id: "p2", prompt: "Where is the ball?", chosen: sentence(4), rejected: sentence(4), rgb: image(), weight: 1 },
    { id: "p3", prompt: "What shape is it?", chosen: sentence(1), rejected: sentence(6), rgb: image(), weight: 1 },
    { id: "p4", prompt: "What is left of the big cone?", chosen: sentence(5), rejected: sentence(2), rgb: null, weight: 1 },
  ];
})();
const B = basePairs.length;

const sideExamples = (side: "chosen" | "rejected"): Example[] =>
  basePairs.map((p) => ({ id: `${p.id}/${side}`, prompt: p.prompt, answer: p[side], rgb: p.rgb }));
const examples = [...sideExamples("chosen"), ...sideExamples("rejected")];

const runtime = testRuntime();
let refLogps: Map<string, SequenceLogProb> | undefined;
let policyLogps: Map<string, SequenceLogProb> | undefined;
async function logps(which: "policy" | "reference"): Promise<Map<string, SequenceLogProb>> {
  // Batches of 3 over 10 sequences: several length groups and a partly filled last batch.
  if (which === "policy") {
    policyLogps ??= await answerLogProbs(runtime, policy, examples, { batch: 3 });
    return policyLogps;
  }
  refLogps ??= await answerLogProbs(runtime, refModel, examples, { batch: 3 });
  return refLogps;
}

/** The pairs with reference log-probs: from a model (sum or mean, as the objective uses), or 0 (reference-free). */
async function pairsWith(refs: "reference" | "policy" | "none", kind: "sum" | "mean"): Promise<PairExample[]> {
  const m = refs === "none" ? undefined : await logps(refs);
  return basePairs.map((p) => ({
    ...p,
    refChosen: m ? (m.get(`${p.id}/chosen`) as SequenceLogProb)[kind] : 0,
    refRejected: m ? (m.get(`${p.id}/rejected`) as SequenceLogProb)[kind] : 0,
  }));
}

const LENGTH = Math.max(
  ...pairLengths(
    policy,
    basePairs.map((p) => ({ ...p, refChosen: 0, refRejected: 0 })),
  ),
);

/** Per-sequence statistics of the policy in float64 (the reference interpreter's logits); they do not depend on refs or weights. */
let policyStats: { chosen: SequenceStats; rejected: SequenceStats }[] | undefined;
function referenceFor(pairs: PairExample[]): ReferencePair[] {
  policyStats ??= referencePairs(c, policy.params, dpoFeeds(c, tok, pairs, B, 1, LENGTH)).map((p) => ({ chosen: p.chosen, rejected: p.rejected }));
  return pairs.map((p, i) => ({
    ...(policyStats?.[i] as { chosen: SequenceStats; rejected: SequenceStats }),
    refChosen: p.refChosen,
    refRejected: p.refRejected,
    weight: p.weight,
  }));
}

/** |actual − expected| ≤ tolerance · max(1, |expected|): float32 program against the float64 reference. */
// On CUDA, matrix products run in TF32 (onnxruntime-node cannot turn it off), which rounds to ~1e-3 relative.
const TOLERANCE = TEST_DEVICE === "cpu" ? 1e-4 : 1e-3;
function close(actual: number, expected: number, what: string, tolerance = TOLERANCE): void {
  assert.ok(Number.isFinite(actual), `${what}: ${actual}`);
  const err = Math.abs(actual - expected);
  assert.ok(err <= tolerance * Math.max(1, Math.abs(expected)), `${what}: program ${actual}, reference ${expected} (error ${err.toExponential(2)})`);
}

const paramSpecs = [...policy.params].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] }));
const evalSessions = new Map<string, Promise<LoadedSession>>();

/** Loss and metrics of one micro-batch by the DPO loss in an evaluation program (float32, ONNX Runtime). */
async function programMetrics(o: PreferenceObjective, pairs: PairExample[]): Promise<Record<string, number>> {
  const key = JSON.stringify(o);
  let session = evalSessions.get(key);
  if (!session) {
    const program = buildEvalProgram({ params: paramSpecs, batch: dpoBatch(c, B, LENGTH), batches: 1, loss: dpoLoss(c, o) });
    session = runtime.load(serializeModel(program.builder.root));
    evalSessions.set(key, session);
  }
  const feeds: Record<string, TensorData> = {};
  for (const [name, t] of policy.params) feeds[io.param(name)] = t;
  for (const [field, t] of Object.entries(dpoFeeds(c, tok, pairs, B, 1, LENGTH))) feeds[io.batch(field)] = t;
  const out = await runtime.run(await session, feeds);
  return Object.fromEntries(Object.entries(out).map(([name, t]) => [name.slice("metric/".length), Number(t.data[0])]));
}

const objective = (o: Partial<PreferenceObjective>): PreferenceObjective => ({
  loss: "sigmoid",
  beta: 0.1,
  labelSmoothing: 0,
  logps: "sum",
  sftWeight: 0,
  ...o,
});

// ---------------------------------------------------------------------------------------------------------------
// Loss and metrics against the float64 reference.

test("answerLogProbs (the reference model's log-probs) equals the float64 reference per sequence: sum, mean and tokens", async () => {
  const m = await logps("policy");
  const ref = referenceFor(await pairsWith("none", "sum"));
  basePairs.forEach((p, i) => {
    for (const side of ["chosen", "rejected"] as const) {
      const got = m.get(`${p.id}/${side}`) as SequenceLogProb;
      const want = (ref[i] as ReferencePair)[side];
      assert.equal(got.tokens, want.count, `${p.id}/${side}: tokens`);
      close(got.sum, want.sum, `${p.id}/${side}: sum`);
      close(got.mean, want.mean, `${p.id}/${side}: mean`);
    }
  });
  // The pairs differ enough for the metric checks below to mean something.
  const spread = ref.map((r) => Math.abs(r.chosen.mean - r.rejected.mean));
  assert.ok(Math.max(...spread) > 0.05, `chosen and rejected mean log-probs differ by at most ${Math.max(...spread)}`);
});

interface Variant {
  name: string;
  o: PreferenceObjective;
  refs: "reference" | "policy" | "none";
}

const VARIANTS: Variant[] = [
  { name: "sigmoid (DPO), β 0.1, summed log-probs", o: objective({}), refs: "reference" },
  { name: "sigmoid with label smoothing 0.1 (conservative DPO)", o: objective({ labelSmoothing: 0.1 }), refs: "reference" },
  { name: "sigmoid, β 0.5, mean log-probs", o: objective({ beta: 0.5, logps: "mean" }), refs: "reference" },
  { name: "ipo, β 0.1, summed log-probs", o: objective({ loss: "ipo" }), refs: "reference" },
  { name: "ipo, β 0.5, mean log-probs", o: objective({ loss: "ipo", beta: 0.5, logps: "mean" }), refs: "reference" },
  { name: "hinge (SLiC), β 0.1, summed log-probs", o: objective({ loss: "hinge" }), refs: "reference" },
  { name: "hinge, β 10, mean log-probs, reference-free (a pair past the margin)", o: objective({ loss: "hinge", beta: 10, logps: "mean" }), refs: "none" },
  { name: "sigmoid with an SFT term (sft_weight 0.5): loss includes it, nll_loss", o: objective({ sftWeight: 0.5 }), refs: "reference" },
  { name: "reference-free (reference log-probs 0)", o: objective({}), refs: "none" },
  {
    name: "reference-free ipo, mean log-probs, with label smoothing set (ignored by ipo)",
    o: objective({ loss: "ipo", logps: "mean", labelSmoothing: 0.2 }),
    refs: "none",
  },
  { name: "the policy as its own reference: h = 0, rewards 0, loss log 2", o: objective({}), refs: "policy" },
];

for (const v of VARIANTS) {
  test(`DPO program = float64 reference: ${v.name}`, async () => {
    const pairs = await pairsWith(v.refs, v.o.logps);
    const want = dpoReference(referenceFor(pairs), v.o, c.vocab);
    const got = await programMetrics(v.o, pairs);
    assert.deepEqual(Object.keys(got).sort(), ["loss", ...DPO_METRICS].sort());
    if (v.refs !== "policy") {
      // A pair whose rewards are nearly tied, or that sits on the hinge's kink, would make the check fragile.
      for (const [i, h] of want.h.entries()) {
        assert.ok(Math.abs(v.o.beta * h) > 1e-3, `pair ${i}: rewards nearly tied (β·h = ${v.o.beta * h})`);
        if (v.o.loss === "hinge") assert.ok(Math.abs(1 - v.o.beta * h) > 1e-3, `pair ${i}: on the hinge's kink`);
      }
    }
    close(got.loss as number, want.loss, "loss");
    for (const name of DPO_METRICS) {
      // With the policy as its reference every reward is 0 up to rounding, so which side wins is noise.
      if (v.refs === "policy" && name === "rewards/accuracies") continue;
      close(got[name] as number, want.metrics[name] as number, name);
    }
    if (v.refs === "policy") {
      // Every pair's loss is log 2; the loss is Σ w·ℓ / B.
      const meanWeight = pairs.reduce((a, p) => a + p.weight, 0) / pairs.length;
      close(got.loss as number, Math.LN2 * meanWeight, "loss = mean weight · log 2 when the policy is its reference");
      for (const name of ["rewards/chosen", "rewards/rejected", "rewards/margins"]) close(got[name] as number, 0, name);
    }
    if (v.o.loss === "hinge" && v.o.beta === 10) {
      // Both sides of the hinge occur, so max(0, ·) is exercised.
      assert.ok(
        want.perPair.some((l) => l === 0),
        `no pair is past the margin: ${want.perPair}`,
      );
      assert.ok(
        want.perPair.some((l) => l > 0),
        `every pair is past the margin: ${want.perPair}`,
      );
    }
    if (v.o.sftWeight > 0) {
      const without = dpoReference(referenceFor(pairs), { ...v.o, sftWeight: 0 }, c.vocab).loss;
      close(want.loss - without, v.o.sftWeight * (want.metrics.nll_loss as number), "loss − DPO loss = sft_weight · nll_loss", 1e-12);
    }
  });
}

test("the weights matter: metrics weighted 0.3/0.7/1/1/1 differ from uniform ones; weights 2× double the loss, not the metrics", async () => {
  const o = objective({ labelSmoothing: 0.1 });
  const pairs = await pairsWith("reference", "sum");
  const weighted = await programMetrics(o, pairs);
  const uniform = await programMetrics(
    o,
    pairs.map((p) => ({ ...p, weight: 1 })),
  );
  const doubled = await programMetrics(
    o,
    pairs.map((p) => ({ ...p, weight: 2 * p.weight })),
  );
  close(uniform.loss as number, dpoReference(referenceFor(pairs.map((p) => ({ ...p, weight: 1 }))), o, c.vocab).loss, "uniform loss");
  assert.ok(Math.abs((weighted.loss as number) - (uniform.loss as number)) > 1e-4, "weights change the loss");
  // Σ w·ℓ / B: a dataset's weight is its share of the loss, even in a batch that holds only its pairs.
  close(doubled.loss as number, 2 * (weighted.loss as number), "the loss scales with the weights");
  for (const name of DPO_METRICS) close(doubled[name] as number, weighted[name] as number, `${name} is invariant to scaling the weights`);
});

test("one train step of trainDpo with lr 0: the same loss and metrics as the reference, TRL's row names, parameters unchanged", async () => {
  const o = objective({ labelSmoothing: 0.1, sftWeight: 0.25 });
  const pairs = await pairsWith("reference", "sum");
  const want = dpoReference(referenceFor(pairs), o, c.vocab);
  const { model, rows } = await trainDpo(runtime, policy, pairs, {
    objective: o,
    batch: B,
    accumulation: 1,
    steps: 1,
    stepsPerRun: 1,
    optimizer: adamw({ lr: 0, weightDecay: 0.1 }),
    schedule: { kind: "constant", warmupSteps: 0 },
    clipNorm: 1,
    seed: 0,
  });
  assert.equal(rows.length, 1);
  const row = rows[0] as Record<string, number>;
  assert.deepEqual(Object.keys(row).sort(), ["step", "epoch", "loss", ...DPO_METRICS, "grad_norm", "learning_rate", "tokens_per_second"].sort());
  assert.equal(row.step, 1);
  assert.equal(row.learning_rate, 0);
  assert.ok((row.grad_norm as number) > 0 && Number.isFinite(row.grad_norm), `grad_norm ${row.grad_norm}`);
  close(row.loss as number, want.loss, "loss");
  for (const name of DPO_METRICS) close(row[name] as number, want.metrics[name] as number, name);
  for (const [name, t] of policy.params) assert.deepEqual(model.params.get(name)?.data, t.data, `${name} changed with lr 0`);
});

// ---------------------------------------------------------------------------------------------------------------
// Gradients of the whole DPO loss against finite differences, on a TinyVLM small enough for them.

/** As the composite gradient check's micro TinyVLM, with a few more tokens so answers of two lengths fit. */
const micro: TinyVlmConfig = {
  size: "micro",
  vocab: 6,
  imageSize: 4,
  patch: 2,
  vision: { width: 4, layers: 1, heads: 2, hidden: 6 },
  text: { width: 4, layers: 1, heads: 2, hidden: 6 },
  textContext: 4,
  dtype: "float64",
};
const microWeights = initTinyVlm(micro, new Rng(0)).map((w) => ({ name: w.name, shape: [...w.data.shape] }));
/** The sample of parameters checked: the token embedding, an attention weight, the unembedding, and vision weights. */
const CHECKED = ["text.embed.tokens", "text.blocks.0.attn.q", "text.unembed", "vision.patch_embed", "vision.blocks.0.attn.v", "projector.weight"];

/** Three pairs of 4 text positions: prompts and answers of different lengths, padding, one pair without its image. */
const MB = 3;
const MT = 4;
const microBatch: GradInput[] = [
  { name: "pixels", shape: [MB, 4, 4, 3], domain: "positive", constant: true },
  { name: "image_keep", shape: [MB, 4], values: [1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0], constant: true },
  { name: "chosen_tokens", shape: [MB, MT], kind: "int", values: [1, 3, 4, 0, 1, 2, 5, 3, 1, 4, 2, 2] },
  { name: "chosen_labels", shape: [MB, MT], kind: "int", values: [3, 4, 2, 0, 2, 5, 3, 2, 4, 2, 2, 2] },
  { name: "chosen_loss_mask", shape: [MB, MT], values: [0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1], constant: true },
  { name: "chosen_text_mask", shape: [MB, MT], values: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], constant: true },
  { name: "rejected_tokens", shape: [MB, MT], kind: "int", values: [1, 3, 5, 5, 1, 2, 4, 0, 1, 3, 3, 0] },
  { name: "rejected_labels", shape: [MB, MT], kind: "int", values: [3, 5, 5, 2, 2, 4, 2, 0, 3, 3, 2, 0] },
  { name: "rejected_loss_mask", shape: [MB, MT], values: [0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0], constant: true },
  { name: "rejected_text_mask", shape: [MB, MT], values: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], constant: true },
  { name: "ref_chosen", shape: [MB], values: [-3.1, -2.2, -4.0], constant: true },
  { name: "ref_rejected", shape: [MB], values: [-4.2, -1.9, -3.5], constant: true },
  { name: "weight", shape: [MB], values: [0.3, 0.7, 1], constant: true },
];
test("the gradient checks' micro batch has dpoBatch's fields, shapes and dtypes, and the checked parameters exist", () => {
  const spec = dpoBatch(micro, MB, MT);
  assert.deepEqual(Object.keys(spec).sort(), microBatch.map((f) => f.name).sort());
  for (const f of microBatch) {
    assert.deepEqual(spec[f.name]?.shape, f.shape, f.name);
    assert.equal(spec[f.name]?.dtype, f.kind === "int" ? "int64" : "float64", f.name);
  }
  for (const name of CHECKED)
    assert.ok(
      microWeights.some((w) => w.name === name),
      `no parameter ${name}`,
    );
});

const GRAD_OBJECTIVES: { name: string; o: PreferenceObjective }[] = [
  { name: "sigmoid, β 0.5, summed", o: objective({ beta: 0.5 }) },
  { name: "sigmoid, label smoothing 0.1, mean, SFT term 0.5", o: objective({ beta: 0.5, labelSmoothing: 0.1, logps: "mean", sftWeight: 0.5 }) },
  { name: "ipo, β 0.5, summed", o: objective({ loss: "ipo", beta: 0.5 }) },
  { name: "ipo, β 0.1, mean", o: objective({ loss: "ipo", logps: "mean" }) },
  { name: "hinge, β 0.1, summed", o: objective({ loss: "hinge" }) },
];

/** float64 values for every micro input (weights uniform in (−0.8, 0.8), the batch as given). */
function microFeeds(seed: number): Record<string, TensorData> {
  const rand = mulberry32(seed);
  const feeds: Record<string, TensorData> = {};
  for (const w of microWeights) {
    const n = w.shape.reduce((a, d) => a * d, 1);
    feeds[w.name] = { dtype: "float64", shape: w.shape, data: Float64Array.from({ length: n }, () => 1.6 * rand() - 0.8) };
  }
  for (const f of microBatch) {
    const n = f.shape.reduce((a, d) => a * d, 1);
    const values = f.values ?? Array.from({ length: n }, () => 0.5 + 1.5 * rand());
    feeds[f.name] =
      f.kind === "int"
        ? { dtype: "int64", shape: f.shape, data: BigInt64Array.from(values, BigInt) }
        : { dtype: "float64", shape: f.shape, data: Float64Array.from(values) };
  }
  return feeds;
}

/** The DPO loss of the micro model as a float64 graph, with the gradients of `wrt` when asked. */
function microGraph(o: PreferenceObjective, wrt: string[]): Builder {
  const b = new Builder("dpo-gradcheck");
  const inputs: Record<string, Tensor> = {};
  for (const w of microWeights) inputs[w.name] = b.input(w.name, "float64", w.shape);
  for (const f of microBatch) inputs[f.name] = b.input(f.name, f.kind === "int" ? "int64" : "float64", f.shape);
  const { loss } = dpoLoss(micro, o)(inputs, inputs);
  b.output(loss, "loss");
  const grads = grad(
    loss,
    wrt.map((n) => inputs[n] as Tensor),
  );
  grads.forEach((g, i) => {
    b.output(g, `grad/${wrt[i]}`);
  });
  return b;
}

for (const { name, o } of GRAD_OBJECTIVES) {
  test(`gradient of the whole DPO loss = central differences, float64 reference interpreter: ${name}`, () => {
    const feeds = microFeeds(11);
    const withGrads = evaluate(microGraph(o, CHECKED).root, feeds);
    const lossOnly = microGraph(o, []).root;
    const lossAt = (param: string, data: Float64Array) =>
      Number(evaluate(lossOnly, { ...feeds, [param]: { ...(feeds[param] as TensorData), data } }).loss?.data[0]);
    const base = Number(withGrads.loss?.data[0]);
    assert.ok(
      Math.abs(lossAt(CHECKED[0] as string, feeds[CHECKED[0] as string]?.data as Float64Array) - base) < 1e-14,
      "loss-only graph = loss of the gradient graph",
    );
    // Central differences in float64: truncation O(eps²) ≈ 1e-12, rounding ≈ 1e-16/eps; the harness's float64 step and tolerance.
    const eps = 1e-6;
    const tolerance = 1e-6;
    let checked = 0;
    let maxAbs = 0;
    let largest = 0;
    for (const param of CHECKED) {
      const x = feeds[param]?.data as Float64Array;
      const g = withGrads[`grad/${param}`]?.data as Float64Array;
      for (let i = 0; i < x.length; i++) {
        const plus = x.slice();
        plus[i] = (x[i] as number) + eps;
        const minus = x.slice();
        minus[i] = (x[i] as number) - eps;
        const numeric = (lossAt(param, plus) - lossAt(param, minus)) / (2 * eps);
        const err = Math.abs(numeric - (g[i] as number));
        maxAbs = Math.max(maxAbs, err);
        largest = Math.max(largest, Math.abs(numeric));
        assert.ok(err <= tolerance * (1 + Math.abs(numeric)), `${param}[${i}]: autodiff ${g[i]}, finite differences ${numeric}`);
        checked++;
      }
    }
    // Non-trivial gradients: the check would pass vacuously on a loss that ignores the parameters.
    assert.ok(largest > 1e-2, `largest gradient ${largest}`);
    assert.ok(checked > 100 && maxAbs < tolerance);
  });
}

/** The harness's case for the micro DPO loss: `checked` weights differentiated, the rest fed but constant. */
function harnessCase(o: PreferenceObjective, checked: string[], label: string): GradCase {
  return {
    op: "composite",
    case: `TinyVLM DPO loss (${label})`,
    inputs: [...microWeights.map((w) => ({ name: w.name, shape: w.shape, constant: !checked.includes(w.name) })), ...microBatch],
    build: (_b, i, dtype: DType) => dpoLoss({ ...micro, dtype }, o)(i, i).loss,
  };
}

/** As runGradientChecks: float64 first, float32 where ONNX Runtime's CPU provider lacks a float64 kernel. */
async function harness(c: GradCase): Promise<GradCheckRow> {
  const row = await checkCase(c, { provider: testProvider().provider, dtype: "float64" });
  return isMissingKernel(row) ? checkCase(c, { provider: testProvider().provider, dtype: "float32" }) : row;
}

test("gradient-check harness on ONNX Runtime: sigmoid and ipo DPO losses, embedding, attention, unembedding and vision weights", {
  skip: cpuOnly("finite differences need full-precision products; CUDA's TF32 matrix products are too coarse for them"),
}, async () => {
  const rows = [
    // Softplus (sigmoid) and OneHot (the embedding's gradient) have no float64 CPU kernel: these run in float32.
    await harness(harnessCase(objective({ beta: 0.5, labelSmoothing: 0.1, sftWeight: 0.5 }), CHECKED, "sigmoid, label smoothing, SFT term")),
    await harness(harnessCase(objective({ loss: "ipo", beta: 0.5 }), CHECKED, "ipo")),
    // Without the embedding, ipo needs no OneHot: float64 with the tight tolerance.
    await harness(
      harnessCase(
        objective({ loss: "ipo", beta: 0.5, logps: "mean" }),
        CHECKED.filter((n) => n !== "text.embed.tokens"),
        "ipo, mean, float64",
      ),
    ),
  ];
  const failed = rows.filter((r) => !r.ok).map((r) => `${r.case} ${r.dtype}: abs ${r.maxAbsError} rel ${r.maxRelError} ${r.error ?? ""}`);
  assert.deepEqual(failed, []);
  assert.deepEqual(
    rows.map((r) => r.dtype),
    ["float32", "float32", "float64"],
  );
});

test("the image and its keep mask reach the DPO loss: masking a pair's image changes its log-probs, only for that pair", async () => {
  const pairs = await pairsWith("none", "sum");
  const feeds = dpoFeeds(c, tok, pairs, B, 1, LENGTH);
  const keep = feeds.image_keep as TensorData;
  const P = imageTokens(c);
  const masked = { ...feeds, image_keep: { ...keep, data: (keep.data as Float32Array).map((v, i) => (Math.floor(i / P) === 2 ? 0 : v)) } };
  const before = referencePairs(c, policy.params, feeds);
  const after = referencePairs(c, policy.params, masked);
  before.forEach((p, i) => {
    const changed = Math.abs(p.chosen.sum - (after[i] as ReferencePair).chosen.sum);
    if (i === 2) assert.ok(changed > 1e-3, `masking pair 2's image changed its log-prob by ${changed}`);
    else assert.equal(changed, 0, `pair ${i} changed`);
  });
  // The text-only pair has image_keep 0 from dpoFeeds.
  assert.ok((keep.data as Float32Array).slice(4 * P, 5 * P).every((v) => v === 0));
});
