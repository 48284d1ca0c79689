// `npm run bench -- torch` end to end on nano, on CPU, with tiny settings: alignc and the PyTorch implementation in
// bench/pytorch/ must agree on the first step's loss and gradient norm (SFT and DPO) within 1e-4 relative, and on
// the greedy tokens (≥ 95%). Needs a Python with torch and safetensors (ALIGNC_PYTHON, else python3); skipped
// otherwise.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const python = process.env.ALIGNC_PYTHON || "python3";
const probe = spawnSync(python, ["-c", "import torch, safetensors"], { encoding: "utf8" });
const missing =
  probe.error || probe.status !== 0
    ? `${python} cannot import torch and safetensors (${(probe.error?.message ?? probe.stderr ?? "").trim().split("\n").pop()}); set ALIGNC_PYTHON to a Python that has them`
    : null;

interface Agreement {
  workload: string;
  quantity: string;
  alignc: number | null;
  torch: number | null;
  rel_diff: number | null;
  pass: boolean | null;
}

test("bench torch: alignc and PyTorch agree on nano (CPU, fp32)", { skip: missing ?? false, timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "alignc-torch-bench-test-"));
  try {
    const out = path.join(dir, "torch.json");
    const args = ["--sizes", "nano", "--runs", "1", "--k", "1,2", "--batch", "2", "--length", "16", "--prompts", "4", "--new-tokens", "8"];
    const r = spawnSync(process.execPath, ["--import", "tsx", "bench/main.ts", "torch", ...args, "--torch-modes", "eager", "--python", python, "--out", out], {
      cwd: root,
      encoding: "utf8",
      timeout: 110_000,
    });
    const log = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, log);
    const results = JSON.parse(readFileSync(out, "utf8")) as {
      sizes: { size: string; rows: { implementation: string; workload: string; ok: boolean; error?: string }[]; agreement: Agreement[] }[];
    };
    const nano = results.sizes[0]!;
    assert.equal(nano.size, "nano");
    for (const row of nano.rows) assert.ok(row.ok, `${row.workload} ${row.implementation}: ${row.error}\n${log}`);
    const find = (workload: string, quantity: string) => {
      const a = nano.agreement.find((x) => x.workload === workload && x.quantity.startsWith(quantity));
      assert.ok(a, `no ${workload} "${quantity}" agreement in the results\n${log}`);
      return a;
    };
    for (const workload of ["sft", "dpo"])
      for (const quantity of ["loss, step 1", "grad norm, step 1"]) {
        const a = find(workload, quantity);
        assert.ok(
          a.rel_diff !== null && a.rel_diff <= 1e-4,
          `${workload} ${quantity}: alignc ${a.alignc}, torch ${a.torch}, relative difference ${a.rel_diff}`,
        );
        assert.equal(a.pass, true);
      }
    const tokens = find("generate", "greedy tokens identical");
    assert.ok(tokens.alignc !== null && tokens.alignc >= 0.95, `greedy tokens agree on ${tokens.alignc} of positions`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
