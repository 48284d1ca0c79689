// Attribute constructors: ONNX distinguishes int and float attributes, JavaScript numbers do not.
import type { Attr } from "../ir/graph.ts";

export const int = (value: number): Attr => ({ type: "int", value });
export const float = (value: number): Attr => ({ type: "float", value });
export const ints = (value: readonly number[]): Attr => ({ type: "ints", value: [...value] });
export const floats = (value: readonly number[]): Attr => ({ type: "floats", value: [...value] });
export const str = (value: string): Attr => ({ type: "string", value });

export function intAttr(attrs: Readonly<Record<string, Attr>>, name: string, fallback: number): number {
  const a = attrs[name];
  return a && (a.type === "int" || a.type === "float") ? a.value : fallback;
}

export function intsAttr(attrs: Readonly<Record<string, Attr>>, name: string): number[] | undefined {
  const a = attrs[name];
  return a && (a.type === "ints" || a.type === "floats") ? a.value : undefined;
}

export function strAttr(attrs: Readonly<Record<string, Attr>>, name: string, fallback: string): string {
  const a = attrs[name];
  return a?.type === "string" ? a.value : fallback;
}
