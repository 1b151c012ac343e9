/**
 * The gateway's stylesheet and script, served from memory (no file reads,
 * so the `web` task needs no read permission for them).
 *
 * @module
 */

/** `/static/app.css`: readable on a phone and on a laptop. */
export const APP_CSS = `
:root {
  --bg: #f6f7f9; --card: #fff; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb;
  --accent: #2563eb; --accent-ink: #fff;
  --wait: #f59e0b; --run: #3b82f6; --done: #22c55e; --err: #ef4444;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); line-height: 1.45;
}
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; flex-direction: column; }
a { color: var(--accent); }
header.top {
  display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.25rem;
  padding: .75rem 1rem; background: #111827; color: #fff;
}
header.top a { color: #e5e7eb; text-decoration: none; }
.brand { font-weight: 700; font-size: 1.1rem; color: #fff !important; }
nav { display: flex; flex-wrap: wrap; align-items: center; gap: .25rem .9rem; flex: 1; }
nav a[aria-current="page"] { color: #fff; border-bottom: 2px solid #60a5fa; }
form.logout { margin-left: auto; display: flex; align-items: center; gap: .5rem; }
.who { color: #cbd5e1; font-size: .9rem; }
button.link { background: none; border: 1px solid #4b5563; color: #e5e7eb; padding: .2rem .6rem; }
main { width: 100%; max-width: 1100px; margin: 0 auto; padding: 1rem; flex: 1; }
footer { text-align: center; color: var(--muted); font-size: .8rem; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 0 0 .75rem; }
.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 1rem 1.25rem; margin-bottom: 1rem; min-width: 0;
}
.narrow { max-width: 26rem; margin-left: auto; margin-right: auto; }
.grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); }
.grid.wide-first { grid-template-columns: minmax(16rem, 1fr) minmax(0, 2fr); }
@media (max-width: 760px) { .grid.wide-first { grid-template-columns: 1fr; } }
.grid .card { margin-bottom: 0; }
.stack { display: flex; flex-direction: column; gap: .75rem; }
label { display: flex; flex-direction: column; gap: .25rem; font-weight: 600; font-size: .95rem; }
label small { font-weight: 400; color: var(--muted); }
input, textarea {
  font: inherit; padding: .55rem .65rem; border: 1px solid #cbd2d9; border-radius: 6px;
  width: 100%; background: #fff;
}
input:focus, textarea:focus { outline: 2px solid #93c5fd; border-color: var(--accent); }
[aria-invalid="true"] { border-color: var(--err); }
button {
  font: inherit; cursor: pointer; border-radius: 6px; border: 0;
  padding: .6rem 1rem; background: var(--accent); color: var(--accent-ink); font-weight: 600;
}
button:hover { filter: brightness(1.08); }
.muted { color: var(--muted); }
.small { font-size: .85rem; }
.flash, .form-error, .banner { padding: .6rem .8rem; border-radius: 6px; margin: 0 0 1rem; }
.flash.ok { background: #dcfce7; color: #14532d; }
.flash.error, .form-error { background: #fee2e2; color: #7f1d1d; }
.banner { background: #fef3c7; color: #78350f; border: 1px solid #fcd34d; font-weight: 600; }
.result { display: block; padding: .6rem .8rem; border-radius: 6px; font-weight: 600; }
.result.ok { background: #eff6ff; color: #1e3a8a; }
.result.error { background: #fee2e2; color: #7f1d1d; }
.tiles { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); }
.tile {
  display: flex; flex-direction: column; gap: .25rem; padding: 1rem 1.25rem; border-radius: 10px;
  background: var(--card); border: 1px solid var(--line); text-decoration: none; color: var(--ink);
}
.tile:hover { border-color: var(--accent); }
.tile span { color: var(--muted); font-size: .9rem; }
.tareas-lista { padding-left: 1.2rem; }
.tareas-lista li { margin: .3rem 0; }
kbd { font-size: .85em; background: #f1f5f9; border-radius: 4px; padding: 0 .3rem; }
.table-wrap { overflow-x: auto; }
table.orders { width: 100%; border-collapse: collapse; font-size: .92rem; }
.orders th, .orders td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); }
.orders th { color: var(--muted); font-weight: 600; font-size: .8rem; text-transform: uppercase; }
.orders td.cliente { max-width: 14rem; overflow-wrap: anywhere; }
.orders td.resultado { max-width: 8rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: .85rem; }
.orders td.resultado .detalle { color: #991b1b; }
form.accion { display: inline; margin: 0 0 0 .3rem; }
button.small { padding: .2rem .55rem; font-size: .8rem; }
button.cancelar { background: #6b7280; }
button.reintentar { background: #b45309; }
.nota { display: block; font-size: .8rem; max-width: 12rem; margin-top: .2rem; }
.nota.ok { color: #166534; } .nota.error { color: #991b1b; }
@media (max-width: 600px) { .orders .opt { display: none; } }
.estado { display: inline-block; padding: .1rem .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600; white-space: nowrap; }
.estado.pendiente { background: #fef3c7; color: #92400e; }
.estado.en-proceso { background: #dbeafe; color: #1e40af; }
.estado.listo { background: #dcfce7; color: #166534; }
.estado.error { background: #fee2e2; color: #991b1b; }
.estado.cancelado { background: #e5e7eb; color: #374151; }
.live { color: #9ca3af; font-size: .8rem; vertical-align: middle; }
.live[data-state="on"] { color: var(--done); }
.live[data-state="off"] { color: var(--err); }
.live a, .live span { font-weight: 600; color: inherit; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.skip { position: absolute; left: .5rem; top: -3rem; background: #fff; color: var(--accent); padding: .4rem .7rem; border-radius: 6px; z-index: 1; }
.skip:focus { top: .5rem; }
/* A tile holds six digits of the widest usual font (DejaVu Sans Bold); a longer value wraps inside it. */
.counters { display: grid; gap: .6rem; grid-template-columns: repeat(auto-fill, minmax(7.2rem, 1fr)); margin-bottom: .5rem; }
.counter { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .5rem .65rem; overflow-wrap: anywhere; }
.counter .value { display: block; font-size: 1.3rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.counter .label { color: var(--muted); font-size: .8rem; }
.counter.wait .value { color: #b45309; } .counter.run .value { color: #1d4ed8; }
.counter.done .value { color: #15803d; } .counter.alert .value { color: #b91c1c; }
.counter.off .value { color: #6b7280; }
/* rtl: a timeline wider than the screen starts scrolled to its right end, "ahora". */
.timeline-wrap { direction: rtl; overflow-x: auto; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: .5rem; }
svg.timeline { direction: ltr; display: block; width: 100%; min-width: 640px; height: auto; font-size: 12px; }
.tl-bg { fill: #f8fafc; stroke: var(--line); }
.tl-title { fill: var(--muted); font-weight: 600; }
.tl-label, .tl-tick { fill: var(--muted); }
.tl-run { fill: var(--run); opacity: .55; }
.tl-wait { fill: var(--wait); opacity: .6; }
.tl-cap { stroke: #dc2626; stroke-width: 1.5; stroke-dasharray: 6 4; }
.tl-gap rect { fill: rgba(100,116,139,.35); stroke: #64748b; stroke-dasharray: 3 3; }
.tl-gap text { fill: #334155; font-weight: 600; }
.tl-bar.tl-merged rect { stroke: none; }
.tl-reject { fill: #dc2626; }
.tl-bar rect { stroke: rgba(0,0,0,.15); }
.tl-bar.listo rect { fill: var(--done); }
.tl-bar.en-proceso rect { fill: var(--run); }
.tl-bar.error rect { fill: var(--err); }
.tl-bar.cancelado rect { fill: #9ca3af; }
.tl-bar text { fill: #fff; font-weight: 600; font-size: 11px; pointer-events: none; }
.legend { display: flex; flex-wrap: wrap; gap: .4rem 1rem; list-style: none; padding: 0; color: var(--muted); font-size: .85rem; }
.sw { display: inline-block; width: .9rem; height: .9rem; border-radius: 3px; margin-right: .35rem; vertical-align: -2px; }
.sw.wait { background: var(--wait); } .sw.run { background: var(--run); } .sw.done { background: var(--done); }
.sw.err { background: var(--err); } .sw.cap { background: repeating-linear-gradient(90deg, #dc2626 0 6px, transparent 6px 10px); height: 3px; vertical-align: 3px; }
.sw.rej { background: #dc2626; clip-path: polygon(50% 100%, 0 0, 100% 0); }
`;

