// The catalog of constructors, looked up by the category or family a place expects.
import type { Ctor } from "./ctor.ts";
import { dataCtors } from "./data.ts";
import { trainingCtors } from "./training.ts";

export const allCtors: readonly Ctor[] = [...dataCtors, ...trainingCtors];

const byFamily = new Map<string, Map<string, Ctor>>();
for (const c of allCtors) {
  const family = byFamily.get(c.category) ?? new Map<string, Ctor>();
  byFamily.set(c.category, family);
  family.set(c.name, c);
}

export function ctorsOf(family: string): ReadonlyMap<string, Ctor> {
  return byFamily.get(family) ?? new Map();
}

export function findCtor(family: string, name: string): Ctor | undefined {
  return byFamily.get(family)?.get(name);
}

/** The family whose constructor has this name, if any: used to say "tinyvlm makes a model, not a dataset". */
export function familyOf(name: string): string | undefined {
  for (const [family, ctors] of byFamily) if (ctors.has(name)) return family;
  return undefined;
}

export type { Ctor } from "./ctor.ts";
