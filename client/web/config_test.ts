import assert from "node:assert/strict";
import { ConfigError } from "../../server/config/settings.ts";
import { parseWebConfig, WEB_USAGE } from "./config.ts";

const NONE = { getEnv: () => undefined, readFile: () => null };

Deno.test("parseWebConfig() defaults to 127.0.0.1:5000, daemon at localhost:8888", () => {
  assert.deepEqual(parseWebConfig([], NONE), {
    hosts: ["localhost"],
    port: 8888,
    webHost: "127.0.0.1",
    webPort: 5000,
    log: "info",
    webTrustProxy: false,
    webAllowedHosts: "auto",
    webSecureCookies: "auto",
    webMaxStreams: 256,
    webMaxStreamsPerSession: 4,
    maxRequestBytes: 65536,
    envFile: null,
  });
});

Deno.test("parseWebConfig() reads flags, then PEDIDOS_WEB_* variables, then the env file", () => {
  const env: Record<string, string> = { PEDIDOS_WEB_PORT: "6000", PEDIDOS_WEB_HOST: "::1" };
  const sources = { getEnv: (name: string) => env[name], readFile: () => "PEDIDOS_PORT=9999\n" };
  const config = parseWebConfig(["--web-port", "0", "--host", "127.0.0.1"], sources);
  assert.equal(config.webPort, 0);
  assert.equal(config.webHost, "::1");
  assert.deepEqual(config.hosts, ["127.0.0.1"]);
  assert.equal(config.port, 9999);
  assert.equal(parseWebConfig(["--web-host", "[::1]"], NONE).webHost, "::1");
});

Deno.test("parseWebConfig() refuses bad values", () => {
  for (
    const args of [["--web-port", "70000"], ["--web-host", "a,b"], ["--web-host", " "], ["--nope"]]
  ) {
    assert.throws(() => parseWebConfig(args, NONE), ConfigError, args.join(" "));
  }
});

Deno.test("WEB_USAGE names the gateway's flags and their variables", () => {
  for (
    const text of [
      "--web-host",
      "PEDIDOS_WEB_HOST",
      "--web-port",
      "PEDIDOS_WEB_PORT",
      "5000",
      "--host",
      "--port",
    ]
  ) {
    assert.ok(WEB_USAGE.includes(text), text);
  }
});

Deno.test("parseWebConfig() reads the proxy, cookie and live-stream settings", () => {
  const config = parseWebConfig([
    "--web-trust-proxy",
    "yes",
    "--web-secure-cookies",
    "always",
    "--web-max-streams",
    "10",
    "--web-max-streams-per-session",
    "2",
  ], NONE);
  assert.equal(config.webTrustProxy, true);
  assert.equal(config.webSecureCookies, "always");
  assert.equal(config.webMaxStreams, 10);
  assert.equal(config.webMaxStreamsPerSession, 2);
  assert.throws(() => parseWebConfig(["--web-trust-proxy", "maybe"], NONE), ConfigError);
  assert.throws(() => parseWebConfig(["--web-max-streams", "0"], NONE), ConfigError);
});

Deno.test("parseWebConfig() reads the daemon's --max-request-bytes from the daemon's own flag and variable", () => {
  const file = { getEnv: () => undefined, readFile: () => "PEDIDOS_MAX_REQUEST_BYTES=1000000\n" };
  assert.equal(parseWebConfig([], file).maxRequestBytes, 1_000_000, "a shared env file");
  assert.equal(parseWebConfig(["--max-request-bytes", "4096"], NONE).maxRequestBytes, 4096);
  assert.throws(() => parseWebConfig(["--max-request-bytes", "63"], NONE), ConfigError);
  assert.ok(WEB_USAGE.includes("--max-request-bytes"));
});
