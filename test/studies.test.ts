// The CI smoke test of the paper studies (docs/results.md): experiments/li2024/li2024.align, shrunk to a few
// hundred examples and two training steps per model, run as its three-seed sweep with two workers, then
// `alignc report --out FILE.md` makes the tables docs/results.md holds: every evaluated model of the file, in its
// evaluations' order, with n = 3 and a spread. The full studies' sizes are the files' defaults.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import type { SweepSummary } from "../src/runtime/sweeps/local.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-studies-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ALIGNC = path.resolve("bin/alignc.js");
const STUDY = path.resolve("experiments/li2024/li2024.align");

/** The reduced study: tiny data and models trained for two steps — enough to run every node kind once. */
const SMOKE = ["llm_steps=2", "vit_steps=2", "text_items=32", "visual_items=128", "test_items=20", "prompts=48", "batch=2", "max_tokens=6"].flatMap((s) => [
  "--set",
  s,
]);

function alignc(args: string[]) {
  const r = spawnSync(process.execPath, [ALIGNC, ...args], { encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, `alignc ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

describe("li2024 study, reduced (CI smoke test)", () => {
  test("three seeds run as a sweep, and alignc report makes the results tables", () => {
    const sweepDir = path.join(dir, "seeds");
    alignc(["sweep", STUDY, "--workers", "2", "--sweep-dir", sweepDir, "--store", path.join(dir, "store"), ...SMOKE]);
    const summary = JSON.parse(readFileSync(path.join(sweepDir, "sweep.json"), "utf8")) as SweepSummary;
    assert.deepEqual(
      summary.trials.map((t) => [t.values.seed, t.status]),
      [
        [1, "ok"],
        [2, "ok"],
        [3, "ok"],
      ],
    );

    const out = path.join(dir, "li2024.md");
    alignc(["report", sweepDir, "--out", out]);
    const md = readFileSync(out, "utf8");
    assert.match(md, /mean ± sample standard deviation over seed = 1, 2, 3 \(3 of 3 trials finished;/);
    const tables = [...md.matchAll(/^## (\S+) \(on test\)$/gm)].map((m) => m[1]);
    assert.deepEqual(tables, ["before_after", "main", "label_flip", "data_size"]);
    const models = [
      "vit",
      "sft_answers",
      "rejection_sampling",
      "dpo_rated",
      "dpo_flip_25",
      "dpo_flip_50",
      "dpo_flip_75",
      "dpo_size_25",
      "dpo_size_50",
      "dpo_size_75",
    ];
    for (const model of models) {
      const row = md.split("\n").find((l) => l.startsWith(`| ${model} | `) && l.includes("±") && /\| [\d.]+ ± [\d.]+ \|$/.test(l));
      assert.ok(row, `no row with a spread for ${model} in:\n${md}`);
      assert.match(row, new RegExp(`^\\| ${model} \\| 3 \\|`), `${model}: n is not 3`);
    }
    // The same summary leads the sweep's HTML report.
    alignc(["report", sweepDir, "--out", path.join(dir, "seeds.html")]);
    const html = readFileSync(path.join(dir, "seeds.html"), "utf8");
    assert.match(html, /<h2>Across seeds<\/h2>/);
    assert.ok(html.indexOf("Across seeds") < html.indexOf("<h2>Trials</h2>"));
  });

  test("a replicate axis that the sweep lacks is an error that names its axes", () => {
    const r = spawnSync(process.execPath, [ALIGNC, "report", path.join(dir, "seeds"), "--out", path.join(dir, "x.md"), "--across", "beta"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /sweep seeds has no axis 'beta'; its axes are seed/);
  });
});
