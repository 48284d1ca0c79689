// Checkpoint directories: bit-exact round trip, atomic replacement, clear errors.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { tinyVlmConfig } from "../src/models/tinyvlm/config.ts";
import { initTinyVlm } from "../src/models/tinyvlm/init.ts";
import { CheckpointError, loadCheckpoint, saveCheckpoint } from "../src/runtime/models/checkpoint.ts";
import { Rng } from "../src/util/random.ts";

const config = tinyVlmConfig("nano", 40);
const params = new Map(initTinyVlm(config, new Rng(2)).map((p) => [p.name, p.data]));
const tokenizer = { version: "1.0", model: { type: "BPE", vocab: { a: 0 }, merges: [] } };

test("save → load is bit-exact, and saving again replaces the checkpoint whole", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "alignc-ck-"));
  try {
    const dir = path.join(root, "nano");
    saveCheckpoint(dir, { config, tokenizer, params });
    assert.deepEqual(readdirSync(dir).sort(), ["config.json", "model.safetensors", "tokenizer.json"]);
    const back = loadCheckpoint(dir);
    assert.deepEqual(back.config, config);
    assert.deepEqual(back.tokenizer, tokenizer);
    assert.deepEqual([...back.params.keys()].sort(), [...params.keys()].sort());
    for (const [name, t] of params)
      assert.deepEqual(
        Buffer.from(back.params.get(name)!.data.buffer, back.params.get(name)!.data.byteOffset, back.params.get(name)!.data.byteLength),
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        name,
      );
    const json = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8"));
    assert.equal(json.model_type, "tinyvlm");
    saveCheckpoint(dir, { config, tokenizer: { ...tokenizer, version: "2" }, params });
    assert.equal((loadCheckpoint(dir).tokenizer as { version: string }).version, "2");
    assert.deepEqual(readdirSync(root), ["nano"]); // no staging leftovers
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("missing files, bad JSON and bad config fields are errors that name the file", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "alignc-ck-"));
  try {
    const dir = path.join(root, "ck");
    assert.throws(() => loadCheckpoint(dir), /not a checkpoint directory/);
    saveCheckpoint(dir, { config, tokenizer, params });
    rmSync(path.join(dir, "tokenizer.json"));
    assert.throws(
      () => loadCheckpoint(dir),
      (e: Error) => e instanceof CheckpointError && /tokenizer\.json is missing/.test(e.message),
    );
    saveCheckpoint(dir, { config, tokenizer, params });
    writeFileSync(path.join(dir, "config.json"), "{ nope");
    assert.throws(() => loadCheckpoint(dir), /config\.json: not valid JSON/);
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ format: "alignc-checkpoint", version: 1, size: "nano", dtype: "float32", vocab: -3 }));
    assert.throws(() => loadCheckpoint(dir), /config\.json: "vocab" must be a positive integer, got -3/);
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ format: "alignc-checkpoint", version: 9 }));
    assert.throws(() => loadCheckpoint(dir), /version 9 is not supported/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

const python = process.env.ALIGNC_PYTHON ?? "python3";
const hasSafetensors = spawnSync(python, ["-c", "import safetensors.numpy"]).status === 0;

test("model.safetensors loads in the Python safetensors library with the same names, shapes and values", {
  skip: hasSafetensors ? false : `${python} has no safetensors package (set ALIGNC_PYTHON to one that has)`,
}, () => {
  const root = mkdtempSync(path.join(os.tmpdir(), "alignc-ck-"));
  try {
    saveCheckpoint(root + "/ck", { config, tokenizer, params });
    const script = [
      "import json, sys",
      "from safetensors.numpy import load_file",
      "t = load_file(sys.argv[1])",
      "print(json.dumps({k: [list(v.shape), str(v.dtype), float(v.astype('float64').sum())] for k, v in t.items()}))",
    ].join("\n");
    const r = spawnSync(python, ["-c", script, path.join(root, "ck", "model.safetensors")], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as Record<string, [number[], string, number]>;
    assert.deepEqual(Object.keys(seen).sort(), [...params.keys()].sort());
    for (const [name, t] of params) {
      const [shape, dtype, sum] = seen[name]!;
      assert.deepEqual(shape, t.shape, name);
      assert.equal(dtype, "float32", name);
      const want = Array.from(t.data as Float32Array).reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(sum - want) <= 1e-6 * (1 + Math.abs(want)), `${name}: ${sum} vs ${want}`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
