import assert from "node:assert/strict";
import type { Pedido } from "../../../server/protocol/messages.ts";
import { estadoClass } from "./estado_badge.tsx";
import { Timeline } from "./timeline.tsx";
import { newPedido } from "../../../server/store/new_pedido.ts";

const NOW = Date.parse("2026-11-23T12:01:00.000Z");

function pedido(id: number, fields: Partial<Pedido>): Pedido {
  const order = { cliente: "Ana", productos: ["pan"], direccion: "Calle 1", clave: null };
  return { ...newPedido(id, order, new Date(NOW - 10_000).toISOString()), ...fields };
}

function at(secondsAgo: number): string {
  return new Date(NOW - secondsAgo * 1000).toISOString();
}

function svg(pedidos: Pedido[], extra: { rejections?: { at: number; count: number }[] } = {}) {
  return String(<Timeline pedidos={pedidos} workers={3} capacidad={6} now={NOW} {...extra} />);
}

Deno.test("estadoClass() makes a CSS class of a state", () => {
  assert.equal(estadoClass("en proceso"), "en-proceso");
  assert.equal(estadoClass("listo"), "listo");
});

Deno.test("Timeline draws a lane per worker and a bar per started order", () => {
  const out = svg([
    pedido(1, {
      estado: "listo",
      worker: 1,
      fecha_inicio: at(30),
      fecha_fin: at(28),
      duracion_ms: 2000,
    }),
    pedido(2, { estado: "en proceso", worker: 3, fecha_inicio: at(2) }),
    pedido(3, {
      estado: "error",
      worker: 2,
      fecha_inicio: at(20),
      fecha_fin: at(19),
      duracion_ms: 1000,
    }),
    pedido(4, { estado: "pendiente" }),
  ]);
  assert.equal(out.match(/>Worker \d</g)?.length, 3);
  assert.match(out, /<g class="tl-bar listo" data-id="1">/);
  assert.match(out, /<g class="tl-bar en-proceso" data-id="2">/);
  assert.match(out, /<g class="tl-bar error" data-id="3">/);
  assert.ok(!out.includes('data-id="4"'), "a waiting order has no bar");
  // The client's name is isolated (FSI…PDI): an RLO in it cannot reverse the rest of the title.
  assert.match(out, /Pedido #1 · \u2068Ana\u2069 · listo · 2.00 s/);
  assert.match(out, /Pedido #2 · \u2068Ana\u2069 · en proceso · 2.00 s/);
  // The bar of order 1 spans 2 s of the 60 s window: 2/60 of the plot's width.
  const width = Number(/data-id="1"><rect x="[\d.]+" y="\d+" width="([\d.]+)"/.exec(out)![1]);
  assert.ok(Math.abs(width - 2 / 60 * 896) < 1, `width ${width}`);
});

Deno.test("Timeline adds lanes for workers beyond the pool size and leaves out old orders", () => {
  const out = svg([
    pedido(1, {
      estado: "listo",
      worker: 5,
      fecha_inicio: at(10),
      fecha_fin: at(9),
      duracion_ms: 1000,
    }),
    pedido(2, {
      estado: "listo",
      worker: 1,
      fecha_inicio: at(200),
      fecha_fin: at(199),
      duracion_ms: 1000,
    }),
  ]);
  assert.equal(out.match(/>Worker \d</g)?.length, 5);
  assert.ok(!out.includes('data-id="2"'));
});

Deno.test("Timeline marks refusals and the capacity, and escapes client names", () => {
  const out = svg(
    [pedido(1, {
      cliente: "<script>x</script>",
      estado: "en proceso",
      worker: 1,
      fecha_inicio: at(1),
    })],
    { rejections: [{ at: NOW - 5000, count: 3 }, { at: NOW - 120_000, count: 1 }] },
  );
  assert.equal(out.match(/class="tl-reject"/g)?.length, 1);
  assert.match(out, /3 rechazados \(queue_full\)/);
  assert.match(out, /capacidad 6/);
  assert.ok(!out.includes("<script>"));
  assert.match(out, /&lt;script&gt;x&lt;\/script&gt;/);
});

Deno.test("Timeline counts a cancelled order as waiting only until it was cancelled", () => {
  const waiting = (pedidos: Pedido[]) => /class="tl-wait" d="([^"]*)"/.exec(svg(pedidos))![1]!;
  const none = waiting([]);
  const cancelled = pedido(1, { estado: "cancelado", fecha_recibido: at(50), fecha_fin: at(40) });
  assert.notEqual(waiting([cancelled]), none, "it waited from -50 s to -40 s");
  assert.equal(
    waiting([{ ...cancelled, fecha_fin: null }]),
    none,
    "without fecha_fin it is not shown waiting up to now",
  );
  assert.ok(!svg([cancelled]).includes('data-id="1"'), "it never ran: no bar");
});

