// Ternary statistics: counts of -1, 0, +1 straight from packed bytes (lookup tables, no unpacking where
// the counts do not depend on the element order), and absmean statistics of float master weights.

import { f16ToF32 } from "../quant/float.js";
import { absmeanScale } from "../quant/absmean.js";

export interface Counts {
  minus: number;
  zero: number;
  plus: number;
  invalid: number;
}

export const emptyCounts = (): Counts => ({ minus: 0, zero: 0, plus: 0, invalid: 0 });

/** per byte value: packed counts of -1, 0, +1, invalid in 8-bit fields (each < 256) */
type Lut = Uint32Array;

function makeLut(fill: (q: number, add: (v: number | null) => void) => void): Lut {
  const lut = new Uint32Array(256);
  for (let q = 0; q < 256; q++) {
    let packed = 0;
    fill(q, (v) => {
      packed += v === null ? 1 << 24 : v < 0 ? 1 : v === 0 ? 1 << 8 : 1 << 16;
    });
    lut[q] = packed;
  }
  return lut;
}

function addLut(c: Counts, lut: Lut, bytes: Uint8Array, start: number, end: number): void {
  // sum packed counts in chunks small enough not to overflow an 8-bit field (at most 5 per byte)
  for (let i = start; i < end; ) {
    const stop = Math.min(end, i + 50);
    let acc = 0;
    for (; i < stop; i++) acc += lut[bytes[i]];
    c.minus += acc & 255;
    c.zero += (acc >>> 8) & 255;
    c.plus += (acc >>> 16) & 255;
    c.invalid += acc >>> 24;
  }
}

/** 2-bit codes c in 0..2 -> c - 1; code 3 is invalid (TQ2_0, HF packed) or 0 (I2_S, `code3AsZero`). */
const LUT_2BIT = makeLut((q, add) => {
  for (let s = 0; s < 4; s++) {
    const c = (q >> (2 * s)) & 3;
    add(c === 3 ? null : c - 1);
  }
});
const LUT_2BIT_I2S = makeLut((q, add) => {
  for (let s = 0; s < 4; s++) {
    const c = (q >> (2 * s)) & 3;
    add(c === 3 ? 0 : c - 1);
  }
});
/** TQ1_0: 5 base-3 digits per qs byte, 4 per qh byte */
const tq1Digit = (q: number, k: number) => (((q * 3 ** k) & 255) * 3) >> 8;
const LUT_TQ1_QS = makeLut((q, add) => {
  for (let k = 0; k < 5; k++) add(tq1Digit(q, k) - 1);
});
const LUT_TQ1_QH = makeLut((q, add) => {
  for (let k = 0; k < 4; k++) add(tq1Digit(q, k) - 1);
});
/** TL1 / TL2 tail: two 4-bit indices idx = 3*T0 + T1 + 4 */
const LUT_TL = makeLut((q, add) => {
  for (const idx of [q >> 4, q & 15]) {
    if (idx > 8) {
      add(null);
      add(null);
    } else {
      add(Math.floor(idx / 3) - 1);
      add((idx % 3) - 1);
    }
  }
});

export const countHfPacked = (bytes: Uint8Array, c = emptyCounts()): Counts => (addLut(c, LUT_2BIT, bytes, 0, bytes.length), c);

/** I2_S: the n/4 code bytes (the tail is not counted). */
export const countI2s = (bytes: Uint8Array, n: number, c = emptyCounts()): Counts => (addLut(c, LUT_2BIT_I2S, bytes, 0, n / 4), c);

/** TL1: the M*K/4 index bytes. */
export const countTl1 = (bytes: Uint8Array, n: number, c = emptyCounts()): Counts => (addLut(c, LUT_TL, bytes, 0, n / 4), c);

/** Counts from an unpacked ternary array. */
export function countTernary(T: Int8Array, c = emptyCounts()): Counts {
  for (let i = 0; i < T.length; i++) {
    const v = T[i];
    if (v < 0) c.minus++;
    else if (v === 0) c.zero++;
    else c.plus++;
  }
  return c;
}

export interface BlockDStats {
  min: number;
  max: number;
  uniform: boolean;
  /** the d of the blocks holding a non-zero code when uniform (else the first block's) */
  d: number;
}


/** TQ2_0 / TQ1_0 blocks: counts plus the range of per-block d over blocks with a non-zero value. */
export function countTq(bytes: Uint8Array, layout: "tq1_0" | "tq2_0", c = emptyCounts()): { counts: Counts; d: BlockDStats } {
  const size = layout === "tq2_0" ? 66 : 54;
  const dAt = size - 2;
  let min = Infinity;
  let max = -Infinity;
  let first = NaN;
  let firstNonZero = NaN;
  for (let o = 0; o + size <= bytes.length; o += size) {
    const before = c.minus + c.plus + c.invalid;
    if (layout === "tq2_0") {
      addLut(c, LUT_2BIT, bytes, o, o + 64);
    } else {
      addLut(c, LUT_TQ1_QS, bytes, o, o + 48);
      addLut(c, LUT_TQ1_QH, bytes, o + 48, o + 52);
    }
    const d = f16ToF32(bytes[o + dAt] | (bytes[o + dAt + 1] << 8));
    if (Number.isNaN(first)) first = d;
    if (c.minus + c.plus + c.invalid !== before) {
      if (Number.isNaN(firstNonZero)) firstNonZero = d;
      if (d < min) min = d;
      if (d > max) max = d;
    }
  }
  if (min === Infinity) {
    min = max = first;
  }
  return { counts: c, d: { min, max, uniform: min === max, d: Number.isNaN(firstNonZero) ? first : firstNonZero } };
}

// ---- masters ----

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

