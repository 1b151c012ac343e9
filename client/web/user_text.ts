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

/**
 * `text` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE (U+2068,
 * U+2069), for a `title` or an SVG `<title>`.
 *
 * @example Usage
 * ```ts
 * import { isolate } from "./user_text.ts";
 * console.log(isolate("Ana") === "\u2068Ana\u2069"); // true
 * ```
 */
export function isolate(text: string): string {
  return `\u2068${text}\u2069`;
}
