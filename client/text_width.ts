/**
 * How many terminal columns text takes: East Asian Wide and Fullwidth
 * characters and emoji take 2, combining marks and zero-width characters 0,
 * the rest 1. For the client's tables, whose columns must line up whatever
 * the names in them. Pure, no dependency: a small table of ranges and
 * Unicode properties of the language's regular expressions.
 *
 * @module
 */

/**
 * The East Asian Wide (W) and Fullwidth (F) blocks, in code points, first to
 * last (emoji are told apart by their property): Hangul Jamo initials, CJK
 * radicals to the CJK compatibility block, CJK ideographs, Yi, Hangul
 * syllables, CJK compatibility ideographs, vertical and small forms,
 * fullwidth forms, and the ideographs of the planes 2 and 3.
 */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x2329, 0x232a],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18aff],
  [0x1b000, 0x1b2ff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

/** Shown as emoji (2 columns) by default. */
const EMOJI_PRESENTATION = /^\p{Emoji_Presentation}/u;
/** May be shown as emoji, which U+FE0F after it asks for. */
const EMOJI = /^\p{Emoji}/u;
/** Combining marks, format characters (zero-width space and joiner, …), Hangul medial and final jamo. */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\u1160-\u11ff]/u;

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

function isWide(codePoint: number): boolean {
  let low = 0;
  let high = WIDE.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const [first, last] = WIDE[middle]!;
    if (codePoint < first) high = middle - 1;
    else if (codePoint > last) low = middle + 1;
    else return true;
  }
  return false;
}

/** The columns of one grapheme cluster (a character with its marks, an emoji sequence). */
function clusterColumns(cluster: string): number {
  if (EMOJI_PRESENTATION.test(cluster)) return 2;
  if (cluster.includes("\ufe0f") && EMOJI.test(cluster)) return 2;
  if (ZERO_WIDTH.test(cluster)) return 0;
  return isWide(cluster.codePointAt(0)!) ? 2 : 1;
}

/**
 * The terminal columns `text` takes (text without control characters).
 *
 * @example Usage
 * ```ts
 * import { columns } from "./text_width.ts";
 * console.log(columns("山田太郎"), columns("José"), columns("🍣"), columns("e\u0301")); // 8 4 2 1
 * ```
 */
export function columns(text: string): number {
  // Plain ASCII, the common case, is one column a character.
  // deno-lint-ignore no-control-regex -- the range of ASCII is the point
  if (/^[\u0000-\u007f]*$/.test(text)) return text.length;
  let total = 0;
  for (const { segment } of graphemes.segment(text)) total += clusterColumns(segment);
  return total;
}

/**
 * `text` cut to at most `size` columns, ending in `…` when cut; never in the
 * middle of a character with its marks, or of an emoji sequence.
 *
 * @example Usage
 * ```ts
 * import { cutToColumns } from "./text_width.ts";
 * console.log(cutToColumns("山田太郎", 6)); // 山田…
 * ```
 */
export function cutToColumns(text: string, size: number): string {
  if (columns(text) <= size) return text;
  let kept = "";
  let used = 0;
  for (const { segment } of graphemes.segment(text)) {
    const width = clusterColumns(segment);
    if (used + width > size - 1) break;
    kept += segment;
    used += width;
  }
  return kept + "…";
}
