import { BitconvError } from "../util/errors.js";
import { checkDims } from "./common.js";
import type { TlParams } from "./types.js";

interface Preset extends TlParams {
  M: number;
  K: number;
}

/** microsoft/BitNet preset_kernels/<model>/kernel_config_tl1.ini (bitnet_b1_58-large, bitnet_b1_58-3B, Llama3-8B-1.58). */
export const TL1_PRESETS: readonly Preset[] = [
  { M: 1536, K: 4096, BM: 256, BK: 128, bm: 32 },
  { M: 1536, K: 1536, BM: 128, BK: 64, bm: 64 },
  { M: 4096, K: 1536, BM: 256, BK: 128, bm: 32 },
  { M: 3200, K: 8640, BM: 160, BK: 64, bm: 32 },
  { M: 3200, K: 3200, BM: 320, BK: 128, bm: 64 },
  { M: 8640, K: 3200, BM: 320, BK: 64, bm: 32 },
  { M: 14336, K: 4096, BM: 256, BK: 128, bm: 64 },
  { M: 4096, K: 14336, BM: 256, BK: 128, bm: 32 },
  { M: 1024, K: 4096, BM: 128, BK: 64, bm: 64 },
  { M: 4096, K: 4096, BM: 128, BK: 64, bm: 32 },
];

/**
 * microsoft/BitNet preset_kernels/<model>/kernel_config_tl2.ini. The large model's 4096x1536 entry
 * (bm = 64) is left out: codegen_tl2.py only accepts bm = 32, so that preset cannot be packed.
 */
export const TL2_PRESETS: readonly Preset[] = [
  { M: 1536, K: 4096, BM: 256, BK: 96, bm: 32 },
  { M: 1536, K: 1536, BM: 128, BK: 192, bm: 32 },
  { M: 3200, K: 8640, BM: 160, BK: 96, bm: 32 },
  { M: 3200, K: 3200, BM: 320, BK: 96, bm: 32 },
  { M: 8640, K: 3200, BM: 320, BK: 96, bm: 32 },
  { M: 14336, K: 4096, BM: 256, BK: 96, bm: 32 },
  { M: 4096, K: 14336, BM: 128, BK: 96, bm: 32 },
  { M: 1024, K: 4096, BM: 256, BK: 96, bm: 32 },
  { M: 4096, K: 4096, BM: 128, BK: 96, bm: 32 },
];

// bitnet.cpp's presets use BM 128..320; 256 is the most common
const BM_TARGET = 256;
const TL1_BK_TARGET = 128;
const TL2_BK_TARGET = 96;

const isPosInt = (n: number): boolean => Number.isSafeInteger(n) && n > 0;
const findPreset = (presets: readonly Preset[], M: number, K: number): TlParams | undefined => {
  const p = presets.find((x) => x.M === M && x.K === K);
  return p && { BM: p.BM, BK: p.BK, bm: p.bm };
};

/** Largest multiple of `step` that divides n and is at most `target` (0 when none). */
function largestDivisor(n: number, step: number, target: number): number {
  for (let d = Math.floor(target / step) * step; d >= step; d -= step) if (n % d === 0) return d;
  return 0;
}

// ---- TL1 ----

/** Why (M, K, params) cannot be packed as TL1, or null. */
export function tl1ParamsError(M: number, K: number, p: TlParams): string | null {
  const { BM, BK, bm } = p;
  const at = `tl1 parameters BM=${BM} BK=${BK} bm=${bm} for ${M} x ${K}`;
  if (![BM, BK, bm].every(isPosInt)) return `${at}: not positive integers`;
  if (bm !== 32 && bm !== 64) return `${at}: bm must be 32 or 64`;
  if (BM % bm !== 0) return `${at}: BM is not a multiple of bm`;
  if (M % BM !== 0) return `${at}: M is not a multiple of BM`;
  if (K % BK !== 0) return `${at}: K is not a multiple of BK`;
  if (BK % (256 / bm) !== 0) return `${at}: BK is not a multiple of 256/bm = ${256 / bm}`;
  return null;
}

export function tl1ShapeError(M: number, K: number): string | null {
  checkDims(M, K);
  if (findPreset(TL1_PRESETS, M, K)) return null;
  if (M % 32 !== 0) return `tl1 needs M (rows, out-features) to be a multiple of 32 (bm = 32 or 64), got M = ${M}`;
  if (K % 8 !== 0) return `tl1 needs K (columns, in-features) to be a multiple of 8 (256/bm weights per compute block), got K = ${K}`;
  return null;
}

