// The one reader of files that are not alignc's (src/util/untrusted-file.ts): roots and realpath checked before
// opening, only regular files, size caps, streaming. The hostile cases that could hang (FIFOs, /dev/zero) run in
// test/data-import-hostile.test.ts under a time limit; these are the rules one by one.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { checkUntrusted, hashUntrusted, isInside, readRoot, readUntrusted } from "../src/util/untrusted-file.ts";
import { decodeUtf8, firstInvalidUtf8, utf16Order } from "../src/util/utf8.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-untrusted-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const root = path.join(dir, "root");
mkdirSync(path.join(root, "sub"), { recursive: true });
mkdirSync(path.join(dir, "outside"));
writeFileSync(path.join(root, "a.txt"), "hello");
writeFileSync(path.join(root, "sub", "b.txt"), "x".repeat(3000));
writeFileSync(path.join(dir, "outside", "secret.txt"), "secret");
symlinkSync(path.join(dir, "outside", "secret.txt"), path.join(root, "out-link"));
symlinkSync("a.txt", path.join(root, "in-link"));
symlinkSync(path.join(dir, "outside"), path.join(root, "out-dir"));
symlinkSync("/dev/zero", path.join(root, "zero-link"));
const fifo = path.join(root, "fifo");
const haveFifo = spawnSync("mkfifo", [fifo]).status === 0;
const rootOf = readRoot(root);
assert.ok(rootOf);

describe("checkUntrusted", () => {
  const opts = { root: rootOf, maxBytes: 1000 };

  test("a regular file inside the root, directly or through a link inside it", () => {
    const a = checkUntrusted("a.txt", opts);
    assert.ok(a.ok && a.size === 5 && a.path === path.join(root, "a.txt"));
    const l = checkUntrusted("in-link", opts);
    assert.ok(l.ok && l.real === path.join(rootOf.real, "a.txt"));
    assert.ok(checkUntrusted(path.join(root, "a.txt"), opts).ok, "an absolute path inside the root");
  });

  test("paths that leave the root as written or through links are refused before anything is opened", () => {
    for (const p of ["../outside/secret.txt", "/etc/passwd", "sub/../../outside/secret.txt", "/dev/zero"]) {
      const r = checkUntrusted(p, opts);
      assert.ok(!r.ok && r.reason === "outside-root", `${p}: ${JSON.stringify(r)}`);
      assert.equal(r.detail, r.path, "refused as written: realpath was not needed");
    }
    for (const p of ["out-link", "out-dir/secret.txt", "zero-link"]) {
      const r = checkUntrusted(p, opts);
      assert.ok(!r.ok && r.reason === "outside-root", `${p}: ${JSON.stringify(r)}`);
      assert.notEqual(r.detail, r.path, "the message can name where the link leads");
    }
  });

  test("only regular files: directories, devices and FIFOs are refused, and say what they are", () => {
    const d = checkUntrusted("sub", opts);
    assert.ok(!d.ok && d.reason === "not-regular" && d.detail === "a directory");
    const z = checkUntrusted("/dev/zero", { maxBytes: 10 });
    assert.ok(!z.ok && z.reason === "not-regular" && z.detail === "a character device");
    const zl = checkUntrusted(path.join(root, "zero-link"), { maxBytes: 10 });
    assert.ok(!zl.ok && zl.reason === "not-regular", "a link to a device is judged by its target");
    if (haveFifo) {
      const f = checkUntrusted("fifo", opts);
      assert.ok(!f.ok && f.reason === "not-regular" && f.detail === "a FIFO (named pipe)");
    }
  });

  test("missing files and files over the cap", () => {
    const m = checkUntrusted("nope.txt", opts);
    assert.ok(!m.ok && m.reason === "missing");
    const big = checkUntrusted("sub/b.txt", opts);
    assert.ok(!big.ok && big.reason === "too-large" && big.detail === "3000 bytes");
  });

  test("isInside is lexical and exact at the boundary", () => {
    assert.ok(isInside("/a/b", "/a/b"));
    assert.ok(isInside("/a/b", "/a/b/c"));
    assert.ok(!isInside("/a/b", "/a/bc"));
    assert.ok(!isInside("/a/b", "/a"));
    assert.ok(isInside("/a/b", "/a/b/..c"), "a name that starts with two dots is inside");
  });
});

describe("readUntrusted and hashUntrusted", () => {
  test("read whole within the cap; hashed in chunks to the same digest", () => {
    const r = readUntrusted(path.join(root, "sub", "b.txt"), { maxBytes: 5000 });
    assert.ok(r.ok && r.bytes.length === 3000);
    const h = createHash("sha256");
    const s = hashUntrusted(path.join(root, "sub", "b.txt"), { maxBytes: 5000 }, (c) => h.update(c));
    assert.ok(s.ok && s.size === 3000);
    assert.equal(h.digest("hex"), createHash("sha256").update("x".repeat(3000)).digest("hex"));
  });

  test("a refused path is never handed to the callback", () => {
    let called = false;
    const r = hashUntrusted("/dev/zero", { maxBytes: 1 << 30 }, () => {
      called = true;
    });
    assert.ok(!r.ok && !called);
  });
});

describe("strict UTF-8", () => {
  test("the first invalid byte, UTF-16 by its byte order mark or its NUL bytes", () => {
    assert.equal(firstInvalidUtf8(Buffer.from("aé€🙂")), Buffer.from("aé€🙂").length);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xff, 0x62])), 1);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82])), 1, "a truncated sequence");
    assert.deepEqual(decodeUtf8(Buffer.from([0x7b, 0xc0, 0x80])), { invalidAt: 1 }, "an overlong NUL");
    assert.equal(utf16Order(Buffer.from([0xff, 0xfe, 0x7b, 0x00])), "little-endian");
    assert.equal(utf16Order(Buffer.from([0xfe, 0xff, 0x00, 0x7b])), "big-endian");
    assert.equal(utf16Order(Buffer.from('{"a', "utf16le")), "little-endian");
    assert.equal(utf16Order(Buffer.from('{"a":1}')), undefined);
  });
});
