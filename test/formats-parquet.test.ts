// Parquet data files as `datasets` and pyarrow write them (test/fixtures/parquet/, made by
// scripts/make-parquet-fixtures.py): each imports as the JSON lines file that says the same, embedded images are
// written into the entry byte for byte, path images stay under the images root, codecs alignc does not read and
// corrupt files are refused with ALN6012, bad rows are `file:row: what`, and the node's key covers the file.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import zlib from "node:zlib";
import { type FileFormat, FileRowsError, fileDigest, type ImportOptions, importFile } from "../src/runtime/data/formats/index.ts";
import type { DatasetKind } from "../src/runtime/data/prefdata/records.ts";
import { type Dataset, type PairRecord, readDataset } from "../src/runtime/data/prefdata/records.ts";
import { dataFile } from "../src/runtime/pipeline/executors/data-file.ts";
import { externalDigest } from "../src/runtime/pipeline/node-executor.ts";
import type { WorldItem } from "../src/runtime/world/format.ts";
import { repoRoot } from "./support/align-files.ts";
import { fakeContext, graphNode, runExecutor } from "./support/exec-context.ts";

const FIX = path.join(repoRoot, "test", "fixtures", "parquet");
const dir = mkdtempSync(path.join(tmpdir(), "alignc-parquet-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string): string => {
  const d = path.join(dir, `${name}-${counter++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

const importOf = (name: string, format: FileFormat, kind: DatasetKind, more: Partial<ImportOptions> = {}) =>
  importFile({ file: path.join(FIX, name), format, kind, embeddedImages: fresh("embedded"), ...more });

/** What a record says, its image as its bytes (base64) and its source's file and row left out. */
function gist(kind: DatasetKind, dataset: Dataset): unknown[] {
  const item = (it: WorldItem) => ({ ...it, image: it.image ? readFileSync(it.image).toString("base64") : null });
  return (dataset.records as (WorldItem | PairRecord)[]).map((r) => {
    if (kind === "prompts") return { ...item(r as WorldItem), id: undefined };
    const p = r as PairRecord;
    return { id: p.id.replace(/\.(parquet|jsonl):/, ":"), item: { ...item(p.item), id: undefined }, chosen: p.chosen, rejected: p.rejected };
  });
}

/** Imports `name`.parquet and `name`.jsonl and checks they say the same; returns the Parquet file's import. */
function sameAsJsonl(name: string, format: FileFormat, kind: DatasetKind) {
  const fromParquet = importOf(`${name}.parquet`, format, kind);
  const fromJsonl = importOf(`${name}.jsonl`, format, kind);
  assert.deepEqual(fromParquet.problems, []);
  assert.deepEqual(fromJsonl.problems, []);
  assert.equal(fromParquet.rows, fromJsonl.rows);
  assert.deepEqual(gist(kind, fromParquet.dataset), gist(kind, fromJsonl.dataset));
  return fromParquet;
}

describe("Parquet files import as the JSON lines files that say the same", () => {
  test("TRL's vision layout: a Sequence(Image()) column with the bytes embedded, two row groups", () => {
    const embedded = fresh("embedded");
    const r = importFile({ file: path.join(FIX, "trl-vision.parquet"), format: "trl", kind: "pairs", embeddedImages: embedded });
    assert.deepEqual(r.problems, []);
    sameAsJsonl("trl-vision", "trl", "pairs");
    const [red, blue, text] = r.dataset.records as PairRecord[];
    // Written into the folder given, named by content, byte for byte the originals.
    assert.equal(path.dirname(red?.item.image ?? ""), embedded);
    assert.match(path.basename(red?.item.image ?? ""), /^[0-9a-f]{64}\.png$/);
    assert.deepEqual(readFileSync(red?.item.image ?? ""), readFileSync(path.join(FIX, "images", "red.png")));
    assert.deepEqual(readFileSync(blue?.item.image ?? ""), readFileSync(path.join(FIX, "images", "blue.png")));
    assert.equal(text?.item.image, null);
    assert.deepEqual(readdirSync(embedded).sort(), [path.basename(red?.item.image ?? ""), path.basename(blue?.item.image ?? "")].sort());
  });

  test("RLAIF-V's columns: an Image() struct holding a JPEG, int64 ids, the other columns ignored", () => {
    const r = sameAsJsonl("rlaif-v", "rlaif_v", "pairs");
    const [first] = r.dataset.records as PairRecord[];
    assert.equal(first?.id, "0");
    assert.match(first?.item.image ?? "", /[0-9a-f]{64}\.jpg$/);
    assert.deepEqual(readFileSync(first?.item.image ?? ""), readFileSync(path.join(FIX, "images", "green.jpg")));
  });

  test("LLaVA rows whose Image() holds only a path: resolved under the images root as JSON rows are", () => {
    const r = sameAsJsonl("llava-paths", "llava", "prompts");
    assert.deepEqual(
      (r.dataset.records as WorldItem[]).map((i) => i.image),
      [path.join(FIX, "images", "red.png"), path.join(FIX, "images", "green.jpg")],
    );
  });

  test("text-only prompts, uncompressed", () => {
    sameAsJsonl("trl-prompts", "trl", "prompts");
  });

  test("alignc's own records keep their nulls (a text item's image, scene and negative)", () => {
    const r = sameAsJsonl("alignc-pairs", "alignc", "pairs");
    const text = (r.dataset.records as PairRecord[])[1]?.item;
    assert.deepEqual([text?.image, text?.scene, text?.negative], [null, null, null]);
  });

  test("gzip through node:zlib; zstd where Node's zlib has it; lz4 refused with what to do", () => {
    const gzip = importOf("gzip.parquet", "rlaif_v", "pairs");
    assert.deepEqual(gzip.problems, []);
    const withoutIds = (d: Dataset) => gist("pairs", d).map((r) => ({ ...(r as object), id: undefined }));
    assert.deepEqual(withoutIds(gzip.dataset), withoutIds(importOf("rlaif-v.jsonl", "rlaif_v", "pairs").dataset));
    if ("zstdDecompressSync" in zlib) assert.deepEqual(importOf("zstd.parquet", "rlaif_v", "pairs").problems, []);
    else
      assert.throws(
        () => importOf("zstd.parquet", "rlaif_v", "pairs"),
        /error\[ALN6012\]: \S+zstd\.parquet cannot be read as Parquet: column 'image' is compressed with ZSTD; .*Node 22\.15/,
      );
    assert.throws(
      () => importOf("lz4.parquet", "rlaif_v", "pairs"),
      (e: Error) => {
        assert.ok(e instanceof FileRowsError);
        assert.equal(e.code, "ALN6012");
        assert.match(
          e.message,
          /lz4\.parquet cannot be read as Parquet: column 'image' is compressed with LZ4_RAW; alignc reads UNCOMPRESSED, SNAPPY, GZIP, BROTLI/,
        );
        assert.match(e.message, /write it again with snappy, e\.g\. pyarrow\.parquet\.write_table/);
        return true;
      },
    );
  });
});

describe("bad Parquet files and rows", () => {
  test("each bad row as file:row: what — bytes that are no image, an empty answer, a path out of the root", () => {
    const r = importOf("bad-rows.parquet", "rlaif_v", "pairs");
    const file = path.join(FIX, "bad-rows.parquet");
    assert.equal(r.problems.length, 3);
    assert.match(
      r.problems[0] ?? "",
      new RegExp(`^${file}:1: error\\[ALN6005\\]: image "x\\.gif" \\(embedded in 'image'\\) is not a readable PNG, JPEG or WebP image`),
    );
    assert.match(r.problems[1] ?? "", new RegExp(`^${file}:2: error\\[ALN6009\\]: the chosen answer is empty`));
    assert.match(r.problems[2] ?? "", new RegExp(`^${file}:3: error\\[ALN6003\\]: image path "\\.\\./outside\\.png" leads outside the images root`));
    assert.equal(r.dataset.records.length, 1);
  });

  test("a column of the wrong type is the row's schema error", () => {
    const r = importOf("wrong-types.parquet", "rlaif_v", "pairs");
    assert.deepEqual(r.problems, [`${path.join(FIX, "wrong-types.parquet")}:1: error[ALN6010]: 'chosen' must be string, got an integer`]);
  });

  test("a file cut short, a JSON file named .parquet and a missing one are refused as wholes", () => {
    assert.throws(
      () => importOf("corrupt.parquet", "trl", "prompts"),
      /error\[ALN6012\]: \S+corrupt\.parquet cannot be read as Parquet: it does not end with "PAR1"/,
    );
    const fake = path.join(fresh("fake"), "rows.parquet");
    copyFileSync(path.join(FIX, "trl-prompts.jsonl"), fake);
    assert.throws(
      () => importFile({ file: fake, format: "trl", kind: "prompts" }),
      /cannot be read as Parquet: it does not start with Parquet's magic bytes "PAR1"/,
    );
    assert.throws(() => importOf("nosuch.parquet", "trl", "prompts"), /error\[ALN6001\]: data file \S+nosuch\.parquet does not exist/);
  });

  test("embedded images need a folder to go to", () => {
    assert.throws(() => importFile({ file: path.join(FIX, "rlaif-v.parquet"), format: "rlaif_v", kind: "pairs" }), /no folder to write it into/);
  });
});

describe("the data.file node on Parquet", () => {
  test("the entry holds the records and its own copies of the embedded images, nothing staged left over", async () => {
    const out = fresh("entry");
    const n = graphNode("data.file", { path: "trl-vision.parquet", kind: "pairs", format: "trl", fields: {} });
    const summary = await runExecutor(dataFile, fakeContext({ node: n, out, inputs: [], entryDir: FIX }));
    assert.equal(summary.records, 3);
    assert.equal(summary.images, 2);
    assert.equal(existsSync(path.join(out, ".embedded")), false);
    const stored = readDataset(out);
    assert.equal(stored.kind, "pairs");
    const [red] = stored.records as PairRecord[];
    assert.ok(red?.item.image?.startsWith(out));
    assert.deepEqual(readFileSync(red?.item.image ?? ""), readFileSync(path.join(FIX, "images", "red.png")));
  });

  test("prompts with embedded images as world items", async () => {
    const out = fresh("entry");
    const n = graphNode("data.file", { path: "rlaif-v.parquet", kind: "prompts", format: "rlaif_v", fields: {} });
    const summary = await runExecutor(dataFile, fakeContext({ node: n, out, inputs: [], entryDir: FIX }));
    assert.deepEqual(summary.tasks, { describe: 2 });
    assert.equal(existsSync(path.join(out, ".embedded")), false);
    const items = (readDataset(out).records as WorldItem[]).map((i) => readFileSync(i.image ?? ""));
    assert.deepEqual(items, [readFileSync(path.join(FIX, "images", "green.jpg")), readFileSync(path.join(FIX, "images", "blue.png"))]);
  });

  test("the key covers the file's bytes (embedded images) and the images its rows name by path", () => {
    const d = fresh("digest");
    copyFileSync(path.join(FIX, "llava-paths.parquet"), path.join(d, "l.parquet"));
    mkdirSync(path.join(d, "images"));
    for (const f of ["red.png", "green.jpg"]) copyFileSync(path.join(FIX, "images", f), path.join(d, "images", f));
    const n = graphNode("data.file", { path: "l.parquet", kind: "prompts", format: "llava" });
    const before = externalDigest(dataFile, n, d);
    assert.match(before ?? "", /^[0-9a-f]{64}$/);
    writeFileSync(path.join(d, "images", "red.png"), readFileSync(path.join(FIX, "images", "blue.png")));
    const afterImage = externalDigest(dataFile, n, d);
    assert.notEqual(afterImage, before);
    copyFileSync(path.join(FIX, "rlaif-v.parquet"), path.join(d, "l.parquet"));
    assert.notEqual(externalDigest(dataFile, n, d), afterImage);
    // A refused file hashes as refused, without throwing.
    assert.match(fileDigest({ file: path.join(FIX, "corrupt.parquet"), format: "trl" }), /^[0-9a-f]{64}$/);
  });
});
