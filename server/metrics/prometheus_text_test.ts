import assert from "node:assert/strict";
import { Histogram } from "./histogram.ts";
import { encodeMetrics, formatNumber } from "./prometheus_text.ts";

Deno.test("encodeMetrics() writes HELP, TYPE and samples, labels quoted and escaped", () => {
  const text = encodeMetrics([
    {
      name: "pedidos_finalizados_total",
      help: 'Orders finished, "by state".\nSecond line \\ end',
      type: "counter",
      samples: [
        { labels: { estado: "listo" }, value: 3 },
        { labels: { estado: 'a"b\\c\nd' }, value: 0 },
      ],
    },
    { name: "pedidos_libres", help: "Free.", type: "gauge", samples: [{ value: 2.5 }] },
  ]);
  assert.equal(
    text,
    '# HELP pedidos_finalizados_total Orders finished, "by state".\\nSecond line \\\\ end\n' +
      "# TYPE pedidos_finalizados_total counter\n" +
      'pedidos_finalizados_total{estado="listo"} 3\n' +
      'pedidos_finalizados_total{estado="a\\"b\\\\c\\nd"} 0\n' +
      "# HELP pedidos_libres Free.\n# TYPE pedidos_libres gauge\npedidos_libres 2.5\n",
  );
});

Deno.test("encodeMetrics() writes a histogram as cumulative _bucket lines, +Inf last, then _sum and _count", () => {
  const h = new Histogram([0.1, 1]);
  for (const v of [0.05, 0.1, 0.5, 7]) h.observe(v);
  assert.equal(
    encodeMetrics([{ name: "d_seconds", help: "D.", type: "histogram", histogram: h.snapshot() }]),
    "# HELP d_seconds D.\n# TYPE d_seconds histogram\n" +
      'd_seconds_bucket{le="0.1"} 2\nd_seconds_bucket{le="1"} 3\nd_seconds_bucket{le="+Inf"} 4\n' +
      "d_seconds_sum 7.65\nd_seconds_count 4\n",
  );
});

Deno.test("encodeMetrics() refuses names the format does not allow", () => {
  const family = (name: string) => ({
    name,
    help: "x",
    type: "gauge" as const,
    samples: [{ value: 1 }],
  });
  assert.throws(() => encodeMetrics([family("1abc")]), RangeError);
  assert.throws(() => encodeMetrics([family("a-b")]), RangeError);
  assert.throws(
    () =>
      encodeMetrics([{ ...family("ok"), samples: [{ labels: { "bad-name": "v" }, value: 1 }] }]),
    RangeError,
  );
});

Deno.test("formatNumber() writes +Inf, -Inf and NaN as Prometheus does", () => {
  assert.deepEqual([Infinity, -Infinity, NaN, 0, 1e21, 0.25].map(formatNumber), [
    "+Inf",
    "-Inf",
    "NaN",
    "0",
    "1e+21",
    "0.25",
  ]);
});

Deno.test("Histogram refuses bounds that do not ascend", () => {
  assert.throws(() => new Histogram([1, 1]), RangeError);
  assert.throws(() => new Histogram([2, 1]), RangeError);
});
