// The forms of a Hugging Face alignment pipeline written in a .align file (experiments/hf/text-dpo.align: hf(path),
// TRL prompts plain and conversational, sample, a command rater, pair, LoRA DPO, greedy sampling from the aligned
// phase, export) run end to end with `alignc run`; the second run reuses every node; the aligned phase is a Hugging Face
// directory that loads again and answers as the exported greedy samples say. And TRL's conversational rows keep
// their messages from import to export.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { exportFile, importFile } from "../src/runtime/data/formats/index.ts";
import { HfGenerator } from "../src/runtime/models/hf/generate.ts";
import { loadHfModel } from "../src/runtime/models/hf/model.ts";
import { itemPromptIds } from "../src/runtime/models/hf/prompts.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { repoRoot } from "./support/align-files.ts";
import { testRuntime } from "./support/device.ts";

const ALIGNC = path.join(repoRoot, "bin/alignc.js");

function alignc(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [ALIGNC, ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 300_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test("experiments/hf/text-dpo.align runs end to end on a tiny Qwen2, reuses everything the second time, and its aligned phase answers as exported", async () => {
  const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), "alignc-hf-pipeline-")));
  try {
    // The experiment with its prompts and rater, and the checkpoint where its default param points.
    cpSync(path.join(repoRoot, "experiments/hf"), path.join(dir, "experiments/hf"), { recursive: true });
    cpSync(path.join(repoRoot, "experiments/raters"), path.join(dir, "experiments/raters"), { recursive: true });
    cpSync(path.join(repoRoot, "test/fixtures/hf/qwen2-tied-v5"), path.join(dir, "test/fixtures/hf/qwen2-tied-v5"), { recursive: true });
    const file = path.join(dir, "experiments/hf/text-dpo.align");
    const runDir = path.join(dir, "run");
    const first = alignc(["run", file, "--run-dir", runDir], dir);
    assert.equal(first.status, 0, first.out);
    for (const node of ["policy", "samples", "rated", "pairs", "aligned.reference", "aligned", "greedy", "out"])
      assert.match(first.out, new RegExp(`✓ ${node.replace(".", "\\.")} in`), node);
    const again = alignc(["run", file, "--run-dir", runDir], dir);
    assert.equal(again.status, 0, again.out);
    assert.match(again.out, /done: 0 nodes run, 10 already stored/);

    const greedy = readFileSync(path.join(runDir, "greedy.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { item: WorldItem; responses: { text: string; tokens: number }[] });
    assert.equal(greedy.length, 8);
    assert.equal(
      greedy.filter((r) => r.item.messages).length,
      5,
      "the conversational prompts keep their messages (a system message and earlier turns included)",
    );
    const aligned = loadHfModel(path.join(runDir, "outputs", "aligned"));
    const gen = new HfGenerator(testRuntime(), aligned);
    try {
      const rows = greedy.map((r) => ({ promptIds: itemPromptIds(aligned, r.item) }));
      const out = await gen.generate(rows, { maxTokens: 16, temperature: 0, seed: 0 });
      assert.deepEqual(
        out.map((o) => o.text),
        greedy.map((r) => r.responses[0]!.text),
      );
    } finally {
      await gen.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("TRL conversational rows keep their messages from import to a TRL export, standard rows stay strings", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "alignc-trl-chat-"));
  try {
    const file = path.join(dir, "pairs.jsonl");
    writeFileSync(
      file,
      [
        {
          id: "a",
          prompt: [{ role: "user", content: "Hi?" }],
          chosen: [{ role: "assistant", content: "Hello." }],
          rejected: [{ role: "assistant", content: "Go." }],
        },
        { id: "b", prompt: "Plain?", chosen: "Yes.", rejected: "No." },
      ]
        .map((r) => JSON.stringify(r))
        .join("\n"),
    );
    const imported = importFile({ file, kind: "pairs", format: "trl" });
    assert.deepEqual(imported.problems, []);
    const [a, b] = imported.dataset.records as { item: WorldItem }[];
    assert.deepEqual(a!.item.messages, [{ role: "user", content: "Hi?" }]);
    assert.equal(a!.item.prompt, "Hi?");
    assert.equal(b!.item.messages, undefined);
    const out = path.join(dir, "out.jsonl");
    exportFile(imported.dataset, "trl", out);
    const rows = readFileSync(out, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows[0], {
      id: "a",
      prompt: [{ role: "user", content: "Hi?" }],
      chosen: [{ role: "assistant", content: "Hello." }],
      rejected: [{ role: "assistant", content: "Go." }],
    });
    assert.deepEqual(rows[1], { id: "b", prompt: "Plain?", chosen: "Yes.", rejected: "No." });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
