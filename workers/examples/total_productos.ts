/**
 * An example processor module (§11): totals an order's products.
 *
 *     deno task server --processor workers/examples/total_productos.ts
 *
 * The result, stored in `resultado` and shown with the order:
 * `{"articulos": 3, "lineas": 2, "por_producto": {"pan": 1, "agua": 2}}`.
 *
 * It needs no permission: it only reads the order it is given.
 *
 * @module
 */

/** An item of `productos`, as stored (§2.1). */
type Producto = string | { nombre: string; cantidad: number };

/** What this processor returns. */
export interface Totales {
  /** Items in all, quantities counted. */
  articulos: number;
  /** Lines of `productos`. */
  lineas: number;
  /** Quantity per product name. */
  por_producto: Record<string, number>;
}

/**
 * Totals the order's products.
 *
 * @param pedido The order (§5).
 * @param context The attempt's signal and number (unused: this takes no time).
 */
export default function totalProductos(
  pedido: { productos: Producto[] },
  _context: { signal: AbortSignal; intento: number },
): Totales {
  // A Map, not an object: a product may be named "constructor" or "__proto__".
  const porProducto = new Map<string, number>();
  let articulos = 0;
  for (const item of pedido.productos) {
    const [nombre, cantidad] = typeof item === "string" ? [item, 1] : [item.nombre, item.cantidad];
    porProducto.set(nombre, (porProducto.get(nombre) ?? 0) + cantidad);
    articulos += cantidad;
  }
  return {
    articulos,
    lineas: pedido.productos.length,
    por_producto: Object.fromEntries(porProducto),
  };
}
