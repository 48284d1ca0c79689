// Frozen Hugging Face weights as ONNX external data read in place from the checkpoint's safetensors files
// (src/models/hf/weights.ts `externalHfWeights`, src/tensor/onnx/serialize.ts, src/runtime/engine/session.ts): for every
// fixture checkpoint (llama-gqa-v5 in two shards), the in-place program's logits and log-probs equal the in-memory
// program's bit for bit and transformers' golden to 1e-4, the serialised program holds none of the weights' bytes, and
// a shard outside the checkpoint directory (a path, or a symbolic link out of it) is refused before ONNX Runtime.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { loadSafetensors, SafetensorsError } from "../src/formats/safetensors.ts";
import { readHfConfig } from "../src/models/hf/config.ts";
import { buildHfLogitsProgram, buildHfLogProbProgram, type DecoderWeights } from "../src/models/hf/decoder.ts";
import { arangePositions, ropeTables } from "../src/models/hf/rope.ts";
import { decoderShapeOf } from "../src/models/hf/shape.ts";
import { canonicalDecoderName, decoderProgramName, externalHfWeights, findHfWeights, readHfTensorIndex } from "../src/models/hf/weights.ts";
import type { Runtime } from "../src/runtime/engine/session.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { externalDataFiles, serializeModel } from "../src/tensor/onnx/serialize.ts";
import type { Builder } from "../src/tensor/ops/builder.ts";
import { repoRoot } from "./support/align-files.ts";
import { cpuOnly, testRuntime } from "./support/device.ts";

const FIXTURES = path.join(repoRoot, "test", "fixtures", "hf");
const GOLDEN = path.join(FIXTURES, "golden");

interface Golden {
  applies_to: string[];
  logits: { input_ids: number[][]; attention_mask?: number[][] | string; shape: number[]; values: number[] };
  logprobs?: { prompt_ids: number[]; completion_ids: number[]; per_token: number[] };
}

const int64 = (rows: readonly (readonly number[])[]): TensorData => ({
  dtype: "int64",
  shape: [rows.length, rows[0]!.length],
  data: BigInt64Array.from(rows.flat().map(BigInt)),
});

/** The checkpoint's weight files and their header index. */
function indexOf(dir: string) {
  const found = findHfWeights(dir);
  assert.ok(found.ok, `no weights in ${dir}`);
  return { files: found.files, index: readHfTensorIndex(found.files) };
}

/** Every decoder tensor loaded into memory, under the decoder program's names. */
function loadInMemory(files: readonly string[]): Map<string, TensorData> {
  const out = new Map<string, TensorData>();
  for (const file of files)
    for (const [name, t] of loadSafetensors(file).tensors) {
      const c = canonicalDecoderName(name);
      if (c) out.set(decoderProgramName(c.canonical), t);
    }
  return out;
}

/** Runs a program built with `weights`: external weights load with their folder, in-memory ones without. */
async function runWith(
  rt: Runtime,
  b: Builder,
  weights: DecoderWeights,
  feeds: Record<string, TensorData>,
): Promise<{ out: Record<string, TensorData>; bytes: number }> {
  const bytes = serializeModel(b.root);
  const external = "folder" in weights ? { folder: weights.folder, files: externalDataFiles(b.root) } : undefined;
  return { out: await rt.run(await rt.load(bytes, undefined, external), feeds), bytes: bytes.byteLength };
}

const goldenFiles = existsSync(GOLDEN) ? readdirSync(GOLDEN).filter((f) => f.endsWith(".json")) : [];

