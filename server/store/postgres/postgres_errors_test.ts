import assert from "node:assert/strict";
import { isConnectionError, isMisconfiguration } from "./postgres_errors.ts";

/** An error as the driver makes it from PostgreSQL's ErrorResponse. */
function serverError(code: string, severity: string): Error {
  return Object.assign(new Error(`server said ${code}`), { code, severity });
}

Deno.test("isConnectionError() counts every FATAL from the server, whatever its code, and no plain ERROR", () => {
  // Not taking connections, no such database, bad password, idle session ended.
  for (const code of ["55000", "3D000", "28P01", "57P05", "25P03"]) {
    assert.equal(isConnectionError(serverError(code, "FATAL")), true, code);
  }
  assert.equal(isConnectionError(serverError("XX000", "PANIC")), true);
  // A statement that failed on a connection that is still good.
  for (const code of ["55000", "23505", "42P01", "53100", "57014"]) {
    assert.equal(isConnectionError(serverError(code, "ERROR")), false, code);
  }
  // The server going away, whatever the severity says.
  assert.equal(isConnectionError(serverError("57P01", "FATAL")), true);
  assert.equal(isConnectionError(serverError("25006", "ERROR")), true);
  assert.equal(isConnectionError(Object.assign(new Error("x"), { code: "ECONNREFUSED" })), true);
});

Deno.test("isMisconfiguration() names a wrong URL: no such database or role, a bad password", () => {
  for (const code of ["3D000", "28P01", "28000"]) {
    assert.equal(isMisconfiguration(serverError(code, "FATAL")), true, code);
  }
  for (const code of ["55000", "57P03", "53300", "ECONNREFUSED"]) {
    assert.equal(isMisconfiguration(serverError(code, "FATAL")), false, code);
  }
  assert.equal(isMisconfiguration(new Error("no code")), false);
  assert.equal(isMisconfiguration("text"), false);
});
