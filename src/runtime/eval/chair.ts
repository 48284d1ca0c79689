// CHAIR (Rohrbach et al. 2018) for descriptions: which object categories a description mentions that the scene
// lacks. Mentions are read with the world's vocabulary (plurals and synonyms); like the original, each category
// counts once per description.
import { mentions } from "../world/mentions.ts";
import type { Scene } from "../world/scene.ts";
import { SHAPES, type Shape } from "../world/vocab.ts";

export interface ChairRecord {
  prediction: string;
  scene: Scene;
}

export interface ChairScores {
  descriptions: number;
  /** Distinct categories mentioned, summed over descriptions. */
  mentioned: number;
  /** Of those, the ones absent from the scene. */
  hallucinated: number;
  /** hallucinated / mentioned. */
  chairI: number;
  /** Share of descriptions with at least one hallucinated category. */
  chairS: number;
  /** Distinct categories in the scenes, summed, and how many of them the descriptions mention. */
  objects: number;
  covered: number;
  /** covered / objects. */
  recall: number;
  /** Mentions that give a colour to a category the scene holds, and how many of them name a colour no such object has. */
  colorMentions: number;
  colorErrors: number;
  /** Hallucinated categories by the number of descriptions that hallucinate them, most first (ties in vocabulary order). */
  topHallucinated: { shape: Shape; count: number }[];
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

export function chairMetrics(records: readonly ChairRecord[]): ChairScores {
  const s = { mentioned: 0, hallucinated: 0, bad: 0, objects: 0, covered: 0, colorMentions: 0, colorErrors: 0 };
  const per = new Map<Shape, number>();
  for (const { prediction, scene } of records) {
    const said = mentions(prediction).filter((m) => !m.negated);
    const present = new Set(scene.objects.map((o) => o.shape));
    const named = new Set(said.map((m) => m.shape));
    const absent = [...named].filter((x) => !present.has(x));
    s.mentioned += named.size;
    s.hallucinated += absent.length;
    if (absent.length > 0) s.bad++;
    for (const x of absent) per.set(x, (per.get(x) ?? 0) + 1);
    s.objects += present.size;
    s.covered += [...present].filter((x) => named.has(x)).length;
    for (const m of said) {
      if (!m.color || !present.has(m.shape)) continue;
      s.colorMentions++;
      if (!scene.objects.some((o) => o.shape === m.shape && o.color === m.color)) s.colorErrors++;
    }
  }
  return {
    descriptions: records.length,
    mentioned: s.mentioned,
    hallucinated: s.hallucinated,
    chairI: ratio(s.hallucinated, s.mentioned),
    chairS: ratio(s.bad, records.length),
    objects: s.objects,
    covered: s.covered,
    recall: ratio(s.covered, s.objects),
    colorMentions: s.colorMentions,
    colorErrors: s.colorErrors,
    topHallucinated: [...per]
      .map(([shape, count]) => ({ shape, count }))
      .sort((a, b) => b.count - a.count || SHAPES.indexOf(a.shape) - SHAPES.indexOf(b.shape)),
  };
}
