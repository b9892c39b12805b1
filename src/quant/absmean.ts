// Per-tensor absmean ternarization exactly as transformers' WeightQuant computes it in float32:
//   s = 1 / clamp(mean(|W|), min=1e-5);  T = clamp(round_half_even(W * s), -1, 1);  W_eff = T / s
// (formats/checkpoint-bitnet-2b4t.md, "Absmean"). bitconv stores w = f32(1/s) so that W_eff = T * w.

import { pairsOf } from "../util/pairs.js";
import { bf16ToF32, f16ToF32 } from "./float.js";
import { firstNonFinite16 } from "./scan16.js";

export type Format16 = "bf16" | "f16";

const fround = Math.fround;
const EPS_F32 = fround(1e-5);

export interface AbsmeanScale {
  /** f32 multiplier applied to W before rounding */
  s: number;
  /** f32 per-tensor weight scale stored in the artifact, W = T * w */
  w: number;
}

/** s and w from mean|W| (any precision; rounded to f32 first, as torch's f32 mean is). */
export function absmeanScale(meanAbs: number): AbsmeanScale {
  const mean = fround(meanAbs);
  // torch casts the clamp bound to the tensor's dtype, then divides 1.0 by it in f32
  const s = fround(1 / (mean > EPS_F32 ? mean : EPS_F32));
  return { s, w: fround(1 / s) };
}

/** torch.round: ties go to the even integer. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The ternary code of one f32 weight under multiplier s: clamp(rint(f32(x*s)), -1, 1). */
export function ternaryCode(x: number, s: number): number {
  // f32(x*s) is the correctly rounded f32 product (the f64 product of two f32 values is exact)
  const p = fround(x * s);
  // rint(p) >= 1 iff p > 0.5 (0.5 itself rounds to 0); everything above clamps to 1
  return p > 0.5 ? 1 : p < -0.5 ? -1 : 0;
}

export interface Ternarized {
  T: Int8Array;
  /** f32 w with W ≈ T * w */
  scale: number;
  /** mean |W| (f64) the scale was taken from */
  meanAbs: number;
}

/** Index of the first NaN/Inf in W, or -1. */
export function firstNonFinite(W: Float32Array): number {
  for (let i = 0; i < W.length; i++) if (!Number.isFinite(W[i])) return i;
  return -1;
}

/** Absmean over f32 weights. Throws (plain Error) on NaN/Inf; callers add the tensor and file. */
export function ternarizeAbsmean(W: Float32Array, T: Int8Array = new Int8Array(W.length)): Ternarized {
  let sum = 0;
  for (let i = 0; i < W.length; i++) sum += Math.abs(W[i]);
  if (!Number.isFinite(sum)) throw new NonFiniteWeight(firstNonFinite(W));
  const meanAbs = sum / W.length;
  const { s, w } = absmeanScale(meanAbs);
  for (let i = 0; i < W.length; i++) {
    const p = fround(W[i] * s);
    T[i] = p > 0.5 ? 1 : p < -0.5 ? -1 : 0;
  }
  return { T, scale: w, meanAbs };
}

export class NonFiniteWeight extends Error {
  constructor(readonly index: number) {
    super(`non-finite weight (NaN or Inf) at element ${index}`);
  }
}

const absTables: Partial<Record<Format16, Float64Array>> = {};

/** |value| of every 15-bit magnitude pattern (sign dropped); NaN/Inf patterns stay NaN/Inf. */
function absTable(format: Format16): Float64Array {
  let t = absTables[format];
  if (!t) {
    t = new Float64Array(32768);
    const toF32 = format === "bf16" ? bf16ToF32 : f16ToF32;
    for (let b = 0; b < 32768; b++) t[b] = toF32(b);
    absTables[format] = t;
  }
  return t;
}

/**
 * Sum of |W| of 16-bit weights in f64 with two accumulators, in a fixed order (deterministic). NaN
 * or Inf anywhere makes the sum non-finite, which the caller turns into an error.
 */
export function absSum16(bits: Uint16Array, format: Format16): number {
  const abs = absTable(format);
  const w = pairsOf(bits);
  let a = 0;
  let b = 0;
  for (let i = 0; i < w.length; i++) {
    const x = w[i];
    a += abs[x & 0x7fff];
    b += abs[(x >>> 16) & 0x7fff];
  }
  if (bits.length & 1) a += abs[bits[bits.length - 1] & 0x7fff];
  return a + b;
}

/** code = T + 1 (0, 1, 2) of every 16-bit pattern under the absmean multiplier s. */
export function codeTable16(format: Format16, s: number): Uint8Array {
  const toF32 = format === "bf16" ? bf16ToF32 : f16ToF32;
  const codes = new Uint8Array(65536);
  for (let b = 0; b < 65536; b++) codes[b] = ternaryCode(toF32(b), s) + 1;
  return codes;
}

export interface Codes16 {
  /** code table: T + 1 for each bit pattern */
  codes: Uint8Array;
  scale: number;
  meanAbs: number;
}

/**
 * Absmean over 16-bit float weights (bf16 or f16 bit patterns): the f64 sum of |W| from a table of
 * magnitudes, then a per-tensor table of the ternary code of each of the 65536 patterns, so the
 * hot loops are one or two loads per weight. Throws NonFiniteWeight on NaN/Inf.
 */
export function absmeanCodes16(bits: Uint16Array, format: Format16): Codes16 {
  const sum = absSum16(bits, format);
  if (!Number.isFinite(sum)) throw new NonFiniteWeight(firstNonFinite16(bits, format === "bf16" ? 0x7f80 : 0x7c00));
  const meanAbs = sum / bits.length;
  const { s, w } = absmeanScale(meanAbs);
  return { codes: codeTable16(format, s), scale: w, meanAbs };
}

export function ternarizeAbsmean16(bits: Uint16Array, format: Format16, T: Int8Array = new Int8Array(bits.length)): Ternarized {
  const c = absmeanCodes16(bits, format);
  for (let i = 0; i < bits.length; i++) T[i] = c.codes[bits[i]] - 1;
  return { T, scale: c.scale, meanAbs: c.meanAbs };
}
