// `alignc world` end to end, spawned in a temporary directory as a user runs it: generate, check, eval, and
// the guard that never writes over files a user made.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../bin/alignc.js", import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), "alignc-world-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function alignc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, "world", ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Item {
  id: string;
  task: string;
  answer: string;
}
const itemsOf = (d: string): Item[] =>
  readFileSync(path.join(dir, d, "items.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

describe("alignc world", () => {
  test("generate writes a directory that check accepts", () => {
    const r = alignc(
      "generate",
      "--out",
      "d1",
      "--split",
      "val",
      "--count",
      "50",
      "--seed",
      "3",
      "--bias",
      "80%",
      "--image-size",
      "64",
      "--tasks",
      "describe,pope,text",
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^wrote 50 val items \(34 images\) to d1 in \d+\.\d\d s\n$/);
    const manifest = JSON.parse(readFileSync(path.join(dir, "d1", "manifest.json"), "utf8"));
    assert.deepEqual(
      [manifest.options.bias, manifest.options.image_size, manifest.options.tasks, manifest.counts.items],
      [0.8, 64, ["describe", "pope", "text"], 50],
    );
    const c = alignc("check", "d1");
    assert.equal(c.status, 0, c.stderr);
    assert.equal(c.stderr, "d1: val split, 50 items, 34 images, no problems\n");
  });

  test("check reports problems with file and line, exit 1; --format json", () => {
    alignc("generate", "--out", "d2", "--count", "10");
    const file = path.join(dir, "d2", "items.jsonl");
    const lines = readFileSync(file, "utf8").split("\n");
    lines[6] = "not json";
    writeFileSync(file, lines.join("\n"));
    const c = alignc("check", "d2");
    assert.equal(c.status, 1);
    assert.match(c.stderr, /^d2\/items\.jsonl:7: not valid JSON: .*\nd2: 1 problem\n$/);
    const j = alignc("check", "d2", "--format", "json");
    assert.equal(j.status, 1);
    const report = JSON.parse(j.stdout);
    assert.equal(report.ok, false);
    assert.deepEqual([report.problems[0].file, report.problems[0].line], ["d2/items.jsonl", 7]);
  });

  test("never writes into a non-empty directory without --force; --force replaces only a world dataset", () => {
    alignc("generate", "--out", "d3", "--count", "20");
    writeFileSync(path.join(dir, "d3", "NOTES.md"), "mine");
    writeFileSync(path.join(dir, "d3", "images", "my-photo.png"), "mine");
    const again = alignc("generate", "--out", "d3", "--count", "5");
    assert.equal(again.status, 1);
    assert.match(again.stderr, /d3 is not empty; choose an empty or new directory, or pass --force/);
    assert.equal(itemsOf("d3").length, 20, "untouched");

    const forced = alignc("generate", "--out", "d3", "--count", "5", "--force");
    assert.equal(forced.status, 0, forced.stderr);
    assert.equal(itemsOf("d3").length, 5);
    assert.deepEqual(readdirSync(path.join(dir, "d3", "images")).sort(), [
      "my-photo.png",
      "train-000000.png",
      "train-000001.png",
      "train-000002.png",
      "train-000003.png",
    ]);
    assert.equal(readFileSync(path.join(dir, "d3", "NOTES.md"), "utf8"), "mine");

    mkdirSync(path.join(dir, "mine"));
    writeFileSync(path.join(dir, "mine", "data.txt"), "precious");
    const refused = alignc("generate", "--out", "mine", "--force");
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /mine is not empty and holds no world dataset .* choose another --out/);
    assert.deepEqual(readdirSync(path.join(dir, "mine")), ["data.txt"]);
  });

  test("eval scores predictions: the reference answers score perfectly", () => {
    alignc("generate", "--out", "d4", "--split", "test", "--count", "40");
    const preds = itemsOf("d4").map((it) => JSON.stringify({ id: it.id, prediction: it.answer }));
    writeFileSync(path.join(dir, "preds.jsonl"), `${preds.join("\n")}\n`);
    const r = alignc("eval", "d4", "--predictions", "preds.jsonl", "--format", "json");
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.missing, 0);
    assert.equal(report.pope.all.accuracy, 1);
    assert.deepEqual([report.describe.chairI, report.describe.recall], [0, 1]);
    for (const task of ["attribute", "count", "text"]) assert.equal(report[task].accuracy, 1, task);
    const text = alignc("eval", "d4", "--predictions", "preds.jsonl");
    assert.match(text.stdout, /POPE .*\n {2}random .* 100\.0%/);
    assert.match(text.stdout, /Descriptions {2}n 8 {2}CHAIR_i 0\.0% {2}CHAIR_s 0\.0% {2}object recall 100\.0%/);

    writeFileSync(path.join(dir, "bad.jsonl"), `{"id": "test-000000", "prediction": "Yes."}\n{"id": "nope", "prediction": "x"}\n`);
    const bad = alignc("eval", "d4", "--predictions", "bad.jsonl");
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /bad\.jsonl:2: id 'nope' is not an item of the dataset/);
  });

  test("usage errors exit 1 and name the flag; --help exits 0", () => {
    const cases: [string[], RegExp][] = [
      [["generate", "--count", "5"], /name the directory to write with --out DIR/],
      [["generate", "--out", "x", "--bias", "high"], /--bias must be a fraction such as 0\.8 or a percentage such as 80%, got 'high'/],
      [["generate", "--out", "x", "--image-size", "8"], /--image-size must be an integer in 16…512, got 8/],
      [
        ["generate", "--out", "x", "--tasks", "describe,poem"],
        /--tasks must be a non-empty list of distinct values from describe, pope, attribute, count, text/,
      ],
      [["render"], /unknown subcommand 'render'; use generate, check or eval/],
      [["check"], /name the dataset directory/],
    ];
    for (const [args, message] of cases) {
      const r = alignc(...args);
      assert.equal(r.status, 1, args.join(" "));
      assert.match(r.stderr, message);
    }
    assert.ok(!existsSync(path.join(dir, "x")), "nothing written on a usage error");
    const help = alignc("--help");
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: alignc world generate --out DIR/);
  });
});
