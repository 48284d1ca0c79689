// TensorBoard event files at the byte level (src/formats/tensorboard-events.ts): CRC-32C against published vectors,
// TFRecord framing, Events through alignc's own minimal reader, a torn last record tolerated and a bad CRC refused;
// the scalars a run writes for metrics rows and evaluation reports (src/runtime/pipeline/runner/tensorboard.ts).
// test/tensorboard-run.test.ts reads the files of a real run with TensorBoard's own Python reader.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  CorruptRecordError,
  crc32c,
  decodeEvent,
  encodeEvent,
  eventRecords,
  FILE_VERSION,
  maskedCrc32c,
  readEvents,
  readRecords,
  type TbEvent,
  tfRecord,
} from "../src/formats/tensorboard-events.ts";
import { evaluationFigures, eventFileName, trainingScalars } from "../src/runtime/pipeline/runner/tensorboard.ts";

const bytes = (xs: Iterable<number>) => Uint8Array.from(xs);

describe("CRC-32C", () => {
  test("known vectors (the check value and RFC 3720's)", () => {
    assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(bytes(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    assert.equal(crc32c(bytes(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
  });

  test("masked as TFRecord masks it: rotate right 15, add 0xa282ead8", () => {
    const data = new TextEncoder().encode("123456789");
    const c = 0xe3069283;
    assert.equal(maskedCrc32c(data), (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0);
    assert.equal(maskedCrc32c(new Uint8Array(0)), 0xa282ead8);
  });
});

describe("TFRecord framing", () => {
  test("length, its masked CRC, data, the data's masked CRC — little-endian", () => {
    const data = new TextEncoder().encode("hello");
    const r = tfRecord(data);
    assert.equal(r.length, 8 + 4 + 5 + 4);
    const view = new DataView(r.buffer);
    assert.equal(view.getBigUint64(0, true), 5n);
    assert.equal(view.getUint32(8, true), maskedCrc32c(r.subarray(0, 8)));
    assert.deepEqual(r.subarray(12, 17), data);
    assert.equal(view.getUint32(17, true), maskedCrc32c(data));
  });

  test("records read back; a torn last record is left out; a bad CRC is refused", () => {
    const a = tfRecord(bytes([1, 2, 3]));
    const b = tfRecord(bytes([4, 5]));
    const whole = new Uint8Array([...a, ...b]);
    assert.deepEqual(
      readRecords(whole).records.map((r) => [...r]),
      [
        [1, 2, 3],
        [4, 5],
      ],
    );
    assert.equal(readRecords(whole).torn, false);
    for (let cut = a.length + 1; cut < whole.length; cut++) {
      const r = readRecords(whole.subarray(0, cut));
      assert.equal(r.torn, true, `cut at ${cut}`);
      assert.deepEqual(
        r.records.map((x) => [...x]),
        [[1, 2, 3]],
      );
    }
    const badData = Uint8Array.from(whole);
    badData[13] = (badData[13] as number) ^ 1;
    assert.throws(() => readRecords(badData), CorruptRecordError);
    const badLength = Uint8Array.from(whole);
    badLength[0] = 4;
    assert.throws(() => readRecords(badLength), /length's CRC/);
  });
});

describe("Events", () => {
  test("round trip through the minimal reader: file version, steps, scalars (as float32)", () => {
    const events: TbEvent[] = [
      { wallTime: 1_700_000_000.25, fileVersion: FILE_VERSION },
      {
        wallTime: 1_700_000_001.5,
        step: 1,
        scalars: [
          { tag: "train/loss", value: Math.LN2 },
          { tag: "train/rewards/accuracies", value: 0.5 },
        ],
      },
      { wallTime: 1_700_000_002, step: 2 ** 40, scalars: [{ tag: "train/grad_norm", value: Number.NaN }] },
      { wallTime: 1_700_000_003, step: 0, scalars: [{ tag: "eval/base/pope_f1", value: 1e-40 }] },
    ];
    const read = readEvents(eventRecords(events));
    assert.equal(read.length, 4);
    assert.deepEqual(read[0], { wallTime: 1_700_000_000.25, step: 0, fileVersion: FILE_VERSION, scalars: [] });
    assert.equal(read[1]?.step, 1);
    assert.equal(read[1]?.wallTime, 1_700_000_001.5);
    assert.deepEqual(read[1]?.scalars, [
      { tag: "train/loss", value: Math.fround(Math.LN2) },
      { tag: "train/rewards/accuracies", value: 0.5 },
    ]);
    assert.equal(read[2]?.step, 2 ** 40);
    assert.ok(Number.isNaN(read[2]?.scalars[0]?.value));
    assert.deepEqual(read[3]?.scalars, [{ tag: "eval/base/pope_f1", value: Math.fround(1e-40) }]);
  });

  test("the encoding is Event{1: double, 2: int64, 3: string, 5: Summary{1: Value{1: tag, 2: float}}}", () => {
    const w = new BinaryWriter();
    w.tag(1, WireType.Bit64).double(12.5);
    w.tag(2, WireType.Varint).int64(7);
    w.tag(5, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string("t").tag(2, WireType.Bit32).float(1.5).join();
    w.join();
    assert.deepEqual([...encodeEvent({ wallTime: 12.5, step: 7, scalars: [{ tag: "t", value: 1.5 }] })], [...w.finish()]);
    // By hand: wall_time 12.5 (0x4029000000000000), step 7, summary { value { tag "t", simple_value 1.5 (0x3fc00000) } }.
    assert.deepEqual(
      [...encodeEvent({ wallTime: 12.5, step: 7, scalars: [{ tag: "t", value: 1.5 }] })],
      [0x09, 0, 0, 0, 0, 0, 0, 0x29, 0x40, 0x10, 7, 0x2a, 10, 0x0a, 8, 0x0a, 1, 0x74, 0x15, 0, 0, 0xc0, 0x3f],
    );
  });

  test("scalars in TensorBoard 2's tensor form are read too", () => {
    // Summary.Value { tag: "x", metadata {plugin_data {plugin_name "scalars"}}, tensor { dtype: DT_FLOAT, tensor_shape {}, float_val: 2.5 } }
    const w = new BinaryWriter();
    w.tag(1, WireType.Bit64).double(1).tag(2, WireType.Varint).int64(3);
    w.tag(5, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string("x");
    w.tag(9, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string("scalars").join().join();
    w.tag(8, WireType.LengthDelimited).fork();
    w.tag(1, WireType.Varint).int32(1).tag(2, WireType.LengthDelimited).fork().join();
    w.tag(5, WireType.LengthDelimited).fork().float(2.5).join();
    w.join();
    w.join().join();
    assert.deepEqual(decodeEvent(w.finish()), { wallTime: 1, step: 3, scalars: [{ tag: "x", value: 2.5 }] });
  });
});

describe("what a run writes", () => {
  test("file names follow TensorFlow's: events.out.tfevents.<seconds>.<host>.<pid>.<n>", () => {
    const a = eventFileName(1_700_000_000.9);
    const b = eventFileName(1_700_000_000.9);
    assert.match(a, new RegExp(`^events\\.out\\.tfevents\\.1700000000\\.[A-Za-z0-9._]+\\.${process.pid}\\.\\d+$`));
    assert.notEqual(a, b);
  });

  test("metrics rows: every number but step as train/<name>", () => {
    assert.deepEqual(trainingScalars({ step: 3, epoch: 0.5, loss: 0.7, "rewards/accuracies": 0.25, round: 2, note: "x", missing: null }), [
      { tag: "train/epoch", value: 0.5 },
      { tag: "train/loss", value: 0.7 },
      { tag: "train/rewards/accuracies", value: 0.25 },
      { tag: "train/round", value: 2 },
    ]);
  });

  test("evaluation figures by name, only finite numbers", () => {
    const pope = (accuracy: number) => ({ n: 4, tp: 1, fp: 1, tn: 1, fn: 1, unparseable: 0, accuracy, precision: 0.5, recall: 0.5, f1: 0.5, yesRatio: 0.5 });
    const figures = evaluationFigures({
      missing: 0,
      pope: { splits: { random: pope(0.75) }, all: pope(0.5) },
      describe: {
        descriptions: 2,
        mentioned: 3,
        hallucinated: 1,
        chairI: 1 / 3,
        chairS: 0.5,
        objects: 4,
        covered: 2,
        recall: 0.5,
        colorMentions: 0,
        colorErrors: 0,
        topHallucinated: [],
      },
      text: { n: 2, correct: 1, accuracy: 0.5, byKind: {} },
      quality: {
        rater: "grounded",
        kind: "grounded",
        aspects: ["helpfulness"],
        scale: { min: 0, max: 3 },
        all: { n: 2, means: { helpfulness: 1.5 } },
        byTask: { describe: { n: 1, means: { helpfulness: 2 } } },
        failed: 0,
        failures: [],
      },
    } as unknown as Parameters<typeof evaluationFigures>[0]);
    assert.deepEqual(Object.fromEntries(figures), {
      pope_accuracy: 0.5,
      pope_precision: 0.5,
      pope_recall: 0.5,
      pope_f1: 0.5,
      pope_yes_ratio: 0.5,
      pope_random_accuracy: 0.75,
      pope_random_precision: 0.5,
      pope_random_recall: 0.5,
      pope_random_f1: 0.5,
      pope_random_yes_ratio: 0.5,
      chair_i: 1 / 3,
      chair_s: 0.5,
      object_recall: 0.5,
      text_accuracy: 0.5,
      quality_helpfulness: 1.5,
      quality_describe_helpfulness: 2,
    });
    assert.deepEqual(evaluationFigures({ missing: 0, text: { n: 0, correct: 0, accuracy: Number.NaN, byKind: {} } }), []);
  });
});
