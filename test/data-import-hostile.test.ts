// Hostile data (issue 17): rows that name files outside the images root, devices, FIFOs, sockets, directories,
// decompression bombs, truncated and corrupt PNGs, invalid UTF-8, UTF-16, a byte order mark, empty answers; data
// files that are FIFOs, devices, directories or 2.2 GB; .align imports and rater modules that are devices or
// FIFOs; checkpoints and rater program files that are special files. Each case must end in bounded time with a
// coded problem naming the file and the row (or work, for the byte order mark), and nothing outside the root is
// opened — checked by strace where it is installed.
//
// Everything that could hang runs in a child process (this file with ALIGNC_HOSTILE_CHILD=<dir>) under a time
// limit; it prints one JSON line per case, which the parent's tests then check one by one.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { compileSync } from "../src/compiler/compile.ts";
import { checkTypescriptRater } from "../src/compiler/hooks/typescript-rater.ts";
import { FileRowsError, fileDigest, type ImportOptions, importFile } from "../src/runtime/data/formats/index.ts";
import { CheckpointError, loadCheckpoint } from "../src/runtime/models/checkpoint.ts";
import { modelCheckpoint } from "../src/runtime/pipeline/executors/model-checkpoint.ts";
import { programDigest } from "../src/runtime/pipeline/executors/program-files.ts";
import { encodePng } from "../src/runtime/world/png.ts";

const thisFile = fileURLToPath(import.meta.url);
const repoRoot = path.resolve(path.dirname(thisFile), "..");
const bin = path.join(repoRoot, "bin/alignc.js");
/** Longest any one case may take in the child. */
const CASE_BUDGET_MS = 3000;

interface Outcome {
  ms: number;
  /** Row problems, or the file's error message, or a digest, or the diagnostics' codes and messages. */
  lines: string[];
  threw?: string;
  rssMb?: number;
}

// ── the fixture: an images root and its neighbours ──────────────────────────

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A valid 8×8 PNG, and one whose header claims `w`×`h` (with a correct CRC: only the caps can refuse it). */
function pngs(): { good: Buffer; claiming: (w: number, h: number) => Buffer } {
  const good = encodePng(new Uint8Array(8 * 8 * 3).fill(200), 8, 8);
  const claiming = (w: number, h: number) => {
    const b = Buffer.from(good);
    b.writeUInt32BE(w, 16);
    b.writeUInt32BE(h, 20);
    b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
    return b;
  };
  return { good, claiming };
}

interface Fixture {
  dir: string;
  root: string;
  outside: string;
  hasFifo: boolean;
}

function makeFixture(dir: string): Fixture {
  const root = path.join(dir, "data");
  const outside = path.join(dir, "outside");
  mkdirSync(path.join(root, "dir.png"), { recursive: true });
  mkdirSync(outside, { recursive: true });
  const { good, claiming } = pngs();
  writeFileSync(path.join(root, "good.png"), good);
  writeFileSync(path.join(root, "bomb.png"), claiming(20000, 20000));
  writeFileSync(path.join(root, "wide.png"), claiming(9000, 10));
  writeFileSync(path.join(root, "trunc.png"), good.subarray(0, good.length - 20));
  writeFileSync(path.join(root, "notpng.png"), "GIF89a, not a PNG");
  const crc = Buffer.from(good);
  crc.writeUInt8(crc.readUInt8(17) ^ 1, 17);
  writeFileSync(path.join(root, "crc.png"), crc);
  writeFileSync(path.join(outside, "secret.png"), good);
  symlinkSync(path.join(outside, "secret.png"), path.join(root, "link-out.png"));
  symlinkSync("/dev/zero", path.join(root, "link-zero.png"));
  symlinkSync("good.png", path.join(root, "link-in.png"));
  const hasFifo = spawnSync("mkfifo", [path.join(root, "fifo.png"), path.join(root, "fifo.jsonl"), path.join(dir, "fifo.align")]).status === 0;
  return { dir, root, outside, hasFifo };
}

const trl = (prompt: string, chosen: string, rejected: string, image?: string) =>
  JSON.stringify(image === undefined ? { prompt, chosen, rejected } : { prompt: `<image>${prompt}`, chosen, rejected, images: [image] });

