// Selecting parameters by name: exact names, globs (`*` any run of characters, dots included, so
// "*.attn.q" matches "layers.0.attn.q"; `?` one character) or regular expressions.

export type Selector = string | RegExp | readonly (string | RegExp)[];

export class SelectError extends Error {
  override name = "SelectError";
}

export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[\\^$.+()[\]{}|*?]/g, (c) => (c === "*" ? ".*" : c === "?" ? "." : `\\${c}`));
  return new RegExp(`^${body}$`, "s");
}

function toRegExp(pattern: string | RegExp): RegExp {
  // A copy without g/y: those flags make `test` stateful.
  return typeof pattern === "string" ? globToRegExp(pattern) : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
}

function patterns(selector: Selector): (string | RegExp)[] {
  return typeof selector === "string" || selector instanceof RegExp ? [selector] : [...selector];
}

/**
 * The names (in the given order) that `selector` picks. Every pattern must match something: a pattern that
 * matches nothing is almost always a typo, and silently training or freezing the wrong set is costly.
 */
export function selectNames(names: readonly string[], selector: Selector, what: string): string[] {
  const list = patterns(selector);
  if (list.length === 0) throw new SelectError(`${what}: the selection is empty`);
  const picked = new Set<string>();
  for (const p of list) {
    const re = toRegExp(p);
    const hits = names.filter((n) => re.test(n));
    if (hits.length === 0) throw new SelectError(`${what}: ${typeof p === "string" ? `"${p}"` : String(p)} matches no parameter`);
    for (const h of hits) picked.add(h);
  }
  return names.filter((n) => picked.has(n));
}
