// Run-time failures are coded like diagnostics (ALN7xxx in src/diagnostics/messages.ts). Every error class under
// src/ either declares the code of a failure a user can meet — and the table lists the class under that code — or is
// listed below as a bug alignc reports as an internal error (with why). A new error class must choose.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { failureCode, failureLine } from "../src/diagnostics/failures.ts";
import { findByCode, messages } from "../src/diagnostics/messages.ts";
import { decodeSafetensors } from "../src/formats/safetensors.ts";
import { parseStrictJson } from "../src/formats/strict-json.ts";
import { corruptWithCommand } from "../src/runtime/data/prefdata/corrupt.ts";
import { evalScore } from "../src/runtime/data/prefdata/score.ts";
import { lexicalSimilarity } from "../src/runtime/data/prefdata/similarity.ts";
import { installCudaProviders } from "../src/runtime/engine/cuda-setup.ts";
import { loadCheckpoint } from "../src/runtime/models/checkpoint.ts";
import { loraSettingsOf } from "../src/runtime/models/tinyvlm/adapters.ts";
import { Tokenizer } from "../src/runtime/models/tokenizer/tokenizer.ts";
import { NodeError } from "../src/runtime/pipeline/node-executor.ts";
import { rateRequest } from "../src/runtime/raters/grounded.ts";
import { worldOptions } from "../src/runtime/world/options.ts";
import { decodePng } from "../src/runtime/world/png.ts";
import { writeWorld } from "../src/runtime/world/write.ts";
import { readJsonFile } from "../src/util/read-json.ts";
import { mkdirInside } from "../src/util/safe-write.ts";
import { repoRoot } from "./support/align-files.ts";

/**
 * Error classes that never reach a user as a failure of their own: bugs in alignc (or in a caller of a library
 * function), and failures another error reports.
 */
const INTERNAL: Record<string, string> = {
  AutodiffError: "a gradient rule missing for an op the tensor compiler built",
  ShapeError: "shapes that do not fit inside a program alignc builds",
  TensorDataError: "a tensor alignc made whose data does not match its dtype or shape",
  SessionFeedError: "feeds that do not match the program they were made for",
  OrtApiError: "ONNX Runtime's own error from a C-API call: reported as the binding's errors are, in ONNX Runtime's words",
  SelectError: "a parameter selection in alignc's own code that selects nothing",
  InitError: "an initialiser called with an impossible shape",
  CorruptRecordError: "read back only by tests and tools: alignc appends to event files, never reads them",
  AttemptFailure: "one attempt of a rater request: retried, then reported per item in the stage's own failure",
  UsageError: "not a run-time failure: the command line was wrong; the message says how, with the command's --help",
};
/** Classes carrying a code of another band (ALN6xxx input problems), set per instance. */
const OTHER_BANDS = new Set(["FileRowsError"]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const f = path.join(dir, e);
    return statSync(f).isDirectory() ? sourceFiles(f) : f.endsWith(".ts") ? [f] : [];
  });
}

interface ErrorClass {
  name: string;
  file: string;
  code?: string;
}

function errorClasses(): ErrorClass[] {
  const out: ErrorClass[] = [];
  for (const file of sourceFiles(path.join(repoRoot, "src"))) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/export class (\w+) extends (\w*Error) \{/g)) {
      const body = text.slice(m.index, text.indexOf("\n}", m.index));
      const code = /readonly code: string = "(ALN\d{4})"/.exec(body)?.[1];
      out.push({ name: m[1] as string, file: path.relative(repoRoot, file), ...(code ? { code } : {}) });
    }
  }
  return out;
}

const failures = Object.values(messages).filter((m) => /^ALN7/.test(m.code)) as { code: string; raisedBy?: readonly string[] }[];

test("every error class declares a failure code or is listed as internal", () => {
  const unclassified = errorClasses()
    .filter((c) => !c.code && !(c.name in INTERNAL) && !OTHER_BANDS.has(c.name))
    .map((c) => `${c.name} (${c.file})`);
  assert.deepEqual(unclassified, [], 'give the class `readonly code: string = "ALN7xxx"` from the table, or list it in INTERNAL with why');
  const both = errorClasses()
    .filter((c) => c.code && c.name in INTERNAL)
    .map((c) => c.name);
  assert.deepEqual(both, [], "a class with a code is not internal");
});

