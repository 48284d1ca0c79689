"""Small image files in every mode alignc reads, and what Pillow makes of them (test/images.test.ts).

Run with a Python that has Pillow and transformers (the CI venv: .ci/.venv/bin/python scripts/make-image-fixtures.py). It writes
test/fixtures/images/: PNGs of every colour type and depth (RGB, RGBA, L, LA, P, P with transparency, 4-bit palette,
1-bit, 16-bit grey and 16-bit RGB written by hand as Pillow cannot), JPEGs (4:2:0, 4:4:4, progressive, greyscale),
WebPs (lossy, lossless, with alpha), EXIF orientations 2-8 on JPEG and 6 on PNG and WebP; and golden.json with, per
file, Pillow's pixels after ImageOps.exif_transpose + convert("RGB") (transformers' load_image) as a sha256 and
size, and the sha256 of resizes with each filter to odd sizes (Image.resize, reducing_gap None); and
golden-processors.json: transformers' Pillow-backend image processors' pixel_values for some of the files.
"""
import hashlib, json, struct, sys, zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

out = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "images"
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20261207)
h, w = 45, 61
yy, xx = np.mgrid[0:h, 0:w]
# Photo-like: smooth gradients, an edge, some noise (JPEG and resampling both see structure, not white noise).
photo = np.stack([xx * 255 / w, yy * 255 / h, ((xx // 8 + yy // 8) % 2) * 180 + 30], -1) + rng.normal(0, 10, (h, w, 3))
photo = np.clip(photo, 0, 255).astype(np.uint8)
alpha = rng.integers(0, 256, (h, w), dtype=np.uint8)
img = Image.fromarray(photo)

files = {}
def save(name, im, **kw):
    im.save(out / name, **kw)
    files[name] = None

save("rgb.png", img)
save("rgba.png", Image.fromarray(np.dstack([photo, alpha])))
save("l.png", img.convert("L"))
save("la.png", Image.fromarray(np.dstack([photo[..., 0], alpha]), mode="LA"))
save("p.png", img.quantize(colors=37))
save("p-transparency.png", img.quantize(colors=16), transparency=3)
save("p-4bit.png", img.quantize(colors=16), bits=4)
save("bilevel.png", img.convert("1"))
save("l16.png", Image.fromarray(photo[..., 0].astype(np.uint16) * 131 + 7))  # uint16: mode I;16

def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
rows = (photo.astype(np.uint16) * 257 + rng.integers(0, 257, (h, w, 3))).astype(">u2")
raw = b"".join(b"\x00" + rows[y].tobytes() for y in range(h))
(out / "rgb16.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
files["rgb16.png"] = None

save("q85-420.jpg", img, quality=85)
save("q92-444.jpg", img, quality=92, subsampling=0)
save("progressive.jpg", img, quality=80, progressive=True)
save("grey.jpg", img.convert("L"), quality=85)
save("lossy.webp", img, quality=80)
save("lossless.webp", img, lossless=True)
save("alpha.webp", Image.fromarray(np.dstack([photo, alpha])), quality=90)
for o in range(2, 9):
    exif = Image.Exif()
    exif[0x0112] = o
    save(f"orientation-{o}.jpg", img, quality=90, exif=exif.tobytes())
exif = Image.Exif()
exif[0x0112] = 6
save("orientation-6.png", img, exif=exif.tobytes())
save("orientation-6.webp", img, quality=90, exif=exif.tobytes())

sha = lambda a: hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
SIZES = [(17, 23), (96, 70), (61, 11), (200, 151)]
FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR, "lanczos": Image.Resampling.LANCZOS, "box": Image.Resampling.BOX, "hamming": Image.Resampling.HAMMING}
golden = {}
for name in sorted(files):
    im = ImageOps.exif_transpose(Image.open(out / name)).convert("RGB")
    a = np.asarray(im)
    entry = {"mode": Image.open(out / name).mode, "width": im.width, "height": im.height, "sha256": sha(a), "first": a.reshape(-1)[:12].tolist(), "resized": {}}
    if name in ("rgb.png", "q85-420.jpg", "orientation-6.jpg"):
        for f, rf in FILTERS.items():
            for sw, sh in SIZES:
                entry["resized"][f"{f} {sw}x{sh}"] = sha(np.asarray(im.resize((sw, sh), rf, reducing_gap=None)))
    golden[name] = entry
(out / "golden.json").write_text(json.dumps({"pillow": Image.__version__, "files": golden}, indent=1) + "\n")
print(f"{len(golden)} files, Pillow {Image.__version__}", file=sys.stderr)

# ── transformers' image processors, Pillow backend (test/hf-vision-processor.test.ts) ──
# Each case: a processor class and its settings; per image, the sha256 of pixel_values[0] (float32, C×H×W) of
# processor(images=load_image(path)) — load_image is exif_transpose + convert("RGB"), as alignc reads images.
from transformers.image_utils import load_image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil
from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil
import transformers

PROCESSORS = {
    "clip-336": (CLIPImageProcessorPil, {"size": {"shortest_edge": 336}, "crop_size": {"height": 336, "width": 336}}),
    "clip-30-crop-40": (CLIPImageProcessorPil, {"size": {"shortest_edge": 30}, "crop_size": {"height": 40, "width": 40}}),
    "clip-bilinear-no-crop": (CLIPImageProcessorPil, {"size": {"shortest_edge": 23}, "do_center_crop": False, "resample": 2}),
    "llava-pad-48": (LlavaImageProcessorPil, {"size": {"shortest_edge": 48}, "crop_size": {"height": 48, "width": 48}, "do_pad": True}),
    "siglip-384": (SiglipImageProcessorPil, {"size": {"height": 384, "width": 384}}),
    # LLaVA-NeXT: pixel_values[0] is the image's tiles [1 + rows·cols, 3, S, S] (anyres).
    "llava-next-336": (LlavaNextImageProcessorPil, {"size": {"shortest_edge": 336}, "crop_size": {"height": 336, "width": 336}}),
    "llava-next-16": (LlavaNextImageProcessorPil, {"size": {"shortest_edge": 16}, "crop_size": {"height": 16, "width": 16}, "image_grid_pinpoints": [[16, 32], [32, 16], [32, 32], [48, 16], [16, 48]]}),
    "llava-next-20-bilinear-no-crop": (LlavaNextImageProcessorPil, {"size": {"height": 20, "width": 20}, "do_center_crop": False, "resample": 2, "image_grid_pinpoints": [[20, 40], [40, 40], [60, 20], [20, 80]]}),
    "siglip-odd-lanczos": (SiglipImageProcessorPil, {"size": {"height": 37, "width": 53}, "resample": 1, "image_mean": [0.1, 0.2, 0.3], "image_std": [0.9, 0.8, 0.7], "rescale_factor": 0.0039}),
}
IMAGES = ["rgb.png", "rgba.png", "l16.png", "p-transparency.png", "q85-420.jpg", "orientation-6.jpg", "alpha.webp"]
processors = {}
for name, (cls, settings) in PROCESSORS.items():
    p = cls(**settings)
    processors[name] = {"class": cls.__name__.replace("Pil", ""), "settings": settings, "pixel_values": {}}
    for image in IMAGES:
        pv = p(images=load_image(str(out / image)), return_tensors="np")["pixel_values"][0]
        assert pv.dtype == np.float32
        processors[name]["pixel_values"][image] = {"shape": list(pv.shape), "sha256": sha(pv), "first": [float(x) for x in pv.reshape(-1)[:4]]}
(out / "golden-processors.json").write_text(json.dumps({"transformers": transformers.__version__, "processors": processors}, indent=1) + "\n")
print(f"{len(processors)} processors × {len(IMAGES)} images, transformers {transformers.__version__}", file=sys.stderr)
