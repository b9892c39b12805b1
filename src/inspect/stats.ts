// Absmean statistics of float master weights: what ternarizing them would give. The counts of packed
// ternary tensors are the layout modules' own (Layout.count, src/layouts/counts.ts).

import { f16ToF32 } from "../quant/float.js";
import { absmeanScale } from "../quant/absmean.js";
import { emptyCounts, type Counts } from "../layouts/index.js";

/** | |W*s| - 0.5 | below this counts as "near a rounding boundary" (docs/inspect.md) */
export const BOUNDARY_EPS = 1e-3;

export interface MasterStats {
  counts: Counts;
  meanAbs: number;
  s: number;
  w: number;
  boundaryShare: number;
}

/** Absmean ternarization statistics of f32 weights (the transformers WeightQuant computation). */
export function masterStats(W: Float32Array): MasterStats {
  let sum = 0;
  for (let i = 0; i < W.length; i++) sum += Math.abs(W[i]);
  const meanAbs = sum / W.length;
  const { s, w } = absmeanScale(meanAbs);
  const c = emptyCounts();
  let near = 0;
  for (let i = 0; i < W.length; i++) {
    const x = W[i];
    if (!Number.isFinite(x)) {
      c.invalid++;
      continue;
    }
    const p = Math.fround(x * s);
    if (p > 0.5) c.plus++;
    else if (p < -0.5) c.minus++;
    else c.zero++;
    if (Math.abs(Math.abs(p) - 0.5) < BOUNDARY_EPS) near++;
  }
  return { counts: c, meanAbs, s, w, boundaryShare: W.length ? near / W.length : 0 };
}

/** bf16 / f16 / f32 little-endian bytes -> f32 values. */
export function toF32(bytes: Uint8Array, dtype: string): Float32Array {
  const n = dtype === "F32" ? bytes.length / 4 : bytes.length / 2;
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") {
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  } else if (dtype === "BF16") {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
  } else if (dtype === "F16") {
    for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
  } else {
    throw new Error(`no float conversion for ${dtype}`);
  }
  return out;
}