Deno.test("Timeline of two daemons' orders draws a worker 1 bar of each in lanes of their own", () => {
  // Both daemons of a cluster have a worker 1, and an order does not say which daemon ran it.
  const out = svg([
    pedido(1, { estado: "listo", worker: 1, fecha_inicio: at(20), fecha_fin: at(10) }),
    pedido(2, { estado: "listo", worker: 1, fecha_inicio: at(15), fecha_fin: at(5) }),
    pedido(3, { estado: "en proceso", worker: 1, fecha_inicio: at(4) }),
  ]);
  const top = (id: number) =>
    Number(new RegExp(`data-id="${id}"><rect x="[\\d.]+" y="(\\d+)"`).exec(out)![1]);
  assert.notEqual(top(1), top(2), "two bars at once are not drawn one over the other");
  assert.equal(top(3), top(1), "a later one takes the first lane free again");
  assert.equal(out.match(/>Worker 1</g)?.length, 2, "worker 1 has two lanes");
  assert.equal(out.match(/Worker 1<tspan class="tl-node"> · otro nodo/g)?.length, 1, out);
  assert.equal(out.match(/>Worker \d</g)?.length, 4, "and workers 2 and 3 one each");
});

/**
 * How many orders a band of the chart stands for at its right end ("ahora"):
 * the height of its top's last step, read against the capacity line and 0.
 */
function atNow(out: string, band: "tl-wait" | "tl-run", capacidad = 6): number {
  const d = new RegExp(`class="${band}" d="([^"]*)"`).exec(out)![1]!;
  const all = d.split(/[MLZ]/).filter((p) => p !== "").map((p) => p.split(",").map(Number));
  const top = all.slice(0, all.length / 2);
  let y = NaN;
  for (let i = 0; i + 1 < top.length; i += 2) if (top[i + 1]![0]! > top[i]![0]!) y = top[i]![1]!;
  const cap = Number(/class="tl-cap" x1="[\d.]+" x2="[\d.]+" y1="([\d.]+)"/.exec(out)![1]);
  const zero = Number(/y="([\d.]+)" text-anchor="end">0</.exec(out)![1]);
  return Math.round((zero - y) / (zero - cap) * capacidad * 10) / 10;
}

Deno.test("Timeline at 'ahora' counts the orders waiting and running now, those of the last instant too", () => {
  const out = svg([
    pedido(1, { estado: "pendiente", fecha_recibido: at(5) }),
    pedido(2, { estado: "pendiente", fecha_recibido: at(0.1) }),
    pedido(3, { estado: "en proceso", worker: 1, fecha_recibido: at(3), fecha_inicio: at(0.1) }),
  ]);
  assert.equal(atNow(out, "tl-run"), 1, "order 3 runs now");
  assert.equal(atNow(out, "tl-wait") - atNow(out, "tl-run"), 2, "orders 1 and 2 wait now");
});

Deno.test("Timeline counts the orders waiting beyond its list as waiting since they are known to", () => {
  const listed = [pedido(7, { estado: "pendiente", fecha_recibido: at(20) })];
  const out = String(
    <Timeline
      pedidos={listed}
      workers={3}
      capacidad={6}
      now={NOW}
      waitingUnlisted={{ count: 3, since: NOW - 30_000 }}
    />,
  );
  assert.equal(atNow(out, "tl-wait"), 4, "the listed one and 3 more");
  const alone = svg(listed);
  assert.equal(atNow(alone, "tl-wait"), 1);
});

/**
 * Advance widths (em) of DejaVu Sans, the sans-serif of a Linux without
 * other fonts and the widest of the usual ones (digits 0.636 em; Arial's
 * are 0.556): a label that fits in it fits in the others.
 */
const DEJAVU_SANS: Record<string, number> = {
  ..."0123456789".split("").reduce((o, d) => ({ ...o, [d]: 0.636 }), {}),
  c: 0.55,
  a: 0.613,
  p: 0.635,
  i: 0.278,
  d: 0.635,
  " ": 0.318,
  W: 0.989,
  o: 0.612,
  r: 0.411,
  k: 0.579,
  e: 0.615,
  "·": 0.318,
  t: 0.392,
  n: 0.634,
};

/** Where each left-hand label of the chart starts, drawn in DejaVu Sans at the stylesheet's 12px. */
function labelStarts(out: string): { text: string; left: number }[] {
  return [
    ...out.matchAll(/<text class="tl-label" x="([\d.]+)"[^>]*text-anchor="end">(.*?)<\/text>/g),
  ]
    .map(([, x, inner]) => {
      const text = inner!.replace(/<[^>]*>/g, "");
      const em = [...text].reduce((sum, ch) => sum + (DEJAVU_SANS[ch] ?? 1), 0);
      return { text, left: Number(x) - em * 12 };
    });
}

