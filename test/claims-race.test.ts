// Taking over a dead process's claim is a race: several runs on one store (a sweep's trials) may find the same
// stale claim at the same moment. Here N racers (each its own process) start acquire on a key whose claim is held
// by a dead pid within a millisecond of each other, round after round: exactly one may claim the key each time,
// the others wait for its entry. The take-over alignc had before (remove the stale claim, then create one) let two
// to four racers claim the key in 5 to 12 of 40 rounds on a 2-core machine; to see it, run this file with
// CLAIMS_MODULE=<path to that claims.ts> (the racers then use that KeyClaims).
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { KeyClaims } from "../src/runtime/pipeline/claims.ts";
import { Store } from "../src/runtime/pipeline/store.ts";
import { repoRoot } from "./support/align-files.ts";

const RACERS = 6;
const ROUNDS = 40;

const dir = mkdtempSync(path.join(tmpdir(), "alignc-claims-race-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, done: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A pid that certainly belonged to a process which has exited. */
function deadPid(): number {
  const r = spawnSync("true");
  if (r.error) return spawnSync(process.execPath, ["-e", ""]).pid as number;
  return r.pid as number;
}

test(`${RACERS} processes taking over one dead claim at the same instant: exactly one claims, ${ROUNDS} times`, { timeout: 120_000 }, async (t) => {
  const store = path.join(dir, "store");
  const sync = path.join(dir, "sync");
  mkdirSync(path.join(store, ".claims"), { recursive: true });
  mkdirSync(sync);
  const racers: ChildProcess[] = [];
  const stderr: string[] = [];
  for (let i = 0; i < RACERS; i++) {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "test/support/claim-racer.ts"), store, sync, String(ROUNDS), String(i)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr?.on("data", (d) => stderr.push(String(d)));
    racers.push(child);
  }
  try {
    const t0 = Date.now();
    await waitFor("the racers to start", () => readdirSync(sync).filter((f) => f.startsWith("ready.")).length === RACERS, 60_000);
    t.diagnostic(`racers ready after ${Date.now() - t0} ms`);
    const tally: Record<string, number> = {};
    const bad: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const key = randomBytes(32).toString("hex");
      // A claim left by a process that died: with a nonce (this alignc) in even rounds, without (older ones) in odd.
      const holder = {
        pid: deadPid(),
        host: os.hostname(),
        started: new Date().toISOString(),
        ...(round % 2 === 0 ? { nonce: randomBytes(12).toString("hex") } : {}),
      };
      writeFileSync(path.join(store, ".claims", `${key}.json`), `${JSON.stringify(holder)}\n`);
      const spec = path.join(sync, `round-${round}.json`);
      writeFileSync(`${spec}.tmp`, JSON.stringify({ key, startAt: Date.now() + 80 }));
      renameSync(`${spec}.tmp`, spec);
      await waitFor(`round ${round}'s outcomes`, () => readdirSync(sync).filter((f) => f.startsWith(`result-${round}.`)).length === RACERS, 30_000);
      const outcomes = readdirSync(sync)
        .filter((f) => f.startsWith(`result-${round}.`))
        .map((f) => readFileSync(path.join(sync, f), "utf8"));
      const claimed = outcomes.filter((o) => o === "claimed").length;
      tally[claimed] = (tally[claimed] ?? 0) + 1;
      if (claimed !== 1 || outcomes.some((o) => o !== "claimed" && o !== "stored")) bad.push(`round ${round}: ${outcomes.sort().join(", ")}`);
      assert.ok(existsSync(path.join(store, key.slice(0, 2), key, "node.json")), `round ${round}: the entry is stored`);
    }
    t.diagnostic(`rounds by number of racers that claimed the key: ${JSON.stringify(tally)}`);
    assert.deepEqual(bad, [], `${bad.length} of ${ROUNDS} rounds did not have exactly one claim:\n${bad.join("\n")}`);
    assert.deepEqual(readdirSync(path.join(store, ".claims")), [], "every claim was released, and no take-over ticket or temporary file is left");
  } finally {
    for (const r of racers) if (r.exitCode === null) r.kill();
  }
  assert.equal(stderr.join(""), "");
});

test("a racer that died holding the take-over ticket: the ticket is dropped once old, and the key is claimed", async () => {
  const store = new Store(path.join(dir, "ticket-store"));
  const key = randomBytes(32).toString("hex");
  const claims = path.join(store.root, ".claims");
  mkdirSync(claims, { recursive: true });
  const nonce = randomBytes(12).toString("hex");
  const file = path.join(claims, `${key}.json`);
  writeFileSync(file, `${JSON.stringify({ pid: deadPid(), host: os.hostname(), started: "", nonce })}\n`);
  // What a winner leaves when it dies right after taking the ticket: the ticket, and the stale claim unchanged.
  linkSync(file, `${file}.stale-${nonce}`);
  const t0 = Date.now();
  const k = new KeyClaims(store, 20, 300);
  assert.equal(await k.acquire(key, () => assert.fail("a dead holder is not waited for")), "claimed");
  assert.ok(Date.now() - t0 >= 250, "the ticket was respected until it was old");
  assert.equal(JSON.parse(readFileSync(file, "utf8")).pid, process.pid);
  k.release(key);
  // Leftovers of dead racers (an old ticket, a temporary claim file) are removed by heal at the start of a run.
  writeFileSync(path.join(claims, `.${key}.${nonce}.tmp`), "{}");
  writeFileSync(`${file}.stale-${nonce}`, "{}");
  await sleep(350);
  new KeyClaims(store, 20, 300).heal();
  assert.deepEqual(readdirSync(claims), []);
});
