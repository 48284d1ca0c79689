// The shapes world's vocabulary: object categories, colours, sizes and positions, with the plural forms and
// synonyms a parser needs to map free text back to objects. Small on purpose: tiny models must learn it.

export const SHAPES = ["circle", "square", "star", "heart", "triangle", "moon", "diamond", "cross"] as const;
export type Shape = (typeof SHAPES)[number];

/** How often each shape is drawn, relative to the others: gives POPE's "popular" negatives a meaning. */
export const POPULARITY: Record<Shape, number> = { circle: 8, square: 7, star: 6, heart: 5, triangle: 4, moon: 3, diamond: 2, cross: 1 };

/**
 * Companion pairs. The bias knob sets how often a scene holding one member of a pair holds the other too;
 * POPE's adversarial negatives are absent companions. Each pair joins a popular shape with a rarer one, so
 * adversarial and popular negatives differ.
 */
export const PAIRS: readonly (readonly [Shape, Shape])[] = [
  ["circle", "cross"],
  ["square", "triangle"],
  ["star", "moon"],
  ["heart", "diamond"],
];

/** The usual companion of each shape. */
export const COMPANION = Object.fromEntries(
  PAIRS.flatMap(([a, b]) => [
    [a, b],
    [b, a],
  ]),
) as Record<Shape, Shape>;

/** Index of each shape's pair in PAIRS. */
export const PAIR_OF = Object.fromEntries(
  PAIRS.flatMap(([a, b], i) => [
    [a, i],
    [b, i],
  ]),
) as Record<Shape, number>;

export const COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "white"] as const;
export type Color = (typeof COLORS)[number];

/** sRGB of each colour; all stand out against the dark background. */
export const RGB: Record<Color, readonly [number, number, number]> = {
  red: [220, 40, 40],
  orange: [245, 140, 20],
  yellow: [240, 220, 40],
  green: [50, 170, 60],
  blue: [50, 100, 230],
  purple: [150, 60, 200],
  white: [240, 240, 240],
};
export const BACKGROUND: readonly [number, number, number] = [36, 36, 36];

export const SIZES = ["small", "large"] as const;
export type Size = (typeof SIZES)[number];

/** The nine regions of the image (thirds across and down), in reading order. */
export const POSITIONS = ["top_left", "top", "top_right", "left", "center", "right", "bottom_left", "bottom", "bottom_right"] as const;
export type Position = (typeof POSITIONS)[number];

/** How a caption says where an object is. */
export const POSITION_PHRASE: Record<Position, string> = {
  top_left: "in the top left",
  top: "at the top",
  top_right: "in the top right",
  left: "on the left",
  center: "in the center",
  right: "on the right",
  bottom_left: "in the bottom left",
  bottom: "at the bottom",
  bottom_right: "in the bottom right",
};

export const NUMBER_WORDS = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
  "thirteen",
  "fourteen",
  "fifteen",
  "sixteen",
  "seventeen",
  "eighteen",
  "nineteen",
  "twenty",
] as const;

export function numberWord(n: number): string {
  const w = NUMBER_WORDS[n];
  if (w === undefined) throw new RangeError(`numberWord: ${n} is outside 0…20`);
  return w;
}

export const plural = (shape: Shape): string => (shape === "cross" ? "crosses" : `${shape}s`);

/** Every word (singular, plural, synonym) that names a shape. */
export const SHAPE_WORDS: ReadonlyMap<string, Shape> = new Map<string, Shape>([
  ...SHAPES.flatMap((s) => [[s, s] as const, [plural(s), s] as const]),
  ["disc", "circle"],
  ["discs", "circle"],
  ["disk", "circle"],
  ["disks", "circle"],
  ["box", "square"],
  ["boxes", "square"],
  ["rhombus", "diamond"],
  ["rhombuses", "diamond"],
  ["crescent", "moon"],
  ["crescents", "moon"],
]);

export const COLOR_WORDS: ReadonlyMap<string, Color> = new Map<string, Color>([...COLORS.map((c) => [c, c] as const), ["violet", "purple"]]);

export const SIZE_WORDS: ReadonlyMap<string, Size> = new Map<string, Size>([
  ["small", "small"],
  ["little", "small"],
  ["tiny", "small"],
  ["large", "large"],
  ["big", "large"],
]);

/** Everything the world's vocabulary holds, as written into a dataset's manifest. */
export function vocabulary() {
  return {
    shapes: [...SHAPES],
    colors: Object.fromEntries(COLORS.map((c) => [c, [...RGB[c]]])),
    background: [...BACKGROUND],
    sizes: [...SIZES],
    positions: Object.fromEntries(POSITIONS.map((p) => [p, POSITION_PHRASE[p]])),
    companions: { ...COMPANION },
    popularity: { ...POPULARITY },
    synonyms: {
      shapes: Object.fromEntries([...SHAPE_WORDS].filter(([w, s]) => w !== s)),
      colors: Object.fromEntries([...COLOR_WORDS].filter(([w, c]) => w !== c)),
      sizes: Object.fromEntries([...SIZE_WORDS].filter(([w, s]) => w !== s)),
    },
  };
}
