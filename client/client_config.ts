/**
 * Where a client finds the daemon: the defaults table of every subcommand
 * that talks to it (`client`, `load`, `web`). Resolved by the settings
 * engine (`server/config/settings.ts`).
 *
 * @module
 */

import {
  type ConfigSources,
  freezeConfig,
  isPermissionRefusal,
  resolveConfig,
  type Settings,
} from "../server/config/settings.ts";
import { parseHosts, wholeNumber } from "../server/config/value_parsers.ts";

/** Where a client finds the daemon. */
export interface ClientConfig {
  /** Hosts to try in order. */
  hosts: string[];
  /** The daemon's port. */
  port: number;
  /** The env file that was read, or null. */
  envFile: string | null;
}

/** The defaults table of every subcommand that talks to the daemon. */
export const CLIENT_SETTINGS: Settings<Omit<ClientConfig, "envFile">> = {
  hosts: {
    flag: "host",
    arg: "HOST[,HOST]",
    default: ["localhost"],
    shown: "localhost",
    help: "daemon hosts, tried in order; repeatable",
    multiple: true,
    parse: (text) => {
      const hosts = parseHosts(text);
      return hosts.includes("*") ? ["localhost"] : hosts;
    },
  },
  port: {
    flag: "port",
    arg: "N",
    default: 8888,
    shown: "8888",
    help: "the daemon's port",
    parse: daemonPort,
  },
};

/**
 * The daemon's port, 1–65535. `0` is refused with what it means: the
 * daemon's "pick a free port" (a `PEDIDOS_PORT=0` the daemon's `.env.local`
 * may hold), where a client needs the port that the daemon printed.
 */
function daemonPort(text: string): number {
  if (/^\s*0+\s*$/.test(text)) {
    throw new RangeError(
      "0 is the daemon's free-port choice, not a port a client can reach: give --port with the port " +
        "its ready line printed",
    );
  }
  return wholeNumber(1, 65535)(text);
}

/**
 * Reads where the daemon is (`--host`, `--port`, `--env-file`) for a command
 * that takes no other flags. Commands with their own flags use
 * {@linkcode resolveConfig} with {@linkcode CLIENT_SETTINGS}.
 *
 * @throws {ConfigError} On a bad flag or a bad value from any source.
 */
export function parseClientConfig(args: string[], sources: ConfigSources = {}): ClientConfig {
  return freezeConfig({
    ...resolveConfig(args, CLIENT_SETTINGS, { ...sources, checkOverridden: false }).config,
  });
}

/**
 * What to do about an env file a client may not read: Deno's own advice
 * ("run again with the --allow-read flag") cannot be followed through
 * `deno task client`, `load` or `web`, which take no Deno flags and may read
 * only `.env.local`. Empty for any other error.
 */
export function clientPermissionHint(error: unknown): string {
  return isPermissionRefusal(error)
    ? ". (`deno task client`, `load` and `web` read only the `.env.local` of the folder they " +
      "start in: put the settings there, give them as flags or PEDIDOS_* variables, or run " +
      "`deno run` with --allow-read for that file. See Permissions in the README.)"
    : "";
}
