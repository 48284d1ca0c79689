// src/util/safe-write.ts: writes that stay inside the directory alignc owns. Planted links at the temporary names
// alignc used to use, at the target, and at a folder on the way are never written through; links inside the root
// are fine; concurrent writers never leave a torn file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import {
  appendFileInside,
  copyFileAtomic,
  mkdirInside,
  removeInside,
  resolveInside,
  symlinkAtomic,
  UnsafePathError,
  writeFileAtomic,
} from "../src/util/safe-write.ts";
import { repoRoot } from "./support/align-files.ts";
import { treeListing } from "./support/tree-listing.ts";

const base = mkdtempSync(path.join(tmpdir(), "alignc-safe-write-"));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A fresh root and a fresh folder outside it holding one file whose contents must never change. */
function fixture() {
  const at = path.join(base, String(n++));
  const root = path.join(at, "root");
  const outside = path.join(at, "outside");
  mkdirSync(root, { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(path.join(outside, "victim"), "original\n");
  return { root, outside, snapshot: () => treeListing(outside) };
}

const temps = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".tmp"));

describe("writeFileAtomic", () => {
  test("writes and replaces a file, leaving no temporary file", () => {
    const { root } = fixture();
    const file = path.join(root, "a", "b", "plan.json");
    writeFileAtomic(file, "one\n", { root });
    writeFileAtomic(file, new TextEncoder().encode("two\n"), { root });
    assert.equal(readFileSync(file, "utf8"), "two\n");
    assert.deepEqual(temps(path.dirname(file)), []);
  });

  test("a link planted at the old predictable temporary names is not followed", () => {
    const { root, outside, snapshot } = fixture();
    const file = path.join(root, "plan.json");
    const before = snapshot();
    // The names alignc (src/cli/common/io.ts, stage-export.ts, safetensors.ts) used: <file>.alignc-<pid>.tmp, .<name>.<pid>.<n>.tmp.
    const planted = [`${file}.alignc-${process.pid}.tmp`, ...[1, 2, 3].map((i) => path.join(root, `.plan.json.${process.pid}.${i}.tmp`))];
    for (const p of planted) symlinkSync(path.join(outside, "victim"), p);
    writeFileAtomic(file, "new\n", { root });
    writeFileAtomic(file, "newer\n");
    assert.equal(readFileSync(file, "utf8"), "newer\n");
    assert.deepEqual(snapshot(), before);
    for (const p of planted) assert.ok(lstatSync(p).isSymbolicLink(), "the planted links are left alone");
  });

  test("a link planted at the target is replaced, not written through", () => {
    const { root, outside, snapshot } = fixture();
    const before = snapshot();
    const file = path.join(root, "align.lock");
    symlinkSync(path.join(outside, "victim"), file);
    writeFileAtomic(file, "lock\n", { root });
    assert.ok(lstatSync(file).isFile());
    assert.equal(readFileSync(file, "utf8"), "lock\n");
    assert.deepEqual(snapshot(), before);
    // The same for copies and links.
    const src = path.join(root, "src.bin");
    writeFileSync(src, "bytes");
    const copy = path.join(root, "copy.bin");
    symlinkSync(path.join(outside, "victim"), copy);
    copyFileAtomic(src, copy, { root });
    assert.equal(readFileSync(copy, "utf8"), "bytes");
    assert.deepEqual(snapshot(), before);
  });

  test("a folder on the way that links outside is refused: nothing written or created outside", () => {
    const { root, outside, snapshot } = fixture();
    const before = snapshot();
    symlinkSync(outside, path.join(root, "exports"));
    for (const file of [path.join(root, "exports", "pairs.jsonl"), path.join(root, "exports", "deep", "er", "pairs.jsonl")]) {
      assert.throws(
        () => writeFileAtomic(file, "x", { root }),
        (e: unknown) =>
          e instanceof UnsafePathError && e.message.includes(path.join(root, "exports")) && e.message.includes(outside) && /remove the link/.test(e.message),
      );
      assert.throws(() => copyFileAtomic(path.join(outside, "victim"), file, { root }), UnsafePathError);
      assert.throws(() => appendFileInside(root, file, "x"), UnsafePathError);
    }
    assert.throws(() => mkdirInside(root, path.join(root, "exports", "images")), UnsafePathError);
    assert.throws(() => symlinkAtomic("../x", path.join(root, "exports", "link"), { root }), UnsafePathError);
    assert.throws(() => removeInside(root, path.join(root, "exports", "victim")), UnsafePathError);
    assert.deepEqual(snapshot(), before);
  });

  test("a link deeper on the way that leads out (also through ..) is refused", () => {
    const { root, outside, snapshot } = fixture();
    const before = snapshot();
    mkdirSync(path.join(root, "a"));
    symlinkSync(path.join("..", "..", "outside"), path.join(root, "a", "up"));
    assert.throws(() => writeFileAtomic(path.join(root, "a", "up", "new", "f"), "x", { root }), UnsafePathError);
    assert.throws(() => writeFileAtomic(path.join(root, "..", "outside", "f"), "x", { root }), /not inside/);
    // A dangling link and a file where a folder belongs.
    symlinkSync(path.join(outside, "missing"), path.join(root, "dangling"));
    assert.throws(() => writeFileAtomic(path.join(root, "dangling", "f"), "x", { root }), /does not exist/);
    writeFileSync(path.join(root, "file"), "");
    assert.throws(() => writeFileAtomic(path.join(root, "file", "f"), "x", { root }), /a file where alignc needs a folder/);
    assert.deepEqual(snapshot(), before);
    assert.ok(!existsSync(path.join(outside, "missing")));
  });

  test("a folder that links inside the root is fine", () => {
    const { root } = fixture();
    mkdirSync(path.join(root, "real", "images"), { recursive: true });
    symlinkSync("real", path.join(root, "exports"));
    writeFileAtomic(path.join(root, "exports", "pairs.jsonl"), "ok\n", { root });
    assert.equal(readFileSync(path.join(root, "real", "pairs.jsonl"), "utf8"), "ok\n");
    assert.equal(mkdirInside(root, path.join(root, "exports", "images", "x")), path.join(realpathSync(root), "real", "images", "x"));
    assert.equal(resolveInside(root, path.join(root, "exports", "nothing")), undefined);
  });

  test("a root that is itself a link is the caller's choice and is followed", () => {
    const { root } = fixture();
    const alias = `${root}-alias`;
    symlinkSync(root, alias);
    writeFileAtomic(path.join(alias, "x", "f"), "y", { root: alias });
    assert.equal(readFileSync(path.join(root, "x", "f"), "utf8"), "y");
    // A path below the root's real path (what mkdirInside returns) counts as inside it too.
    const real = mkdirInside(alias, path.join(alias, "x"));
    writeFileAtomic(path.join(real, "g"), "z", { root: alias });
    assert.equal(readFileSync(path.join(root, "x", "g"), "utf8"), "z");
  });

  test("a rewritten file keeps its permissions; a failed write leaves no temporary file", () => {
    const { root } = fixture();
    const file = path.join(root, "run.sh");
    writeFileSync(file, "#!/bin/sh\n");
    chmodSync(file, 0o754);
    writeFileAtomic(file, "#!/bin/sh\necho\n");
    assert.equal(statSync(file).mode & 0o777, 0o754);
    assert.throws(() => copyFileAtomic(root, path.join(root, "copy"), { root }), /EISDIR/);
    assert.deepEqual(temps(root), []);
    assert.ok(!existsSync(path.join(root, "copy")));
  });

  test("copies big files in chunks, byte for byte", () => {
    const { root } = fixture();
    const src = path.join(root, "big.bin");
    const bytes = Buffer.alloc((3 << 20) + 17);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 13)) & 0xff;
    writeFileSync(src, bytes);
    copyFileAtomic(src, path.join(root, "out", "big.bin"), { root });
    assert.ok(readFileSync(path.join(root, "out", "big.bin")).equals(bytes));
  });

  test("appending refuses a link at the file; links are made atomically", () => {
    const { root, outside, snapshot } = fixture();
    const before = snapshot();
    appendFileInside(root, path.join(root, "metrics", "m.jsonl"), "1\n");
    appendFileInside(root, path.join(root, "metrics", "m.jsonl"), "2\n");
    assert.equal(readFileSync(path.join(root, "metrics", "m.jsonl"), "utf8"), "1\n2\n");
    symlinkSync(path.join(outside, "victim"), path.join(root, "metrics", "planted.jsonl"));
    assert.throws(() => appendFileInside(root, path.join(root, "metrics", "planted.jsonl"), "x"), /symbolic link/);
    mkdirSync(path.join(root, "store", "entry"), { recursive: true });
    symlinkAtomic("../store/entry", path.join(root, "outputs", "node"), { root });
    symlinkAtomic("../store/entry", path.join(root, "outputs", "node"), { root });
    assert.ok(statSync(path.join(root, "outputs", "node")).isDirectory());
    // A real folder at a link's name (an old layout) is replaced.
    mkdirSync(path.join(root, "outputs", "old", "x"), { recursive: true });
    symlinkAtomic("../store/entry", path.join(root, "outputs", "old"), { root });
    assert.ok(lstatSync(path.join(root, "outputs", "old")).isSymbolicLink());
    assert.deepEqual(temps(path.join(root, "outputs")), []);
    removeInside(root, path.join(root, "metrics", "planted.jsonl"));
    assert.ok(!existsSync(path.join(root, "metrics", "planted.jsonl")));
    assert.deepEqual(snapshot(), before);
  });

  test("concurrent writers to one file: every read sees one writer's whole file", async () => {
    const { root } = fixture();
    const file = path.join(root, "shared.json");
    const size = 200_000;
    writeFileAtomic(file, `${"0".repeat(size)}\n`);
    const writers = ["a", "b", "c"].map(
      (tag) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "test/support/safe-write-writer.ts"), file, tag, "60", String(size)], {
            stdio: "inherit",
          });
          child.on("exit", resolve);
        }),
    );
    let done = false;
    const all = Promise.all(writers).then((codes) => {
      done = true;
      return codes;
    });
    let reads = 0;
    const seen = new Set<string>();
    while (!done) {
      const text = readFileSync(file, "utf8");
      assert.equal(text.length, size + 1, "a read saw a file of the wrong length");
      assert.ok(text.endsWith("\n") && text.slice(0, size) === (text[0] as string).repeat(size), "a read saw a torn file");
      seen.add(text[0] as string);
      reads++;
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await all, [0, 0, 0]);
    assert.ok(reads > 10, `only ${reads} reads`);
    assert.deepEqual(temps(root), []);
    assert.ok(seen.size >= 2, `reads saw ${[...seen].join(", ")}`);
  });
});
