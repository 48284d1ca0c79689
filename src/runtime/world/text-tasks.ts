// Text-only instruction tasks with exact answers, in the world's own small vocabulary: they measure language
// ability without an image, before and after visual instruction tuning.
import type { Rng } from "../../util/random.ts";
import { pick, type Question, sentence } from "./tasks.ts";
import { COLORS, numberWord, SHAPES } from "./vocab.ts";

export const TEXT_KINDS = ["arithmetic", "successor", "compare", "corners", "mix", "reverse"] as const;

const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng.uniform() * (hi - lo + 1));

/** Corners of the shapes that have them (a circle has none). */
const CORNERS = { circle: 0, triangle: 3, square: 4, diamond: 4, star: 10, cross: 12 } as const;
/** What two paint colours make. */
const MIXES = [
  ["red", "yellow", "orange"],
  ["blue", "yellow", "green"],
  ["red", "blue", "purple"],
] as const;

export function textTask(rng: Rng): Question {
  const kind = pick(rng, TEXT_KINDS);
  const n = (k: number) => numberWord(k);
  switch (kind) {
    case "arithmetic": {
      if (rng.uniform() < 0.5) {
        const a = int(rng, 0, 10);
        const b = int(rng, 0, 10);
        return { kind, prompt: `What is ${n(a)} plus ${n(b)}?`, answer: sentence(n(a + b)) };
      }
      const a = int(rng, 0, 20);
      const b = int(rng, 0, a);
      return { kind, prompt: `What is ${n(a)} minus ${n(b)}?`, answer: sentence(n(a - b)) };
    }
    case "successor": {
      const after = rng.uniform() < 0.5;
      const a = after ? int(rng, 0, 19) : int(rng, 1, 20);
      return { kind, prompt: `What number comes ${after ? "after" : "before"} ${n(a)}?`, answer: sentence(n(after ? a + 1 : a - 1)) };
    }
    case "compare": {
      const a = int(rng, 0, 20);
      const b = (a + int(rng, 1, 20)) % 21;
      const larger = rng.uniform() < 0.5;
      return { kind, prompt: `Which is ${larger ? "larger" : "smaller"}, ${n(a)} or ${n(b)}?`, answer: sentence(n(larger === a > b ? a : b)) };
    }
    case "corners": {
      const shape = pick(rng, Object.keys(CORNERS) as (keyof typeof CORNERS)[]);
      return { kind, prompt: `How many corners does a ${shape} have?`, answer: sentence(n(CORNERS[shape])) };
    }
    case "mix": {
      const [a, b, c] = pick(rng, MIXES);
      const [x, y] = rng.uniform() < 0.5 ? [a, b] : [b, a];
      return { kind, prompt: `What color do you get when you mix ${x} and ${y}?`, answer: sentence(c) };
    }
    case "reverse": {
      const pool = [...COLORS, ...SHAPES];
      const ws = Array.from({ length: int(rng, 3, 4) }, () => pick(rng, pool));
      return { kind, prompt: `Say these words in reverse order: ${ws.join(" ")}.`, answer: sentence([...ws].reverse().join(" ")) };
    }
  }
}
