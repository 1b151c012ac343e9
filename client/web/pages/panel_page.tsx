/**
 * Panel (`/panel`): the live counters and timeline; the live part is
 * {@linkcode PanelContent}, replaced from `/panel/eventos`.
 *
 * @module
 */

import { PanelContent, type PanelContentProps } from "../components/panel_content.tsx";

/** The Panel, with its first snapshot in place. */
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