test("each class's code is a failure of the table that names the class, and every failure is raised by a class", () => {
  const classes = errorClasses().filter((c) => c.code);
  for (const c of classes) {
    const entry = failures.find((f) => f.code === c.code);
    assert.ok(entry, `${c.name} (${c.file}) declares ${c.code}, which is no ALN7xxx failure of the table`);
    assert.ok(entry.raisedBy?.includes(c.name), `${c.code}'s raisedBy does not list ${c.name}`);
  }
  for (const f of failures) {
    for (const name of f.raisedBy ?? []) {
      assert.ok(
        classes.some((c) => c.name === name && c.code === f.code),
        `${f.code} lists ${name}, which declares no such code`,
      );
    }
    assert.ok((f.raisedBy ?? []).length > 0, `${f.code} is raised by no class`);
  }
});

test("a coded failure is shown with its code and explained by alignc explain", () => {
  const e = new NodeError("batch 64 is larger than the 40 examples of train; lower batch");
  assert.equal(failureCode(e), "ALN7001");
  assert.equal(failureLine(e), "error[ALN7001]: batch 64 is larger than the 40 examples of train; lower batch");
  assert.equal(failureLine(new Error("plain")), "error: plain");
  assert.match(findByCode("ALN7001")?.explain ?? "", /could not run with the inputs and settings/);
});

const dir = mkdtempSync(path.join(tmpdir(), "alignc-failures-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("commands print a failure with its code: sweep status on a folder that is no sweep (ALN7022), report (ALN7021)", () => {
  const alignc = (args: string[]) =>
    spawnSync(process.execPath, [path.join(repoRoot, "bin/alignc.js"), ...args], { encoding: "utf8", env: { ...process.env, ALIGNC_FROM_SOURCE: "1" } });
  const status = alignc(["sweep", "status", dir]);
  assert.equal(status.status, 1);
  assert.match(status.stderr, /^error\[ALN7022\]: .* has no sweep\.json: not a sweep directory\n$/);
  const report = alignc(["report", dir]);
  assert.equal(report.status, 1);
  assert.match(report.stderr, /^error\[ALN7021\]: .* is neither a run directory \(plan\.json\) nor a sweep directory/);
});

/** Failures a function call can raise here; the others are raised by the tests the baselines' exemptions name. */
const TRIGGERS: [code: string, what: string, trigger: () => unknown][] = [
  ["ALN7004", "an empty checkpoint directory", () => loadCheckpoint(mkdirSync(path.join(dir, "empty-checkpoint"), { recursive: true }) as string)],
  ["ALN7005", "a truncated safetensors file", () => decodeSafetensors(new Uint8Array([1, 2, 3]), "weights.safetensors")],
  ["ALN7005", "a safetensors header that is not strict JSON", () => parseStrictJson('{"a": 1, "a": 2}')],
  ["ALN7006", "a LoRA rank of 0", () => loraSettingsOf({ rank: 0, alpha: 16 })],
  ["ALN7008", "a tokenizer.json that is not an object", () => Tokenizer.fromJSON([])],
  ["ALN7010", "a CUDA provider archive that does not exist", () => installCudaProviders({ bindingDir: dir, tarball: path.join(dir, "missing.tgz") })],
  ["ALN7013", "a score for an aspect the rater did not give", () => evalScore({ op: "name", name: "style" }, { q: 1 })],
  ["ALN7014", "an unknown lexical measure", () => lexicalSimilarity("edit_distance" as never)],
  [
    "ALN7015",
    "the grounded rater without ground truth",
    () => rateRequest({ id: "x", prompt: "p", responses: ["r"], aspects: ["helpfulness"], scale: { min: 0, max: 4 } } as never),
  ],
  ["ALN7016", "corrupt's editor given no program", () => corruptWithCommand([], { argv: [], cwd: dir })],
  ["ALN7017", "an option alignc world does not know", () => worldOptions({ colour: "red" })],
  [
    "ALN7017",
    "a world written over a file",
    () => {
      writeFileSync(path.join(dir, "a-file"), "x");
      return writeWorld(path.join(dir, "a-file"), worldOptions({ split: "train", count: 1 }));
    },
  ],
  ["ALN7018", "an image that is not a PNG", () => decodePng(Buffer.from("GIF89a"))],
  ["ALN7019", "a kept JSON file that is missing", () => readJsonFile(path.join(dir, "plan.json"), "run alignc run again")],
  ["ALN7020", "a write outside the directory alignc owns", () => mkdirInside(dir, "/etc/alignc-test")],
];

test("each failure a function raises carries its code", async () => {
  for (const [code, what, trigger] of TRIGGERS) {
    await assert.rejects(
      async () => trigger(),
      (e: unknown) => {
        assert.equal(failureCode(e), code, `${what}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        assert.ok(failureLine(e).startsWith(`error[${code}]: `));
        return true;
      },
      what,
    );
  }
});
