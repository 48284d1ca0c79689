// The run directory is not trusted to be as alignc left it: links planted in it (an `exports/` or `images/` folder
// leading elsewhere, a link at an export's name or at the temporary names alignc used to use, an `outputs/` or
// `store/` leading out) never make `alignc run` write outside it — each is refused with a clear error and exit 1,
// or, where writing is still safe, replaced. Nothing outside the run directory is created or changed (checked by
// comparing a listing with contents before and after, and — where strace is installed — by tracing every call that
// creates or opens a file for writing). Also: staging directories of runs that died are removed at the start of a
// run, and a torn plan.json makes `alignc report` and `alignc compare` say so (exit 1), not crash (exit 2).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { hostTag } from "../src/runtime/pipeline/store.ts";
import { repoRoot } from "./support/align-files.ts";
import { treeListing } from "./support/tree-listing.ts";

const base = realpathSync(mkdtempSync(path.join(tmpdir(), "alignc-run-dir-safety-")));
after(() => rmSync(base, { recursive: true, force: true }));
const ALIGNC = path.join(repoRoot, "bin/alignc.js");

// A dataset, its corrupted pairs and their export with images: the smallest graph that writes an export.
const FILE = `align 1
dataset pool = shapes { split: train, count: 4, seed: 1 }
dataset pairs = corrupt(pool) { seed: 2 }
dataset exported = export(pairs) { path: "exports/pairs.jsonl", format: trl }
`;

/** A first run's directory, copied for each case (so every case starts from a finished run). */
let template: string;
let n = 0;