/** The rows of the one TRL file with every bad image and text, in order; the row number is the index + 1. */
function badRows(fx: Fixture): { text: string | Buffer; code: string | null; why: string }[] {
  return [
    { text: trl("What?", "Red.", "Blue.", "good.png"), code: null, why: "a good row" },
    { text: trl("What?", "Red.", "Blue.", "/etc/passwd"), code: "ALN6003", why: "an absolute path outside" },
    { text: trl("What?", "Red.", "Blue.", "../outside/secret.png"), code: "ALN6003", why: ".. out of the root" },
    { text: trl("What?", "Red.", "Blue.", path.join(fx.outside, "secret.png")), code: "ALN6003", why: "an absolute path to a file outside" },
    { text: trl("What?", "Red.", "Blue.", "link-out.png"), code: "ALN6003", why: "a symbolic link out of the root" },
    { text: trl("What?", "Red.", "Blue.", "/dev/zero"), code: "ALN6003", why: "/dev/zero" },
    { text: trl("What?", "Red.", "Blue.", "link-zero.png"), code: "ALN6003", why: "a symbolic link to /dev/zero" },
    { text: trl("What?", "Red.", "Blue.", fx.hasFifo ? "fifo.png" : "dir.png"), code: "ALN6002", why: "a FIFO" },
    { text: trl("What?", "Red.", "Blue.", "dir.png"), code: "ALN6002", why: "a directory" },
    { text: trl("What?", "Red.", "Blue.", "sock.png"), code: "ALN6002", why: "a socket" },
    { text: trl("What?", "Red.", "Blue.", "bomb.png"), code: "ALN6006", why: "a 20000×20000 decompression bomb" },
    { text: trl("What?", "Red.", "Blue.", "wide.png"), code: "ALN6006", why: "9000 pixels wide" },
    { text: trl("What?", "Red.", "Blue.", "trunc.png"), code: "ALN6005", why: "a truncated PNG" },
    { text: trl("What?", "Red.", "Blue.", "notpng.png"), code: "ALN6005", why: "not a PNG" },
    { text: trl("What?", "Red.", "Blue.", "crc.png"), code: "ALN6005", why: "a corrupt header" },
    { text: trl("What?", "Red.", "Blue.", "missing.png"), code: "ALN6001", why: "a missing image" },
    { text: trl("What?", "", "Blue."), code: "ALN6009", why: "an empty chosen answer" },
    { text: trl("What?", "Red.", "  "), code: "ALN6009", why: "a blank rejected answer" },
    {
      text: Buffer.concat([Buffer.from('{"prompt": "caf'), Buffer.from([0xe9]), Buffer.from('", "chosen": "a", "rejected": "b"}')]),
      code: "ALN6007",
      why: "Latin-1 bytes",
    },
    { text: trl("What \u001b[2J?", "Red.", "Blue.", "link-in.png"), code: null, why: "a link inside the root (and an escape in the text, kept as data)" },
    { text: "not json", code: "ALN6010", why: "not JSON" },
  ];
}

// ── child mode: run every case, print outcomes ──────────────────────────────

function measure(run: () => string[]): Outcome {
  const started = performance.now();
  try {
    const lines = run();
    return { ms: performance.now() - started, lines, rssMb: Math.round(process.memoryUsage().rss / 1e6) };
  } catch (e) {
    return { ms: performance.now() - started, lines: [], threw: (e as Error).stack ?? String(e) };
  }
}

function importLines(opts: ImportOptions): string[] {
  try {
    const r = importFile(opts);
    return [...r.problems, `records: ${r.dataset.records.length}`];
  } catch (e) {
    if (e instanceof FileRowsError) return [`file: ${e.message}`];
    throw e;
  }
}

