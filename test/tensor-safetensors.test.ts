// The safetensors reader and writer: bit-exact round trips for every dtype, byte-identical output to the
// reference implementation's own test vectors, files checked (and written) by an independent Python reader
// using only json/struct/numpy, and a specific error for every malformed header.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { decodeSafetensors, encodeSafetensors, loadSafetensors, MAX_HEADER_BYTES, SafetensorsError, saveSafetensors } from "../src/formats/safetensors.ts";
import { allocate, type DType, type TypedArray } from "../src/tensor/ir/dtype.ts";
import type { TensorData } from "../src/tensor/ir/graph.ts";

const dir = mkdtempSync(path.join(tmpdir(), "alignc-safetensors-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const bytesOf = (a: TypedArray) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const t = (dtype: DType, shape: number[], data: TypedArray): TensorData => ({ dtype, shape, data });

/** One tensor of every dtype, with the values most likely to be mangled: NaN payloads, -0, extremes. */
function everyDtype(): Map<string, TensorData> {
  const f32 = new Float32Array(8);
  new Uint32Array(f32.buffer).set([0x7fc00001, 0xffc12345, 0x7f800001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x3f800000]);
  const f64 = new Float64Array(6);
  new BigUint64Array(f64.buffer).set([
    0x7ff8000000000abcn,
    0xfff0000000000001n,
    0x8000000000000000n,
    0x0000000000000001n,
    0x7fefffffffffffffn,
    0x3ff0000000000000n,
  ]);
  return new Map([
    ["f32", t("float32", [2, 4], f32)],
    ["f64", t("float64", [3, 2], f64)],
    ["f16", t("float16", [5], new Uint16Array([0x7c01, 0xfe00, 0x8000, 0x0001, 0x3c00]))],
    ["i64", t("int64", [4], new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]))],
    ["i32", t("int32", [2, 2], new Int32Array([-(2 ** 31), 2 ** 31 - 1, 0, -1]))],
    ["i8", t("int8", [3], new Int8Array([-128, 127, 0]))],
    ["u8", t("uint8", [1, 3], new Uint8Array([0, 255, 7]))],
    ["flags", t("bool", [2], new Uint8Array([0, 1]))],
    ["scalar", t("float32", [], new Float32Array([Math.PI]))],
    ["empty", t("int32", [0, 3], new Int32Array(0))],
  ]);
}

function assertSameTensors(actual: Map<string, TensorData>, expected: Map<string, TensorData>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    assert.equal(a.dtype, e.dtype, name);
    assert.deepEqual(a.shape, e.shape, name);
    assert.equal(a.data.constructor, e.data.constructor, name);
    assert.deepEqual(bytesOf(a.data), bytesOf(e.data), `${name}: bytes differ`);
  }
}

describe("safetensors round trip", () => {
  test("every dtype survives bit for bit (NaN payloads, -0, int64 extremes, scalars, empty tensors)", () => {
    const tensors = everyDtype();
    const back = decodeSafetensors(encodeSafetensors(tensors, { note: "hi" }), "mem");
    assertSameTensors(back.tensors, tensors);
    assert.deepEqual({ ...back.metadata }, { note: "hi" });
  });

  test("a plain record works as input, and the returned arrays do not alias the file bytes", () => {
    const bytes = encodeSafetensors({ w: t("float32", [2], new Float32Array([1, 2])) });
    const back = decodeSafetensors(bytes, "mem").tensors.get("w")!;
    bytes.fill(0);
    assert.deepEqual([...(back.data as Float32Array)], [1, 2]);
  });

  test("keys that are Object.prototype names are plain data", () => {
    const tensors = new Map([["__proto__", t("uint8", [1], new Uint8Array([5]))]]);
    const metadata = JSON.parse('{"__proto__":"m","constructor":"c"}') as Record<string, string>;
    const back = decodeSafetensors(encodeSafetensors(tensors, metadata), "mem");
    assertSameTensors(back.tensors, tensors);
    assert.deepEqual(Object.entries(back.metadata), [
      ["__proto__", "m"],
      ["constructor", "c"],
    ]);
  });

  test("saveSafetensors writes atomically and loadSafetensors reads it back", () => {
    const file = path.join(dir, "model.safetensors");
    writeFileSync(file, "old contents");
    saveSafetensors(file, everyDtype(), { k: "v" });
    assertSameTensors(loadSafetensors(file).tensors, everyDtype());
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith(".tmp")),
      [],
      "no temporary file is left behind",
    );
    assert.throws(() => saveSafetensors(path.join(dir, "missing-dir", "x.safetensors"), everyDtype()), /ENOENT/);
  });
});

