// A Hugging Face sentence encoder as BDHS's similarity, end to end through `alignc run`: `cosine(enc)` over the tiny
// MPNet fixture (sentence-transformers layout) rejects the nano model's attempts that are too close to the ground
// truth, and each pair's recorded similarity is what EncoderCosineSimilarity computes for it. `check` refuses an
// encoder anywhere else (ALN3033), a pooling other than mean on one, and a decoder as cosine's model.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import { EncoderCosineSimilarity } from "../src/runtime/data/prefdata/encoder-similarity.ts";
import { type PairRecord, readDataset } from "../src/runtime/data/prefdata/records.ts";
import { loadHfEncoder } from "../src/runtime/models/hf/encoder.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import { runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { TEST_DEVICE, testRuntime } from "./support/device.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/hf-encoder");
const DECODER = path.resolve(import.meta.dirname, "fixtures/hf/llama-gqa-v5");
const dir = mkdtempSync(path.join(tmpdir(), "alignc-encoder-run-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A source file in the test's folder (flat: the names have no folders). */
const write = (name: string, text: string): string => {
  writeFileSync(path.join(dir, name), text);
  return path.join(dir, name);
};

const PIPELINE = `align 1
model base = tinyvlm { size: nano, seed: 1 }
model mpnet = hf("${path.join(FIXTURES, "mpnet")}")
dataset prompts = shapes { split: train, count: 6, seed: 1 }
similarity sim = cosine(mpnet)
dataset hallucinated = bdhs(base, prompts) { similarity: sim, epsilon: 0.9, tries: 2, max_tokens: 12 }
`;

test("bdhs with cosine(hf sentence encoder) runs, and each pair's similarity is the encoder's cosine", async () => {
  const file = write("bdhs.align", PIPELINE);
  const result = await compile(file);
  assert.ok(result.graph, result.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  const runDir = path.join(dir, "runs", "bdhs");
  const outcomes = await runGraph(result.graph, { layout: new RunLayout(runDir), entryAbsPath: file, device: TEST_DEVICE, log });
  assert.ok(
    outcomes.every((o) => o.status === "ran"),
    lines.join(""),
  );
  const data = readDataset(path.join(runDir, "outputs", "hallucinated"));
  assert.equal(data.kind, "pairs");
  const pairs = data.records as PairRecord[];
  assert.ok(pairs.length > 0, "no pairs");
  const sim = new EncoderCosineSimilarity(testRuntime(), loadHfEncoder(path.join(FIXTURES, "mpnet")));
  for (const p of pairs) {
    assert.equal(p.source.kind, "bdhs");
    if (p.source.kind !== "bdhs") continue;
    const [s] = await sim.scores([p.rejected], [p.chosen]);
    assert.ok(Math.abs((s as number) - p.source.similarity) < 1e-6, `${p.id}: ${s} vs ${p.source.similarity}`);
    if (p.source.accepted !== null) assert.ok(p.source.similarity < 0.9);
  }
});

async function codes(text: string): Promise<string[]> {
  const result = await compile(write(`case-${Math.random().toString(36).slice(2)}.align`, `align 1\n${text}\n`));
  return result.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
}

test("check refuses an encoder anywhere but as cosine's model, a pooling other than mean on it, and a decoder as cosine's model", async () => {
  const enc = `model enc = hf("${path.join(FIXTURES, "bert")}")\ndataset prompts = shapes { split: train, count: 4 }`;
  assert.deepEqual(await codes(`${enc}\nsimilarity sim = cosine(enc)`), []);
  const sample = await codes(`${enc}\ndataset s = sample(enc, prompts)`);
  assert.equal(sample.length, 1);
  assert.match(sample[0] as string, /^ALN3033 'enc' is a sentence encoder \(BertModel\); .* not in sample/);
  assert.match((await codes(`${enc}\nphase p = sft(enc, prompts)`))[0] as string, /^ALN3033/);
  assert.match((await codes(`${enc}\nsimilarity sim = cosine(enc) { pooling: last }`))[0] as string, /pooling.*mean/);
  const decoder = await codes(`model dec = hf("${DECODER}")\nsimilarity sim = cosine(dec)`);
  assert.equal(decoder.length, 1);
  assert.match(decoder[0] as string, /^ALN3020 .*only TinyVLM models and sentence encoders/);
});
