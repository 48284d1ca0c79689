// Options every command shares, and what the CLI says about a declaration nothing uses:
// - `--no-color` and `--color` are accepted by every command (those that print diagnostics obey them; the others
//   print no colour), so `alignc inspect RUN NODE --no-color` works like `alignc check FILE --no-color`;
// - ALN3017 ("declared but never used") says what happens: the declaration still runs, and `alignc run` stores it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import type { Command } from "../src/cli/common/command.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-cli-options-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ALIGNC = path.resolve("bin/alignc.js");

function alignc(args: string[]) {
  const r = spawnSync(process.execPath, [ALIGNC, ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "" }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const ESC = String.fromCharCode(27);

/** Every command: the Command objects the modules under src/cli/commands/ export. */
async function commands(): Promise<Command[]> {
  const out: Command[] = [];
  for (const f of readdirSync("src/cli/commands")
    .filter((n) => n.endsWith(".ts"))
    .sort()) {
    const mod = (await import(pathToFileURL(path.resolve("src/cli/commands", f)).href)) as Record<string, unknown>;
    for (const v of Object.values(mod)) if (v && typeof v === "object" && "name" in v && "options" in v && "run" in v) out.push(v as Command);
  }
  return out;
}

describe("--no-color and --color", () => {
  test("every command declares both (the command line refuses an option a command does not declare)", async () => {
    const all = await commands();
    assert.ok(all.length >= 13 && all.some((c) => c.name === "inspect"), all.map((c) => c.name).join(", "));
    for (const c of all) {
      assert.deepEqual([c.options["no-color"]?.type, c.options.color?.type], ["boolean", "boolean"], `alignc ${c.name}`);
      assert.match(c.help, /--no-color/, `alignc ${c.name} --help mentions --no-color`);
    }
  });

  test("through the command line: inspect takes --no-color and --color before --help", () => {
    for (const flag of ["--no-color", "--color"]) {
      const r = alignc(["inspect", flag, "--help"]);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /Unknown option/);
    }
  });
});

describe("a declaration nothing uses (ALN3017)", () => {
  const file = path.join(dir, "unused.align");
  const runDir = path.join(dir, "run");
  writeFileSync(file, "align 1\ndataset extra = shapes { split: test, count: 4, seed: 1, tasks: [pope] }\n");

  test("is warned about, still runs, and alignc inspect shows it with --no-color", () => {
    const run = alignc(["run", file, "--run-dir", runDir, "--no-color"]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /warning\[ALN3017\]: dataset 'extra' is declared but never used/);
    assert.doesNotMatch(run.stderr, new RegExp(`${ESC}\\[`), "no colour codes with --no-color");
    // The warning's explanation says what happened: the node ran and its output is stored.
    assert.match(run.stderr, /✓ extra in /);
    assert.ok(existsSync(path.join(runDir, "outputs", "extra")), "the unused dataset's output is stored");
    const explain = alignc(["explain", "ALN3017", "--no-color"]);
    assert.equal(explain.status, 0, explain.stderr);
    assert.match(explain.stdout, /still a node of the execution graph, so `alignc run` computes it/);
    assert.doesNotMatch(explain.stdout, /would not run|not computed/);

    for (const flag of ["--no-color", "--color"]) {
      const inspect = alignc(["inspect", runDir, "extra", flag, "--limit", "1"]);
      assert.equal(inspect.status, 0, `inspect ${flag}: ${inspect.stderr}`);
      assert.match(inspect.stdout, /^extra \(data\.shapes\): 4 prompts records; showing 1/);
      assert.doesNotMatch(inspect.stdout, new RegExp(`${ESC}\\[`));
    }
  });
});

describe("--tf32 on|off (run, plan, sweep)", () => {
  const file = path.join(dir, "tf32.align");
  writeFileSync(file, "align 1\ndataset d = shapes { split: test, count: 2, seed: 1, tasks: [pope] }\n");
  const env = (extra: Record<string, string | undefined>) => {
    const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "", ...extra };
    for (const [k, v] of Object.entries(extra)) if (v === undefined) delete e[k];
    return e;
  };
  const run = (args: string[], extra: Record<string, string | undefined> = {}) =>
    spawnSync(process.execPath, [ALIGNC, ...args], { encoding: "utf8", env: env(extra), timeout: 120_000 });

  test("a value other than on or off, and on against NVIDIA_TF32_OVERRIDE=0, are usage errors that say what to do", () => {
    for (const command of ["run", "plan", "sweep"]) {
      const bad = run([command, file, "--tf32", "maybe"], { NVIDIA_TF32_OVERRIDE: undefined });
      assert.equal(bad.status, 1, `${command}: ${bad.stderr}`);
      assert.match(bad.stderr, /--tf32 must be on or off, got 'maybe'/);
    }
    const clash = run(["plan", file, "--tf32", "on"], { NVIDIA_TF32_OVERRIDE: "0" });
    assert.equal(clash.status, 1, clash.stderr);
    assert.match(clash.stderr, /NVIDIA_TF32_OVERRIDE=0 is in the environment .* unset it, or use --tf32 off/);
  });

  test("plan and run accept it; on the CPU it changes nothing", () => {
    const runDir = path.join(dir, "tf32-run");
    const r = run(["run", file, "--run-dir", runDir, "--tf32", "off"], { NVIDIA_TF32_OVERRIDE: undefined });
    assert.equal(r.status, 0, r.stderr);
    const p = run(["plan", file, "--run-dir", runDir, "--tf32", "on", "--format", "status"], { NVIDIA_TF32_OVERRIDE: undefined });
    assert.equal(p.status, 0, p.stderr);
    assert.ok(
      (JSON.parse(p.stdout) as { stored: boolean }[]).every((s) => s.stored),
      "a CPU run's keys do not depend on TF32",
    );
  });
});