function alignc(args: string[], cwd: string, wrap: string[] = []) {
  const argv = [...wrap, process.execPath, ALIGNC, ...args];
  const r = spawnSync(argv[0] as string, argv.slice(1), { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh case: the .align file, a finished run of it (runs/t), and a folder outside holding a file. */
function fixture() {
  const at = path.join(base, `case-${n++}`);
  mkdirSync(at);
  writeFileSync(path.join(at, "t.align"), FILE);
  cpSync(template, path.join(at, "runs", "t"), { recursive: true, verbatimSymlinks: true });
  const outside = path.join(at, "outside");
  mkdirSync(outside);
  writeFileSync(path.join(outside, "victim"), "original\n");
  const runDir = path.join(at, "runs", "t");
  return { at, runDir, outside, snapshot: () => treeListing(outside), run: (wrap: string[] = []) => alignc(["run", "t.align"], at, wrap) };
}

before(() => {
  const first = path.join(base, "first");
  mkdirSync(first);
  writeFileSync(path.join(first, "t.align"), FILE);
  const r = alignc(["run", "t.align"], first);
  assert.equal(r.status, 0, r.stderr);
  template = path.join(first, "runs", "t");
  assert.ok(readdirSync(path.join(template, "exports", "images")).length > 0, "the export has images");
});

describe("planted links in the run directory", () => {
  test("an exports/images folder linking outside is refused, naming it; nothing is written outside", () => {
    const { runDir, outside, snapshot, run } = fixture();
    rmSync(path.join(runDir, "exports", "images"), { recursive: true });
    symlinkSync(outside, path.join(runDir, "exports", "images"));
    const before = snapshot();
    const r = run();
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /exported \(stage\.export\) failed: export path "exports\/pairs\.jsonl": refusing to write into .*exports\/images: it is a symbolic link to .*outside/,
    );
    assert.match(r.stderr, /remove the link/);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
    assert.deepEqual(snapshot(), before);
  });

  test("an exports folder linking outside is refused; nothing is created outside", () => {
    const { runDir, outside, snapshot, run } = fixture();
    rmSync(path.join(runDir, "exports"), { recursive: true });
    symlinkSync(outside, path.join(runDir, "exports"));
    const before = snapshot();
    const r = run();
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /refusing to write into .*runs\/t\/exports: it is a symbolic link to .*outside/);
    assert.deepEqual(snapshot(), before, "not even images/ is created outside");
  });

  test("a link at the export's name, and at the temporary names alignc used to use, is replaced, not written through", () => {
    const { runDir, outside, snapshot, run } = fixture();
    const victim = path.join(outside, "victim");
    const exported = path.join(runDir, "exports", "pairs.jsonl");
    rmSync(exported);
    symlinkSync(victim, exported);
    // An image: a link in its place.
    const image = readdirSync(path.join(runDir, "exports", "images"))[0] as string;
    rmSync(path.join(runDir, "exports", "images", image));
    symlinkSync(victim, path.join(runDir, "exports", "images", image));
    // <target>.alignc-<pid>.tmp (the export and alignc fmt) and .<name>.<pid>.<n>.tmp (align.lock) for the pids the
    // next processes will get.
    const last = existsSync("/proc/sys/kernel/ns_last_pid") ? Number(readFileSync("/proc/sys/kernel/ns_last_pid", "utf8")) : process.pid;
    for (let pid = last + 1; pid <= last + 200; pid++) {
      symlinkSync(victim, `${exported}.alignc-${pid}.tmp`);
      for (const i of [1, 2]) symlinkSync(victim, path.join(runDir, `.align.lock.${pid}.${i}.tmp`));
    }
    const before = snapshot();
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(snapshot(), before);
    assert.ok(lstatSync(exported).isFile() && lstatSync(path.join(runDir, "exports", "images", image)).isFile());
    assert.equal(readFileSync(exported, "utf8"), readFileSync(path.join(template, "exports", "pairs.jsonl"), "utf8"));
    assert.ok(lstatSync(path.join(runDir, "align.lock")).isFile());
  });

  test("outputs/ or store/ linking outside is refused; nothing is written outside", () => {
    for (const name of ["outputs", "store"]) {
      const { runDir, outside, snapshot, run } = fixture();
      rmSync(path.join(runDir, name), { recursive: true });
      symlinkSync(outside, path.join(runDir, name));
      const before = snapshot();
      const r = run();
      assert.equal(r.status, 1, `${name}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`refusing to write into .*runs/t/${name}: it is a symbolic link to .*outside`), name);
      assert.doesNotMatch(r.stderr, /internal error/);
      assert.deepEqual(snapshot(), before, name);
    }
  });

  test("a link at plan.json or align.lock is replaced, not written through", () => {
    const { runDir, outside, snapshot, run } = fixture();
    for (const f of ["plan.json", "align.lock"]) {
      rmSync(path.join(runDir, f));
      symlinkSync(path.join(outside, "victim"), path.join(runDir, f));
    }
    const before = snapshot();
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(snapshot(), before);
    for (const f of ["plan.json", "align.lock"]) assert.ok(lstatSync(path.join(runDir, f)).isFile(), f);
  });
});

/** Where strace is, or undefined. */
const STRACE = ["/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"].find(existsSync);

describe("under strace: no file is created or opened for writing outside the run directory", () => {
  test("planted links at the export, its images and old temporary names; and an images/ folder leading out", { timeout: 300_000 }, (t) => {
    if (!STRACE) {
      t.diagnostic("STRACE NOT INSTALLED: the system-call check of writes outside the run directory did not run (apt-get install strace; .ci/run does)");
      t.skip("strace is not installed: system-call check not run");
      return;
    }
    for (const plant of ["links", "images-out"] as const) {
      const { at, runDir, outside, snapshot, run } = fixture();
      const victim = path.join(outside, "victim");
      if (plant === "links") {
        const exported = path.join(runDir, "exports", "pairs.jsonl");
        rmSync(exported);
        symlinkSync(victim, exported);
        const last = existsSync("/proc/sys/kernel/ns_last_pid") ? Number(readFileSync("/proc/sys/kernel/ns_last_pid", "utf8")) : process.pid;
        for (let pid = last + 1; pid <= last + 100; pid++) symlinkSync(victim, `${exported}.alignc-${pid}.tmp`);
      } else {
        rmSync(path.join(runDir, "exports", "images"), { recursive: true });
        symlinkSync(outside, path.join(runDir, "exports", "images"));
      }
      const trace = path.join(at, "strace.out");
      const before = snapshot();
      const r = run([
        STRACE,
        "-f",
        "-qq",
        "-s",
        "4096",
        "-o",
        trace,
        "-e",
        "trace=openat,open,creat,rename,renameat,renameat2,mkdir,mkdirat,symlink,symlinkat,link,linkat",
      ]);
      assert.equal(r.status, plant === "links" ? 0 : 1, r.stderr);
      assert.deepEqual(snapshot(), before);
      const writes = writesIn(readFileSync(trace, "utf8"), at);
      // The trace saw the run's writes: the export's (where it works) and plan.json's.
      if (plant === "links")
        assert.ok(
          writes.some((w) => w.effective === `${runDir}/exports/pairs.jsonl`),
          "the trace shows the export's writes",
        );
      assert.ok(
        writes.some((w) => w.effective === `${runDir}/plan.json`),
        `${plant}: the trace shows plan.json written`,
      );
      // Allowed: the run directory, and the system's temporary folder (tsx's cache) except this test's own folders.
      const allowed = (p: string) =>
        p.startsWith(`${runDir}/`) || p === runDir || p.startsWith("/dev/") || (p.startsWith(`${realpathSync(tmpdir())}/`) && !p.startsWith(`${base}/`));
      const bad = writes.filter((w) => !allowed(w.effective));
      assert.deepEqual(bad, [], `${plant}: writes outside the run directory:\n${bad.map((w) => w.line).join("\n")}`);
    }
  });
});

interface TracedWrite {
  line: string;
  /** Where it really went: folders resolved as they are now (planted links are still there), a followed link resolved. */
  effective: string;
}

/** The calls of an strace log that create something or open a file for writing, with where each really went. */
function writesIn(trace: string, cwd: string): TracedWrite[] {
  const out: TracedWrite[] = [];
  for (const line of trace.split("\n")) {
    const m = /^\d+\s+(openat|open|creat|mkdir|mkdirat|rename|renameat|renameat2|symlink|symlinkat|link|linkat)\((.*)$/.exec(line);
    if (!m) continue;
    const [, call, args] = m as unknown as [string, string, string];
    const strings = [...args.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((s) => (s[1] as string).replace(/\\(.)/g, "$1"));
    let paths: string[] = [];
    let follows = false;
    if (call === "open" || call === "openat" || call === "creat") {
      const flags = args.slice(args.indexOf('"', args.indexOf('"') + 1) + 1);
      if (call !== "creat" && !/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(flags.split(",")[1] ?? "")) continue;
      paths = [strings[0] as string];
      follows = !/O_NOFOLLOW|O_EXCL/.test(flags);
    } else if (call === "mkdir" || call === "mkdirat") paths = [strings[0] as string];
    else if (call.startsWith("rename")) paths = strings.slice(0, 2);
    else paths = [strings[1] as string]; // symlink(at)/link(at): the new name
    if (/^\w+\((?!AT_FDCWD)\d+/.test(`${call}(${args}`) && paths.some((p) => !path.isAbsolute(p))) {
      out.push({ line, effective: `(relative to a directory fd) ${paths.join(" ")}` });
      continue;
    }
    for (const p of paths) out.push({ line, effective: effectivePath(path.resolve(cwd, p), follows) });
  }
  return out;
}

function effectivePath(p: string, follows: boolean): string {
  if (follows) {
    try {
      if (lstatSync(p).isSymbolicLink()) return realpathSync(p);
    } catch {
      // dangling or gone: resolve its folder below
    }
  }
  let dir = path.dirname(p);
  const rest = [path.basename(p)];
  while (!existsSync(dir) && dir !== path.dirname(dir)) {
    rest.unshift(path.basename(dir));
    dir = path.dirname(dir);
  }
  return path.join(realpathSync(dir), ...rest);
}

describe("healing and torn files", () => {
  test("staging directories of dead runs are removed at the start of a run; live ones and other hosts' are kept", () => {
    const { runDir, run } = fixture();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid as number;
    const staging = path.join(runDir, "store", ".staging");
    mkdirSync(staging, { recursive: true });
    const key = "ab".repeat(32);
    const names = {
      oldDead: `${key}-${dead}`,
      newDead: `${key}-${hostTag()}-${dead}-Ab12Cd`,
      live: `${key}-${hostTag()}-${process.pid}-Xy34Zw`,
      otherHost: `${key}-elsewhere.example-${dead}-Qr56St`,
      notOurs: "notes",
    };
    for (const name of Object.values(names)) {
      mkdirSync(path.join(staging, name));
      writeFileSync(path.join(staging, name, "half.jsonl"), "{");
    }
    const r = run();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /removed 2 staging directories of runs that are gone/);
    assert.deepEqual(readdirSync(staging).sort(), [names.live, names.otherHost, names.notOurs].sort());
    assert.equal(os.hostname().length > 0, true);
  });

  test("a torn plan.json: alignc report and compare say which file and what to do (exit 1); plan treats it as absent", () => {
    const { at, runDir } = fixture();
    const plan = readFileSync(path.join(runDir, "plan.json"), "utf8");
    writeFileSync(path.join(runDir, "plan.json"), plan.slice(0, Math.floor(plan.length / 2)));
    // plan only uses the previous plan.json to explain why nodes will run; run rewrites it.
    const p = alignc(["plan", "t.align"], at);
    assert.equal(p.status, 0, p.stderr);
    for (const args of [
      ["report", runDir],
      ["compare", runDir, template],
    ]) {
      const r = alignc(args, at);
      assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /plan\.json is not valid JSON \(.*\): it was cut short .* run `alignc run` again to rewrite it/, args[0]);
      assert.doesNotMatch(r.stderr, /internal error/);
    }
    // JSON, but not a plan.
    writeFileSync(path.join(runDir, "plan.json"), "[]\n");
    const r = alignc(["report", runDir], at);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /plan\.json is not what alignc writes there \(not an object\)/);
    // A torn sweep.json, the same way.
    const sweepDir = path.join(at, "sweep");
    mkdirSync(sweepDir);
    writeFileSync(path.join(sweepDir, "sweep.json"), '{"format": "alignc-sweep", "trials": [');
    const s = alignc(["report", sweepDir], at);
    assert.equal(s.status, 1, s.stderr);
    assert.match(s.stderr, /sweep\.json is not valid JSON .*delete it and run `alignc sweep` again/);
    // alignc run rewrites it whole.
    assert.equal(alignc(["run", "t.align"], at).status, 0);
    assert.deepEqual(JSON.parse(readFileSync(path.join(runDir, "plan.json"), "utf8")).keys, JSON.parse(plan).keys);
  });
});
