// Mutation fuzzing of the compiler, at length: N mutants of every bundled .align file (the mutations of
// test/support/fuzz-mutate.ts, with operator chains of up to 100,000 terms and import chains of up to 2,000
// files), each compiled as `alignc check` and `alignc plan` compile it. Counts internal errors (anything the
// compiler throws: the CLI's exit 2), malformed results (an error without a diagnostic, a span outside its
// file) and hangs, keeps each failing mutant in a folder, and exits 1 when there is any.
//
// Mutants are compiled in a child process. One that runs longer than --timeout (5 s) of CPU time, or 6 times
// that in wall-clock time (a wait that uses no CPU), is a hang: the child is killed and a fresh one goes on.
//
// Usage: npm run fuzz -- --count N [--seed S] [--timeout MS] [--keep DIR]
import { type ChildProcess, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "../test/support/align-files.ts";
import {
  bundledAlignFiles,
  compileMutant,
  FULL_OPTIONS,
  GENERATED_DIR,
  hashString,
  keepMutant,
  type MutantOutcome,
  mutate,
  prepareWorkDir,
  Rng,
  writeMutant,
} from "../test/support/fuzz-mutate.ts";

interface Job {
  id: number;
  target: string;
  set?: string[];
}

type Reply = { id: number; ms: number; outcome: MutantOutcome } | { id: number; ms: number; threw: string };

const CHILD = "ALIGNC_FUZZ_CHILD";

// ── the child: compiles what it is sent ─────────────────────────────────────
function runChild(): void {
  process.on("message", (job: Job) => {
    const started = performance.now();
    let reply: Reply;
    try {
      const outcome = compileMutant(job.target, readFileSync(job.target), job.set);
      reply = { id: job.id, ms: performance.now() - started, outcome };
    } catch (error) {
      reply = { id: job.id, ms: performance.now() - started, threw: (error as Error).stack ?? String(error) };
    }
    process.send?.(reply);
  });
  process.send?.("ready");
}

// ── the parent: makes mutants, watches the child ────────────────────────────
async function runParent(): Promise<void> {
  const { values } = parseArgs({
    options: { count: { type: "string" }, seed: { type: "string" }, timeout: { type: "string" }, keep: { type: "string" } },
  });
  const count = Number(values.count ?? 1000);
  const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  const timeoutMs = Number(values.timeout ?? 5000);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed) || !(timeoutMs > 0)) {
    console.error("usage: npm run fuzz -- --count N [--seed S] [--timeout MS] [--keep DIR]");
    process.exit(2);
  }
  const keepDir = path.resolve(values.keep ?? path.join(tmpdir(), `alignc-fuzz-${seed}`));

  const seeds = bundledAlignFiles();
  const workDir = mkdtempSync(path.join(tmpdir(), "alignc-fuzz-run-"));
  prepareWorkDir(workDir);
  console.log(`fuzz: seed ${seed}, ${count} mutants of ${seeds.length} files, hang after ${timeoutMs} ms of CPU time`);

  const totals = { mutants: 0, ok: 0, rejected: 0, internal: 0, malformed: 0, hangs: 0, slowest: 0, slowestWhat: "" };
  const codes = new Map<string, number>();
  const failures: string[] = [];
  const started = performance.now();
  const runner = new ChildRunner(timeoutMs);

  try {
    for (const [index, seedFile] of seeds.entries()) {
      const n = Math.floor(count / seeds.length) + (index < count % seeds.length ? 1 : 0);
      if (n === 0) continue;
      const original = readFileSync(path.join(repoRoot, seedFile), "utf8");
      const rng = new Rng(seed ^ hashString(seedFile));
      const target = path.join(workDir, seedFile);
      for (let i = 0; i < n; i++) {
        const mutant = mutate(rng, original, path.basename(seedFile), FULL_OPTIONS);
        writeMutant(target, mutant);
        const job: Job = mutant.set ? { id: totals.mutants, target, set: mutant.set } : { id: totals.mutants, target };
        const result = await runner.run(job);
        totals.mutants++;
        const what = `${seedFile} #${i} (${mutant.steps.join("; ")})`;
        const keep = (kind: string, problems: string[]) => {
          const dir = keepMutant(keepDir, `${kind}-${path.basename(seedFile, ".align")}-${i}`, seedFile, mutant, problems);
          failures.push(`${kind}: ${what}\n    ${problems[0]?.split("\n").slice(0, 6).join("\n    ")}\n    kept in ${dir}`);
        };
        if (result === "hang") {
          totals.hangs++;
          keep("hang", [`no result within ${timeoutMs} ms of CPU time (or ${6 * timeoutMs} ms wall-clock)`]);
        } else if (result === "died") {
          totals.internal++;
          keep("internal-error", [`the compiling process died: ${runner.lastDeath}`]);
        } else if ("threw" in result) {
          totals.internal++;
          keep("internal-error", [`threw ${result.threw}`]);
        } else {
          const { outcome } = result;
          if (outcome.ok) totals.ok++;
          else totals.rejected++;
          for (const code of outcome.codes) codes.set(code, (codes.get(code) ?? 0) + 1);
          if (outcome.problems.length > 0) {
            totals.malformed++;
            keep("malformed", outcome.problems);
          }
          if (result.ms > totals.slowest) {
            totals.slowest = result.ms;
            totals.slowestWhat = what;
          }
        }
        if (totals.mutants % 500 === 0) process.stderr.write(`  ${totals.mutants}/${count} mutants, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
      }
      // The next file's mutants see the original of this one (imports reach it).
      writeFileSync(target, original);
      rmSync(path.join(path.dirname(target), GENERATED_DIR), { recursive: true, force: true });
    }
  } finally {
    runner.stop();
    rmSync(workDir, { recursive: true, force: true });
  }

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  for (const f of failures.slice(0, 20)) console.log(f);
  if (failures.length > 20) console.log(`… and ${failures.length - 20} more`);
  console.log(`mutants:                ${totals.mutants} in ${seconds} s`);
  console.log(`compiled ok:            ${totals.ok}`);
  console.log(`rejected (diagnostics): ${totals.rejected}`);
  console.log(`internal errors:        ${totals.internal}`);
  console.log(`malformed results:      ${totals.malformed}`);
  console.log(`hangs:                  ${totals.hangs}`);
  console.log(`slowest:                ${totals.slowest.toFixed(0)} ms, ${totals.slowestWhat}`);
  console.log(
    `codes seen:             ${[...codes]
      .sort()
      .map(([c, k]) => `${c}×${k}`)
      .join(" ")}`,
  );
  if (failures.length > 0) console.log(`failing mutants kept in ${keepDir}`);
  process.exit(totals.internal + totals.hangs + totals.malformed > 0 ? 1 : 0);
}

/** One child process at a time; a fresh one after a hang or a death. */
class ChildRunner {
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  lastDeath = "";

  constructor(private readonly timeoutMs: number) {}

  private start(): Promise<void> {
    const child = fork(path.join(repoRoot, "scripts", "fuzz.ts"), [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, [CHILD]: "1" },
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    child.on("exit", (code, signal) => {
      this.lastDeath = `exit code ${code}, signal ${signal}${stderr ? `\n${stderr}` : ""}`;
    });
    this.child = child;
    return new Promise((resolve, reject) => {
      child.once("message", () => resolve());
      child.once("exit", () => reject(new Error(`the fuzz child did not start: ${this.lastDeath}`)));
    });
  }

  /** The reply, "hang" when it took too long (the child is killed), "died" when the child exited. */
  async run(job: Job): Promise<Reply | "hang" | "died"> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) this.ready = this.start();
    await this.ready;
    const child = this.child as ChildProcess;
    const cpuAtStart = cpuMsOf(child.pid);
    const wallStart = performance.now();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (r: Reply | "hang" | "died") => {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(r);
      };
      const onMessage = (m: Reply) => {
        if (m.id === job.id) done(m);
      };
      const onExit = () => done("died");
      // Past the timeout, a child that has not used that much CPU is only slowed by the machine: wait on,
      // up to six times as long.
      const check = () => {
        const cpu = cpuMsOf(child.pid);
        const used = cpu !== undefined && cpuAtStart !== undefined ? cpu - cpuAtStart : performance.now() - wallStart;
        if (used < this.timeoutMs && performance.now() - wallStart < 6 * this.timeoutMs) {
          timer = setTimeout(check, 500);
          return;
        }
        child.off("exit", onExit);
        child.kill("SIGKILL");
        this.child = undefined;
        done("hang");
      };
      timer = setTimeout(check, this.timeoutMs);
      child.on("message", onMessage);
      child.on("exit", onExit);
      child.send(job);
    });
  }

  stop(): void {
    this.child?.kill("SIGKILL");
  }
}

/** CPU time (user + system) a process has used, from /proc; undefined where there is no /proc. */
function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of the file (utime, stime), counted after the command name: indices 11 and 12, in clock ticks.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

if (process.env[CHILD] === "1") runChild();
else await runParent();
