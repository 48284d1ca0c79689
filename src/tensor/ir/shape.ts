// Shapes: a list of dimensions, each static (a number) or named (a string such as "batch").
// Named dimensions are equal only to the same name; shape functions never guess.
export type Dim = number | string;
export type Shape = readonly Dim[];

export class ShapeError extends Error {
  override name = "ShapeError";
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === "number");
}

export function staticShape(shape: Shape, what: string): number[] {
  if (!isStatic(shape)) throw new ShapeError(`${what}: needs a static shape, got ${formatShape(shape)}`);
  return [...shape];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Numpy broadcasting of any number of shapes; throws naming the op and the shapes. */
export function broadcastShapes(op: string, shapes: readonly Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === 1 || d === dim) continue;
      if (dim === 1) dim = d;
      else throw new ShapeError(`${op}: shapes ${shapes.map(formatShape).join(" and ")} do not broadcast (dimension ${i} of the result: ${dim} vs ${d})`);
    }
    out.push(dim);
  }
  return out;
}

/** Normalises a possibly negative axis against `rank`. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}
