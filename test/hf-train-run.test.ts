// Training a Hugging Face checkpoint end to end at the runtime level (src/runtime/models/hf/train.ts): LoRA DPO over
// weights read in place and full-fine-tuning SFT, a few optimizer steps on the fixture checkpoints, then the trained
// model written as a Hugging Face directory with its PEFT adapter (checkpoint-io.ts). The written directory loads in
// alignc again, and — live, with transformers and peft (ALIGNC_PYTHON; CI installs them) — in transformers on its own
// and as base + adapter in peft, with the same logits as alignc's.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { buildHfLogitsProgram } from "../src/models/hf/decoder.ts";
import { arangePositions, ropeTables } from "../src/models/hf/rope.ts";
import { PEFT_CONFIG_FILE, PEFT_DIR, PEFT_WEIGHTS_FILE } from "../src/runtime/models/hf/checkpoint-io.ts";
import { hfAnswerLogProbs } from "../src/runtime/models/hf/logprobs.ts";
import { type HfModel, loadHfModel } from "../src/runtime/models/hf/model.ts";
import { type HfPair, trainHfDpo, trainHfSft } from "../src/runtime/models/hf/train.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";
import { externalDataFiles, serializeModel } from "../src/tensor/onnx/serialize.ts";
import { adamw, sgd } from "../src/tensor/optim/types.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

const python = process.env.ALIGNC_PYTHON ?? "python3";
const hasPeft = spawnSync(python, ["-c", "import torch, transformers, peft"]).status === 0;
const noPython = `${python} lacks torch, transformers or peft: the live cross-check with transformers/peft DID NOT RUN (set ALIGNC_PYTHON to a Python that has them; .ci/run installs them)`;

interface Golden {
  dpo: { prompt_ids: number[]; chosen_ids: number[]; rejected_ids: number[] };
}

const golden = (name: string) => JSON.parse(readFileSync(path.join(repoRoot, "test/fixtures/hf/golden", `${name}.json`), "utf8")) as Golden;

/** alignc's logits of `model` for one row of ids, float32 [T·V]. */
async function logitsOf(model: HfModel, ids: number[]): Promise<Float32Array> {
  const rt = testRuntime();
  try {
    const b = buildHfLogitsProgram(model.shape, model.weights, { batch: 1, length: ids.length });
    const s = await rt.load(serializeModel(b.root), undefined, { folder: model.weights.folder, files: externalDataFiles(b.root) });
    const { cos, sin } = ropeTables(model.shape, arangePositions(1, ids.length));
    const int64 = (v: number[]): TensorData => ({ dtype: "int64", shape: [1, v.length], data: BigInt64Array.from(v.map(BigInt)) });
    return (await rt.run(s, { input_ids: int64(ids), attention_mask: int64(ids.map(() => 1)), cos, sin })).logits!.data as Float32Array;
  } finally {
    await rt.release();
  }
}

