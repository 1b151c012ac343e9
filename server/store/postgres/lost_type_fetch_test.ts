import assert from "node:assert/strict";
import { ignoreLostTypeFetches, isLostTypeFetch } from "./lost_type_fetch.ts";

/** An error as the driver rejects its type query with, once the connection is terminated. */
function lostTypeFetch(): Error {
  return Object.defineProperty(
    new Error("terminating connection due to administrator command"),
    "query",
    {
      value: `
      select b.oid, b.typarray
      from pg_catalog.pg_type a
      left join pg_catalog.pg_type b on b.oid = a.typelem
      where a.typcategory = 'A'`,
    },
  );
}

Deno.test("the driver's type query lost with its connection, rejected unhandled, does not end the process", async () => {
  ignoreLostTypeFetches();
  ignoreLostTypeFetches(); // idempotent
  // Without the handler, this unhandled rejection fails the test (and ends a daemon).
  Promise.reject(lostTypeFetch());
  await new Promise((resolve) => setTimeout(resolve, 20));
});

Deno.test("isLostTypeFetch() knows only the driver's type query", () => {
  assert.equal(isLostTypeFetch(lostTypeFetch()), true);
  assert.equal(isLostTypeFetch(new Error("terminating connection")), false);
  const ours = Object.defineProperty(new Error("x"), "query", { value: "SELECT 1" });
  assert.equal(isLostTypeFetch(ours), false);
  assert.equal(isLostTypeFetch("pg_catalog.pg_type typarray"), false);
  assert.equal(isLostTypeFetch(null), false);
});
