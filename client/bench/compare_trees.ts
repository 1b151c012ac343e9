/**
 * `deno task bench:compare`: the same daemon measurement on two or more
 * checkouts, alternating A/B run after run, so that a change is judged
 * against the noise of this shared machine. Prints every sample and, per
 * case, the median of each tree and its ratio to the first tree.
 *
 * ```sh
 * git worktree add /tmp/before ba5a8a1
 * deno task bench:compare --tree before=/tmp/before --tree after=. \
 *   --sync full,normal --conns 16,64 --rounds 5
 * ```
 *
 * Modes: `rr` (request/response, as the bench's main table), `p32` (32
 * requests in flight per connection), `cpo` (one order per connection:
 * connect, send, read, close; `--cpo-conns` loops, default `--conns`).
 *
 * @module
 */

import { runLoad } from "../load/mod.ts";
import { runConnectPerOrder } from "./connect_per_order.ts";
import { median } from "./driver.ts";
import { startDaemon, type Target } from "./targets.ts";
import { parseToolArgs } from "./tool_args.ts";

type Mode = "rr" | "p32" | "cpo";

async function measure(target: Target, mode: Mode, conns: number, seconds: number) {
  if (mode === "cpo") {
    const s = await runConnectPerOrder({
      port: target.port,
      clients: conns,
      seconds,
      protocol: target.protocol,
    });
    await target.settle();
    return { perS: s.perSecond, p50: s.latencyMs.p50, p99: s.latencyMs.p99, errors: s.errors };
  }
  const s = await runLoad({
    hosts: ["127.0.0.1"],
    port: target.port,
    clientes: conns,
    pedidos: Infinity,
    pipeline: mode === "p32" ? 32 : 1,
    duracionMs: seconds * 1000,
    replyTimeoutMs: 10_000,
    protocol: target.protocol,
  });
  await target.settle();
  return { perS: s.porSegundo, p50: s.latenciaMs.p50, p99: s.latenciaMs.p99, errors: s.errores };
}

const USAGE = `Usage: deno task bench:compare --tree LABEL=PATH [--tree LABEL=PATH …] [options]

The same daemon measurement on each checkout, alternating run after run;
prints every sample and, per case, each tree's median and its ratio to the
first tree's.

  --tree LABEL=PATH   a checkout to measure (PATH alone: its path is its label)
  --sync full,normal  the daemon's --sync values to measure (default full)
  --conns 16,64       connections (default 16,64)
  --cpo-conns N,…     connections for the cpo mode (default --conns)
  --mode rr,p32,cpo   request/response, 32 in flight, one order per connection (default rr)
  --rounds N          alternating rounds (default 5)
  --seconds S         each measurement (default 1.5)
  -h, --help          this text
`;

async function main(args: string[]): Promise<void> {
  const values = parseToolArgs(args, {
    name: "bench:compare",
    usage: USAGE,
    options: {
      tree: { type: "string", multiple: true },
      sync: { type: "string", default: "full" },
      conns: { type: "string", default: "16,64" },
      "cpo-conns": { type: "string" },
      mode: { type: "string", default: "rr" },
      rounds: { type: "string", default: "5" },
      seconds: { type: "string", default: "1.5" },
    },
    positive: ["conns", "cpo-conns", "rounds", "seconds"],
    check: (v) => {
      if ((v.tree as string[] | undefined ?? []).length === 0) {
        return "missing --tree LABEL=PATH: give at least one";
      }
      const bad = (list: unknown, allowed: string[]) =>
        String(list).split(",").find((item) => !allowed.includes(item));
      const sync = bad(v.sync, ["full", "normal"]);
      if (sync !== undefined) return `invalid --sync "${sync}": must be full or normal`;
      const mode = bad(v.mode, ["rr", "p32", "cpo"]);
      if (mode !== undefined) return `invalid --mode "${mode}": must be rr, p32 or cpo`;
      return null;
    },
  });
  const trees = (values.tree ?? []).map((spec) => {
    const [label, path] = spec.includes("=")
      ? spec.split("=", 2) as [string, string]
      : [spec, spec];
    return { label, root: new URL(`${Deno.realPathSync(path)}/`, "file:///").pathname };
  });
  const syncs = values.sync.split(",") as ("full" | "normal")[];
  const modes = values.mode.split(",") as Mode[];
  const conns = values.conns.split(",").map(Number);
  const cpoConns = (values["cpo-conns"] ?? values.conns).split(",").map(Number);
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const tmp = await Deno.makeTempDir({ prefix: "pedidos-compare-" });
  const targets = new Map<string, Target>();
  const results = new Map<string, number[]>();
  try {
    for (const tree of trees) {
      for (const sync of syncs) {
        const dir = `${tmp}/${tree.label}-${sync}`;
        await Deno.mkdir(dir);
        const target = await startDaemon({ dir, sync, root: tree.root, maxConnections: 4096 });
        targets.set(`${tree.label}|${sync}`, target);
        await measure(target, "rr", 64, 1); // warm-up
      }
    }
    for (let round = 0; round < rounds; round++) {
      for (const mode of modes) {
        for (const sync of syncs) {
          for (const count of mode === "cpo" ? cpoConns : conns) {
            const order = trees.map((_, i) => trees[(i + round) % trees.length]!);
            for (const tree of order) {
              const target = targets.get(`${tree.label}|${sync}`)!;
              const s = await measure(target, mode, count, seconds);
              const key = `${mode} ${sync} ${count}|${tree.label}`;
              results.set(key, [...(results.get(key) ?? []), s.perS]);
              console.log(
                `round ${round + 1} ${mode} ${sync} ${String(count).padStart(3)} ` +
                  `${tree.label.padEnd(8)} ${s.perS.toFixed(0).padStart(6)}/s ` +
                  `p50 ${s.p50?.toFixed(2)} p99 ${s.p99?.toFixed(2)}` +
                  (s.errors ? ` errors ${s.errors}` : ""),
              );
            }
          }
        }
      }
    }
  } finally {
    await Promise.all([...targets.values()].map((t) => t.process.stop()));
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  console.log("\nmedians (ratio to the first tree; wins = rounds where it beat the first):");
  for (const mode of modes) {
    for (const sync of syncs) {
      for (const count of mode === "cpo" ? cpoConns : conns) {
        const base = results.get(`${mode} ${sync} ${count}|${trees[0]!.label}`) ?? [];
        const line = trees.map((tree) => {
          const mine = results.get(`${mode} ${sync} ${count}|${tree.label}`) ?? [];
          const m = median(mine);
          const b = median(base);
          const wins = mine.filter((v, i) => v > (base[i] ?? Infinity)).length;
          return `${tree.label} ${m?.toFixed(0)}/s ×${m && b ? (m / b).toFixed(2) : "—"}` +
            (tree === trees[0] ? "" : ` (${wins}/${mine.length})`);
        });
        console.log(`${mode} ${sync} ${String(count).padStart(3)}: ${line.join("  ")}`);
      }
    }
  }
}

if (import.meta.main) await main(Deno.args);
