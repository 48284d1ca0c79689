// Deterministic fuzzing of the front end: every bundled .align file (experiments/ and test/cases/, folders
// included) is mutated many times and each mutant is compiled as `alignc check` and `alignc plan` compile it
// (test/support/fuzz-mutate.ts has the mutations and what a well-formed result is). The compiler must never
// throw, must fail with an error when it fails, and every diagnostic must be well formed with a span inside
// the file and line/column numbers that agree with its offsets.
//
// This is the small slice `npm test` runs: operator chains and import chains stay short here (the long ones
// are in test/robustness.test.ts). A longer run, with chains of up to 100,000 terms and hangs caught:
//   npm run fuzz -- --count 10000 [--seed S]
//   FUZZ_SEED=7 FUZZ_MUTANTS=20000 node --import tsx --test test/fuzz.test.ts    (this test, longer)
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { repoRoot } from "./support/align-files.ts";
import {
  bundledAlignFiles,
  compileMutant,
  hashString,
  keepMutant,
  type MutateOptions,
  mutate,
  prepareWorkDir,
  Rng,
  writeMutant,
} from "./support/fuzz-mutate.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20240607);
const TOTAL_MUTANTS = Number(process.env.FUZZ_MUTANTS ?? 3000);
/** A single compile slower than this is reported as a hang. */
const SLOW_MS = 2000;
/** Short chains: the slice must stay fast. Chains past the limits (ALN1010, ALN1013) still come up. */
const OPTIONS: MutateOptions = { maxChainTerms: 2_000, maxImportFiles: 100 };

const seeds = bundledAlignFiles();
const perFile = Math.max(1, Math.ceil(TOTAL_MUTANTS / Math.max(1, seeds.length)));

// Mutants replace their original in a copy of the bundled trees, so that imports still resolve.
const workDir = mkdtempSync(path.join(tmpdir(), "alignc-fuzz-"));
prepareWorkDir(workDir);
const keepDir = path.join(tmpdir(), "alignc-fuzz-failures");

const totals = { mutants: 0, trials: 0, ok: 0, failedWithErrors: 0, invalidUtf8: 0, diagnostics: 0, ms: 0, slowest: 0, slowestFile: "" };
const codes = new Map<string, number>();

describe(`fuzz (seed ${SEED}, ${perFile} mutants per file, ${seeds.length} files)`, () => {
  after(() => rmSync(workDir, { recursive: true, force: true }));

  for (const seedFile of seeds) {
    test(seedFile, (t) => {
      const original = readFileSync(path.join(repoRoot, seedFile), "utf8");
      const rng = new Rng(SEED ^ hashString(seedFile));
      const target = path.join(workDir, seedFile);
      const failures: string[] = [];
      for (let i = 0; i < perFile; i++) {
        const mutant = mutate(rng, original, path.basename(seedFile), OPTIONS);
        writeMutant(target, mutant);
        const started = performance.now();
        let problems: string[];
        try {
          const outcome = compileMutant(target, mutant.bytes, mutant.set);
          const ms = performance.now() - started;
          totals.ms += ms;
          if (ms > totals.slowest) {
            totals.slowest = ms;
            totals.slowestFile = `${seedFile} #${i}`;
          }
          problems = outcome.problems;
          if (ms > SLOW_MS) problems.push(`took ${ms.toFixed(0)} ms`);
          totals.mutants++;
          if (outcome.trial) totals.trials++;
          if (outcome.ok) totals.ok++;
          else totals.failedWithErrors++;
          if (outcome.codes.includes("ALN0004")) totals.invalidUtf8++;
          totals.diagnostics += outcome.codes.length;
          for (const code of outcome.codes) codes.set(code, (codes.get(code) ?? 0) + 1);
        } catch (error) {
          problems = [`threw ${(error as Error).stack ?? String(error)}`];
        }
        if (problems.length > 0) {
          const kept = keepMutant(keepDir, `${path.basename(seedFile, ".align")}-seed${SEED}-${i}`, seedFile, mutant, problems);
          failures.push(`mutant ${i} (${mutant.steps.join("; ")}; kept in ${kept}):\n  ${problems.slice(0, 5).join("\n  ")}`);
          if (failures.length >= 5) break;
        }
      }
      // The next files' mutants see the original of this one (imports reach it).
      writeMutant(target, { bytes: Buffer.from(original), steps: [] });
      t.diagnostic(`${perFile} mutants`);
      assert.equal(failures.length, 0, failures.join("\n"));
    });
  }

  test("summary", (t) => {
    t.diagnostic(
      `${totals.mutants} mutants compiled in ${(totals.ms / 1000).toFixed(1)} s (slowest ${totals.slowest.toFixed(0)} ms: ${totals.slowestFile}); ` +
        `${totals.ok} compiled (${totals.trials} with a sweep, whose trial 0 was compiled too), ${totals.failedWithErrors} rejected with errors (${totals.invalidUtf8} as invalid UTF-8); ${totals.diagnostics} diagnostics`,
    );
    t.diagnostic(
      `codes: ${[...codes]
        .sort()
        .map(([c, n]) => `${c}×${n}`)
        .join(" ")}`,
    );
    assert.ok(totals.mutants >= Math.min(TOTAL_MUTANTS, perFile * seeds.length) * 0.99, "every mutant was compiled");
  });
});
