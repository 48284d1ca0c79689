// A small anti-aliased rasteriser: each pixel's coverage by each shape is measured on a 4×4 grid of samples
// and the shape's colour is blended over the background by that coverage. Pure arithmetic, so the same scene
// gives the same bytes everywhere.
import type { Scene } from "./scene.ts";
import { BACKGROUND, RGB, type Shape } from "./vocab.ts";

const SAMPLES = 4;

type Inside = (u: number, v: number) => boolean;

/** Even-odd point-in-polygon; works for the concave star. Coordinates are kept flat for speed. */
function polygon(points: readonly (readonly [number, number])[]): Inside {
  const xs = Float64Array.from(points, (p) => p[0]);
  const ys = Float64Array.from(points, (p) => p[1]);
  const n = xs.length;
  return (u, v) => {
    let inside = false;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const yi = ys[i] as number;
      const yj = ys[j] as number;
      if (yi > v !== yj > v && u < (((xs[j] as number) - (xs[i] as number)) * (v - yi)) / (yj - yi) + (xs[i] as number)) inside = !inside;
    }
    return inside;
  };
}

/** n points around the unit circle, the first straight up (v grows downwards). */
function ring(n: number, radius: (i: number) => number): [number, number][] {
  return Array.from({ length: n }, (_, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    return [radius(i) * Math.cos(a), radius(i) * Math.sin(a)];
  });
}

/** Whether (u, v), in units of the object's radius from its centre (v down), is inside the shape. */
export const INSIDE: Record<Shape, Inside> = {
  circle: (u, v) => u * u + v * v <= 1,
  square: (u, v) => Math.abs(u) <= 0.8 && Math.abs(v) <= 0.8,
  triangle: polygon(ring(3, () => 1)),
  star: polygon(ring(10, (i) => (i % 2 === 0 ? 1 : 0.45))),
  diamond: (u, v) => Math.abs(u) / 0.75 + Math.abs(v) <= 1,
  cross: (u, v) => (Math.abs(u) <= 0.3 && Math.abs(v) <= 0.95) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 0.95),
  moon: (u, v) => u * u + v * v <= 1 && (u - 0.45) * (u - 0.45) + (v + 0.15) * (v + 0.15) > 0.64,
  heart: (u, v) => {
    // (x² + y² − 1)³ − x²y³ ≤ 0, scaled so the heart spans the unit square, pointing down.
    const x = 1.15 * u;
    const y = 0.125 - 1.125 * v;
    const q = x * x + y * y - 1;
    return q * q * q - x * x * y * y * y <= 0;
  },
};

/** The scene drawn at side × side pixels, RGB, row-major, 3 bytes per pixel. */
export function render(scene: Scene, side: number): Uint8Array {
  const acc = new Float64Array(side * side * 3);
  for (let i = 0; i < acc.length; i++) acc[i] = BACKGROUND[i % 3] as number;
  for (const o of scene.objects) {
    const inside = INSIDE[o.shape];
    const [cr, cg, cb] = RGB[o.color];
    const cx = o.x * side;
    const cy = o.y * side;
    const r = o.r * side;
    const x0 = Math.max(0, Math.floor(cx - r));
    const x1 = Math.min(side - 1, Math.floor(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(side - 1, Math.floor(cy + r));
    for (let py = y0; py <= y1; py++) {
      for (let px = x0; px <= x1; px++) {
        let hits = 0;
        for (let sy = 0; sy < SAMPLES; sy++) {
          const v = (py + (sy + 0.5) / SAMPLES - cy) / r;
          for (let sx = 0; sx < SAMPLES; sx++) if (inside((px + (sx + 0.5) / SAMPLES - cx) / r, v)) hits++;
        }
        if (hits === 0) continue;
        const c = hits / (SAMPLES * SAMPLES);
        const k = (py * side + px) * 3;
        acc[k] = (acc[k] as number) * (1 - c) + cr * c;
        acc[k + 1] = (acc[k + 1] as number) * (1 - c) + cg * c;
        acc[k + 2] = (acc[k + 2] as number) * (1 - c) + cb * c;
      }
    }
  }
  const rgb = new Uint8Array(acc.length);
  for (let i = 0; i < acc.length; i++) rgb[i] = Math.round(acc[i] as number);
  return rgb;
}
