/**
 * The gateway's pages and the fragments the live pages refresh. Pure views:
 * props in, JSX out; hono's JSX escapes every string.
 *
 * @module
 */

import { raw } from "hono/html";
import type { Pedido, Producto } from "../../server/protocol/messages.ts";
import { estadoClass, Timeline } from "./timeline.tsx";

/** A hidden field with the session's CSRF token. */
function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

/** An error message next to a form. */
function FormError(props: { text: string | null | undefined }) {
  return props.text ? <p class="form-error" role="alert">{props.text}</p> : null;
}

/** Props of the sign-in and sign-up pages. */
export interface AuthPageProps {
  csrf: string;
  usuario?: string;
  error?: string | null;
}

/** Login. */
export function LoginPage(props: AuthPageProps) {
  return (
    <section class="card narrow">
      <h1>Entrar</h1>
      <FormError text={props.error} />
      <form method="post" action="/login" class="stack">
        <Csrf token={props.csrf} />
        <label>
          Usuario
          <input
            name="usuario"
            value={props.usuario ?? ""}
            autocomplete="username"
            required
            autofocus
          />
        </label>
        <label>
          Contraseña
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit">Entrar</button>
      </form>
      <p class="muted">
        ¿No tiene cuenta? <a href="/registro">Cree una</a>.
      </p>
    </section>
  );
}

/** Registro. */
export function RegistroPage(props: AuthPageProps) {
  return (
    <section class="card narrow">
      <h1>Crear cuenta</h1>
      <FormError text={props.error} />
      <form method="post" action="/registro" class="stack">
        <Csrf token={props.csrf} />
        <label>
          Usuario
          <input
            name="usuario"
            value={props.usuario ?? ""}
            autocomplete="username"
            minlength={3}
            maxlength={64}
            pattern="[A-Za-z0-9._\-]{3,64}"
            required
            autofocus
          />
          <small>De 3 a 64 caracteres: letras sin tilde, dígitos, «.», «_» o «-».</small>
        </label>
        <label>
          Contraseña
          <input
            name="password"
            type="password"
            autocomplete="new-password"
            minlength={8}
            maxlength={256}
            required
          />
          <small>De 8 a 256 caracteres.</small>
        </label>
        <label>
          Repita la contraseña
          <input name="password2" type="password" autocomplete="new-password" required />
        </label>
        <button type="submit">Crear cuenta</button>
      </form>
      <p class="muted">
        ¿Ya tiene cuenta? <a href="/login">Entre</a>.
      </p>
    </section>
  );
}

/** Inicio: the daemon's own fragment (escaped by the daemon), and the way on. */
export function InicioPage(props: { fragment: string | null }) {
  return (
    <>
      {props.fragment !== null && <section class="card">{raw(props.fragment)}</section>}
      <section class="tiles">
        <a class="tile" href="/tareas">
          <strong>Tareas</strong>
          <span>sum, upper y lower en el pool de workers</span>
        </a>
        <a class="tile" href="/pedidos">
          <strong>Pedidos</strong>
          <span>haga un pedido y véalo avanzar en vivo</span>
        </a>
        <a class="tile" href="/panel">
          <strong>Panel</strong>
          <span>contadores y línea de tiempo de los workers</span>
        </a>
      </section>
    </>
  );
}

/** The outcome of one task. */
export interface TaskOutcome {
  tarea: "sum" | "upper" | "lower";
  ok: boolean;
  /** The result, or the daemon's error in words. */
  text: string;
}

/** Props of {@linkcode TareasPage}. */
export interface TareasPageProps {
  csrf: string;
  numeros?: string;
  texto?: string;
  outcome?: TaskOutcome | null;
}