for (const file of goldenFiles) {
  const golden = JSON.parse(readFileSync(path.join(GOLDEN, file), "utf8")) as Golden;
  for (const dir of golden.applies_to) {
    test(`weights read in place give the in-memory program's logits bit for bit, and transformers' to 1e-4 — ${path.basename(dir)}`, {
      skip: cpuOnly("bit-exact comparison"),
    }, async (t) => {
      const abs = path.join(repoRoot, dir);
      const config = readHfConfig(abs);
      assert.ok(config.ok, `config.ts refused ${dir}/config.json`);
      const shape = decoderShapeOf(config.config);
      const { files, index } = indexOf(abs);
      const external = externalHfWeights(abs, index);
      assert.deepEqual(
        external.files,
        files.map((f) => path.basename(f)),
      );
      const inMemory = loadInMemory(files);
      const weightBytes = [...external.tensors.values()].reduce((a, r) => a + r.length, 0);

      const { input_ids, values } = golden.logits;
      const [b, len] = [input_ids.length, input_ids[0]!.length];
      const given = golden.logits.attention_mask;
      const mask = Array.isArray(given) ? given : input_ids.map((r) => r.map(() => 1));
      const { cos, sin } = ropeTables(shape, arangePositions(b, len));
      const feeds = { input_ids: int64(input_ids), attention_mask: int64(mask), cos, sin };
      const rt = testRuntime();
      try {
        const inPlace = await runWith(rt, buildHfLogitsProgram(shape, external, { batch: b, length: len }), external, feeds);
        const loaded = await runWith(rt, buildHfLogitsProgram(shape, inMemory, { batch: b, length: len }), inMemory, feeds);
        // The program holds the references only: a few hundred bytes per tensor at most, not the weights.
        assert.ok(inPlace.bytes < weightBytes / 4, `the in-place program is ${inPlace.bytes} bytes, the weights ${weightBytes}`);
        assert.ok(loaded.bytes > weightBytes, `the in-memory program (${loaded.bytes} bytes) holds the weights (${weightBytes})`);
        t.diagnostic(`program ${inPlace.bytes} bytes in place, ${loaded.bytes} in memory (weights ${weightBytes})`);
        const got = inPlace.out.logits!.data as Float32Array;
        assert.deepEqual(Buffer.from(got.buffer, got.byteOffset, got.byteLength), Buffer.from((loaded.out.logits!.data as Float32Array).buffer));
        let worst = 0;
        for (const [i, v] of values.entries()) worst = Math.max(worst, Math.abs(got[i]! - v));
        assert.ok(worst <= 1e-4, `logits: max |alignc − transformers| = ${worst.toExponential(2)}`);
        t.diagnostic(`logits max abs difference ${worst.toExponential(2)}`);

        if (golden.logprobs) {
          const { prompt_ids, completion_ids, per_token } = golden.logprobs;
          const seq = [...prompt_ids, ...completion_ids];
          const n = completion_ids.length;
          const tables = ropeTables(shape, arangePositions(1, seq.length));
          const lpFeeds = {
            input_ids: int64([seq]),
            attention_mask: int64([seq.map(() => 1)]),
            ...tables,
            positions: int64([completion_ids.map((_, i) => prompt_ids.length - 1 + i)]),
            labels: int64([completion_ids]),
          };
          const size = { batch: 1, length: seq.length, scored: n };
          const a = (await runWith(rt, buildHfLogProbProgram(shape, external, size), external, lpFeeds)).out.token_logprobs!.data as Float32Array;
          const m = (await runWith(rt, buildHfLogProbProgram(shape, inMemory, size), inMemory, lpFeeds)).out.token_logprobs!.data as Float32Array;
          assert.deepEqual([...a], [...m]);
          let lpWorst = 0;
          for (const [i, v] of per_token.entries()) lpWorst = Math.max(lpWorst, Math.abs(a[i]! - v));
          assert.ok(lpWorst <= 1e-4, `log-probs: max |alignc − transformers| = ${lpWorst.toExponential(2)}`);
        }
      } finally {
        await rt.release();
      }
    });
  }
}

test("a shard outside the checkpoint directory, by path or by a symbolic link out of it, is refused before ONNX Runtime", () => {
  const v4 = path.join(FIXTURES, "llama-gqa-v4");
  const v5 = path.join(FIXTURES, "llama-gqa-v5");
  // The header index of another folder's file: its location would be ../llama-gqa-v4/model.safetensors.
  const { index } = indexOf(v4);
  assert.throws(
    () => externalHfWeights(v5, index),
    (e: unknown) =>
      e instanceof SafetensorsError && e.code === "ALN7005" && /directly in the checkpoint directory/.test(e.message) && /outside it/.test(e.message),
  );
  const tmp = mkdtempSync(path.join(tmpdir(), "alignc-hf-ext-"));
  try {
    copyFileSync(path.join(v4, "config.json"), path.join(tmp, "config.json"));
    symlinkSync(path.join(v4, "model.safetensors"), path.join(tmp, "model.safetensors"));
    const linked = indexOf(tmp);
    assert.throws(
      () => externalHfWeights(tmp, linked.index),
      (e: unknown) => e instanceof SafetensorsError && /resolves outside it/.test(e.message),
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("a checkpoint directory given relative to the working directory locates its shards like the absolute one", () => {
  const abs = path.join(FIXTURES, "llama-gqa-v5");
  const relative = path.relative(process.cwd(), abs);
  assert.ok(!path.isAbsolute(relative) && relative !== "");
  const fromRelative = externalHfWeights(relative, indexOf(relative).index);
  const fromAbsolute = externalHfWeights(abs, indexOf(abs).index);
  assert.deepEqual(fromRelative.files, fromAbsolute.files);
  assert.ok(fromRelative.files.length > 1, "the fixture is sharded");
  assert.deepEqual([...fromRelative.tensors], [...fromAbsolute.tensors]);
});

test("the session cache key follows the checkpoint's files: rewriting a shard in place makes a new session", async () => {
  const tmp = mkdtempSync(path.join(tmpdir(), "alignc-hf-ext-"));
  const v4 = path.join(FIXTURES, "llama-gqa-v4");
  try {
    for (const f of ["config.json", "model.safetensors"]) copyFileSync(path.join(v4, f), path.join(tmp, f));
    const config = readHfConfig(tmp);
    assert.ok(config.ok);
    const shape = decoderShapeOf(config.config);
    const external = externalHfWeights(tmp, indexOf(tmp).index);
    const b = buildHfLogitsProgram(shape, external, { batch: 1, length: 3 });
    const bytes = serializeModel(b.root);
    const folder = { folder: tmp, files: externalDataFiles(b.root) };
    const rt = testRuntime();
    try {
      const first = await rt.load(bytes, undefined, folder);
      assert.equal(await rt.load(bytes, undefined, folder), first);
      const before = statSync(path.join(tmp, "model.safetensors")).mtimeMs;
      // Same bytes, a later mtime: another identity.
      const later = new Date(before + 5000);
      utimesSync(path.join(tmp, "model.safetensors"), later, later);
      const second = await rt.load(bytes, undefined, folder);
      assert.notEqual(second.key, first.key);
      assert.equal(rt.size, 2);
      await assert.rejects(rt.load(bytes, undefined, { folder: tmp, files: ["../model.safetensors"] }), /not a plain file name/);
    } finally {
      await rt.release();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
