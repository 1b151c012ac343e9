/**
 * Showing text a user typed (a client's name, products, an error that
 * quotes them): cut by code points, never inside a surrogate pair (half an
 * emoji shows as U+FFFD); and in an attribute, isolated so that a
 * right-to-left override in it cannot reverse what follows. (In markup,
 * `<bdi>` isolates; an attribute has no markup.)
 *
 * @module
 */

/**
 * `text` cut to `max` code points, ending in `…` when cut.
 *
 * @example Usage
 * ```ts
 * import { cutText } from "./user_text.ts";
 * console.log(cutText("😀😀😀", 2)); // "😀…"
 * ```
 */
export function cutText(text: string, max: number): string {
  const points = Array.from(text);
  return points.length > max ? `${points.slice(0, max - 1).join("")}…` : text;
}

/** The isolate initiators (LRI, RLI, FSI) and POP DIRECTIONAL ISOLATE. */
const ISOLATES = /[\u2066-\u2069]/;
/** Paragraph separators (bidi class B): CR, LF, FS, GS, RS, NEL, PS. */
// deno-lint-ignore no-control-regex -- matching them is the point
const PARAGRAPHS = /[\n\r\u001c-\u001e\u0085\u2029]/;
/** Splits at them, keeping each (a CR LF as one) at the odd places. */
// deno-lint-ignore no-control-regex -- as above
const PARAGRAPH_SPLIT = /(\r\n|[\n\r\u001c-\u001e\u0085\u2029])/;

/**
 * `text` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE (U+2068,
 * U+2069), for a `title` or an SVG `<title>`. The isolates in `text` are
 * balanced first: an initiator it leaves open is closed at its end (else it
 * would take the closing PDI, and an override before it would go on past
 * the text), and a PDI with no initiator of its own is dropped (else it
 * would close the isolate early). The closing PDI then ends every
 * embedding and override begun inside (UAX #9, X6a). Each line of a
 * text of several is isolated on its own, since a line break ends them all.
 *
 * @example Usage
 * ```ts
 * import { isolate } from "./user_text.ts";
 * console.log(isolate("Ana") === "\u2068Ana\u2069"); // true
 * console.log(isolate("Ana\u202e\u2066") === "\u2068Ana\u202e\u2066\u2069\u2069"); // true
 * ```
 */
export function isolate(text: string): string {
  // A paragraph separator ends every isolate and override begun before it
  // (UAX #9, P1): each line is isolated on its own.
  if (PARAGRAPHS.test(text)) {
    return text.split(PARAGRAPH_SPLIT).map((part, i) => i % 2 === 1 ? part : isolate(part))
      .join("");
  }
  if (!ISOLATES.test(text)) return `\u2068${text}\u2069`;
  let open = 0;
  let balanced = "";
  for (const char of text) {
    if (char === "\u2069") {
      if (open === 0) continue;
      open--;
    } else if (char >= "\u2066" && char <= "\u2068") {
      open++;
    }
    balanced += char;
  }
  return `\u2068${balanced}${"\u2069".repeat(open)}\u2069`;
}