describe("safetensors layout matches the reference writer", () => {
  // Expected bytes are the reference implementation's own unit-test vectors (safetensors/src/tensor.rs).
  const sixFloats = new Float32Array([0, 1, 2, 3, 4, 5]);

  test("one F32 tensor, header needing no padding", () => {
    const out = encodeSafetensors({ "attn.0": t("float32", [1, 2, 3], sixFloats) });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    assert.equal(header.length, 64);
    assert.deepEqual(out, new Uint8Array([64, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from(header), ...bytesOf(sixFloats)]));
  });

  test("header padded with spaces to a multiple of 8", () => {
    const out = encodeSafetensors({ attn0: t("float32", [1, 1, 2, 3], sixFloats) });
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ';
    assert.equal(header.length, 72);
    assert.deepEqual(out, new Uint8Array([72, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from(header), ...bytesOf(sixFloats)]));
  });

  test("empty file, with and without metadata", () => {
    assert.deepEqual(encodeSafetensors({}), new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]));
    const withMeta = encodeSafetensors({}, { framework: "pt" });
    assert.deepEqual(withMeta, new Uint8Array([40, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from('{"__metadata__":{"framework":"pt"}}     ')]));
  });

  test("tensors are laid out by descending dtype alignment, then by name in UTF-8 byte order", () => {
    const one = (dtype: DType): TensorData => t(dtype, [1], allocate(dtype, 1));
    const names: [string, DType][] = [
      ["bool", "bool"],
      ["u8", "uint8"],
      ["i8", "int8"],
      ["f16", "float16"],
      ["i32", "int32"],
      ["f32", "float32"],
      ["f64", "float64"],
      ["i64", "int64"],
      ["9", "float32"],
      ["10", "float32"],
      ["\u{1F600}", "float32"],
      ["\uFF61", "float32"],
      ["B", "float32"],
    ];
    const header = new TextDecoder().decode(encodeSafetensors(new Map(names.map(([n, d]) => [n, one(d)]))).subarray(8));
    const order = [...header.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
    // F32 names: "10" < "9" < "B" < "f32" bytewise; U+FF61 (EF BD A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8
    // although UTF-16 code units would put the emoji's surrogate (D83D) first.
    assert.deepEqual(order, ["i64", "f64", "10", "9", "B", "f32", "\uFF61", "\u{1F600}", "i32", "f16", "i8", "u8", "bool"]);
  });
});

const python = spawnSync("python3", ["-c", "import numpy, json, struct"], { encoding: "utf8" });
const pythonOk = python.status === 0;

/** An independent reader: stdlib json/struct for the header, numpy for the data; prints what it found. */
const PY_READ = `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header_text = raw[8:8 + n].decode("utf-8")
assert n % 8 == 0, "header length not a multiple of 8"
assert len(header_text) - len(header_text.rstrip(" ")) < 8, "more padding than alignment needs"
header = json.loads(header_text)
meta = header.pop("__metadata__", {})
data = raw[8 + n:]
types = {"F32": "<u4", "F64": "<u8", "F16": "<u2", "I64": "<i8", "I32": "<i4", "I8": "i1", "U8": "u1", "BOOL": "u1"}
out, end = {}, 0
for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
    b, e = info["data_offsets"]
    assert b == end, "tensors must be contiguous"
    end = e
    arr = np.frombuffer(data[b:e], dtype=types[info["dtype"]]).reshape(info["shape"])
    out[name] = {"dtype": info["dtype"], "shape": list(arr.shape), "bits": [str(v) for v in arr.reshape(-1).tolist()], "offsets": [b, e], "aligned": (8 + n + b) % np.dtype(types[info["dtype"]]).itemsize == 0}
assert end == len(data), "data section not fully covered"
print(json.dumps({"meta": meta, "tensors": out, "order": list(header.keys())}))
`;

/** An independent writer: keys in arbitrary order, pretty-printed JSON, metadata in the middle. */
const PY_WRITE = `
import json, struct, sys
import numpy as np
a = np.array([[1.5, -2.0], [0.25, 8.0]], dtype="<f4")
b = np.array([-(2**63), 2**63 - 1], dtype="<i8")
c = np.array([True, False, True], dtype="u1")
blobs = [("zeta", "F32", a), ("alpha", "I64", b), ("mask", "BOOL", c)]
header, off, data = {}, 0, b""
for name, dt, arr in blobs:
    raw = arr.tobytes()
    header[name] = {"shape": list(arr.shape), "data_offsets": [off, off + len(raw)], "dtype": dt}
    off += len(raw)
    data += raw
header = {"zeta": header["zeta"], "__metadata__": {"written_by": "python"}, "alpha": header["alpha"], "mask": header["mask"]}
text = json.dumps(header, indent=2).encode("utf-8")
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text + data)
`;