/**
 * `/static/app.js`: each element with `data-live="URL"` takes its content
 * from the server-sent events at URL (`event: html`), changing only what
 * differs (rows and bars matched by `data-id`), so the element a keyboard
 * user is on keeps the focus and a row is never swapped under it. The `●`
 * beside it says whether the page is live: the stream is up and the daemon
 * answered (a snapshot with a `[data-problem]` banner says it did not, and
 * one without ends the page's own stale banner). `event: fin` (the session
 * ended) stops the stream and says so. A polite status line announces the
 * orders whose state changed, not the whole table every tick. Times
 * (`<time datetime>`) are shown in the browser's own zone, with the date
 * when not today. The snapshots are shared by every watcher, so their forms
 * come without the session's CSRF token: it is copied in from the page's
 * own forms (`input[data-csrf]`).
 */
export const APP_JS = `"use strict";
const csrf = document.querySelector('input[name="_csrf"][value]');
const dot = document.querySelector("[data-live-status]");
const announcer = document.querySelector("[data-live-announce]");

function status(state, text, link) {
  if (!dot) return;
  dot.dataset.state = state;
  dot.title = text;
  dot.textContent = state === "on" ? "●" : "● ";
  if (state === "on") return;
  const words = document.createElement(link ? "a" : "span");
  words.textContent = text;
  if (link) words.href = link;
  dot.append(words);
}

function localTimes(root) {
  const today = new Date().toDateString();
  for (const time of root.querySelectorAll("time[datetime]")) {
    const at = new Date(time.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    const clock = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    time.textContent = at.toDateString() === today
      ? at.toLocaleTimeString("es", clock)
      : at.toLocaleString("es", { day: "numeric", month: "short", ...clock });
    time.title = at.toLocaleString("es", { dateStyle: "full", timeStyle: "long" });
  }
}

function key(node) {
  return node.nodeType === Node.ELEMENT_NODE ? node.getAttribute("data-id") : null;
}

function morph(old, next) {
  if (old.nodeType !== next.nodeType || old.nodeName !== next.nodeName) {
    old.replaceWith(next);
    return;
  }
  if (old.nodeType !== Node.ELEMENT_NODE) {
    if (old.nodeValue !== next.nodeValue) old.nodeValue = next.nodeValue;
    return;
  }
  for (const { name } of [...old.attributes]) {
    if (!next.hasAttribute(name)) old.removeAttribute(name);
  }
  for (const { name, value } of [...next.attributes]) {
    if (old.getAttribute(name) !== value) old.setAttribute(name, value);
  }
  morphChildren(old, next);
}

function morphChildren(old, next) {
  const wanted = new Set([...next.childNodes].map(key).filter((k) => k !== null));
  const keyed = new Map();
  for (const child of [...old.childNodes]) {
    const k = key(child);
    if (k === null) continue;
    if (wanted.has(k)) keyed.set(k, child);
    else child.remove();
  }
  let at = old.firstChild;
  for (const child of [...next.childNodes]) {
    const k = key(child);
    const match = k !== null ? keyed.get(k) : at !== null && key(at) === null ? at : undefined;
    if (match === undefined) {
      old.insertBefore(child, at);
      continue;
    }
    if (match === at) at = at.nextSibling;
    else old.insertBefore(match, at);
    morph(match, child);
  }
  while (at !== null) {
    const after = at.nextSibling;
    at.remove();
    at = after;
  }
}

function states(root) {
  return new Map([...root.querySelectorAll("tr[data-id]")].map((row) => [row.dataset.id, row.dataset.estado]));
}

for (const el of document.querySelectorAll("[data-live]")) {
  localTimes(el);
  let last = null;
  const source = new EventSource(el.dataset.live);
  source.addEventListener("html", (event) => {
    if (event.data !== last) {
      last = event.data;
      const before = states(el);
      const focused = el.contains(document.activeElement) ? document.activeElement : null;
      const row = focused?.closest("[data-id]")?.dataset.id;
      const next = document.createElement("template");
      next.innerHTML = event.data;
      localTimes(next.content);
      morphChildren(el, next.content);
      if (csrf) for (const input of el.querySelectorAll("input[data-csrf]")) input.value = csrf.value;
      if (focused && !el.contains(focused)) {
        const same = row === undefined ? null : el.querySelector('[data-id="' + CSS.escape(row) + '"] button');
        if (same) same.focus();
        else { el.tabIndex = -1; el.focus({ preventScroll: true }); }
      }
      if (announcer) {
        const changed = [];
        for (const [id, estado] of states(el)) {
          if (before.get(id) !== estado) changed.push("Pedido " + id + ": " + estado + ".");
        }
        if (changed.length > 0) announcer.textContent = changed.join(" ");
      }
    }
    if (el.querySelector("[data-problem]")) {
      status("off", "sin respuesta del servidor de pedidos");
    } else {
      for (const banner of document.querySelectorAll("[data-problem]")) {
        if (!banner.closest("[data-live]")) banner.remove();
      }
      status("on", "en vivo");
    }
  });
  source.addEventListener("fin", (event) => {
    source.close();
    status("off", event.data, "/login?next=" + encodeURIComponent(location.pathname));
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      status("off", "en vivo detenido: recargue la página", location.pathname);
    } else {
      status("off", "reconectando…");
    }
  });
}
`;
