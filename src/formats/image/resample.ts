// Pillow's Image.resize for 8-bit RGB, bit for bit (libImaging/Resample.c): a separable convolution, horizontal pass
// then vertical, each output pixel a weighted sum of the input pixels under the filter scaled to the reduction
// ("antialiased"), with the weights normalised to sum 1, converted to 22-bit fixed point (rounded half away from
// zero) and the sum rounded by adding 2^21 and shifting — the same integer arithmetic, so the same bytes. Hugging
// Face's image processors (Pillow backend) resize with it (`reducing_gap=None`, so no preliminary reduce()).
import type { RgbImage } from "./decode.ts";

/** Pillow's resampling filters (Image.Resampling) that resize through convolution. */
export type ResampleFilter = "box" | "bilinear" | "hamming" | "bicubic" | "lanczos";

/** Pillow's numeric ids (PILImageResampling in transformers' preprocessor configs): 0 nearest … 5 hamming. */
export const PIL_RESAMPLE: Readonly<Record<number, ResampleFilter | "nearest">> = {
  0: "nearest",
  1: "lanczos",
  2: "bilinear",
  3: "bicubic",
  4: "box",
  5: "hamming",
};

const sinc = (x: number) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));

const FILTERS: Record<ResampleFilter, { support: number; f: (x: number) => number }> = {
  box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, f: (x) => ((x < 0 ? -x : x) < 1 ? 1 - (x < 0 ? -x : x) : 0) },
  hamming: {
    support: 1,
    f: (x0) => {
      const x = x0 < 0 ? -x0 : x0;
      if (x === 0) return 1;
      if (x >= 1) return 0;
      const t = x * Math.PI;
      // (0.54f + 0.46f * cos(x)): C's float constants promoted to double.
      return (Math.sin(t) / t) * (Math.fround(0.54) + Math.fround(0.46) * Math.cos(t));
    },
  },
  bicubic: {
    support: 2,
    f: (x0) => {
      const a = -0.5;
      const x = x0 < 0 ? -x0 : x0;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, f: (x) => (-3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;

/** precompute_coeffs + normalize_coeffs_8bpc: per output pixel, the first input index, the count, and the fixed-point weights. */
function coefficients(inSize: number, outSize: number, filter: ResampleFilter): { ksize: number; bounds: Int32Array; kk: Int32Array } {
  const { support: base, f } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = base * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = f((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? (k[x] as number) / ww : (k[x] as number);
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** clip8: the fixed-point sum's integer part, clamped to a byte. */
const clip8 = (ss: number) => {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/** `img` resized to `width`×`height` as Pillow's `img.resize((width, height), filter)` does. */
export function resizeRgb(img: RgbImage, width: number, height: number, filter: ResampleFilter): RgbImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
    throw new RangeError(`resize: the size must be positive integers, got ${width}×${height}`);
  if (width === img.width && height === img.height) return { width, height, rgb: img.rgb.slice() };
  const half = 1 << (PRECISION_BITS - 1);
  const vert = coefficients(img.height, height, filter);
  // Only the rows the vertical pass reads are resampled horizontally.
  const first = vert.bounds[0] as number;
  const last = (vert.bounds[2 * height - 2] as number) + (vert.bounds[2 * height - 1] as number);
  let src = img.rgb;
  let srcWidth = img.width;
  let rowOffset = 0;
  if (width !== img.width) {
    const h = coefficients(img.width, width, filter);
    const rows = last - first;
    const out = new Uint8Array(width * rows * 3);
    for (let yy = 0; yy < rows; yy++) {
      const inRow = (yy + first) * img.width * 3;
      for (let xx = 0; xx < width; xx++) {
        const xmin = h.bounds[xx * 2] as number;
        const xmax = h.bounds[xx * 2 + 1] as number;
        const k = xx * h.ksize;
        let s0 = half;
        let s1 = half;
        let s2 = half;
        for (let x = 0; x < xmax; x++) {
          const w = h.kk[k + x] as number;
          const p = inRow + (x + xmin) * 3;
          s0 += (img.rgb[p] as number) * w;
          s1 += (img.rgb[p + 1] as number) * w;
          s2 += (img.rgb[p + 2] as number) * w;
        }
        const o = (yy * width + xx) * 3;
        out[o] = clip8(s0);
        out[o + 1] = clip8(s1);
        out[o + 2] = clip8(s2);
      }
    }
    src = out;
    srcWidth = width;
    rowOffset = first;
  }
  if (height === img.height) {
    // No vertical pass: the horizontal one covered every row.
    return { width, height, rgb: src };
  }
  const out = new Uint8Array(width * height * 3);
  for (let yy = 0; yy < height; yy++) {
    const ymin = (vert.bounds[yy * 2] as number) - rowOffset;
    const ymax = vert.bounds[yy * 2 + 1] as number;
    const k = yy * vert.ksize;
    for (let xx = 0; xx < width; xx++) {
      let s0 = half;
      let s1 = half;
      let s2 = half;
      for (let y = 0; y < ymax; y++) {
        const w = vert.kk[k + y] as number;
        const p = ((y + ymin) * srcWidth + xx) * 3;
        s0 += (src[p] as number) * w;
        s1 += (src[p + 1] as number) * w;
        s2 += (src[p + 2] as number) * w;
      }
      const o = (yy * width + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { width, height, rgb: out };
}