/** transformers' logits of the saved directory, and peft's of base + the directory's adapter (when `base` is given). */
function liveLogits(saved: string, base: string | undefined, ids: number[]): { merged: number[]; peft?: number[] } {
  const script = `
import json, sys, torch
from transformers import AutoModelForCausalLM
saved, base, ids = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
x = torch.tensor([ids])
with torch.no_grad():
    m = AutoModelForCausalLM.from_pretrained(saved, dtype=torch.float32).eval()
    out = {"merged": m(input_ids=x).logits[0].flatten().tolist()}
    if base:
        from peft import PeftModel
        p = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), saved + "/adapter").eval()
        out["peft"] = p(input_ids=x).logits[0].flatten().tolist()
print(json.dumps(out))
`;
  const r = spawnSync(python, ["-c", script, saved, base ?? "", JSON.stringify(ids)], { encoding: "utf8", maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

for (const [name, dir] of [
  ["qwen2-tied", "test/fixtures/hf/qwen2-tied-v5"],
  ["llama-gqa", "test/fixtures/hf/llama-gqa-v4"],
] as const) {
  test(`LoRA DPO on ${path.basename(dir)}: starts at log 2, learns the pairs, writes a directory transformers and peft load with alignc's logits`, async (t) => {
    const model = loadHfModel(path.join(repoRoot, dir));
    const g = golden(name).dpo;
    const rt = testRuntime();
    const out = mkdtempSync(path.join(os.tmpdir(), "alignc-hf-train-"));
    try {
      // Three pairs: the golden one and two with shortened prompts; reference = the base model's log-probs.
      const prompts = [g.prompt_ids, g.prompt_ids.slice(0, 9), g.prompt_ids.slice(0, 5)];
      const rows = prompts.flatMap((p) => [
        { promptIds: p, answerIds: g.chosen_ids },
        { promptIds: p, answerIds: g.rejected_ids },
      ]);
      const ref = await hfAnswerLogProbs(rt, model, rows);
      const pairs: HfPair[] = prompts.map((p, i) => ({
        promptIds: p,
        chosenIds: g.chosen_ids,
        rejectedIds: g.rejected_ids,
        weight: 1,
        refChosen: ref[2 * i]!.sum,
        refRejected: ref[2 * i + 1]!.sum,
      }));
      const lora = { rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"] as const };
      const { pool, rows: steps } = await trainHfDpo(rt, model, pairs, {
        batch: 3,
        accumulation: 1,
        steps: 12,
        stepsPerRun: 4,
        optimizer: adamw({ lr: 0.02, weightDecay: 0 }),
        schedule: { kind: "constant", warmupSteps: 0 },
        clipNorm: 1,
        seed: 3,
        lora: { ...lora, targets: [...lora.targets] },
        objective: { loss: "sigmoid", beta: 0.1, labelSmoothing: 0, logps: "sum", sftWeight: 0 },
      });
      assert.equal(steps.length, 12);
      assert.ok(Math.abs(steps[0]!.loss - Math.log(2)) < 1e-5, `step 1 loss ${steps[0]!.loss}: policy = reference at the start`);
      assert.ok(steps.at(-1)!.loss < steps[0]!.loss - 0.05, `loss ${steps[0]!.loss} → ${steps.at(-1)!.loss}`);
      assert.equal(steps.at(-1)!["rewards/accuracies"], 1);
      pool.saveModel(out);
      assert.ok(existsSync(path.join(out, PEFT_DIR, PEFT_CONFIG_FILE)) && existsSync(path.join(out, PEFT_DIR, PEFT_WEIGHTS_FILE)));
      assert.ok(!existsSync(path.join(out, PEFT_CONFIG_FILE)), "the adapter is not at the top (transformers would apply it again)");
      const saved = loadHfModel(out);
      assert.deepEqual(saved.stopIds, model.stopIds);
      // The saved (merged) model scores the chosen answers above the base model now.
      const after = await hfAnswerLogProbs(rt, saved, rows);
      const margin = (lp: typeof ref, i: number) => lp[2 * i]!.sum - lp[2 * i + 1]!.sum;
      for (let i = 0; i < 3; i++) assert.ok(margin(after, i) > margin(ref, i), `pair ${i}: margin ${margin(ref, i)} → ${margin(after, i)}`);
      const ids = [...g.prompt_ids, ...g.chosen_ids];
      const ours = await logitsOf(saved, ids);
      if (!hasPeft) return t.skip(noPython);
      const live = liveLogits(out, path.join(repoRoot, dir), ids);
      const dMerged = maxDiff(ours, live.merged);
      const dPeft = maxDiff(ours, live.peft!);
      t.diagnostic(`max |alignc − transformers| ${dMerged.toExponential(2)}, max |alignc − peft (base + adapter)| ${dPeft.toExponential(2)}`);
      assert.ok(dMerged <= 1e-4 && dPeft <= 1e-4, `merged ${dMerged}, peft ${dPeft}`);
    } finally {
      await rt.release();
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test("full-fine-tuning SFT on the Mistral fixture lowers the loss, and the written directory loads in transformers with alignc's logits", async (t) => {
  const dir = path.join(repoRoot, "test/fixtures/hf/mistral");
  const model = loadHfModel(dir);
  const g = golden("mistral").dpo;
  const rt = testRuntime();
  const out = mkdtempSync(path.join(os.tmpdir(), "alignc-hf-sft-"));
  try {
    const examples = [
      { promptIds: g.prompt_ids, answerIds: g.chosen_ids },
      { promptIds: g.prompt_ids.slice(0, 6), answerIds: g.chosen_ids },
    ];
    const { pool, rows } = await trainHfSft(rt, model, examples, {
      batch: 2,
      accumulation: 1,
      steps: 6,
      stepsPerRun: 3,
      optimizer: sgd({ lr: 0.05 }),
      schedule: { kind: "constant", warmupSteps: 0 },
      clipNorm: 1,
      seed: 0,
    });
    assert.ok(rows.at(-1)!.loss < rows[0]!.loss - 0.1, `loss ${rows[0]!.loss} → ${rows.at(-1)!.loss}`);
    pool.saveModel(out);
    assert.ok(!existsSync(path.join(out, PEFT_DIR)), "no adapter for full fine-tuning");
    const saved = loadHfModel(out);
    const ids = [...g.prompt_ids, ...g.chosen_ids];
    const ours = await logitsOf(saved, ids);
    if (!hasPeft) return t.skip(noPython);
    const d = maxDiff(ours, liveLogits(out, undefined, ids).merged);
    t.diagnostic(`max |alignc − transformers| ${d.toExponential(2)}`);
    assert.ok(d <= 1e-4, `${d}`);
  } finally {
    await rt.release();
    rmSync(out, { recursive: true, force: true });
  }
});
