// What alignc does with a program's output and the processes it starts (docs/raters.md, "What alignc does with a
// rater's output and processes"), against hostile programs (test/fixtures/command-raters/hostile.mjs,
// test/fixtures/editors/fork.mjs): a grandchild is ended with the stage, on a timeout, when the rater exits, when
// alignc is interrupted or exits; megabytes of stderr per request leave run.log capped; escapes in error texts and
// stderr are shown escaped.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, afterEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { renderRecords } from "../src/cli/common/render-records.ts";
import { corruptWithCommand } from "../src/runtime/data/prefdata/corrupt.ts";
import type { Dataset } from "../src/runtime/data/prefdata/records.ts";
import { RunLog } from "../src/runtime/pipeline/log.ts";
import { type CommandRaterOptions, createCommandRater } from "../src/runtime/raters/command.ts";
import type { ItemFailure, RaterReply, RaterRequest } from "../src/runtime/raters/types.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { liveGroups } from "../src/util/process-groups.ts";
import { STDERR_LINE_CAP, STDERR_LOG_CAP } from "../src/util/stderr-sink.ts";

const repo = fileURLToPath(new URL("../", import.meta.url));
const fixtures = fileURLToPath(new URL("./fixtures/command-raters/", import.meta.url));
const editors = fileURLToPath(new URL("./fixtures/editors/", import.meta.url));
const info = { rater: "judge", kind: "command", aspects: ["helpfulness"], scale: { min: 0, max: 4 } };

// biome-ignore lint/suspicious/noControlCharactersInRegex: what must never reach a terminal or run.log raw
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

const item = (itemId: string, prompt: string): RaterRequest => ({
  itemId,
  prompt,
  imagePath: null,
  responses: ["1"],
  aspects: info.aspects,
  scale: info.scale,
});

/** Whether `pid` is a running process (a zombie, which this container's init may never reap, has ended). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
  if (process.platform !== "linux") return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function assertGone(pids: Iterable<number>, what: string): void {
  for (const pid of pids) assert.ok(!running(pid), `${what} ${pid} is still running`);
}

/** Every pid the tests saw, ended at the end whatever happened (so that a failing test leaves nothing behind). */
const seen = new Set<number>();
after(() => {
  for (const pid of seen)
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
});

let dir = "";
/** A fresh directory for the programs' events (the previous one, of the same test, is removed). */
function freshDir(): string {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = mkdtempSync(path.join(tmpdir(), "alignc-hostile-"));
  return dir;
}
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

interface Events {
  raters: Set<number>;
  grandchildren: number[];
}

function readEvents(): Events {
  const file = path.join(dir, "events.jsonl");
  const events = existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as { pid: number; event: string; count?: number })
    : [];
  const raters = new Set(events.map((e) => e.pid));
  const grandchildren = events.filter((e) => e.event === "grandchild").map((e) => e.count as number);
  for (const pid of [...raters, ...grandchildren]) seen.add(pid);
  return { raters, grandchildren };
}

interface Outcome extends Events {
  replies: Map<string, RaterReply>;
  failures: ItemFailure[];
  ms: number;
}

async function rate(requests: RaterRequest[], options: Partial<CommandRaterOptions> = {}): Promise<Outcome> {
  freshDir();
  const rater = createCommandRater({
    info,
    argv: [process.execPath, "hostile.mjs"],
    cwd: fixtures,
    timeoutSeconds: 30,
    retries: 0,
    concurrency: 1,
    backoffBaseMs: 10,
    killGraceMs: 300,
    ...options,
    env: { RATER_LOG_DIR: dir },
  });
  const replies = new Map<string, RaterReply>();
  const start = Date.now();
  const failures = await rater.rate(requests, { onReply: (id, reply) => replies.set(id, reply) });
  return { replies, failures, ms: Date.now() - start, ...readEvents() };
}

