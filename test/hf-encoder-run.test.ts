// A Hugging Face sentence encoder as BDHS's similarity, end to end through `alignc run`: `cosine(enc)` over the tiny
// MPNet fixture (sentence-transformers layout) rejects the nano model's attempts that are too close to the ground
// truth, and each pair's recorded similarity is what EncoderCosineSimilarity computes for it. The encoder written in
// place, `cosine { model: hf(…) }`, checks, plans and runs as the declared one: the same hashes, the same pairs. `check`
// refuses an encoder anywhere else (ALN3033), a pooling other than mean on one, and a decoder as cosine's model, named
// or written in place (there, at the hf(…) call).
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import type { Diagnostic } from "../src/diagnostics/diagnostic.ts";
import type { ExecutionGraph } from "../src/graph/graph.ts";
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

/** Compiles `text` as the file `name` and runs its graph in its own run directory (its own store); the pairs' records file. */
async function runPipeline(name: string, text: string): Promise<{ graph: ExecutionGraph; pairs: PairRecord[]; records: string }> {
  const file = write(`${name}.align`, text);
  const result = await compile(file);
  assert.ok(result.graph, result.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  const runDir = path.join(dir, "runs", name);
  const outcomes = await runGraph(result.graph, { layout: new RunLayout(runDir), entryAbsPath: file, device: TEST_DEVICE, log });
  assert.ok(
    outcomes.every((o) => o.status === "ran"),
    lines.join(""),
  );
  const data = readDataset(path.join(runDir, "outputs", "hallucinated"));
  assert.equal(data.kind, "pairs");
  const records = readFileSync(path.join(runDir, "outputs", "hallucinated", "records.jsonl"), "utf8");
  return { graph: result.graph, pairs: data.records as PairRecord[], records };
}

test("bdhs with cosine(hf sentence encoder) runs, and each pair's similarity is the encoder's cosine", async () => {
  const { pairs } = await runPipeline("bdhs", PIPELINE);
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

test("cosine { model: hf(…) } plans and runs as cosine(enc) with the model declared: the same hashes and the same pairs", async () => {
  const named = await runPipeline("named", PIPELINE);
  const inlineText = PIPELINE.replace(/^model mpnet = .*\n/m, "").replace("cosine(mpnet)", `cosine { model: hf("${path.join(FIXTURES, "mpnet")}") }`);
  assert.notEqual(inlineText, PIPELINE);
  const inline = await runPipeline("inline", inlineText);
  const node = (g: ExecutionGraph, id: string) => g.nodes.find((n) => n.id === id);
  // The model written in place is a node of its own, named after the similarity's argument, with the declared one's params.
  const model = node(inline.graph, "sim.model");
  assert.equal(model?.kind, "model.hf");
  assert.deepEqual(model?.params, node(named.graph, "mpnet")?.params);
  assert.equal(model?.hash, node(named.graph, "mpnet")?.hash);
  assert.deepEqual(node(inline.graph, "sim")?.inputs, [{ name: "model", node: "sim.model" }]);
  for (const id of ["sim", "hallucinated"]) assert.equal(node(inline.graph, id)?.hash, node(named.graph, id)?.hash, id);
  assert.ok(inline.pairs.length > 0, "no pairs");
  // Byte for byte (the records name their images inside their entry; read back, the paths point into each run).
  assert.equal(inline.records, named.records);
});

async function diagnostics(text: string): Promise<Diagnostic[]> {
  const result = await compile(write(`case-${Math.random().toString(36).slice(2)}.align`, `align 1\n${text}\n`));
  return result.diagnostics.filter((d) => d.severity === "error");
}

async function codes(text: string): Promise<string[]> {
  return (await diagnostics(text)).map((d) => `${d.code} ${d.message}`);
}

test("cosine { model: hf(…) } is checked as a declared model, with errors at the call written in place", async () => {
  const enc = path.join(FIXTURES, "bert");
  assert.deepEqual(await codes(`similarity sim = cosine { model: hf("${enc}") }`), []);
  assert.deepEqual(await codes(`similarity sim = cosine(hf("${enc}"))`), []);
  // Where the call written in place and its path begin (columns from 1).
  const line = (inner: string) => `similarity sim = cosine { model: hf(${inner}) }`;
  const callColumn = "similarity sim = cosine { model: ".length + 1;
  const pathColumn = callColumn + "hf(".length;
  // A decoder is not cosine's model (ALN3020), at the hf(…) call; a pooling other than mean on an encoder (ALN3013).
  const decoder = await diagnostics(line(`"${DECODER}"`));
  assert.deepEqual(
    decoder.map((d) => [d.code, d.span?.line, d.span?.column]),
    [["ALN3020", 2, callColumn]],
  );
  assert.match(decoder[0]?.message ?? "", /^'cosine' is not supported by alignc run yet: on Hugging Face models \(hf\(".*llama-gqa-v5"\)\)/);
  assert.match((await codes(`similarity sim = cosine { model: hf("${enc}"), pooling: last }`))[0] as string, /^ALN3013 .*pooling.*mean/);
  // A directory without config.json (ALN3024), and none at all (ALN3022): once each, at the path, as for a declared model.
  const noConfig = path.join(dir, "bert-without-config");
  cpSync(enc, noConfig, { recursive: true });
  rmSync(path.join(noConfig, "config.json"));
  const missing = await diagnostics(line(`"${noConfig}"`));
  assert.deepEqual(
    missing.map((d) => [d.code, d.span?.line, d.span?.column]),
    [["ALN3024", 2, pathColumn]],
  );
  const nowhere = await diagnostics(line(`"${path.join(dir, "nope")}"`));
  assert.deepEqual(
    nowhere.map((d) => [d.code, d.span?.line, d.span?.column]),
    [["ALN3022", 2, pathColumn]],
  );
  // The model once (ALN2013), and only hf(…) in place of its name (ALN3001); elsewhere a model is named (ALN3001).
  assert.match(
    (await codes(`model e = hf("${enc}")\nsimilarity sim = cosine(e) { model: hf("${enc}") }`))[0] as string,
    /^ALN2013 cosine's argument 'model' is given twice/,
  );
  assert.match(
    (await codes("similarity sim = cosine { model: tinyvlm { size: nano } }"))[0] as string,
    /^ALN3001 expected a model name or hf\(…\), found a call of tinyvlm/,
  );
  assert.match(
    (await codes(`dataset p = shapes { split: train, count: 4 }\ndataset s = sample(hf("${enc}"), p)`))[0] as string,
    /^ALN3001 expected a model name, found a constructor call/,
  );
});

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
