// Per-tensor absmean ternarization exactly as transformers' WeightQuant computes it in float32:
//   s = 1 / clamp(mean(|W|), min=1e-5);  T = clamp(round_half_even(W * s), -1, 1);  W_eff = T / s
// (checkpoints.md 5.1). bitconv stores w = f32(1/s) so that W_eff = T * w.

import { bf16ToF32, f16ToF32 } from "./float.js";

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

/**
 * Absmean over 16-bit float weights (bf16 or f16 bit patterns). Both passes go through 65536-entry
 * tables: a histogram of |bits| gives the exact sum, and a per-tensor code table maps every bit
 * pattern to its ternary code, so the hot loops are one load and one store per weight.
 */
export function ternarizeAbsmean16(
  bits: Uint16Array,
  format: "bf16" | "f16",
  T: Int8Array = new Int8Array(bits.length),
): Ternarized {
  const toF32 = format === "bf16" ? bf16ToF32 : f16ToF32;
  const hist = new Uint32Array(32768);
  for (let i = 0; i < bits.length; i++) hist[bits[i] & 0x7fff]++;
  let sum = 0;
  for (let b = 0; b < 32768; b++) {
    const n = hist[b];
    if (n === 0) continue;
    const v = toF32(b);
    if (!Number.isFinite(v)) throw new NonFiniteWeight(firstIndexOfAbs(bits, b));
    sum += n * v;
  }
  const meanAbs = sum / bits.length;
  const { s, w } = absmeanScale(meanAbs);
  const codes = new Int8Array(65536);
  for (let b = 0; b < 65536; b++) codes[b] = ternaryCode(toF32(b), s);
  for (let i = 0; i < bits.length; i++) T[i] = codes[bits[i]];
  return { T, scale: w, meanAbs };
}

function firstIndexOfAbs(bits: Uint16Array, absBits: number): number {
  for (let i = 0; i < bits.length; i++) if ((bits[i] & 0x7fff) === absBits) return i;
  return -1;
}
