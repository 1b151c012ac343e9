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
import { wholeNumber } from "../../server/config/value_parsers.ts";
import type { LogLevel } from "../../server/log.ts";

/** The gateway's configuration. */
export interface WebConfig extends ClientConfig {
  /** The address the gateway listens on. */
  webHost: string;
  /** The gateway's HTTP port; `0` picks a free one. */
  webPort: number;
  /** Least severe log level written (to stderr). */
  log: LogLevel;
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
  return freezeConfig({ ...resolveConfig(args, WEB_SETTINGS, sources).config });
}
