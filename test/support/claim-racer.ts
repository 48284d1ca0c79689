// One racer of test/claims-race.test.ts: for each round, waits for the round file the test writes, sleeps until
// the round's start instant (all racers start together), then calls acquire on the round's key, whose claim is held
// by a dead process. The one that claims holds the key for a moment, stores its entry and releases it, as a run
// computing the node would; the others wait for the entry ("stored"). Each outcome goes to a file of its own.
//
//   node --import tsx test/support/claim-racer.ts STORE SYNC_DIR ROUNDS INDEX
// CLAIMS_MODULE=path/to/claims.ts races another implementation of KeyClaims (to show an old one failing).
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Store } from "../../src/runtime/pipeline/store.ts";

const [storeRoot, sync, rounds, index] = process.argv.slice(2) as [string, string, string, string];
const modulePath = process.env.CLAIMS_MODULE ?? path.resolve(import.meta.dirname, "../../src/runtime/pipeline/claims.ts");
const { KeyClaims } = (await import(pathToFileURL(modulePath).href)) as typeof import("../../src/runtime/pipeline/claims.ts");

const store = new Store(storeRoot);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
writeFileSync(path.join(sync, `ready.${index}`), "");
for (let round = 0; round < Number(rounds); round++) {
  const roundFile = path.join(sync, `round-${round}.json`);
  while (!existsSync(roundFile)) await sleep(1);
  let spec: { key: string; startAt: number };
  for (;;) {
    try {
      spec = JSON.parse(readFileSync(roundFile, "utf8"));
      break;
    } catch {
      await sleep(1); // being written
    }
  }
  if (spec.startAt - Date.now() > 5) await sleep(spec.startAt - Date.now() - 5);
  while (Date.now() < spec.startAt) {
    // spin: start within a millisecond of the others
  }
  const claims = new KeyClaims(store, 5);
  let outcome: string;
  try {
    outcome = await claims.acquire(spec.key, () => {});
    if (outcome === "claimed") {
      await sleep(40);
      await store.commit(spec.key, async () => ({
        key: spec.key,
        node: "n",
        kind: "test",
        version: 1,
        params: {},
        inputs: [],
        alignc: "test",
        started: new Date().toISOString(),
        seconds: 0,
        summary: {},
      }));
      claims.release(spec.key);
    }
  } catch (e) {
    outcome = `error ${(e as Error).message}`;
  }
  // Renamed into place: the test reads a result file the moment it appears.
  writeFileSync(path.join(sync, `.result-${round}.${index}`), outcome);
  renameSync(path.join(sync, `.result-${round}.${index}`), path.join(sync, `result-${round}.${index}`));
}