/** Tareas: one form per task, and the last result. */
export function TareasPage(props: TareasPageProps) {
  const { outcome } = props;
  const result = (tarea: TaskOutcome["tarea"]) =>
    outcome?.tarea === tarea && (
      <output class={outcome.ok ? "result ok" : "result error"} role="status" data-tarea={tarea}>
        {outcome.ok ? "Resultado: " : ""}
        {outcome.text}
      </output>
    );
  return (
    <>
      <h1>Tareas</h1>
      <p class="muted">Cada tarea ocupa un lugar del pool de workers mientras se ejecuta.</p>
      <div class="grid">
        <section class="card">
          <h2>
            <code>sum</code> · sumar
          </h2>
          <form method="post" action="/tareas" class="stack">
            <Csrf token={props.csrf} />
            <input type="hidden" name="tarea" value="sum" />
            <label>
              Números
              <input
                name="numeros"
                value={props.numeros ?? ""}
                placeholder="1 2 3.5"
                inputmode="decimal"
                required
              />
              <small>Separados por espacios o «;».</small>
            </label>
            <button type="submit">Sumar</button>
            {result("sum")}
          </form>
        </section>
        {(["upper", "lower"] as const).map((tarea) => (
          <section class="card">
            <h2>
              <code>{tarea}</code> · {tarea === "upper" ? "a mayúsculas" : "a minúsculas"}
            </h2>
            <form method="post" action="/tareas" class="stack">
              <Csrf token={props.csrf} />
              <input type="hidden" name="tarea" value={tarea} />
              <label>
                Texto
                <input
                  name="texto"
                  value={outcome?.tarea === tarea ? props.texto ?? "" : ""}
                  placeholder={tarea === "upper" ? "hola" : "HOLA"}
                  required
                />
              </label>
              <button type="submit">{tarea === "upper" ? "Mayúsculas" : "Minúsculas"}</button>
              {result(tarea)}
            </form>
          </section>
        ))}
      </div>
    </>
  );
}

/** The order form's values. */
export interface OrderForm {
  cliente: string;
  productos: string;
  direccion: string;
  /** The idempotency key of this form: sending it twice makes one order. */
  clave: string;
}

/** Props of {@linkcode PedidosPage}. */
export interface PedidosPageProps {
  csrf: string;
  form: OrderForm;
  /** The daemon's refusal, in words. */
  error?: string | null;
  /** The field at fault. */
  campo?: string | null;
  /** The recent orders, or null when they could not be read. */
  pedidos: Pedido[] | null;
  now: number;
}

/** Pedidos: place an order; the recent orders, live. */
export function PedidosPage(props: PedidosPageProps) {
  const { form } = props;
  const bad = (campo: string) => props.campo?.startsWith(campo) ? "true" : undefined;
  return (
    <>
      <h1>Pedidos</h1>
      <div class="grid wide-first">
        <section class="card">
          <h2>Nuevo pedido</h2>
          <FormError text={props.error} />
          <form method="post" action="/pedidos" class="stack">
            <Csrf token={props.csrf} />
            <input type="hidden" name="clave" value={form.clave} />
            <label>
              Cliente
              <input
                name="cliente"
                value={form.cliente}
                maxlength={200}
                required
                aria-invalid={bad("cliente")}
              />
            </label>
            <label>
              Productos
              <textarea name="productos" rows={3} required aria-invalid={bad("productos")}>
                {form.productos}
              </textarea>
              <small>Uno por línea; «pan x2» pide dos.</small>
            </label>
            <label>
              Dirección
              <input
                name="direccion"
                value={form.direccion}
                maxlength={500}
                required
                aria-invalid={bad("direccion")}
              />
            </label>
            <button type="submit">Enviar pedido</button>
          </form>
        </section>
        <section class="card">
          <h2>
            Pedidos recientes <span class="live" data-live-status>●</span>
          </h2>
          <div data-live="/pedidos/eventos" aria-live="polite">
            <OrdersTable pedidos={props.pedidos} now={props.now} />
          </div>
        </section>
      </div>
    </>
  );
}

function describeProductos(productos: Producto[]): string {
  return productos.map((item) =>
    typeof item === "string"
      ? item
      : item.cantidad === 1
      ? item.nombre
      : `${item.nombre} ×${item.cantidad}`
  ).join(", ");
}

function time(iso: string | null): string {
  if (iso === null) return "—";
  return new Date(iso).toLocaleTimeString("es", { hour12: false });
}

function duration(pedido: Pedido, now: number): string {
  if (pedido.duracion_ms !== null) return `${(pedido.duracion_ms / 1000).toFixed(2)} s`;
  if (pedido.estado === "en proceso" && pedido.fecha_inicio !== null) {
    return `${((now - Date.parse(pedido.fecha_inicio)) / 1000).toFixed(1)} s…`;
  }
  return "—";
}

