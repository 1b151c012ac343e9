import assert from "node:assert/strict";
import { escapeHtml, html, renderTareasHtml } from "./tareas_html.ts";

Deno.test("escapeHtml() escapes the five HTML metacharacters", () => {
  assert.equal(
    escapeHtml(`<script>alert("x" & 'y')</script>`),
    "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;",
  );
  assert.equal(escapeHtml("José ñandú 😀"), "José ñandú 😀");
  assert.equal(escapeHtml("&amp;"), "&amp;amp;");
});

Deno.test("html`` escapes every interpolation and nothing else", () => {
  const name = '<img src=x onerror="alert(1)">';
  assert.equal(
    html`<p title="${name}">${name} ${3}</p>`,
    '<p title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;">' +
      "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; 3</p>",
  );
});

Deno.test("renderTareasHtml() greets the user and lists the tasks and the pool size", () => {
  const fragment = renderTareasHtml({ usuario: "ana.maria", workers: 3 });
  assert.match(fragment, /<h2>¡Hola, ana\.maria!<\/h2>/);
  assert.match(fragment, /<strong>3<\/strong> workers/);
  for (const name of ["sum", "upper", "lower"]) {
    assert.match(fragment, new RegExp(`<code>${name}</code>`));
  }
  assert.match(renderTareasHtml({ usuario: "eva", workers: 1 }), /<strong>1<\/strong> worker /);
});

Deno.test("renderTareasHtml() escapes the user name", () => {
  const fragment = renderTareasHtml({ usuario: "<script>alert(1)</script>", workers: 2 });
  assert.ok(!fragment.includes("<script>"));
  assert.match(fragment, /¡Hola, &lt;script&gt;alert\(1\)&lt;\/script&gt;!/);
});
