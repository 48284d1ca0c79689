// 16-bit floats as their bit patterns (Uint16Array elements): IEEE half (float16) and bfloat16 (the top 16 bits of
// a float32), with round-to-nearest-even in both directions, as ONNX Runtime's Cast does.

/** IEEE half bits → number. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** number → IEEE half bits, rounding to nearest even. */
export function numberToHalf(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00; // rounds to infinity
  if (a < 2 ** -14) return sign | roundEven(a / 2 ** -24); // subnormal (may round up into the smallest normal)
  let exp = Math.floor(Math.log2(a));
  if (2 ** exp > a) exp--; // log2 can be off by one near powers of two
  const frac = roundEven((a / 2 ** exp - 1) * 1024);
  return sign | (((exp + 15) << 10) + frac); // a carry out of frac bumps the exponent, as it should
}

function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 bits → number. */
export function bfloat16ToNumber(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** number → bfloat16 bits, rounding to nearest even (NaN stays NaN). */
export function numberToBfloat16(v: number): number {
  f32[0] = v;
  const bits = u32[0]!;
  if (Number.isNaN(f32[0])) return 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float32 values → float16 or bfloat16 bits (weights stored in the compute type of a mixed-precision program). */
export function toHalfBits(data: ArrayLike<number>, dtype: "float16" | "bfloat16"): Uint16Array {
  const bits = dtype === "float16" ? numberToHalf : numberToBfloat16;
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = bits(data[i]!);
  return out;
}
