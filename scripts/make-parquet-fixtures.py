"""Small Parquet files as Hugging Face `datasets` and pyarrow write them, for test/formats-parquet.test.ts.

Run with a Python that has pyarrow, datasets and Pillow (python3 -m venv /tmp/pq-venv && /tmp/pq-venv/bin/pip install
pyarrow datasets pillow; /tmp/pq-venv/bin/python scripts/make-parquet-fixtures.py). It writes test/fixtures/parquet/:
tiny images (images/), and beside each .parquet file the JSON lines file that says the same with image paths, so the
test can check that both import alike:
  trl-vision.parquet    TRL's vision preference layout, `images` a Sequence(Image()) with the bytes embedded
                        (datasets' to_parquet after cast_column, as push_to_hub writes it), two row groups
  rlaif-v.parquet       RLAIF-V-Dataset's columns, `image` an Image() struct {bytes, path} with a JPEG embedded, `idx` int64
  llava-paths.parquet   LLaVA rows whose `image` is an Image() struct with only a path (resolved under the images root)
  trl-prompts.parquet   text-only TRL prompts, no compression
  alignc-pairs.parquet  alignc's pair records (test/fixtures/formats/alignc-pairs.jsonl), nulls and all
  gzip.parquet          RLAIF-V pairs, gzip-compressed (plain strings for the image paths)
  zstd.parquet, lz4.parquet   the same, zstd and lz4 (alignc reads zstd only where Node's zlib has it; lz4 never)
  bad-rows.parquet      RLAIF-V pairs: an embedded image that is no image, an empty answer, a path out of the root
  wrong-types.parquet   RLAIF-V pairs whose `chosen` is an int64 column
  corrupt.parquet       the first half of trl-prompts.parquet
Everything is deterministic: fixed pixels, fixed pyarrow settings.
"""
import io, json, shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, Image as ImageFeature, Sequence
from PIL import Image

out = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "parquet"
shutil.rmtree(out, ignore_errors=True)
(out / "images").mkdir(parents=True)


def image(name, colour, fmt):
    """A 4×4 image in one colour with one odd pixel, saved under images/; its bytes."""
    im = Image.new("RGB", (4, 4), colour)
    im.putpixel((1, 2), (255, 255, 255))
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    (out / "images" / name).write_bytes(buf.getvalue())
    return buf.getvalue()


red = image("red.png", (220, 20, 20), "PNG")
blue = image("blue.png", (20, 20, 220), "PNG")
green = image("green.jpg", (20, 200, 20), "JPEG")