/** The recent orders as a table (the live fragment of Pedidos). */
export function OrdersTable(props: { pedidos: Pedido[] | null; now: number }) {
  const { pedidos } = props;
  if (pedidos === null) return <p class="muted">No se pudieron leer los pedidos.</p>;
  if (pedidos.length === 0) return <p class="muted">Todavía no hay pedidos.</p>;
  return (
    <div class="table-wrap">
      <table class="orders">
        <thead>
          <tr>
            <th>#</th>
            <th>Cliente</th>
            <th class="opt">Productos</th>
            <th>Estado</th>
            <th class="opt">Worker</th>
            <th class="opt">Recibido</th>
            <th>Duración</th>
          </tr>
        </thead>
        <tbody>
          {pedidos.map((p) => (
            <tr data-id={p.id} data-estado={p.estado}>
              <td>{p.id}</td>
              <td class="cliente">{p.cliente}</td>
              <td class="opt">{describeProductos(p.productos)}</td>
              <td>
                <span class={`estado ${estadoClass(p.estado)}`}>{p.estado}</span>
              </td>
              <td class="opt">{p.worker ?? "—"}</td>
              <td class="opt">{time(p.fecha_recibido)}</td>
              <td>{duration(p, props.now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The daemon's STATS, as the panel reads them. */
export interface PanelStats {
  capacidad: number;
  libres: number;
  pendientes: number;
  en_proceso: number;
  listos: number;
  errores: number;
  rechazados: number;
  aceptados: number;
  recibidos: number;
  workers: number;
  conexiones: number;
  uptime_s: number;
  duracion_ms: { min: number | null; p50: number | null; p95: number | null; max: number | null };
}

/** Props of {@linkcode PanelContent}. */
export interface PanelContentProps {
  stats: PanelStats | null;
  pedidos: Pedido[];
  now: number;
  rejections: { at: number; count: number }[];
  /** A problem reaching the daemon. */
  problem?: string | null;
}

function Counter(props: { label: string; value: string | number; tone?: string }) {
  return (
    <div class={`counter ${props.tone ?? ""}`}>
      <span class="value">{props.value}</span>
      <span class="label">{props.label}</span>
    </div>
  );
}

function ms(value: number | null): string {
  return value === null ? "—" : value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(2)} s`;
}

/** The live part of the Panel: counters and the timeline. */
export function PanelContent(props: PanelContentProps) {
  const { stats } = props;
  if (stats === null) {
    return <p class="banner" role="alert">⚠️ {props.problem ?? "Sin datos del servidor."}</p>;
  }
  const d = stats.duracion_ms;
  return (
    <>
      <div class="counters">
        <Counter label="capacidad" value={stats.capacidad} />
        <Counter label="libres" value={stats.libres} tone={stats.libres === 0 ? "alert" : ""} />
        <Counter label="en espera" value={stats.pendientes} tone="wait" />
        <Counter label="en proceso" value={stats.en_proceso} tone="run" />
        <Counter label="listos" value={stats.listos} tone="done" />
        <Counter label="rechazados" value={stats.rechazados} tone="alert" />
        <Counter label="errores" value={stats.errores} />
        <Counter label="p50" value={ms(d.p50)} />
        <Counter label="p95" value={ms(d.p95)} />
        <Counter label="máx" value={ms(d.max)} />
      </div>
      <p class="muted small">
        {stats.workers} workers · {stats.aceptados} aceptados de {stats.recibidos} recibidos ·{" "}
        {stats.conexiones} conexiones · en marcha hace {stats.uptime_s} s
      </p>
      <div class="timeline-wrap">
        <Timeline
          pedidos={props.pedidos}
          workers={stats.workers}
          capacidad={stats.capacidad}
          now={props.now}
          rejections={props.rejections}
        />
      </div>
      <ul class="legend">
        <li>
          <i class="sw wait"></i>en espera
        </li>
        <li>
          <i class="sw run"></i>en proceso
        </li>
        <li>
          <i class="sw done"></i>listo
        </li>
        <li>
          <i class="sw err"></i>error
        </li>
        <li>
          <i class="sw cap"></i>capacidad
        </li>
        <li>
          <i class="sw rej"></i>rechazos (queue_full)
        </li>
      </ul>
    </>
  );
}

/** Panel: the live counters and timeline. */
export function PanelPage(props: PanelContentProps) {
  return (
    <>
      <h1>
        Panel <span class="live" data-live-status>●</span>
      </h1>
      <p class="muted">
        Cada fila es un worker; cada barra, un pedido desde que empieza hasta que termina. Arriba,
        los lugares ocupados de la capacidad.
      </p>
      <div data-live="/panel/eventos">
        <PanelContent {...props} />
      </div>
    </>
  );
}

/** A page that only says what went wrong. */
export function MessagePage(props: { title: string; text: string; back?: string }) {
  return (
    <section class="card narrow">
      <h1>{props.title}</h1>
      <p>{props.text}</p>
      <p>
        <a href={props.back ?? "/"}>Volver</a>
      </p>
    </section>
  );
}
