import assert from "node:assert/strict";
/**
 * For tests of the SQL the PostgreSQL store sends: a recorder that takes
 * the place of a connection or of the writer's batch and keeps each
 * statement with its parameters instead of sending it, and the plan
 * PostgreSQL makes of one.
 *
 * @module
 */

import type { Sql } from "postgres";

/** A statement as the store would send it: its text and its parameters. */
export type Sent = [text: string, params: unknown[]];

/** Keeps the statements sent through it; each is answered with no rows. */
export class StatementRecorder {
  /** What was sent, in order. */
  readonly sent: Sent[] = [];

  /** As the writer's batch (`BatchContext`): pass to a kind's `apply`. */
  readonly batch = {
    batch: 1,
    query: (text: string, params: unknown[]) => this.#keep(text, params),
    newWork() {},
    finished() {},
  };

  /**
   * As a pool (`Sql`): `unsafe` statements are kept; a tagged template
   * (not under test, e.g. a heartbeat) is answered with `tagged`.
   */
  pool(tagged: unknown[] = []): Sql {
    const sql = Object.assign(() => Promise.resolve(tagged), {
      unsafe: (text: string, params: unknown[]) => this.#keep(text, params),
    });
    return sql as unknown as Sql;
  }

  #keep(text: string, params: unknown[]): Promise<never[]> {
    this.sent.push([text, params]);
    return Promise.resolve([]);
  }
}

/** A parameter as an SQL literal. */
export function literal(value: unknown): string {
  if (value === null) return "NULL";
  if (typeof value === "string") return `'${value.replaceAll("'", "''")}'`;
  return String(value);
}

/** The statement with its parameters written in as literals (`$n` → value). */
export function inlined([text, params]: Sent): string {
  return text.replace(/\$(\d+)/g, (_, n) => literal(params[Number(n) - 1]));
}

/** The lines of an `EXPLAIN` (`explain`: its options, e.g. `(ANALYZE)`) of `statement`, joined. */
export async function planOf(sql: Sql, statement: string, explain = ""): Promise<string> {
  const rows = await sql.unsafe(`EXPLAIN ${explain} ${statement}`);
  return rows.map((row) => row["QUERY PLAN"] as string).join("\n");
}

/** Asserts that `plan` reads no table `pedidos` whole: neither a sequential nor a bitmap heap scan. */
export function assertNoTableScan(plan: string, what: string): void {
  assert.doesNotMatch(plan, /Seq Scan on pedidos\b(?!_)/, `${what}:\n${plan}`);
  assert.doesNotMatch(plan, /Bitmap Heap Scan on pedidos\b(?!_)/, `${what}:\n${plan}`);
}
