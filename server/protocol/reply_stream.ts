/**
 * A reply line too long to hold at once (a LISTAR of many large orders):
 * its text in pieces, each made only when the one before it was written,
 * so that a peer that reads slowly, or not at all, holds one piece of it
 * in the daemon's memory, never the whole line.
 *
 * The first piece is made before the stream is handed over, so a failure
 * before any byte is written is still answered as an error reply. A
 * failure after that cannot be (half a line is out): the connection is
 * closed, and the client sees a line cut short, then the end.
 *
 * @module
 */

/** A reply line in pieces; their concatenation is the line, `\n` included. */
export class ReplyStream implements AsyncDisposable {
  /** The first piece: the start of the line. */
  readonly first: string;
  readonly #rest: AsyncIterator<string>;

  /**
   * @param first The start of the line.
   * @param rest The pieces after it, made one at a time as they are asked for.
   */
  constructor(first: string, rest: AsyncIterator<string>) {
    this.first = first;
    this.#rest = rest;
  }

  /** The next piece, or null after the last. */
  async next(): Promise<string | null> {
    const { value, done } = await this.#rest.next();
    return done ? null : value;
  }

  /** The whole line, every piece joined (for a caller that holds it anyway, such as a test). */
  async text(): Promise<string> {
    let text = this.first;
    for (let piece = await this.next(); piece !== null; piece = await this.next()) text += piece;
    return text;
  }

  /** Stops making pieces (the connection closed before the end). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#rest.return?.();
  }
}