Deno.test("Timeline keeps its capacity label whole inside the drawing, up to a capacity of 6 digits and more", () => {
  for (const capacidad of [6, 1000, 100_000, 999_999, 123_456_789]) {
    const out = String(<Timeline pedidos={[]} workers={3} capacidad={capacidad} now={NOW} />);
    const label = labelStarts(out).find((l) => l.text.startsWith("capacidad"));
    assert.equal(label?.text, `capacidad ${capacidad}`);
    assert.ok(label!.left >= 0, `"${label!.text}" starts at x=${label!.left.toFixed(1)}`);
    // The plot still spans from the gutter to the right edge: a bar is where its time says.
    const ahora = Number(/class="tl-tick" x="([\d.]+)"[^>]*>ahora</.exec(out)![1]);
    assert.ok(Math.abs(ahora - 988) < 0.1);
  }
});

Deno.test("Timeline keeps every lane label whole, a cluster's 'otro nodo' ones too", () => {
  const out = svg([
    pedido(1, { estado: "listo", worker: 1, fecha_inicio: at(20), fecha_fin: at(10) }),
    pedido(2, { estado: "listo", worker: 1, fecha_inicio: at(15), fecha_fin: at(5) }),
  ]);
  const labels = labelStarts(out);
  assert.ok(labels.some((l) => l.text === "Worker 1 · otro nodo"), JSON.stringify(labels));
  for (const label of labels) {
    assert.ok(label.left >= 0, `"${label.text}" starts at x=${label.left.toFixed(1)}`);
  }
});

Deno.test("Timeline draws thousands of orders as a bounded number of bars, faint where the worker was mostly idle", () => {
  // 6000 orders of 2 ms, one every 10 ms on worker 1, over the minute: busy 20 % of the time.
  const pedidos = Array.from({ length: 6000 }, (_, i) =>
    pedido(i + 1, {
      estado: "listo",
      worker: 1,
      fecha_inicio: at(60 - i * 0.01),
      fecha_fin: at(60 - i * 0.01 - 0.002),
      duracion_ms: 2,
    }));
  const out = svg(pedidos);
  const drawn = out.match(/<g class="tl-bar /g)?.length ?? 0;
  assert.ok(drawn >= 1 && drawn <= 120, `${drawn} bars`);
  assert.ok(out.length < 60_000, `${out.length} bytes`);
  assert.match(out, /class="tl-bar listo tl-merged"/);
  assert.match(out, /fill-opacity="0\.2\d?"/, "as faint as the worker was busy");
  assert.match(out, /el worker ocupado el 20 % de ese tiempo/);
  // Two orders far apart stay two bars, each its own.
  const two = svg([
    pedido(1, { estado: "listo", worker: 1, fecha_inicio: at(30), fecha_fin: at(29) }),
    pedido(2, { estado: "listo", worker: 1, fecha_inicio: at(10), fecha_fin: at(9) }),
  ]);
  assert.match(two, /data-id="1"/);
  assert.match(two, /data-id="2"/);
  assert.doesNotMatch(two, /tl-merged|fill-opacity/);
});

Deno.test("Timeline draws orders a worker ran back to back, each wide enough to see, as a bar each, not one block", () => {
  // 20 orders of 1 to 3 s on worker 1, each starting the moment the one before ended (as a
  // worker does under load): 15 to 45 px each, no gap between them.
  let t = 58;
  const pedidos = Array.from({ length: 20 }, (_, i) => {
    const seconds = 1 + (i % 3);
    const order = pedido(i + 1, {
      estado: "listo",
      worker: 1,
      fecha_inicio: at(t),
      fecha_fin: at(t - seconds),
      duracion_ms: seconds * 1000,
    });
    t -= seconds;
    return order;
  }).filter((p) => Date.parse(p.fecha_fin!) <= NOW);
  const out = svg(pedidos);
  assert.doesNotMatch(out, /tl-merged/);
  for (const { id } of pedidos) {
    assert.match(out, new RegExp(`<g class="tl-bar listo" data-id="${id}">`));
  }
  // Narrow ones close together are still drawn as one: 50 orders of 5 ms, one every 10 ms.
  const narrow = svg(Array.from({ length: 50 }, (_, i) =>
    pedido(i + 1, {
      estado: "listo",
      worker: 2,
      fecha_inicio: at(20 - i * 0.01),
      fecha_fin: at(20 - i * 0.01 - 0.005),
      duracion_ms: 5,
    })));
  assert.equal(narrow.match(/<g class="tl-bar /g)?.length, 1);
  assert.match(narrow, /50 pedidos listos seguidos/);
});
