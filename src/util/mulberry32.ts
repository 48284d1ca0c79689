// mulberry32: a tiny seeded 32-bit generator, uniform in [0, 1). Used where a stream must be reproducible and
// cheap but not statistically strong: random sweeps, gradient-check inputs, fuzz mutations. (Model
// initialisation uses the stronger xoshiro128** in src/compiler/tensor/params/random.ts.)
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
