// Sliding-window attention against transformers, live (ALIGNC_PYTHON with torch and transformers; CI installs them):
// the Mistral fixture with its window shrunk to 4 positions, so a 14-token row and a 5 + 10-token generation cross it
// in every layer — logits within 1e-4 and greedy tokens equal. (The float64 reference and the KV cache's own checks
// are in test/hf-decoder.test.ts; they run without Python.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { buildHfLogitsProgram } from "../src/models/hf/decoder.ts";
import { arangePositions, ropeTables } from "../src/models/hf/rope.ts";
import { HfGenerator } from "../src/runtime/models/hf/generate.ts";
import { loadHfModel } from "../src/runtime/models/hf/model.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { externalDataFiles, serializeModel } from "../src/tensor/onnx/serialize.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

const python = process.env.ALIGNC_PYTHON ?? "python3";
const hasTransformers = spawnSync(python, ["-c", "import torch, transformers"]).status === 0;
const skip = hasTransformers
  ? false
  : `${python} lacks torch or transformers: the live sliding-window check with transformers DID NOT RUN (set ALIGNC_PYTHON to a Python that has them; .ci/run installs them)`;

const SCRIPT = `
import json, sys, torch
from transformers import AutoModelForCausalLM
d, ids, prompt, steps = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
with torch.no_grad():
    logits = m(input_ids=torch.tensor([ids])).logits[0].flatten().tolist()
    out = m.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=steps, min_new_tokens=steps, pad_token_id=0)
print(json.dumps({"logits": logits, "greedy": out[0, len(prompt):].tolist()}))
`;

test("Mistral with a 4-position window: logits and greedy tokens equal transformers'", { skip }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "alignc-hf-window-"));
  const rt = testRuntime();
  try {
    cpSync(path.join(repoRoot, "test/fixtures/hf/mistral"), dir, { recursive: true });
    const config = JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, sliding_window: 4 }));
    const model = loadHfModel(dir);
    assert.equal(model.shape.slidingWindow, 4);
    const ids = [5, 17, 3, 44, 60, 7, 21, 9, 33, 12, 40, 2, 18, 25];
    const prompt = [11, 23, 5, 8, 30];
    const steps = 10;
    const r = spawnSync(python, ["-c", SCRIPT, dir, JSON.stringify(ids), JSON.stringify(prompt), String(steps)], { encoding: "utf8", maxBuffer: 1 << 28 });
    assert.equal(r.status, 0, r.stderr);
    const want = JSON.parse(r.stdout) as { logits: number[]; greedy: number[] };

    const b = buildHfLogitsProgram(model.shape, model.weights, { batch: 1, length: ids.length });
    const session = await rt.load(serializeModel(b.root), undefined, { folder: model.weights.folder, files: externalDataFiles(b.root) });
    const { cos, sin } = ropeTables(model.shape, arangePositions(1, ids.length));
    const int64 = (v: number[]): TensorData => ({ dtype: "int64", shape: [1, v.length], data: BigInt64Array.from(v.map(BigInt)) });
    const got = (await rt.run(session, { input_ids: int64(ids), attention_mask: int64(ids.map(() => 1)), cos, sin })).logits!.data as Float32Array;
    let worst = 0;
    want.logits.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - got[i]!));
    });
    assert.ok(worst <= 1e-4, `max |alignc − transformers| = ${worst}`);

    const gen = new HfGenerator(rt, model);
    try {
      const [row] = await gen.generate([{ promptIds: prompt }], { maxTokens: steps, temperature: 0, seed: 0, stopTokens: [] });
      assert.deepEqual(row?.tokens, want.greedy);
    } finally {
      await gen.close();
    }
  } finally {
    await rt.release();
    rmSync(dir, { recursive: true, force: true });
  }
});
