import { GgmlType, FileType } from "../gguf/types.js";
import { BitconvError } from "../util/errors.js";
import { checkLength, checkScale, checkTernary, readF32, roundup32, writeF32 } from "./common.js";
import { resolveTlParams, tl2BlockError, tl2Params } from "./tlParams.js";
import type { Layout, TlParams } from "./types.js";

// bitnet.cpp TL2 (utils/convert-hf-to-gguf-bitnet.py preprocess_weights_tl2): the first K3 = K - K mod BK
// columns go three at a time as t = 9*T0 + 3*T1 + T2, split into a 4-bit magnitude stream and a sign-bit
// stream; the remaining K2 columns go two at a time like TL1. Then zero padding to the fork's size bound
// P, rounded up to 32, and the f32 scale in a 32-byte tail.

/** Within each 32-row chunk the 8-row groups 1 and 2 swap places (the kernel's register order). */
const PERM = [0, 2, 1, 3];

/** The fork's allocation bound (ggml_nbytes), integer ops left to right as in its C code. */
export function tl2DataBound(M: number, K: number): number {
  return Math.floor((Math.floor(((K - 256) * M) / 3) * 5) / 8) + Math.floor((Math.floor((256 * M) / 2) * 4) / 8);
}

export function tl2Nbytes(M: number, K: number, params?: TlParams): number {
  resolveTlParams("tl2", M, K, params);
  return roundup32(tl2DataBound(M, K)) + 32;
}

interface Tl2Plan {
  p: TlParams;
  K3: number;
  K2: number;
  signsAt: number;
  tailAt: number;
  scaleAt: number;
  size: number;
}

function planTl2(M: number, K: number, params?: TlParams): Tl2Plan {
  const p = resolveTlParams("tl2", M, K, params);
  const K2 = K % p.BK;
  const K3 = K - K2;
  const signsAt = (M * K3) / 6; // 6 weights per magnitude byte
  const tailAt = signsAt + (M * K3) / 24; // 24 weights per sign byte
  const scaleAt = roundup32(tl2DataBound(M, K));
  return { p, K3, K2, signsAt, tailAt, scaleAt, size: scaleAt + 32 };
}

const rowOf = (iM: number, BM: number, ib: number, q: number): number =>
  iM * BM + ib * 32 + PERM[q >>> 3] * 8 + (q & 7);

/** visit(byteIndex, firstWeightIndex): magnitude bytes, each covering weights first..first+5 of one row. */
function forEachMagnitudeByte(M: number, K: number, pl: Tl2Plan, visit: (o: number, w: number) => void): void {
  const { BM, BK } = pl.p;
  let o = 0;
  for (let iM = 0; iM < M / BM; iM++)
    for (let iK = 0; iK < pl.K3 / BK; iK++)
      for (let ib = 0; ib < BM / 32; ib++)
        for (let iy = 0; iy < BK / 6; iy++)
          for (let q = 0; q < 32; q++) visit(o++, rowOf(iM, BM, ib, q) * K + iK * BK + 6 * iy);
}

/** visit(wordByteIndex, bit, firstWeightIndex): sign bits, each for the triple at weights first..first+2. */
function forEachSignBit(M: number, K: number, pl: Tl2Plan, visit: (o: number, bit: number, w: number) => void): void {
  const { BM, BK } = pl.p;
  let o = pl.signsAt;
  for (let iM = 0; iM < M / BM; iM++)
    for (let iK = 0; iK < pl.K3 / BK; iK++)
      for (let ib = 0; ib < BM / 32; ib++)
        for (let ig = 0; ig < BK / 24; ig++) {
          for (let c = 0; c < 16; c++) {
            for (let i = 0; i < 16; i++) {
              const m = iM * BM + ib * 32 + (i & 1) * 16 + c;
              visit(o, 15 - i, m * K + iK * BK + 24 * ig + 3 * (i >>> 1));
            }
            o += 2;
          }
        }
}

