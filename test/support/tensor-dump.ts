// A readable, deterministic text form of a graph for debugging and test failure messages:
//   graph main {
//     input %x: float32[batch,3]
//     init %w: float32[3,2] = [0.5, -1, 2, 0, 1, 3]
//     %matmul: float32[batch,2] = MatMul(%x, %w)
//     %softmax: float32[batch,2] = Softmax(%matmul)  {axis: 1}
//     output %y: float32[batch,2]
//   }
// Loop/If bodies are printed indented under their node. Nothing depends on object identity or timing, so two
// builds of the same model dump identically.
import type { DType, TypedArray } from "../../src/tensor/ir/dtype.ts";
import type { Attr, Graph, Node, Tensor, TensorData } from "../../src/tensor/ir/graph.ts";
import { halfToNumber } from "../../src/tensor/ir/half.ts";
import type { Shape } from "../../src/tensor/ir/shape.ts";

/** How many leading values of an initializer or tensor attribute are shown. */
const SHOWN_VALUES = 8;

export function dumpGraph(graph: Graph): string {
  return graphLines(graph, "").join("\n");
}

const typeOf = (dtype: DType, shape: Shape) => `${dtype}[${shape.join(",")}]`;
const ref = (t: Tensor | null) => (t ? `%${t.name}` : "_");
const decl = (t: Tensor) => `%${t.name}: ${typeOf(t.dtype, t.shape)}`;

function graphLines(g: Graph, indent: string): string[] {
  const i = `${indent}  `;
  const lines = [`${indent}graph ${g.name} {`];
  for (const t of g.inputs) lines.push(`${i}input ${decl(t)}`);
  for (const [t, data] of g.initializers) lines.push(`${i}init ${decl(t)} = ${values(data)}`);
  for (const n of g.nodes) lines.push(...nodeLines(n, i));
  for (const t of g.outputs) lines.push(`${i}output ${decl(t)}`);
  lines.push(`${indent}}`);
  return lines;
}

function nodeLines(n: Node, indent: string): string[] {
  const op = n.domain ? `${n.domain}.${n.op}` : n.op;
  const attrs = Object.keys(n.attrs)
    .sort()
    .filter((k) => n.attrs[k]!.type !== "graph")
    .map((k) => `${k}: ${attrValue(n.attrs[k]!)}`);
  const notes = [attrs.length ? `  {${attrs.join(", ")}}` : "", n.meta.stopGradient ? "  # stop-gradient" : ""].join("");
  const lines = [`${indent}${n.outputs.map(decl).join(", ")} = ${op}(${n.inputs.map(ref).join(", ")})${notes}`];
  for (const k of Object.keys(n.attrs).sort()) {
    const a = n.attrs[k]!;
    if (a.type !== "graph") continue;
    const [first, ...rest] = graphLines(a.value, `${indent}  `);
    lines.push(`${indent}  ${k}: ${first!.trimStart()}`, ...rest);
  }
  return lines;
}

function attrValue(a: Attr): string {
  switch (a.type) {
    case "int":
    case "float":
      return String(a.value);
    case "string":
      return JSON.stringify(a.value);
    case "ints":
    case "floats":
      return `[${a.value.join(", ")}]`;
    case "tensor":
      return `${typeOf(a.value.dtype, a.value.shape)} ${values(a.value)}`;
    case "graph":
      return `graph ${a.value.name}`;
  }
}

/** The first few values; float32 ones as the shortest decimal that reads back the same (0.1, not 0.10000000149011612). */
function values(t: TensorData): string {
  const shown = Array.from({ length: Math.min(t.data.length, SHOWN_VALUES) }, (_, k) => scalar(t.dtype, t.data, k));
  const more = t.data.length > SHOWN_VALUES ? `, … (${t.data.length} values)` : "";
  return t.shape.length === 0 && shown.length === 1 ? shown[0]! : `[${shown.join(", ")}${more}]`;
}

function scalar(dtype: DType, data: TypedArray, k: number): string {
  const v = data[k]!;
  switch (dtype) {
    case "bool":
      return v ? "true" : "false";
    case "float16":
      return String(halfToNumber(v as number));
    case "float32":
      return shortestFloat32(v as number);
    default:
      return String(v);
  }
}

/** The shortest decimal that reads back as the same float32. */
function shortestFloat32(v: number): string {
  for (let digits = 1; digits < 9; digits++) {
    const s = Number(v.toPrecision(digits));
    if (Math.fround(s) === v) return String(s);
  }
  return String(Number(v.toPrecision(9)));
}