/**
 * bitnet.cpp's preset for (M, K) when there is one; else bm = 32, BM = the largest multiple of 32
 * dividing M that is at most 256, BK = the largest multiple of 8 dividing K that is at most 128.
 */
export function tl1Params(M: number, K: number): TlParams | undefined {
  if (tl1ShapeError(M, K) !== null) return undefined;
  return findPreset(TL1_PRESETS, M, K) ?? {
    BM: largestDivisor(M, 32, BM_TARGET),
    BK: largestDivisor(K, 8, TL1_BK_TARGET),
    bm: 32,
  };
}

// ---- TL2 ----

export function tl2ParamsError(M: number, K: number, p: TlParams): string | null {
  const { BM, BK, bm } = p;
  const at = `tl2 parameters BM=${BM} BK=${BK} bm=${bm} for ${M} x ${K}`;
  if (![BM, BK, bm].every(isPosInt)) return `${at}: not positive integers`;
  if (bm !== 32) return `${at}: bm must be 32`;
  if (BM % 32 !== 0) return `${at}: BM is not a multiple of 32`;
  if (M % BM !== 0) return `${at}: M is not a multiple of BM`;
  if (BK % 24 !== 0) return `${at}: BK is not a multiple of 24`;
  if (K < 256) return `${at}: K must be at least 256`;
  const K2 = K % BK;
  if (K2 % 32 !== 0) return `${at}: the two-weight tail K mod BK = ${K2} is not a multiple of 32`;
  if (K2 > 256) return `${at}: the two-weight tail K mod BK = ${K2} exceeds 256`;
  return null;
}

/** BK values tried for TL2, best first: 96, 72, 48, 24, then 120, 144, ... up to K. */
function tl2BkCandidates(K: number): number[] {
  const out: number[] = [];
  for (let bk = TL2_BK_TARGET; bk >= 24; bk -= 24) out.push(bk);
  for (let bk = TL2_BK_TARGET + 24; bk <= K; bk += 24) out.push(bk);
  return out;
}

function tl2Bk(K: number): number {
  for (const bk of tl2BkCandidates(K)) {
    const K2 = K % bk;
    if (K2 % 32 === 0 && K2 <= 256) return bk;
  }
  return 0;
}

export function tl2ShapeError(M: number, K: number): string | null {
  checkDims(M, K);
  if (findPreset(TL2_PRESETS, M, K)) return null;
  if (M % 32 !== 0) return `tl2 needs M (rows, out-features) to be a multiple of 32 (bm = 32), got M = ${M}`;
  if (K < 256) return `tl2 needs K (columns, in-features) of at least 256 (its size formula assumes it), got K = ${K}`;
  if (tl2Bk(K) === 0) {
    return `tl2 needs some BK (a multiple of 24) with K mod BK a multiple of 32 and at most 256; none exists for K = ${K}`;
  }
  return null;
}

/**
 * bitnet.cpp's preset for (M, K) when there is one; else bm = 32, BM = the largest multiple of 32
 * dividing M that is at most 256, BK = the first of 96, 72, 48, 24, 120, 144, ... that leaves a
 * legal two-weight tail (K mod BK a multiple of 32, at most 256).
 */
export function tl2Params(M: number, K: number): TlParams | undefined {
  if (tl2ShapeError(M, K) !== null) return undefined;
  return findPreset(TL2_PRESETS, M, K) ?? { BM: largestDivisor(M, 32, BM_TARGET), BK: tl2Bk(K), bm: 32 };
}

/** params as given (validated) or the chosen ones; BitconvError when none fit. */
export function resolveTlParams(
  which: "tl1" | "tl2",
  M: number,
  K: number,
  given: TlParams | undefined,
): TlParams {
  const blocked = which === "tl1" ? tl1ShapeError(M, K) : tl2ShapeError(M, K);
  if (given === undefined) {
    if (blocked !== null) throw new BitconvError(blocked);
    return (which === "tl1" ? tl1Params(M, K) : tl2Params(M, K))!;
  }
  checkDims(M, K);
  const err = which === "tl1" ? tl1ParamsError(M, K, given) : tl2ParamsError(M, K, given);
  if (err !== null) throw new BitconvError(err);
  return given;
}