function childCases(fx: Fixture): Record<string, () => string[]> {
  const rowsFile = path.join(fx.root, "rows.jsonl");
  writeFileSync(rowsFile, Buffer.concat(badRows(fx).flatMap((r) => [Buffer.from(r.text), Buffer.from("\n")])));
  const write = (name: string, bytes: string | Buffer) => {
    const f = path.join(fx.root, name);
    writeFileSync(f, bytes);
    return f;
  };
  const ok = trl("What?", "Red.", "Blue.");
  const pairs = (file: string, extra: Partial<ImportOptions> = {}): ImportOptions => ({ file, kind: "pairs", format: "trl", ...extra });
  const sparse = path.join(fx.dir, "huge.jsonl");
  const big = openSync(sparse, "w");
  closeSync(big);
  spawnSync("truncate", ["-s", "2200M", sparse]);
  const ckpt = path.join(fx.dir, "ckpt");
  mkdirSync(ckpt);
  writeFileSync(path.join(ckpt, "config.json"), "{}");
  writeFileSync(path.join(ckpt, "tokenizer.json"), "{}");
  symlinkSync("/dev/zero", path.join(ckpt, "model.safetensors"));
  const compileCodes = (source: string) => {
    const f = path.join(fx.dir, `import-${createHash("sha1").update(source).digest("hex").slice(0, 8)}.align`);
    writeFileSync(f, `align 1\nimport ${JSON.stringify(source)}\n`);
    return compileSync(f).diagnostics.map((d) => `${d.code} ${d.message}`);
  };
  return {
    rows: () => importLines(pairs(rowsFile)),
    rowsDigest: () => [fileDigest(pairs(rowsFile))],
    devRoot: () => importLines(pairs(write("dev.jsonl", `${trl("What?", "Red.", "Blue.", "/dev/zero")}\n`), { images: "/dev" })),
    fifoData: () => importLines(pairs(fx.hasFifo ? path.join(fx.root, "fifo.jsonl") : path.join(fx.root, "dir.png"))),
    fifoDigest: () => [fileDigest(pairs(fx.hasFifo ? path.join(fx.root, "fifo.jsonl") : path.join(fx.root, "dir.png")))],
    zeroData: () => importLines(pairs("/dev/zero")),
    zeroDigest: () => [fileDigest(pairs("/dev/zero"))],
    zeroLinkData: () => importLines(pairs(path.join(fx.root, "link-zero.png"))),
    dirData: () => importLines(pairs(path.join(fx.root, "dir.png"))),
    hugeDigest: () => [fileDigest(pairs(sparse))],
    hugeImport: () => importLines(pairs(sparse)),
    utf16le: () => importLines(pairs(write("le.jsonl", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${ok}\n`, "utf16le")])))),
    utf16leNoBom: () => importLines(pairs(write("le2.jsonl", Buffer.from(`${ok}\n`, "utf16le")))),
    utf16be: () => importLines(pairs(write("be.jsonl", Buffer.from([0xfe, 0xff, 0x00, 0x7b])))),
    bom: () => importLines(pairs(write("bom.jsonl", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${ok}\r\n${ok}\n`)])))),
    bomJson: () => importLines(pairs(write("bom.json", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`[${ok}]`)])))),
    badJson: () => importLines(pairs(write("bad.json", Buffer.concat([Buffer.from(`[${ok},\n{"prompt": "`), Buffer.from([0xff]), Buffer.from('"}]')])))),
    emptySharegpt: () =>
      importLines({
        ...pairs(
          write(
            "sg.jsonl",
            `${JSON.stringify({ conversations: [{ from: "human", value: "Hi?" }], chosen: { from: "gpt", value: "" }, rejected: { from: "gpt", value: "No." } })}\n`,
          ),
        ),
        format: "sharegpt",
      }),
    emptySwift: () =>
      importLines({
        ...pairs(
          write(
            "swift.jsonl",
            `${JSON.stringify({
              messages: [
                { role: "user", content: "Hi?" },
                { role: "assistant", content: "Yes." },
              ],
              rejected_response: "",
            })}\n`,
          ),
        ),
        format: "ms_swift",
      }),
    emptyAlignc: () => {
      const item = {
        id: "w1",
        split: "train",
        task: "text",
        kind: "imported",
        prompt: "Name a colour.",
        answer: "Green.",
        image: null,
        scene: null,
        negative: null,
      };
      return importLines({ ...pairs(write("al.jsonl", `${JSON.stringify({ id: "p1", item, chosen: "Green.", rejected: "" })}\n`)), format: "alignc" });
    },
    importZero: () => compileCodes("/dev/zero"),
    importFifo: () => compileCodes(fx.hasFifo ? path.join(fx.dir, "fifo.align") : "/dev/null"),
    importDir: () => compileCodes(fx.root),
    importSocket: () => compileCodes(path.join(fx.root, "sock.png")),
    programFiles: () => [programDigest(["python3", "/dev/zero", path.join(fx.root, "fifo.png"), sparse.replace("huge", "nope")], ["/dev/zero"], fx.dir)],
    checkpointKey: () => [String(modelCheckpoint.external?.({ path: ckpt }, fx.dir))],
    checkpointLoad: () => {
      try {
        loadCheckpoint(ckpt);
        return ["loaded"];
      } catch (e) {
        if (e instanceof CheckpointError) return [e.message];
        throw e;
      }
    },
    typescriptRater: () => {
      const r = checkTypescriptRater("/dev/zero", "default");
      return [r.ok ? "ok" : r.message];
    },
  };
}

