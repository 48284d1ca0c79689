// The world's images, read back by a PNG decoder written here from the specification (chunks, CRC-32, zlib
// inflate, the five scanline filters) and sharing no code with pngjs: every pixel equals the rasteriser's.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { inflateSync } from "node:zlib";
import { PNG } from "pngjs";
import { encodePng, readWorld, render, worldOptions, writeWorld } from "../src/runtime/world/index.ts";
import type { Scene } from "../src/runtime/world/scene.ts";
import { BACKGROUND, RGB } from "../src/runtime/world/vocab.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-world-png-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A minimal decoder for 8-bit, non-interlaced RGB PNGs. */
function decode(png: Buffer): { width: number; height: number; rgb: Uint8Array } {
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
  let pos = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  for (;;) {
    const length = png.readUInt32BE(pos);
    const type = png.toString("latin1", pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + length);
    assert.equal(png.readUInt32BE(pos + 8 + length), crc32(png.subarray(pos + 4, pos + 8 + length)), `CRC of ${type}`);
    pos += 12 + length;
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.deepEqual([...data.subarray(8, 13)], [8, 2, 0, 0, 0], "bit depth 8, colour type 2 (RGB), no interlace");
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3;
  assert.equal(raw.length, height * (stride + 1));
  const rgb = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x] as number;
      const a = x >= 3 ? (rgb[y * stride + x - 3] as number) : 0;
      const b = y > 0 ? (rgb[(y - 1) * stride + x] as number) : 0;
      const c = x >= 3 && y > 0 ? (rgb[(y - 1) * stride + x - 3] as number) : 0;
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
      assert.ok(predictor !== undefined, `filter type ${filter}`);
      rgb[y * stride + x] = (v + predictor) & 0xff;
    }
  }
  return { width, height, rgb };
}

describe("images decode with an independent decoder", () => {
  for (const side of [32, 64]) {
    test(`${side}×${side}: every pixel equals the rasteriser's output, and the picture is the scene`, () => {
      const out = path.join(dir, String(side));
      writeWorld(out, worldOptions({ split: "val", count: 40, seed: 3, image_size: side, max_objects: side === 64 ? 12 : 4 }));
      const { items, problems } = readWorld(out);
      assert.deepEqual(problems, []);
      let images = 0;
      for (const it of items) {
        if (!it.image) continue;
        images++;
        const scene = it.scene as Scene;
        const img = decode(readFileSync(path.join(out, it.image)));
        assert.equal(img.width, side);
        assert.equal(img.height, side);
        assert.ok(Buffer.from(img.rgb).equals(Buffer.from(render(scene, side))), `${it.image} differs from render()`);
        // Each object's centre pixel has its colour (a moon's centre lies in its cut-out).
        for (const o of scene.objects) {
          if (o.shape === "moon") continue;
          const k = (Math.floor(o.y * side) * side + Math.floor(o.x * side)) * 3;
          assert.deepEqual([...img.rgb.subarray(k, k + 3)], [...RGB[o.color]], `${it.image}: centre of the ${o.color} ${o.shape}`);
        }
        const levels = new Set(img.rgb);
        const flat = new Set([...BACKGROUND, ...scene.objects.flatMap((o) => RGB[o.color])]);
        assert.ok(
          [...levels].some((v) => !flat.has(v)),
          "anti-aliased: edge pixels blend colour and background",
        );
      }
      assert.equal(images, 32);
    });
  }

  test("the decoder itself undoes each of the five filter types", () => {
    const rgb = render({ objects: [{ shape: "star", color: "blue", size: "large", position: "center", x: 0.5, y: 0.5, r: 0.4 }] }, 24);
    for (const filterType of [0, 1, 2, 3, 4]) {
      const img = new PNG({ width: 24, height: 24, colorType: 2, inputColorType: 2, inputHasAlpha: false });
      img.data = Buffer.from(rgb);
      const bytes = PNG.sync.write(img, { colorType: 2, inputColorType: 2, inputHasAlpha: false, filterType });
      assert.ok(Buffer.from(decode(bytes).rgb).equals(Buffer.from(rgb)), `filter ${filterType}`);
    }
  });

  test("an empty scene is all background", () => {
    const { rgb } = decode(encodePng(render({ objects: [] }, 16), 16, 16));
    for (let i = 0; i < rgb.length; i++) assert.equal(rgb[i], BACKGROUND[i % 3]);
  });
});
