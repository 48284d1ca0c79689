// Accepts the outputs that the baseline tests wrote to test/baselines/local/: copies them over
// test/baselines/, removes baselines marked for deletion (<file>.delete) and baselines whose case in
// test/cases/ no longer exists, then empties local/. Run with `npm run baselines:accept`.
import { copyFileSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const casesDir = path.join(repoRoot, "test/cases");
const baselineDir = path.join(repoRoot, "test/baselines");
const localDir = path.join(baselineDir, "local");
const DELETE_MARKER = ".delete";
const SUFFIXES = [".errors.txt", ".plan.txt"];

const accepted: string[] = [];
const removed: string[] = [];

if (existsSync(localDir)) {
  for (const file of readdirSync(localDir).sort()) {
    const from = path.join(localDir, file);
    if (!statSync(from).isFile()) continue;
    if (file.endsWith(DELETE_MARKER)) {
      const target = file.slice(0, -DELETE_MARKER.length);
      rmSync(path.join(baselineDir, target), { force: true });
      removed.push(target);
    } else {
      copyFileSync(from, path.join(baselineDir, file));
      accepted.push(file);
    }
    rmSync(from);
  }
}

const cases = new Set(
  existsSync(casesDir)
    ? readdirSync(casesDir)
        .filter((f) => f.endsWith(".align"))
        .map((f) => f.slice(0, -".align".length))
    : [],
);
if (existsSync(baselineDir)) {
  for (const file of readdirSync(baselineDir).sort()) {
    const suffix = SUFFIXES.find((s) => file.endsWith(s));
    if (suffix && !cases.has(file.slice(0, -suffix.length))) {
      rmSync(path.join(baselineDir, file));
      removed.push(file);
    }
  }
}

for (const f of accepted) console.log(`accepted  ${f}`);
for (const f of removed) console.log(`removed   ${f}`);
if (accepted.length + removed.length === 0) console.log("nothing to accept: test/baselines/local/ is empty");
