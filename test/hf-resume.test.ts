// Checkpoints and --resume of a Hugging Face LoRA DPO phase (docs/checkpoints.md): a phase that fails after a
// checkpoint continues with --resume and ends with the bytes of an uninterrupted run — the merged model.safetensors,
// the PEFT adapter — and its metrics; each mid-phase checkpoint is a Hugging Face directory with its adapter.
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { compile } from "../src/compiler/compile.ts";
import { PEFT_DIR, PEFT_WEIGHTS_FILE } from "../src/runtime/models/hf/checkpoint-io.ts";
import { loadHfModel } from "../src/runtime/models/hf/model.ts";
import { checkpointsIn } from "../src/runtime/pipeline/checkpoints.ts";
import { EXECUTORS } from "../src/runtime/pipeline/executors/index.ts";
import { RunLayout } from "../src/runtime/pipeline/layout.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import type { NodeExecutor } from "../src/runtime/pipeline/node-executor.ts";
import { RunError, runGraph } from "../src/runtime/pipeline/runner/run-graph.ts";
import { repoRoot } from "./support/align-files.ts";
import { cpuOnly } from "./support/device.ts";
import { failingAfterStep } from "./support/exec-context.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-hf-resume-"));
after(() => rmSync(dir, { recursive: true, force: true }));
cpSync(path.join(repoRoot, "test/fixtures/hf/qwen2-tied-v5"), path.join(dir, "hf-model"), { recursive: true });
const pairs = ["sky", "sea", "sun", "tree", "cat", "dog"].map((w, i) =>
  JSON.stringify(
    i % 2 === 0
      ? { id: w, prompt: `Tell me about the ${w}.`, chosen: `The ${w} is fine.`, rejected: `No.` }
      : {
          id: w,
          prompt: [{ role: "user", content: `What is a ${w}?` }],
          chosen: [{ role: "assistant", content: `A ${w}.` }],
          rejected: [{ role: "assistant", content: "Hm." }],
        },
  ),
);
writeFileSync(path.join(dir, "pairs.jsonl"), `${pairs.join("\n")}\n`);
const file = path.join(dir, "hf-dpo.align");
writeFileSync(
  file,
  `align 1
model base = hf("hf-model")
dataset pairs = file("pairs.jsonl") { kind: pairs, format: trl }
phase aligned = dpo(base, pairs) {
  steps: 12
  batch: 2
  steps_per_run: 4
  checkpoint_every: 4
  recompute: true
  lora: { rank: 2, targets: [q_proj, v_proj, down_proj] }
  optimizer: adamw { lr: 1e-2 }
}
`,
);

async function run(runDir: string, o: { resume?: boolean; executors?: ReadonlyMap<string, NodeExecutor> } = {}) {
  const result = await compile(file);
  assert.ok(result.graph, result.diagnostics.map((d) => d.message).join("\n"));
  const lines: string[] = [];
  const log = new RunLog(undefined, { write: (t) => lines.push(t), isTTY: false });
  const outcomes = await runGraph(result.graph, { layout: new RunLayout(runDir), entryAbsPath: file, device: "cpu", log, ...o });
  return { outcomes, log: lines.join("") };
}

const bytes = (runDir: string, ...rel: string[]) => readFileSync(path.join(runDir, "outputs", "aligned", ...rel));
const metricsOf = (runDir: string) =>
  readFileSync(path.join(runDir, "metrics", "aligned.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => {
      const { tokens_per_second: _, ...rest } = JSON.parse(l) as Record<string, number>;
      return rest;
    });

test("a Hugging Face LoRA DPO phase that fails after a checkpoint resumes to the bytes of an uninterrupted run", {
  skip: cpuOnly("bit-identical results on the CPU"),
  timeout: 240_000,
}, async () => {
  const clean = path.join(dir, "runs", "clean");
  await run(clean);
  const failed = path.join(dir, "runs", "failed");
  // train.dpo failing at step 9: the checkpoint at step 8 is complete by then.
  const failing = failingAfterStep(EXECUTORS, "train.dpo", 8);
  await assert.rejects(run(failed, { executors: failing }), (e: RunError) => e instanceof RunError && /aligned's checkpoint at step 8 is kept/.test(e.message));
  const partial = path.join(failed, "store", ".partial");
  const [scratch] = readdirSync(partial).map((k) => path.join(partial, k));
  const kept = checkpointsIn(scratch as string);
  assert.deepEqual(
    kept.map((c) => c.step),
    [8, 4],
  );
  // A checkpoint is a Hugging Face directory with its adapter, loadable as a model.
  const at8 = kept[0]!.dir;
  assert.ok(existsSync(path.join(at8, PEFT_DIR, PEFT_WEIGHTS_FILE)));
  assert.equal(loadHfModel(at8).config.architecture, "Qwen2ForCausalLM");

  const resumed = await run(failed, { resume: true });
  assert.match(resumed.log, /aligned: resuming from the checkpoint at step 8 of 12/);
  assert.ok(bytes(failed, "model.safetensors").equals(bytes(clean, "model.safetensors")), "merged weights differ from the uninterrupted run's");
  assert.ok(bytes(failed, PEFT_DIR, PEFT_WEIGHTS_FILE).equals(bytes(clean, PEFT_DIR, PEFT_WEIGHTS_FILE)), "the adapter differs");
  assert.deepEqual(metricsOf(failed), metricsOf(clean));
  assert.equal(metricsOf(clean).length, 12);
});