const childDir = process.env.ALIGNC_HOSTILE_CHILD;
if (childDir !== undefined) {
  const fx = JSON.parse(readFileSync(path.join(childDir, "fixture.json"), "utf8")) as Fixture;
  for (const [name, run] of Object.entries(childCases(fx))) process.stdout.write(`@@case ${name} ${JSON.stringify(measure(run))}\n`);
} else {
  registerTests();
}

// ── the tests ───────────────────────────────────────────────────────────────

function registerTests(): void {
  const dir = mkdtempSync(path.join(tmpdir(), "alignc-hostile-"));
  const fx = makeFixture(dir);
  let server: net.Server | undefined;
  const outcomes = new Map<string, Outcome>();
  let childOutput = "";

  before(async () => {
    server = net.createServer();
    await new Promise<void>((resolve) => server?.listen(path.join(fx.root, "sock.png"), resolve));
    writeFileSync(path.join(dir, "fixture.json"), JSON.stringify(fx));
    // The child reads FIFOs nobody writes to: a read that blocks is a hang, which the time limit turns into a failure.
    const r = spawnSync(process.execPath, ["--import", "tsx", thisFile], {
      env: { ...process.env, ALIGNC_HOSTILE_CHILD: dir },
      encoding: "utf8",
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    childOutput = `${r.stdout}\n${r.stderr}`.slice(-4000);
    for (const m of r.stdout.matchAll(/^@@case (\S+) (.*)$/gm)) outcomes.set(m[1] as string, JSON.parse(m[2] as string) as Outcome);
  });
  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The case's outcome: it ran, did not throw, and finished within the budget. */
  const outcome = (name: string): Outcome => {
    const o = outcomes.get(name);
    assert.ok(o, `case ${name} did not finish (a hang or a crash of the child):\n${childOutput}`);
    assert.equal(o.threw, undefined, `${name} threw: ${o.threw}`);
    assert.ok(o.ms < CASE_BUDGET_MS || name.startsWith("huge"), `${name} took ${o.ms.toFixed(0)} ms`);
    return o;
  };

  describe("rows of a data file: every bad row reported with its file, row and code, in bounded time", () => {
    test("one file holding every kind of bad image and text", () => {
      const o = outcome("rows");
      const rows = badRows(fx);
      const file = path.join(fx.root, "rows.jsonl");
      for (const [i, r] of rows.entries()) {
        const line = o.lines.find((l) => l.startsWith(`${file}:${i + 1}: `));
        if (r.code === null) assert.equal(line, undefined, `row ${i + 1} (${r.why}) is fine, got: ${line}`);
        else assert.match(line ?? "(no problem reported)", new RegExp(`^\\S+:${i + 1}: error\\[${r.code}\\]: `), `row ${i + 1}: ${r.why}`);
      }
      assert.equal(o.lines.at(-1), "records: 2", "the good rows are read");
      const text = o.lines.join("\n");
      assert.match(text, /error\[ALN6003\]: image "link-out\.png" leads through a symbolic link to \S+outside\/secret\.png, outside the images root/);
      assert.match(text, /error\[ALN6002\]: image dir\.png is a directory, not a regular file/);
      assert.match(text, /error\[ALN6002\]: image sock\.png is a socket, not a regular file/);
      if (fx.hasFifo) assert.match(text, /error\[ALN6002\]: image fifo\.png is a FIFO \(named pipe\), not a regular file/);
      assert.match(text, /error\[ALN6006\]: image bomb\.png is 20000×20000 pixels; alignc decodes images up to 8192 pixels a side and 32 Mpx in all/);
      assert.match(text, /error\[ALN6005\]: image trunc\.png is not a readable PNG, JPEG or WebP image: the file is truncated/);
      assert.match(text, /error\[ALN6005\]: image crc\.png is not a readable PNG, JPEG or WebP image: the header's checksum \(CRC\) is wrong/);
      assert.match(text, /error\[ALN6009\]: the chosen answer is empty/);
      assert.match(text, /error\[ALN6009\]: the rejected answer is empty/);
      assert.match(text, /error\[ALN6007\]: the row is not valid UTF-8 \(its first bad byte is byte 15 of it/);
    });

    test("the store key never reads what the import refuses, and never throws", () => {
      const o = outcome("rowsDigest");
      assert.match(o.lines[0] ?? "", /^[0-9a-f]{64}$/);
    });

    test("an images root of /dev: /dev/zero is inside it, and refused as a device", () => {
      assert.match(outcome("devRoot").lines.join("\n"), /dev\.jsonl:1: error\[ALN6002\]: image \/dev\/zero is a character device, not a regular file/);
    });

    test("empty answers in sharegpt, ms-swift and alignc files", () => {
      assert.match(outcome("emptySharegpt").lines[0] ?? "", /sg\.jsonl:1: error\[ALN6009\]: the chosen answer is empty/);
      assert.match(outcome("emptySwift").lines[0] ?? "", /swift\.jsonl:1: error\[ALN6009\]: the rejected answer is empty/);
      assert.match(outcome("emptyAlignc").lines[0] ?? "", /al\.jsonl:1: error\[ALN6009\]: the rejected answer is empty/);
    });
  });

  describe("data files that are not regular files, or not UTF-8", () => {
    test("a FIFO, /dev/zero, a link to it and a directory are refused as a whole, key and import alike", () => {
      assert.match(outcome("fifoData").lines[0] ?? "", fx.hasFifo ? /error\[ALN6002\]: data file \S+fifo\.jsonl is a FIFO/ : /ALN6002/);
      assert.match(outcome("fifoDigest").lines[0] ?? "", /^[0-9a-f]{64}$/);
      assert.match(outcome("zeroData").lines[0] ?? "", /error\[ALN6002\]: data file \/dev\/zero is a character device, not a regular file/);
      assert.match(outcome("zeroDigest").lines[0] ?? "", /^[0-9a-f]{64}$/);
      assert.match(outcome("zeroLinkData").lines[0] ?? "", /error\[ALN6002\]: data file \S+link-zero\.png is a character device/);
      assert.match(outcome("dirData").lines[0] ?? "", /error\[ALN6002\]: data file \S+dir\.png is a directory/);
    });

    test("a 2.2 GB file is hashed and read a chunk at a time, in bounded memory", () => {
      const digest = outcome("hugeDigest");
      assert.match(digest.lines[0] ?? "", /^[0-9a-f]{64}$/);
      assert.ok((digest.rssMb ?? 0) < 600, `RSS ${digest.rssMb} MB after hashing 2.2 GB`);
      const read = outcome("hugeImport");
      assert.match(read.lines[0] ?? "", /huge\.jsonl:1: error\[ALN6010\]: the row is longer than 64 MiB/);
      assert.ok((read.rssMb ?? 0) < 600, `RSS ${read.rssMb} MB after reading 2.2 GB`);
    });

    test("UTF-16 is recognised and explained; a UTF-8 byte order mark is accepted", () => {
      assert.match(
        outcome("utf16le").lines[0] ?? "",
        /le\.jsonl: error\[ALN6008\]: the file is UTF-16 \(little-endian\); alignc reads data files in UTF-8; convert it/,
      );
      assert.match(outcome("utf16leNoBom").lines[0] ?? "", /ALN6008\]: the file is UTF-16 \(little-endian\)/);
      assert.match(outcome("utf16be").lines[0] ?? "", /ALN6008\]: the file is UTF-16 \(big-endian\)/);
      assert.deepEqual(outcome("bom").lines, ["records: 2"]);
      assert.deepEqual(outcome("bomJson").lines, ["records: 1"]);
      assert.match(outcome("badJson").lines[0] ?? "", /bad\.json:2: error\[ALN6007\]: line 2 is not valid UTF-8 \(its first bad byte is byte 12 of it/);
    });
  });

  describe("sources, rater modules, program files and checkpoints that are special files", () => {
    test("import of /dev/zero, a FIFO, a directory and a socket: a coded diagnostic each", () => {
      assert.match(outcome("importZero").lines.join("\n"), /ALN0007 '\/dev\/zero' is a character device, not a regular file/);
      if (fx.hasFifo) assert.match(outcome("importFifo").lines.join("\n"), /ALN0007 '\S+fifo\.align' is a FIFO \(named pipe\), not a regular file/);
      assert.match(outcome("importDir").lines.join("\n"), /ALN0002 /);
      assert.match(outcome("importSocket").lines.join("\n"), /ALN0007 '\S+sock\.png' is a socket/);
    });

    test("rater program files and checkpoints: keys without reading special files; loading refuses them", () => {
      assert.match(outcome("programFiles").lines[0] ?? "", /^[0-9a-f]{64}$/);
      assert.match(outcome("checkpointKey").lines[0] ?? "", /^[0-9a-f]{64}$/);
      assert.match(outcome("checkpointLoad").lines[0] ?? "", /error\[ALN6002\]: checkpoint file \S+model\.safetensors is a character device/);
      assert.match(
        outcome("typescriptRater").lines[0] ?? "",
        /cannot read TypeScript rater module '\/dev\/zero': \/dev\/zero is a character device, not a regular file/,
      );
    });
  });

  describe("alignc plan and run on the hostile file", () => {
    const align = path.join(dir, "hostile.align");
    writeFileSync(
      align,
      'align 1\n\ndataset prefs = file("data/rows.jsonl") { kind: pairs, format: trl }\ndataset out = export(prefs) { path: "exports/p.jsonl" }\n',
    );
    const strace = spawnSync("strace", ["-V"]).status === 0;
    /** Runs the CLI (under strace when it is installed); returns its result and the paths it opened or created. */
    const cli = (args: string[]) => {
      const trace = path.join(dir, `trace-${args[0]}.txt`);
      const argv = [process.execPath, bin, ...args];
      const cmd = strace ? ["strace", "-f", "-qq", "-o", trace, "-e", "trace=open,openat,creat,rename,renameat,renameat2,mkdir,mkdirat", ...argv] : argv;
      const r = spawnSync(cmd[0] as string, cmd.slice(1), { cwd: dir, encoding: "utf8", timeout: 120_000 });
      const opened = strace
        ? [...readFileSync(trace, "utf8").matchAll(/(?:open|openat|creat|mkdir|mkdirat|rename\w*)\((?:AT_FDCWD, )?"([^"]+)"/g)].map((m) => m[1] as string)
        : [];
      return { ...r, opened };
    };
    const leaks = (opened: string[]) => opened.filter((p) => /outside|secret|\/etc\/passwd|\/dev\/zero|fifo\.png|sock\.png/.test(p));

    test("plan: exit 0, and nothing outside the root and no special file is opened (a bomb is hashed, not decoded)", (t) => {
      if (!strace) t.diagnostic("strace is not installed: NOT checking which files were opened (install strace to run this check)");
      const r = cli(["plan", "hostile.align"]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(leaks(r.opened), []);
      if (strace)
        assert.ok(
          r.opened.some((p) => p.endsWith("rows.jsonl")),
          "strace saw the data file opened",
        );
    });

    test("run: exit 1 with every bad row coded, nothing opened outside the root, nothing exported", (t) => {
      if (!strace) t.diagnostic("strace is not installed: NOT checking which files were opened (install strace to run this check)");
      const r = cli(["run", "hostile.align"]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /prefs \(data\.file\) failed: \S+rows\.jsonl: 19 bad records; fix them and run again:/);
      assert.match(r.stderr, /rows\.jsonl:2: error\[ALN6003\]: image path "\/etc\/passwd" leads outside the images root/);
      assert.deepEqual(leaks(r.opened), []);
    });
  });
}