/** visit(byteIndex, firstWeightIndex): two-weight tail bytes, each covering weights first..first+3. */
function forEachTailByte(M: number, K: number, pl: Tl2Plan, visit: (o: number, w: number) => void): void {
  const { BM } = pl.p;
  let o = pl.tailAt;
  for (let iM = 0; iM < M / BM; iM++)
    for (let iK2 = 0; iK2 < pl.K2 / 32; iK2++)
      for (let ib = 0; ib < BM / 32; ib++)
        for (let iy = 0; iy < 8; iy++)
          for (let q = 0; q < 32; q++) visit(o++, rowOf(iM, BM, ib, q) * K + pl.K3 + iK2 * 32 + 4 * iy);
}

export function packTl2(T: Int8Array, M: number, K: number, scale: number, params?: TlParams): Uint8Array {
  const pl = planTl2(M, K, params);
  checkTernary(T, M, K);
  checkScale("tl2", scale);
  const out = new Uint8Array(pl.size);
  const triple = (w: number): number => 9 * T[w] + 3 * T[w + 1] + T[w + 2];
  forEachMagnitudeByte(M, K, pl, (o, w) => {
    out[o] = (Math.abs(triple(w)) << 4) | Math.abs(triple(w + 3));
  });
  forEachSignBit(M, K, pl, (o, bit, w) => {
    if (triple(w) < 0) {
      if (bit >= 8) out[o + 1] |= 1 << (bit - 8);
      else out[o] |= 1 << bit;
    }
  });
  forEachTailByte(M, K, pl, (o, w) => {
    out[o] = ((3 * T[w] + T[w + 1] + 4) << 4) | (3 * T[w + 2] + T[w + 3] + 4);
  });
  writeF32(out, pl.scaleAt, scale);
  return out;
}

export function unpackTl2(bytes: Uint8Array, M: number, K: number, params?: TlParams): { T: Int8Array; scale: number } {
  const pl = planTl2(M, K, params);
  checkLength("tl2", bytes, pl.size, M, K);
  const T = new Int8Array(M * K);
  // signs first, parked in T at the triple's first weight, so the magnitude pass can decode in one go
  forEachSignBit(M, K, pl, (o, bit, w) => {
    T[w] = bit >= 8 ? (bytes[o + 1] >>> (bit - 8)) & 1 : (bytes[o] >>> bit) & 1;
  });
  const decodeTriple = (w: number, mag: number, at: number): void => {
    if (mag > 13) throw new BitconvError(`tl2 magnitude byte ${at} holds ${mag}, above 13`);
    const u = (T[w] !== 0 ? -mag : mag) + 13;
    T[w] = ((u / 9) | 0) - 1;
    T[w + 1] = (((u / 3) | 0) % 3) - 1;
    T[w + 2] = (u % 3) - 1;
  };
  forEachMagnitudeByte(M, K, pl, (o, w) => {
    decodeTriple(w, bytes[o] >>> 4, o);
    decodeTriple(w + 3, bytes[o] & 15, o);
  });
  forEachTailByte(M, K, pl, (o, w) => {
    const q = bytes[o];
    const hi = q >>> 4;
    const lo = q & 15;
    if (hi > 8 || lo > 8) throw new BitconvError(`tl2 tail byte ${o} = 0x${q.toString(16)} holds an index above 8`);
    T[w] = ((hi / 3) | 0) - 1;
    T[w + 1] = (hi % 3) - 1;
    T[w + 2] = ((lo / 3) | 0) - 1;
    T[w + 3] = (lo % 3) - 1;
  });
  return { T, scale: readF32(bytes, pl.scaleAt) };
}

export const tl2: Layout = {
  name: "tl2",
  ggmlType: GgmlType.TL2,
  fileType: FileType.MOSTLY_TL2,
  scaleInTensor: true,
  blockError: tl2BlockError,
  params: tl2Params,
  nbytes: tl2Nbytes,
  pack: packTl2,
  unpack: unpackTl2,
};
