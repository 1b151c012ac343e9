/**
 * What `telnet` sends when its user presses Ctrl-C: Interrupt Process
 * (`IAC IP`, bytes FF F4) and then, to flush what is on its way back,
 * `IAC DO TIMING-MARK` (FF FD 06), after which it hides everything it
 * receives until the server answers the timing mark. A daemon that did not
 * answer it left the telnet session mute for good while the lines typed
 * still arrived: an order typed again was placed unseen.
 *
 * So the connection treats these two commands as a person at a prompt
 * means them: the request being typed is dropped (Ctrl-C), and the timing
 * mark is answered `IAC WONT TIMING-MARK` (FF FC 06), which ends telnet's
 * wait. Byte FF never occurs in UTF-8, so no JSON client can send either;
 * any other byte FF is left to the framing (`invalid_json`, invalid UTF-8).
 * Pure: bytes in, a value out.
 *
 * @module
 */

/** `IAC WONT TIMING-MARK`: the answer to `IAC DO TIMING-MARK`. */
export const TIMING_MARK_REFUSED: Uint8Array = new Uint8Array([0xff, 0xfc, 0x06]);

const IAC = 0xff;
const IP = 0xf4;
const DO = 0xfd;
const TIMING_MARK = 0x06;

/** Where a chunk holds telnet's Ctrl-C ({@linkcode findTelnetInterrupt}). */
export interface TelnetInterrupt {
  /** The bytes before it: what they complete is framed as usual. */
  before: Uint8Array;
  /** The bytes after it, framed afresh. */
  after: Uint8Array;
  /** Whether `IAC IP` was there: the request in progress is dropped. */
  interrupted: boolean;
  /** Whether `IAC DO TIMING-MARK` was there: it is answered {@linkcode TIMING_MARK_REFUSED}. */
  timingMark: boolean;
}

/**
 * Finds `IAC IP`, `IAC DO TIMING-MARK`, or both in a row, in `chunk` (the
 * first such run; telnet sends them in one write).
 *
 * @returns Where it is, or null when the chunk holds neither (almost
 * always: one scan for byte FF).
 */
export function findTelnetInterrupt(chunk: Uint8Array): TelnetInterrupt | null {
  let from = chunk.indexOf(IAC);
  while (from !== -1) {
    let at = from;
    let interrupted = false;
    let timingMark = false;
    for (;;) {
      if (chunk[at] !== IAC) break;
      if (chunk[at + 1] === IP) {
        interrupted = true;
        at += 2;
      } else if (chunk[at + 1] === DO && chunk[at + 2] === TIMING_MARK) {
        timingMark = true;
        at += 3;
      } else {
        break;
      }
    }
    if (interrupted || timingMark) {
      return {
        before: chunk.subarray(0, from),
        after: chunk.subarray(at),
        interrupted,
        timingMark,
      };
    }
    from = chunk.indexOf(IAC, from + 1);
  }
  return null;
}

/**
 * How many bytes at the end of `chunk` may be the start of telnet's Ctrl-C
 * cut by the end of a read (`IAC`, or `IAC DO`): a client that writes a byte
 * at a time, or a slow link, splits it. The connection holds them back and
 * puts them before the next read's bytes.
 *
 * @example Usage
 * ```ts
 * import { telnetTail } from "./telnet_interrupt.ts";
 * console.log(telnetTail(new Uint8Array([0x7b, 0xff]))); // 1
 * console.log(telnetTail(new Uint8Array([0x7b, 0x0a]))); // 0
 * ```
 */
export function telnetTail(chunk: Uint8Array): number {
  const n = chunk.length;
  if (n >= 1 && chunk[n - 1] === IAC) return 1;
  if (n >= 2 && chunk[n - 2] === IAC && chunk[n - 1] === DO) return 2;
  return 0;
}
