import type { Counts } from "../layouts/index.js";
import type { TensorRow, TensorStats, Totals } from "./types.js";

/** Layer index of a tensor name (blk.N. / layers.N. / h.N.), or null. */
export function layerOf(name: string): number | null {
  const m = /(?:^|\.)(?:blk|layers|h|layer)\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

/** The shortest decimal that reads back as the same float32 (1e-5, not 0.000009999999747378752). */
export function shortestF32(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 1; p <= 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return v;
}

/** A value made JSON-safe: bigint -> string, long arrays summarized. */
export function jsonable(v: unknown, maxArray = 64): unknown {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) {
    if (v.length > maxArray) {
      return { array_length: v.length, first: v.slice(0, 8).map((x) => jsonable(x, maxArray)) };
    }
    return v.map((x) => jsonable(x, maxArray));
  }
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, jsonable(x, maxArray)]));
  }
  return v;
}

export type Category = "ternary" | "embedding" | "norm" | "scale" | "other";

export function computeTotals(rows: TensorRow[], categoryOf: (r: TensorRow) => Category, weightsOf: (r: TensorRow) => number): Totals {
  const breakdown: Record<string, number> = { ternary: 0, embedding: 0, norm: 0, scale: 0, other: 0 };
  let bytes = 0;
  let ternaryWeights = 0;
  let parameters = 0;
  for (const r of rows) {
    const c = categoryOf(r);
    breakdown[c] += r.bytes;
    bytes += r.bytes;
    const w = weightsOf(r);
    parameters += w;
    if (c === "ternary") ternaryWeights += w;
  }
  return {
    tensors: rows.length,
    bytes,
    ternary_bytes: breakdown.ternary,
    other_bytes: bytes - breakdown.ternary,
    embedding_bytes: breakdown.embedding,
    non_embedding_bytes: bytes - breakdown.embedding,
    ternary_weights: ternaryWeights,
    parameters,
    breakdown,
  };
}

export const bpw = (bytes: number, weights: number): number => (weights > 0 ? Math.round(((bytes * 8) / weights) * 10000) / 10000 : 0);

/** One tensor's statistics row: its counts as fractions of all its codes, its scale and where it came from. */
export function statsRow(
  tensor: { name: string; layout: string; weights: number },
  c: Counts,
  scale: number | null,
  source: string,
  extra: Partial<TensorStats> = {},
): TensorStats {
  const tot = c.minus + c.zero + c.plus + c.invalid;
  return {
    name: tensor.name,
    layer: layerOf(tensor.name),
    layout: tensor.layout,
    weights: tensor.weights,
    minus: tot ? c.minus / tot : 0,
    zero: tot ? c.zero / tot : 0,
    plus: tot ? c.plus / tot : 0,
    counts: { ...c },
    scale,
    scale_source: source,
    ...extra,
  };
}
