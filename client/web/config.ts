/**
 * The `web` subcommand's configuration: where the gateway listens
 * (`--web-host`, `--web-port`), where the daemon is (`--host`, `--port`,
 * shared with every client), and the log level. One table, read by
 * {@linkcode resolveConfig} like every other subcommand's.
 *
 * @module
 */

import { CLIENT_SETTINGS, type ClientConfig } from "../client_config.ts";
import { SERVER_SETTINGS } from "../../server/config/server_config.ts";
import {
  type ConfigSources,
  formatUsage,
  freezeConfig,
  resolveConfig,
  type Settings,
} from "../../server/config/settings.ts";
import { oneOf, wholeNumber } from "../../server/config/value_parsers.ts";
import type { LogLevel } from "../../server/log.ts";

/** The gateway's configuration. */
export interface WebConfig extends ClientConfig {
  /** The address the gateway listens on. */
  webHost: string;
  /** The gateway's HTTP port; `0` picks a free one. */
  webPort: number;
  /** Least severe log level written (to stderr). */
  log: LogLevel;
  /**
   * Whether a reverse proxy in front sets `X-Forwarded-For` and
   * `X-Forwarded-Proto`, to be believed for the client's address (sign-in
   * limits) and for HTTPS (the `Secure` cookie flag).
   */
  webTrustProxy: boolean;
  /** `auto`: cookies are `Secure` when the request came over HTTPS; `always`: always. */
  webSecureCookies: "auto" | "always";
  /**
   * The `Host` names answered (against DNS rebinding): `loopback` only the
   * loopback's (`localhost`, `127.0.0.1`, `[::1]`), others getting 421;
   * `any`; `auto`, `loopback` when the gateway listens on a loopback
   * address and trusts no proxy, else `any`.
   */
  webAllowedHosts: "auto" | "loopback" | "any";
  /** Live streams (server-sent events) open at once, in all. */
  webMaxStreams: number;
  /** Live streams open at once per signed-in session. */
  webMaxStreamsPerSession: number;
  /**
   * The daemon's `--max-request-bytes` (the same flag and variable, so a
   * shared env file keeps both alike): a form longer once encoded is
   * refused by the gateway, never sent.
   */
  maxRequestBytes: number;
}

/** The gateway's defaults table: the client's, plus its own. */
export const WEB_SETTINGS: Settings<Omit<WebConfig, "envFile">> = {
  ...CLIENT_SETTINGS,
  webHost: {
    flag: "web-host",
    arg: "HOST",
    default: "127.0.0.1",
    shown: "127.0.0.1",
    help: "address the web gateway listens on",
    parse: (text) => {
      const host = text.trim().replace(/^\[(.*)\]$/, "$1");
      if (host === "" || host.includes(",")) throw new RangeError("must be one host");
      return host;
    },
  },
  webPort: {
    flag: "web-port",
    arg: "N",
    default: 5000,
    shown: "5000",
    help: "HTTP port of the web gateway; 0 picks a free one",
    parse: wholeNumber(0, 65535),
  },
  log: SERVER_SETTINGS.log,
  webTrustProxy: {
    flag: "web-trust-proxy",
    arg: "no|yes",
    default: false,
    shown: "no",
    help: "believe X-Forwarded-For/-Proto from a reverse proxy in front",
    parse: (text) => oneOf(["no", "yes"] as const)(text) === "yes",
  },
  webSecureCookies: {
    flag: "web-secure-cookies",
    arg: "auto|always",
    default: "auto",
    shown: "auto",
    help: "Secure cookies: over HTTPS only (auto), or always",
    parse: oneOf(["auto", "always"] as const),
  },
  webAllowedHosts: {
    flag: "web-allowed-hosts",
    arg: "auto|loopback|any",
    default: "auto",
    shown: "auto",
    help: "Host names answered; loopback: localhost, 127.0.0.1, [::1] only (auto: so when " +
      "listening on the loopback without a trusted proxy)",
    parse: oneOf(["auto", "loopback", "any"] as const),
  },
  webMaxStreams: {
    flag: "web-max-streams",
    arg: "N",
    default: 256,
    shown: "256",
    help: "live pages (event streams) open at once; more get 429",
    parse: wholeNumber(1),
  },
  webMaxStreamsPerSession: {
    flag: "web-max-streams-per-session",
    arg: "N",
    default: 4,
    shown: "4",
    help: "live pages open at once per signed-in session",
    parse: wholeNumber(1),
  },
  maxRequestBytes: {
    ...SERVER_SETTINGS.maxRequestBytes,
    help: "the daemon's --max-request-bytes; a longer form gets 413, unsent",
  },
};

/** The usage text of `pedidos web`. */
export const WEB_USAGE: string = formatUsage(
  "Usage: pedidos web [flags]\n\n" +
    "Runs the web gateway: pages for people (registro, login, tareas, pedidos, panel),\n" +
    "served over HTTP, talking to the daemon at --host/--port over TCP.",
  WEB_SETTINGS,
);

/**
 * Reads the gateway's configuration: flag > environment > env file > default.
 *
 * @param args The flags after `web`.
 * @param sources Where the environment and env file are read.
 * @returns A deeply frozen config.
 * @throws {ConfigError} On a bad flag or a bad value from any source.
 */
export function parseWebConfig(args: string[], sources: ConfigSources = {}): WebConfig {
  return freezeConfig({
    ...resolveConfig(args, WEB_SETTINGS, { ...sources, checkOverridden: false }).config,
  });
}