describe("an independent Python reader and writer", { skip: pythonOk ? false : `python3 with numpy is not available (${python.stderr?.trim()})` }, () => {
  test("Python reads alignc's file: header rules, offsets, alignment and every value's bits", () => {
    const file = path.join(dir, "for-python.safetensors");
    const tensors = everyDtype();
    saveSafetensors(file, tensors, { framework: "alignc", é: "ü" });
    const run = spawnSync("python3", ["-c", PY_READ, file], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const got = JSON.parse(run.stdout) as {
      meta: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[]; bits: string[]; aligned: boolean }>;
      order: string[];
    };
    assert.deepEqual(got.meta, { framework: "alignc", é: "ü" });
    assert.deepEqual(got.order, ["i64", "f64", "f32", "scalar", "empty", "i32", "f16", "i8", "u8", "flags"]);
    const fileDtype: Record<DType, string> = {
      float32: "F32",
      float64: "F64",
      float16: "F16",
      bfloat16: "BF16",
      int64: "I64",
      int32: "I32",
      int8: "I8",
      uint8: "U8",
      bool: "BOOL",
    };
    for (const [name, e] of tensors) {
      const g = got.tensors[name]!;
      assert.equal(g.dtype, fileDtype[e.dtype], name);
      assert.deepEqual(g.shape, e.shape, name);
      assert.ok(g.aligned, `${name} is aligned in the file`);
      // Compare as bit patterns (unsigned for floats) so NaN payloads and -0 count.
      const bits = e.dtype === "float32" ? new Uint32Array(e.data.buffer) : e.dtype === "float64" ? new BigUint64Array(e.data.buffer) : e.data;
      assert.deepEqual(
        g.bits,
        Array.from(bits as ArrayLike<number | bigint>, (v) => String(v)),
        name,
      );
    }
  });

  test("alignc reads a file Python wrote (any key order, whitespace, metadata anywhere)", () => {
    const file = path.join(dir, "from-python.safetensors");
    const run = spawnSync("python3", ["-c", PY_WRITE, file], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const { tensors, metadata } = loadSafetensors(file);
    assert.deepEqual([...tensors.keys()], ["zeta", "alpha", "mask"], "offset order");
    assert.deepEqual({ ...metadata }, { written_by: "python" });
    assert.deepEqual([...(tensors.get("zeta")!.data as Float32Array)], [1.5, -2, 0.25, 8]);
    assert.deepEqual([...(tensors.get("alpha")!.data as BigInt64Array)], [-(2n ** 63n), 2n ** 63n - 1n]);
    assert.deepEqual(tensors.get("mask"), t("bool", [3], new Uint8Array([1, 0, 1])));
  });
});

/** A file from raw header text (padded to 8) and a data section; `n` overrides the declared length. */
function file(header: string, data: number | Uint8Array = 0, n?: bigint | number): Uint8Array {
  const text = Buffer.from(header + " ".repeat((8 - (Buffer.byteLength(header) % 8)) % 8));
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(n ?? text.length), true);
  out.set(text, 8);
  out.set(body, 8 + text.length);
  return out;
}

const info = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

