// Image files to pixels as transformers' load_image sees them (src/formats/image/): every PNG colour type and depth,
// JPEG (4:2:0, 4:4:4, progressive, grey) and WebP (lossy, lossless, alpha) decode to Pillow's exact bytes, EXIF
// orientations 2–8 are undone as ImageOps.exif_transpose does, and Pillow's resampling (bicubic, bilinear, lanczos,
// box, hamming) is reproduced bit for bit — against test/fixtures/images/golden.json (scripts/make-image-fixtures.py,
// Pillow 12.3) and, live with Pillow (ALIGNC_PYTHON; CI has it), on random sizes. Broken files, other formats and
// decompression bombs are refused before decoding (ImageError, ALN7026).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { decodeImage, ImageError, MAX_IMAGE_PIXELS, readImage } from "../src/formats/image/decode.ts";
import { type ResampleFilter, resizeRgb } from "../src/formats/image/resample.ts";
import { Rng } from "../src/util/random.ts";
import { repoRoot } from "./support/align-files.ts";

const FIXTURES = path.join(repoRoot, "test/fixtures/images");
const golden = JSON.parse(readFileSync(path.join(FIXTURES, "golden.json"), "utf8")) as {
  files: Record<string, { mode: string; width: number; height: number; sha256: string; first: number[]; resized: Record<string, string> }>;
};
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const dir = mkdtempSync(path.join(tmpdir(), "alignc-images-"));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const [name, want] of Object.entries(golden.files)) {
  test(`${name} (Pillow mode ${want.mode}) decodes to Pillow's exif_transpose + convert("RGB") bytes${Object.keys(want.resized).length ? ", and resizes as Image.resize" : ""}`, async () => {
    const img = await readImage(path.join(FIXTURES, name));
    assert.deepEqual([img.width, img.height], [want.width, want.height]);
    assert.deepEqual(Array.from(img.rgb.subarray(0, 12)), want.first);
    assert.equal(sha(img.rgb), want.sha256);
    for (const [key, hash] of Object.entries(want.resized)) {
      const [filter, size] = key.split(" ") as [ResampleFilter, string];
      const [w, h] = size.split("x").map(Number) as [number, number];
      assert.equal(sha(resizeRgb(img, w, h, filter).rgb), hash, key);
    }
  });
}

test("refused before decoding: another format, a broken header, a truncated body, a decompression bomb (ALN7026)", async () => {
  const refused = async (bytes: Uint8Array, pattern: RegExp) =>
    assert.rejects(decodeImage(bytes, "x.img"), (e: unknown) => e instanceof ImageError && e.code === "ALN7026" && pattern.test(e.message));
  await refused(new TextEncoder().encode("GIF89a......"), /not a PNG, JPEG or WebP image/);
  const jpeg = readFileSync(path.join(FIXTURES, "q85-420.jpg"));
  await refused(jpeg.subarray(0, 40), /header cannot be read|truncated/);
  await refused(jpeg.subarray(0, Math.floor(jpeg.length / 2)), /the JPEG data is truncated \(no end-of-image marker\)/);
  // A PNG header claiming 20000×20000 with no data: refused by its size, before pngjs allocates anything.
  const png = Buffer.from(readFileSync(path.join(FIXTURES, "rgb.png")));
  png.writeUInt32BE(20000, 16);
  png.writeUInt32BE(20000, 20);
  await refused(png, new RegExp(`20000×20000 = 400000000 pixels is more than ${MAX_IMAGE_PIXELS}`));
  // Files go through the untrusted reader: a directory is not read.
  await assert.rejects(readImage(FIXTURES), (e: unknown) => e instanceof ImageError && /not a regular file/.test(e.message));
});

const python = process.env.ALIGNC_PYTHON ?? "python3";
const hasPillow = spawnSync(python, ["-c", "import PIL, numpy"]).status === 0;

test("Pillow's Image.resize, live: random images, sizes and filters, up- and down-sampling, equal to the byte", {
  skip: hasPillow ? false : `${python} has no Pillow: the live resampling check DID NOT RUN (set ALIGNC_PYTHON; .ci/run installs it)`,
}, () => {
  const rng = new Rng(5);
  const cases: { w: number; h: number; ow: number; oh: number; filter: ResampleFilter; file: string }[] = [];
  const filters: ResampleFilter[] = ["bicubic", "bilinear", "lanczos", "box", "hamming"];
  for (let i = 0; i < 20; i++) {
    const w = 1 + Math.floor(rng.uniform() * 90);
    const h = 1 + Math.floor(rng.uniform() * 90);
    const rgb = Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rng.uniform() * 256));
    const file = path.join(dir, `r${i}.bin`);
    writeFileSync(file, rgb);
    cases.push({ w, h, ow: 1 + Math.floor(rng.uniform() * 120), oh: 1 + Math.floor(rng.uniform() * 120), filter: filters[i % 5] as ResampleFilter, file });
  }
  const script = `
import json, sys, hashlib, numpy as np
from PIL import Image
F = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR, "lanczos": Image.Resampling.LANCZOS, "box": Image.Resampling.BOX, "hamming": Image.Resampling.HAMMING}
out = []
for c in json.loads(sys.argv[1]):
    a = np.frombuffer(open(c["file"], "rb").read(), np.uint8).reshape(c["h"], c["w"], 3)
    r = np.asarray(Image.fromarray(a).resize((c["ow"], c["oh"]), F[c["filter"]], reducing_gap=None))
    out.append(hashlib.sha256(np.ascontiguousarray(r).tobytes()).hexdigest())
print(json.dumps(out))
`;
  const r = spawnSync(python, ["-c", script, JSON.stringify(cases)], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const want = JSON.parse(r.stdout) as string[];
  cases.forEach((c, i) => {
    const img = { width: c.w, height: c.h, rgb: new Uint8Array(readFileSync(c.file)) };
    assert.equal(sha(resizeRgb(img, c.ow, c.oh, c.filter).rgb), want[i], `${c.filter} ${c.w}×${c.h} → ${c.ow}×${c.oh}`);
  });
});