def jsonl(name, rows):
    (out / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def write(ds, name, **kw):
    # One row group per `batch_size` rows, snappy (pyarrow's default, as datasets writes it).
    ds.to_parquet(str(out / name), **kw)


# ── TRL vision preferences: conversational prompt, `images` a list of images with their bytes ──
def user(text, img):
    # Arrow gives every part both fields ({"type": "image", "text": None}); alignc reads a null field as absent.
    return [{"role": "user", "content": ([{"type": "image"}] if img else []) + [{"type": "text", "text": text}]}]


def assistant(text):
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


trl_rows = [
    ("t1", "What colour is the square?", "It is red.", "It is blue.", ["red.png"]),
    ("t2", "Describe the picture.", "A blue square with a white dot.", "A red circle.", ["blue.png"]),
    ("t3", "Name a colour.", "Green.", "A square.", []),
]
by_name = {"red.png": red, "blue.png": blue, "green.jpg": green}
ds = Dataset.from_dict(
    {
        "id": [r[0] for r in trl_rows],
        "prompt": [user(r[1], r[4]) for r in trl_rows],
        "chosen": [assistant(r[2]) for r in trl_rows],
        "rejected": [assistant(r[3]) for r in trl_rows],
        "images": [[{"bytes": by_name[n], "path": n} for n in r[4]] for r in trl_rows],
    }
).cast_column("images", Sequence(ImageFeature()))
write(ds, "trl-vision.parquet", batch_size=2)
jsonl(
    "trl-vision.jsonl",
    [
        {"id": r[0], "prompt": user(r[1], r[4]), "chosen": assistant(r[2]), "rejected": assistant(r[3]), "images": [f"images/{n}" for n in r[4]]}
        for r in trl_rows
    ],
)

# ── RLAIF-V: its columns, the image embedded (a JPEG and a PNG) ──
rl_rows = [
    ("What is in the image?", "A green square.", "A red square.", "green.jpg", 0),
    ("What colour is the square?", "Blue.", "Red.", "blue.png", 1),
]
rl = {
    "ds_name": ["synthetic"] * 2,
    "image": [{"bytes": by_name[r[3]], "path": r[3]} for r in rl_rows],
    "question": [r[0] for r in rl_rows],
    "chosen": [r[1] for r in rl_rows],
    "rejected": [r[2] for r in rl_rows],
    "origin_dataset": ["shapes"] * 2,
    "origin_split": ["train"] * 2,
    "idx": [r[4] for r in rl_rows],
    "image_path": [f"shapes/{r[3]}" for r in rl_rows],
}
write(Dataset.from_dict(rl).cast_column("image", ImageFeature()), "rlaif-v.parquet")
jsonl("rlaif-v.jsonl", [{"image": f"images/{r[3]}", "question": r[0], "chosen": r[1], "rejected": r[2], "idx": r[4]} for r in rl_rows])

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # datasets' Image() storage

# ── LLaVA rows whose images are paths only (an Image() struct without bytes) ──
llava_rows = [
    ("l1", "<image>\nWhat colour is the square?", "It is red.", "red.png"),
    ("l2", "<image>\nWhat is shown?", "A green square.", "green.jpg"),
]
table = pa.table(
    {
        "id": [r[0] for r in llava_rows],
        "image": pa.array([{"bytes": None, "path": f"images/{r[3]}"} for r in llava_rows], IMAGE),
        "conversations": [[{"from": "human", "value": r[1]}, {"from": "gpt", "value": r[2]}] for r in llava_rows],
    }
)
pq.write_table(table, out / "llava-paths.parquet")
jsonl("llava-paths.jsonl", [{"id": r[0], "image": f"images/{r[3]}", "conversations": [{"from": "human", "value": r[1]}, {"from": "gpt", "value": r[2]}]} for r in llava_rows])

# ── text-only TRL prompts, uncompressed ──
prompts = [{"prompt": "Name a colour.", "completion": "Green."}, {"prompt": "Count to three.", "completion": "One, two, three."}]
pq.write_table(pa.Table.from_pylist(prompts), out / "trl-prompts.parquet", compression="none")
jsonl("trl-prompts.jsonl", prompts)

# ── alignc's own records, as datasets reads its JSON lines and writes them (a null scene stays null) ──
# (test/fixtures/formats/alignc-pairs.jsonl: its image, images/red.png, is here too)
# Arrow gives each row every column: a pair without a `source` would hold a null one, which alignc refuses, so the
# second pair names its source (the first's fields then stand null in it, and its in the first).
rows = [json.loads(line) for line in (out.parent / "formats" / "alignc-pairs.jsonl").read_text().splitlines()]
rows[1]["source"] = {"kind": "file", "file": "prefs.jsonl", "row": 2, "format": "trl"}
jsonl("alignc-pairs.jsonl", rows)
pq.write_table(pa.Table.from_pylist(rows), out / "alignc-pairs.parquet")

# ── codecs: the same RLAIF-V pairs with image paths as strings ──
plain = pa.Table.from_pylist([{"image": f"images/{r[3]}", "question": r[0], "chosen": r[1], "rejected": r[2]} for r in rl_rows])
for codec in ["gzip", "zstd", "lz4"]:
    pq.write_table(plain, out / f"{codec}.parquet", compression=codec)

# ── bad rows: bytes that are no image, an empty chosen answer, a path that leaves the images root ──
bad = [
    {"image": {"bytes": b"GIF89a not an image we read", "path": "x.gif"}, "question": "Q1?", "chosen": "A.", "rejected": "B."},
    {"image": {"bytes": red, "path": "red.png"}, "question": "Q2?", "chosen": " ", "rejected": "B."},
    {"image": {"bytes": None, "path": "../outside.png"}, "question": "Q3?", "chosen": "A.", "rejected": "B."},
    {"image": {"bytes": red, "path": "red.png"}, "question": "Q4?", "chosen": "A.", "rejected": "B."},
]
bad_table = pa.Table.from_pylist(bad, pa.schema([("image", IMAGE), ("question", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())]))
pq.write_table(bad_table, out / "bad-rows.parquet")

# ── a column of the wrong type ──
pq.write_table(pa.table({"image": ["images/red.png"], "question": ["Q?"], "chosen": pa.array([3], pa.int64()), "rejected": ["B."]}), out / "wrong-types.parquet")

# ── a file cut short ──
whole = (out / "trl-prompts.parquet").read_bytes()
(out / "corrupt.parquet").write_bytes(whole[: len(whole) // 2])

for f in sorted(out.rglob("*")):
    if f.is_file():
        print(f"{f.relative_to(out)}: {f.stat().st_size} bytes")
