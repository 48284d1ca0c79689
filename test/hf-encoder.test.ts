// Sentence encoders (BERT, MPNet) against transformers, from goldens scripts/make-encoder-fixtures.py wrote (no Python
// needed): the WordPiece tokenizer's ids equal the `tokenizers` library's, truncation at max_seq_length included, and
// the mean-pooled embeddings of the encoder program equal transformers' within 1e-5 relative. Also: MPNet's relative
// position buckets, position ids, prefixed weight names, and the sentence-transformers files alignc refuses.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { loadSafetensors, saveSafetensors } from "../src/formats/safetensors.ts";
import { encoderPositionIds, relativePositionBucket } from "../src/models/hf/encoder.ts";
import { readHfEncoderConfig } from "../src/models/hf/encoder-config.ts";
import { EncoderCosineSimilarity } from "../src/runtime/data/prefdata/encoder-similarity.ts";
import { loadHfEncoder } from "../src/runtime/models/hf/encoder.ts";
import { testRuntime } from "./support/device.ts";

const FIXTURES = path.resolve(import.meta.dirname, "fixtures/hf-encoder");
const golden = JSON.parse(readFileSync(path.join(FIXTURES, "golden.json"), "utf8")) as {
  texts: string[];
  bert: { max_length: number; ids: number[][]; embeddings: number[][] };
  mpnet: { max_length: number; ids: number[][]; embeddings: number[][] };
};
const runtime = testRuntime();
const tmp = mkdtempSync(path.join(tmpdir(), "alignc-encoder-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Largest |a − b| / max(|b|_∞, 1e-6) over a row, the measure the goldens are held to. */
function relError(a: Float32Array, b: readonly number[]): number {
  const scale = Math.max(1e-6, ...b.map(Math.abs));
  let worst = 0;
  b.forEach((v, i) => {
    worst = Math.max(worst, Math.abs((a[i] as number) - v) / scale);
  });
  return worst;
}

for (const name of ["bert", "mpnet"] as const) {
  test(`${name}: token ids equal the tokenizers library's, truncated at the maximum length`, () => {
    const enc = loadHfEncoder(path.join(FIXTURES, name));
    assert.equal(enc.config.maxLength, golden[name].max_length);
    golden.texts.forEach((text, i) => {
      assert.deepEqual(enc.tokenizer.encode(text, enc.config.maxLength), golden[name].ids[i], JSON.stringify(text));
    });
  });

  test(`${name}: mean-pooled embeddings equal transformers' within 1e-5 relative, alone or in any batch`, async () => {
    const enc = loadHfEncoder(path.join(FIXTURES, name));
    // batch 4: several batches and lengths, rows padded to different widths
    const sim = new EncoderCosineSimilarity(runtime, enc, 4);
    const vectors = await sim.embed(golden.texts);
    let worst = 0;
    vectors.forEach((v, i) => {
      worst = Math.max(worst, relError(v, golden[name].embeddings[i] as number[]));
    });
    assert.ok(worst <= 1e-5, `${name}: worst relative error ${worst}`);
    const alone = await new EncoderCosineSimilarity(runtime, enc, 1).embed([golden.texts[0] as string]);
    assert.ok(relError(alone[0] as Float32Array, golden[name].embeddings[0] as number[]) <= 1e-5);
    const [same, other] = await sim.scores([golden.texts[0] as string, golden.texts[2] as string], [golden.texts[0] as string, golden.texts[0] as string]);
    assert.ok(Math.abs((same as number) - 1) < 1e-6);
    assert.ok((other as number) < 0.999);
  });
}

test("MPNet's relative position buckets: exact near, logarithmic far, capped, one half per direction", () => {
  // torch's values for num_buckets 32, max_distance 128 (modeling_mpnet.relative_position_bucket)
  const expect: [number, number][] = [
    [0, 0],
    [1, 17],
    [-1, 1],
    [7, 23],
    [-7, 7],
    [8, 24],
    [-8, 8],
    [12, 25],
    [16, 26],
    [32, 28],
    [64, 30],
    [127, 31],
    [500, 31],
    [-500, 15],
  ];
  for (const [rel, bucket] of expect) assert.equal(relativePositionBucket(rel, 32), bucket, `relative ${rel}`);
});

test("position ids: BERT counts from 0, MPNet from 2 skipping its padding id 1", () => {
  const bert = readHfEncoderConfig(path.join(FIXTURES, "bert"));
  const mpnet = readHfEncoderConfig(path.join(FIXTURES, "mpnet"));
  assert.ok(bert.ok && mpnet.ok);
  assert.deepEqual(encoderPositionIds(bert.config, [2, 5, 3], 5), [0, 1, 2, 3, 4]);
  assert.deepEqual(encoderPositionIds(mpnet.config, [0, 5, 2, 1, 1], 5), [2, 3, 4, 1, 1]);
});

test("sentence-transformers files: mean pooling and max_seq_length are read; other poolings and Dense modules are refused", () => {
  const mpnet = readHfEncoderConfig(path.join(FIXTURES, "mpnet"));
  assert.ok(mpnet.ok);
  assert.equal(mpnet.config.sentenceTransformers, true);
  assert.deepEqual(mpnet.config.files, ["sentence_bert_config.json", "modules.json", "1_Pooling/config.json"]);
  const bert = readHfEncoderConfig(path.join(FIXTURES, "bert"));
  assert.ok(bert.ok && !bert.config.sentenceTransformers && bert.config.maxLength === 40);

  const dir = path.join(tmp, "cls");
  cpSync(path.join(FIXTURES, "mpnet"), dir, { recursive: true });
  const pooling = path.join(dir, "1_Pooling", "config.json");
  const p = JSON.parse(readFileSync(pooling, "utf8"));
  writeFileSync(pooling, JSON.stringify({ ...p, pooling_mode_mean_tokens: false, pooling_mode_cls_token: true }));
  const cls = readHfEncoderConfig(dir);
  assert.ok(!cls.ok && cls.problem.kind === "invalid-value");
  assert.match(`${cls.problem.file} ${cls.problem.detail}`, /1_Pooling\/config\.json .*cls_token.*mean/);

  writeFileSync(pooling, JSON.stringify(p));
  const modules = JSON.parse(readFileSync(path.join(dir, "modules.json"), "utf8"));
  modules.push({ idx: 3, name: "3", path: "3_Dense", type: "sentence_transformers.models.Dense" });
  writeFileSync(path.join(dir, "modules.json"), JSON.stringify(modules));
  const dense = readHfEncoderConfig(dir);
  assert.ok(!dense.ok && dense.problem.kind === "invalid-value" && /Dense.*changes the embedding/.test(dense.problem.detail));
});

test("weights under a bert./mpnet. prefix (a masked-LM checkpoint's) load as the same encoder", async () => {
  const dir = path.join(tmp, "prefixed");
  cpSync(path.join(FIXTURES, "mpnet"), dir, { recursive: true });
  const { tensors } = loadSafetensors(path.join(dir, "model.safetensors"));
  const renamed = new Map([...tensors].map(([n, t]) => [`mpnet.${n}`, t]));
  renamed.set("lm_head.bias", { dtype: "float32", shape: [2], data: new Float32Array(2) });
  saveSafetensors(path.join(dir, "model.safetensors"), renamed);
  const config = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8"));
  writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, architectures: ["MPNetForMaskedLM"] }));
  const enc = loadHfEncoder(dir);
  const [v] = await new EncoderCosineSimilarity(runtime, enc).embed([golden.texts[0] as string]);
  assert.ok(relError(v as Float32Array, golden.mpnet.embeddings[0] as number[]) <= 1e-5);
});