describe("processes a rater starts end with it", () => {
  test("when the stage ends: the rater and its grandchild are gone", async () => {
    const out = await rate([item("a", "fork"), item("b", "plain")]);
    assert.deepEqual(out.failures, []);
    assert.equal(out.replies.size, 2);
    assert.equal(out.grandchildren.length, 1);
    assertGone(out.raters, "rater");
    assertGone(out.grandchildren, "grandchild");
    assert.deepEqual(liveGroups(), [], "no process group is left to end");
  });

  test("on a timeout: the rater and its grandchild are stopped, and the stage does not wait for the grandchild", async () => {
    const out = await rate([item("a", "hang")], { timeoutSeconds: 1 });
    assert.match(out.failures[0]?.message ?? "", /^item "a": timed out after 1s/);
    assert.equal(out.grandchildren.length, 1);
    assertGone(out.raters, "rater");
    assertGone(out.grandchildren, "grandchild");
    assert.ok(out.ms < 5000, `took ${out.ms} ms (the grandchild sleeps for a minute)`);
  });

  test("when the rater exits: a grandchild holding its stderr open is ended, and the exit is reported at once", async () => {
    const out = await rate([item("a", "fork-exit")]);
    assert.match(out.failures[0]?.message ?? "", /exited with code 1 before answering; its stderr ends: "hostile: giving up"/);
    assertGone(out.raters, "rater");
    assertGone(out.grandchildren, "grandchild");
    assert.ok(out.ms < 5000, `took ${out.ms} ms: the exit is not reported only at the 30 s timeout`);
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(`when alignc gets ${signal} (Ctrl-C): the rater's group is ended, and alignc ends by the signal`, async () => {
      const host = await startHost("wait");
      host.child.kill(signal);
      const [code, got] = await host.exited;
      assert.equal(got, signal, `ended by the signal (exit code ${code}): ${host.stderr()}`);
      const events = readEvents();
      assertGone(events.raters, "rater");
      assertGone(events.grandchildren, "grandchild");
    });
  }

  test("when alignc exits (process.exit) or crashes (an uncaught exception): the rater's group is killed", async () => {
    for (const [mode, exitCode] of [
      ["exit", 3],
      ["throw", 1],
    ] as const) {
      const host = await startHost(mode);
      const [code] = await host.exited;
      assert.equal(code, exitCode, host.stderr());
      const events = readEvents();
      assertGone(events.raters, `${mode}: rater`);
      assertGone(events.grandchildren, `${mode}: grandchild`);
    }
  });

  test("corrupt's editor program and its grandchild end with the stage", async () => {
    freshDir();
    const pidFile = path.join(dir, "pids");
    process.env.EDITOR_PID_FILE = pidFile;
    try {
      const items: WorldItem[] = [
        {
          id: "a",
          split: "train",
          task: "describe",
          kind: "describe",
          prompt: "p",
          answer: "A red circle.",
          image: null,
          scene: { objects: [] },
          negative: null,
        },
      ];
      const { pairs } = await corruptWithCommand(items, { argv: [process.execPath, "fork.mjs"], cwd: editors });
      assert.equal(pairs[0]?.rejected, "A RED CIRCLE.");
    } finally {
      delete process.env.EDITOR_PID_FILE;
    }
    const pids = readFileSync(pidFile, "utf8").trim().split(" ").map(Number);
    for (const pid of pids) seen.add(pid);
    assert.equal(pids.length, 2);
    assertGone(pids, "editor or its grandchild");
  });
});

/** Runs test/fixtures/command-raters/host.ts (a stand-in for alignc run) until its rater's grandchild is running. */
async function startHost(mode: "wait" | "exit" | "throw") {
  freshDir();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(fixtures, "host.ts"), mode], {
    cwd: repo,
    env: { ...process.env, RATER_LOG_DIR: dir },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (code, signal) => resolve([code, signal])));
  if (mode === "wait") {
    const deadline = Date.now() + 20_000;
    while (readEvents().grandchildren.length === 0) {
      assert.ok(Date.now() < deadline, `the host's rater never started its grandchild: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { child, exited, stderr: () => stderr };
}

describe("what a rater prints is capped and escaped", () => {
  function logged(file: string): string {
    return existsSync(file) ? readFileSync(file, "utf8") : "";
  }

  test("megabytes of stderr per request: run.log keeps at most the cap per request, plus a note of what was cut", async () => {
    const logDir = mkdtempSync(path.join(tmpdir(), "alignc-hostile-log-"));
    try {
      const file = path.join(logDir, "run.log");
      const log = new RunLog(file, { write: () => {}, isTTY: false });
      const out = await rate([item("a", "spew 6144 1000")], { onStderr: log.stderrOf("judge") });
      assert.deepEqual(out.failures, []);
      const text = logged(file);
      const lines = text.split("\n").filter((l) => l !== "");
      const note = lines.at(-1) ?? "";
      assert.match(note, /judge \(stderr\): … 5\.9 MiB of stderr from judge during request "a" not logged \(cap 64 KiB per request\)$/);
      assert.ok(statSync(file).size <= STDERR_LOG_CAP + Buffer.byteLength(note) + 1, `run.log has ${statSync(file).size} bytes`);
      assert.ok(lines.length > 50, "what fits is logged, line by line");
      assert.ok(
        lines.slice(0, -1).every((l) => / judge \(stderr\): x+$/.test(l)),
        "whole lines, each marked with the program",
      );

      // Two such requests: at most the cap for each.
      const before = statSync(file).size;
      const two = await rate([item("b", "spew 2048 500"), item("c", "spew 2048 500")], { onStderr: log.stderrOf("judge") });
      assert.deepEqual(two.failures, []);
      const notes = logged(file)
        .split("\n")
        .filter((l) => l.includes("not logged (cap"));
      assert.equal(notes.length, 3);
      const grown = statSync(file).size - before;
      assert.ok(grown <= 2 * STDERR_LOG_CAP + 2 * 200, `run.log grew by ${grown} bytes`);
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });

  test("a very long stderr line is cut at the line cap, with how much was left out", async () => {
    const logDir = mkdtempSync(path.join(tmpdir(), "alignc-hostile-log-"));
    try {
      const file = path.join(logDir, "run.log");
      const log = new RunLog(file, { write: () => {}, isTTY: false });
      const out = await rate([item("a", "spew 200 204800")], { onStderr: log.stderrOf("judge") });
      assert.deepEqual(out.failures, []);
      const lines = logged(file)
        .split("\n")
        .filter((l) => l !== "");
      assert.equal(lines.length, 1);
      const [line] = lines as [string];
      assert.match(line, /judge \(stderr\): x{4096} … \(196 KiB more of this line not logged\)$/);
      assert.ok(line.length < STDERR_LINE_CAP + 200);
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });

  test("escapes and bidi overrides in an error reply and in stderr are shown escaped, on the terminal and in run.log", async () => {
    const logDir = mkdtempSync(path.join(tmpdir(), "alignc-hostile-log-"));
    try {
      const file = path.join(logDir, "run.log");
      const terminal: string[] = [];
      const log = new RunLog(file, { write: (t) => terminal.push(t), isTTY: false });
      const out = await rate([item("a", "escape")], { onStderr: log.stderrOf("judge") });
      const failure = out.failures[0] as ItemFailure;
      assert.ok(failure, "the refusal fails the item");
      assert.doesNotMatch(failure.message, RAW);
      assert.equal(
        failure.message,
        'item "a": the rater refused it: HTTP 400: \\x1b[2J\\x1b[H\\x1b]0;pwned\\x07over\\rwrite\\u202eevil\\u2066\\x9b31m\\x7f\\x08',
      );
      assert.doesNotMatch(failure.stderr ?? "", RAW);
      // What the stage does with a failure: a line on the terminal and in run.log.
      log.line(`error: ${failure.message}\n  stderr: ${failure.stderr ?? ""}`);
      log.line("raw \x1b[2J\u202e given to the log directly");
      const shown = terminal.join("");
      assert.doesNotMatch(shown.replaceAll("\n", ""), RAW);
      assert.match(shown, /raw \\x1b\[2J\\u202e given to the log directly/);
      const text = logged(file);
      assert.doesNotMatch(text.replaceAll("\n", ""), RAW);
      assert.match(text, /judge \(stderr\): hostile: \\x1b\[2J\\x1b\[H\\x1b\]0;pwned\\x07over\\rwrite\\u202eevil/);
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });

  test("a rater's garbage and crash messages quote its output escaped, bidi overrides included", async () => {
    // "escape" is refused politely; the quoted paths (a non-JSON line, stderr's last line) use quote().
    const { quote } = await import("../src/runtime/raters/protocol.ts");
    const quoted = quote("Loading\x1b[2J\u202e\x9b\x7f");
    assert.doesNotMatch(quoted, RAW);
    assert.equal(quoted, '"Loading\\u001b[2J\\u202e\\u009b\\u007f"');
  });

  test("the status line escapes its text; only its own redraw writes escapes", () => {
    const written: string[] = [];
    const log = new RunLog(undefined, { write: (t) => written.push(t), isTTY: true });
    log.setStatus("rating \x1b[2J item\n\u202eevil");
    log.clearStatus();
    assert.deepEqual(written, ["\r\x1b[2Krating \\x1b[2J item\\n\\u202eevil", "\r\x1b[2K"]);
  });

  test("stderr put together across chunks: lines split anywhere, CRLF endings, the cap per request", () => {
    const logDir = mkdtempSync(path.join(tmpdir(), "alignc-hostile-log-"));
    try {
      const file = path.join(logDir, "run.log");
      const log = new RunLog(file, { write: () => {}, isTTY: false });
      const stream = log.stderrOf("p").open?.();
      assert.ok(stream);
      stream.next("r1");
      stream.write("hel");
      stream.write("lo\r\nwor");
      stream.write("ld\n\n  \nlast without newline");
      stream.next("r2");
      stream.write(" continues\n");
      for (let i = 0; i < 200; i++) stream.write(`${"z".repeat(1000)}\n`);
      stream.write("an unfinished line: logged at the end, but over the cap");
      stream.end();
      const lines = logged(file)
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.slice(25));
      // A line still unfinished when the next request starts is finished there.
      assert.deepEqual(lines.slice(0, 3), ["p (stderr): hello", "p (stderr): world", "p (stderr): last without newline continues"]);
      assert.equal(lines.filter((l) => l.startsWith("p (stderr): zzz")).length, 63, "as many 1000-character lines as fit in 64 KiB");
      assert.equal(lines.at(-1), 'p (stderr): … 134 KiB of stderr from p during request "r2" not logged (cap 64 KiB per request)');
      assert.equal(lines.length, 3 + 63 + 1);
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});

describe("alignc inspect shows records escaped", () => {
  test("prompts, responses, ids, paths and the rater's name: no raw control characters, text otherwise as it is", () => {
    const evil = "\x1b[2J\x1b]0;pwned\x07\r\u202eevil\x9b";
    const item: WorldItem = {
      id: `item${evil}`,
      split: "train",
      task: "describe",
      kind: `kind${evil}`,
      prompt: `How many? ${evil} é€🙂`,
      answer: `three ${evil}`,
      image: `/img/${evil}.png`,
      scene: { objects: [] },
      negative: null,
    };
    const dataset: Dataset = {
      kind: "rated",
      rating: { rater: `judge${evil}`, kind: "command", aspects: ["helpfulness"], scale: { min: 0, max: 4 } },
      records: [
        {
          id: `rec${evil}`,
          item,
          responses: [{ text: `Three.${evil}\nsecond line`, tokens: 3, logprob: null }],
          sampler: null,
          scores: [{ helpfulness: 3 }],
          rationale: `because ${evil}`,
        },
      ],
    };
    const text = renderRecords(dataset, [0]);
    assert.doesNotMatch(text.replaceAll("\n", ""), RAW);
    assert.match(text, /prompt: "How many\? \\u001b\[2J\\u001b\]0;pwned\\u0007\\r\\u202eevil\\u009b é€🙂"/);
    assert.match(text, /── 1\/1 rec\\x1b\[2J/);
    assert.match(text, /image: \/img\/\\x1b\[2J.*\\u202eevil\\x9b\.png/);
    assert.match(text, /rated by judge\\x1b\[2J/);
    assert.match(text, /"Three\.\\u001b\[2J.*\\nsecond line"/);
  });
});