describe("malformed files are rejected with a specific message", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["shorter than 8 bytes", new Uint8Array(5), /the file is 5 bytes, too short for the 8-byte header length/],
    ["header over 100 MB", file("{}", 0, MAX_HEADER_BYTES + 1), /header too large: 100000001 bytes declared, the limit is 100000000/],
    ["header length beyond u64 range of the file", file("{}", 0, 2n ** 64n - 1n), /header too large/],
    ["header length past the end", file("{}", 0, 64), /header length 64 runs past the end of the file \(16 bytes\)/],
    [
      "invalid UTF-8",
      (() => {
        const f = file("{}      ");
        f[9] = 0xff;
        return f;
      })(),
      /the header is not valid UTF-8/,
    ],
    ["not starting with {", file(' {"a":1}'), /the header must start with "\{"/],
    ["invalid JSON", file('{"a":'), /the header is not valid JSON: unexpected end of input/],
    ["trailing garbage", file('{"a":1}x'), /the header is not valid JSON: unexpected text after the JSON value/],
    ["duplicate tensor", file(`{"w":${JSON.stringify(info("U8", [1], 0, 1))},"w":${JSON.stringify(info("U8", [1], 1, 2))}}`, 2), /duplicate key "w"/],
    ["duplicate field", file('{"w":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}', 1), /duplicate key "w\.dtype"/],
    ["non-string metadata", file('{"__metadata__":{"epoch":3}}'), /"__metadata__" entry "epoch" must be a string, got 3/],
    ["metadata not an object", file('{"__metadata__":["a"]}'), /"__metadata__" must be an object of strings/],
    ["unknown dtype", file(JSON.stringify({ w: info("F12", [1], 0, 4) }), 4), /tensor "w": unknown dtype "F12"/],
    ["dtype alignc lacks", file(JSON.stringify({ w: info("U16", [1], 0, 2) }), 2), /tensor "w": dtype U16 is valid safetensors but alignc does not support it/],
    ["tensor info not an object", file('{"w":[1,2]}'), /tensor "w": expected an object with dtype, shape and data_offsets/],
    ["missing field", file('{"w":{"dtype":"U8","shape":[1]}}', 1), /tensor "w": missing "data_offsets"/],
    ["bad shape", file(JSON.stringify({ w: info("U8", [-1], 0, 1) }), 1), /tensor "w": shape must be an array of non-negative integers, got \[-1\]/],
    ["fractional shape", file(JSON.stringify({ w: info("U8", [1.5], 0, 1) }), 1), /shape must be an array of non-negative integers/],
    ["bad offsets", file('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', 1), /tensor "w": data_offsets must be \[begin, end\]/],
    ["offsets reversed", file(JSON.stringify({ w: info("U8", [0], 1, 0) }), 1), /tensor "w": data_offsets \[1, 0\] end before they begin/],
    [
      "offsets out of range",
      file(JSON.stringify({ w: info("F32", [2], 0, 8) }), 4),
      /tensor "w": data_offsets \[0, 8\] are out of range; the data section is 4 bytes/,
    ],
    [
      "byte count vs dtype×shape",
      file(JSON.stringify({ w: info("F32", [3], 0, 8) }), 8),
      /tensor "w": data_offsets \[0, 8\] cover 8 bytes, but F32 \[3\] needs 12/,
    ],
    [
      "overlap",
      file(JSON.stringify({ a: info("F32", [2], 0, 8), b: info("F32", [2], 4, 12) }), 12),
      /tensor "b": data_offsets \[4, 12\] overlap tensor "a" \(which ends at 8\)/,
    ],
    [
      "gap",
      file(JSON.stringify({ a: info("U8", [2], 0, 2), b: info("U8", [2], 4, 6) }), 6),
      /tensor "b": data_offsets \[4, 6\] leave a gap of 2 bytes after tensor "a"/,
    ],
    ["first tensor not at 0", file(JSON.stringify({ a: info("U8", [2], 2, 4) }), 4), /leave a gap of 2 bytes after the start of the data section/],
    [
      "bytes after the last tensor",
      file(JSON.stringify({ a: info("U8", [2], 0, 2) }), 5),
      /the data section is 5 bytes but the tensors cover only 2; 3 bytes belong to no tensor/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    test(what, () => {
      assert.throws(
        () => decodeSafetensors(bytes, "bad.safetensors"),
        (e: unknown) => e instanceof SafetensorsError && e.message.startsWith("bad.safetensors: ") && message.test(e.message),
      );
    });
  }

  test("loadSafetensors names the path", () => {
    const f = path.join(dir, "broken.safetensors");
    writeFileSync(f, file("{", 0));
    assert.throws(() => loadSafetensors(f), { message: new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: the header is not valid JSON`) });
    assert.equal(readFileSync(f).length, 16);
  });
});

describe("the writer refuses what it cannot write faithfully", () => {
  test("wrong typed array, wrong length, reserved name, non-string metadata", () => {
    assert.throws(() => encodeSafetensors({ w: t("float16", [1], new Float32Array(1)) }), /tensor "w": float16 data must be a Uint16Array, got Float32Array/);
    assert.throws(() => encodeSafetensors({ w: t("float32", [2, 2], new Float32Array(3)) }), /tensor "w": shape \[2, 2\] needs 4 elements, the data holds 3/);
    assert.throws(() => encodeSafetensors({ __metadata__: t("uint8", [0], new Uint8Array(0)) }), /reserved for the file's metadata/);
    assert.throws(() => encodeSafetensors({}, { epoch: 3 as unknown as string }), /metadata "epoch": values must be strings, got number/);
    assert.throws(() => encodeSafetensors({ "\uD800": t("uint8", [0], new Uint8Array(0)) }), /not valid Unicode/);
  });
});
