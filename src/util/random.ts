// The project's random number generators, in one place.
// Rng: a seeded, deterministic generator for parameter initialisation: xoshiro128** (Blackman & Vigna), its 128-bit
// state filled from the seed by SplitMix64, as the authors recommend. Normals use Box-Muller. `fork(label)` derives an
// independent stream per parameter, so adding a parameter never shifts the values of the others. Same seed, same
// values, on every platform (Math.log/cos/sin are V8's deterministic ports).

const MASK64 = (1n << 64n) - 1n;

/** One SplitMix64 step: returns the new state and the output. */
export function splitmix64(state: bigint): [next: bigint, out: bigint] {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [next, z ^ (z >> 31n)];
}

/** FNV-1a (64-bit) of the UTF-8 bytes of `label`, to turn a name into a seed. */
function fnv1a64(label: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(label)) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK64;
  return h;
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

export class Rng {
  // The four 32-bit state words.
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;
  private spare: number | undefined;
  readonly seed: bigint;

  constructor(seed: number | bigint) {
    if (typeof seed === "number" && !Number.isSafeInteger(seed)) throw new RangeError(`Rng: the seed must be an integer, got ${seed}`);
    this.seed = BigInt(seed) & MASK64;
    const [state, x] = splitmix64(this.seed);
    const y = splitmix64(state)[1];
    this.a = Number(x & 0xffffffffn);
    this.b = Number(x >> 32n);
    this.c = Number(y & 0xffffffffn);
    this.d = Number(y >> 32n);
    // The all-zero state is xoshiro's one fixed point; SplitMix64 outputs are never both zero, but be sure.
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** A generator with its raw 128-bit state given as four 32-bit words (for known-answer tests). */
  static fromState(a: number, b: number, c: number, d: number): Rng {
    const r = new Rng(0);
    [r.a, r.b, r.c, r.d] = [a >>> 0, b >>> 0, c >>> 0, d >>> 0];
    return r;
  }

  /** An independent generator for `label` (e.g. a parameter name), derived from this one's seed. */
  fork(label: string): Rng {
    return new Rng(splitmix64(this.seed ^ fnv1a64(label))[1]);
  }

  /** The next 32-bit output of xoshiro128**. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c = (this.c ^ this.a) >>> 0;
    this.d = (this.d ^ this.b) >>> 0;
    this.b = (this.b ^ this.c) >>> 0;
    this.a = (this.a ^ this.d) >>> 0;
    this.c = (this.c ^ t) >>> 0;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal via Box-Muller; the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    const u1 = 1 - this.uniform(); // (0, 1]: log never sees 0
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
}

// mulberry32: a tiny seeded 32-bit generator, uniform in [0, 1). Used where a stream must be reproducible and cheap but
// not statistically strong: random sweeps, gradient-check inputs, fuzz mutations, synthetic-world choices. Parameter
// initialisation uses the stronger Rng above.
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
