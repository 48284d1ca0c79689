// The README's first command: the bundled quickstart runs end to end from the committed starting model and prints
// one table of both models with its legend and caption. Smaller than the real run (64 prompts, 200 held-out items)
// so that the suite stays quick; the real figures are in docs/results.md.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { repoRoot } from "./support/align-files.ts";

const runDir = mkdtempSync(path.join(tmpdir(), "alignc-quickstart-"));
after(() => rmSync(runDir, { recursive: true, force: true }));

test("experiments/quickstart.align: VIT checkpoint → sample → rate → pair → DPO → one table with a legend", () => {
  const args = ["run", "experiments/quickstart.align", "--run-dir", runDir, "--set", "prompts=64", "--set", "heldout_items=200"];
  const r = spawnSync(process.execPath, [path.join(repoRoot, "bin/alignc.js"), ...args], { cwd: repoRoot, encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  for (const node of ["vit", "samples", "rated", "pairs", "aligned", "quickstart.answers.vit", "quickstart.answers.aligned", "quickstart"])
    assert.match(r.stderr, new RegExp(`✓ ${node.replace(/\./g, "\\.")} in `), `${node} ran`);
  const out = r.stdout;
  assert.match(
    out,
    /## quickstart on heldout\n\n\| model \| POPE acc \| POPE F1 \| CHAIR_i ↓ \| CHAIR_s ↓ \| recall \| helpfulness \| correctness \| coherence \|/,
  );
  assert.match(out, /\n\| vit \| [\d.]+% \|/);
  assert.match(out, /\n\| aligned \| [\d.]+% \|/);
  assert.match(out, /\(higher is better\).*\(lower is better\)/, "the legend says which way is better");
  assert.match(out, /What to expect \(3 seeds, docs\/results\.md\): /, "the caption");
  // The starting model is the committed checkpoint, copied into the store.
  const vit = path.join(runDir, "outputs", "vit");
  assert.ok(existsSync(path.join(vit, "model.safetensors")));
  assert.deepEqual(readFileSync(path.join(vit, "tokenizer.json")), readFileSync(path.join(repoRoot, "experiments/models/vit-nano/tokenizer.json")));
});
