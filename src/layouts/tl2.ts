import { GgmlType, FileType } from "../gguf/types.js";
import { BitconvError } from "../util/errors.js";
import { pairsOf } from "../util/pairs.js";
import { BlockBuilder, signed, tailScale, type BitField, type BlockContext, type BlockDecoder, type BlockScale, type ReadRange } from "./blockDecode.js";
import { codesOfTernary, type TernaryCodes } from "./codes.js";
import { countTernary, type PackedCounts } from "./counts.js";
import { checkCodeCount, checkLength, checkScale, checkTernary, outputOf, readF32, roundup32, writeF32 } from "./common.js";
import { needParams, pairByteFields, unpackPairByte } from "./tl1.js";
import { resolveTlParams, tl2Params, tl2ShapeError } from "./tlParams.js";
import type { Layout, TlParams } from "./types.js";

// bitnet.cpp TL2 (utils/convert-hf-to-gguf-bitnet.py preprocess_weights_tl2, formats/tl2.md): the first
// K3 = K - K mod BK columns go three at a time as t = 9*T0 + 3*T1 + T2, split into a 4-bit magnitude
// stream and a sign-bit stream; the remaining K2 columns go two at a time like TL1. Then zero padding
// to the fork's size bound P, rounded up to 32, and the f32 scale in a 32-byte tail.

/** Within each 32-row chunk the 8-row groups 1 and 2 swap places (the kernel's register order; its own inverse). */
const PERM = [0, 2, 1, 3];

/**
 * The fork's allocation bound P (formats/tl2.md "Bytes" (d)): integer ops left to right, truncating
 * as its C ggml_nbytes does. For K >= 256, the only shapes TL2 can pack, every operand is
 * non-negative and truncation equals floor; below, P is what a fork reader would allocate.
 */
export function tl2SizeBound(M: number, K: number): number {
  const t = Math.trunc;
  return t((t(((K - 256) * M) / 3) * 5) / 8) + t((t((256 * M) / 2) * 4) / 8);
}

export function tl2Nbytes(M: number, K: number, params?: TlParams): number {
  resolveTlParams("tl2", M, K, params);
  return roundup32(tl2SizeBound(M, K)) + 32;
}

/** The fork's ggml_nbytes: roundup32(P) + 32 (32 for an empty tensor), for any K the formula covers. */
export function tl2FileNbytes(M: number, K: number): number | string {
  if (K === 0 || M === 0) return 32;
  const P = tl2SizeBound(M, K);
  return P < 0 ? `TL2 needs K >= 256 columns for its size formula, got ne[0] = ${K}` : roundup32(P) + 32;
}

/** Where the three streams and the scale of one tensor sit. */
interface Tl2Geometry {
  p: TlParams;
  K3: number;
  K2: number;
  signsAt: number;
  tailAt: number;
  dataEnd: number;
  scaleAt: number;
  size: number;
}

function tl2Geometry(M: number, K: number, params?: TlParams): Tl2Geometry {
  const p = resolveTlParams("tl2", M, K, params);
  const K2 = K % p.BK;
  const K3 = K - K2;
  const signsAt = (M * K3) / 6; // 6 weights per magnitude byte
  const tailAt = signsAt + (M * K3) / 24; // 24 weights per sign byte
  const scaleAt = roundup32(tl2SizeBound(M, K));
  return { p, K3, K2, signsAt, tailAt, dataEnd: tailAt + (M * K2) / 4, scaleAt, size: scaleAt + 32 };
}

/** TL2 magnitude byte of two triple values u0, u1 (u = 9*c0 + 3*c1 + c2, 0..26): |u0-13| << 4 | |u1-13|. */
const MAGNITUDES = (() => {
  const t = new Uint8Array(27 * 27);
  for (let a = 0; a < 27; a++) for (let b = 0; b < 27; b++) t[a * 27 + b] = (Math.abs(a - 13) << 4) | Math.abs(b - 13);
  return t;
})();

/** Sign nibble (bit 3 = first triple) spread to bits 7, 5, 3, 1 (a row's bits of one sign byte; >>> 1 for the odd row). */
const SPREAD = (() => {
  const t = new Uint8Array(16);
  for (let x = 0; x < 16; x++) t[x] = (((x >>> 3) & 1) << 7) | (((x >>> 2) & 1) << 5) | (((x >>> 1) & 1) << 3) | ((x & 1) << 1);
  return t;
})();

/** Emission slot of row rr (0..31) of its 32-row chunk: 8-row groups in PERM order. */
const slotOf = (rr: number): number => PERM[rr >>> 3] * 8 + (rr & 7);

/**
 * Every row, in order: its triple columns (< K3) as magnitude bytes and sign bits, 24 weights (8
 * triples) per step, then its two-weight tail. One function over all rows with every table and
 * stride in a local: this is the hot loop of a TL2 conversion, and split into per-row helpers it
 * packed 4-8 % slower (CPU time of packTl2Codes on 2B-4T shapes).
 */
function packRows(o8: Uint8Array, wd: Uint32Array, codes: Uint8Array, g: Tl2Geometry, M: number, K: number): void {
  const { BM, BK } = g.p;
  const mag = MAGNITUDES;
  const spread = SPREAD;
  const perm = PERM;
  const nIK = g.K3 / BK;
  const nIg = BK / 24;
  const nIb = BM / 32;
  const magTile = (BK / 6) * 32; // magnitude bytes per (iM, iK, ib)
  const sgnTile = (BK / 24) * 32; // sign bytes per (iM, iK, ib)
  const signsAt = g.signsAt;
  const nIK2 = g.K2 / 32;
  const tailAt = g.tailAt;
  for (let r = 0; r < M; r++) {
    const iM = (r / BM) | 0;
    const rt = r - iM * BM;
    const ib = rt >>> 5;
    const rr = rt & 31;
    const q = perm[rr >>> 3] * 8 + (rr & 7); // slotOf(rr), written out
    const half = rr >>> 4; // rows c and c + 16 share a sign word: even bits for c, odd for c + 16
    const c = rr & 15;
    let x = r * K;
    for (let iK = 0; iK < nIK; iK++) {
      const blk = (iM * nIK + iK) * nIb + ib;
      let om = blk * magTile + q;
      let os = signsAt + blk * sgnTile + 2 * c;
      for (let ig = 0; ig < nIg; ig++, om += 128, os += 32, x += 24) {
        const h = x >>> 1; // x is even (K and 24 are): two weights per word
        const x0 = wd[h], x1 = wd[h + 1], x2 = wd[h + 2], x3 = wd[h + 3], x4 = wd[h + 4], x5 = wd[h + 5];
        const x6 = wd[h + 6], x7 = wd[h + 7], x8 = wd[h + 8], x9 = wd[h + 9], x10 = wd[h + 10], x11 = wd[h + 11];
        const u0 = 9 * codes[x0 & 0xffff] + 3 * codes[x0 >>> 16] + codes[x1 & 0xffff];
        const u1 = 9 * codes[x1 >>> 16] + 3 * codes[x2 & 0xffff] + codes[x2 >>> 16];
        const u2 = 9 * codes[x3 & 0xffff] + 3 * codes[x3 >>> 16] + codes[x4 & 0xffff];
        const u3 = 9 * codes[x4 >>> 16] + 3 * codes[x5 & 0xffff] + codes[x5 >>> 16];
        const u4 = 9 * codes[x6 & 0xffff] + 3 * codes[x6 >>> 16] + codes[x7 & 0xffff];
        const u5 = 9 * codes[x7 >>> 16] + 3 * codes[x8 & 0xffff] + codes[x8 >>> 16];
        const u6 = 9 * codes[x9 & 0xffff] + 3 * codes[x9 >>> 16] + codes[x10 & 0xffff];
        const u7 = 9 * codes[x10 >>> 16] + 3 * codes[x11 & 0xffff] + codes[x11 >>> 16];
        o8[om] = mag[u0 * 27 + u1];
        o8[om + 32] = mag[u2 * 27 + u3];
        o8[om + 64] = mag[u4 * 27 + u5];
        o8[om + 96] = mag[u6 * 27 + u7];
        // triple value < 0 iff u < 13; triples 0..3 go to the word's high byte, 4..7 to its low byte
        const hi = spread[((u0 - 13) >>> 31 << 3) | ((u1 - 13) >>> 31 << 2) | ((u2 - 13) >>> 31 << 1) | ((u3 - 13) >>> 31)] >>> half;
        const lo = spread[((u4 - 13) >>> 31 << 3) | ((u5 - 13) >>> 31 << 2) | ((u6 - 13) >>> 31 << 1) | ((u7 - 13) >>> 31)] >>> half;
        // row c comes before row c + 16, so it sets the bytes and row c + 16 adds its bits
        if (half === 0) {
          o8[os] = lo;
          o8[os + 1] = hi;
        } else {
          o8[os] |= lo;
          o8[os + 1] |= hi;
        }
      }
    }
    // then the row's two-weight tail (columns K3..K-1): TL1 pair bytes, 32 columns per chunk
    for (let iK2 = 0; iK2 < nIK2; iK2++) {
      let ot = tailAt + ((iM * nIK2 + iK2) * nIb + ib) * 256 + q;
      for (let iy = 0; iy < 8; iy++, ot += 32, x += 4) {
        const x0 = wd[x >>> 1];
        const x1 = wd[(x >>> 1) + 1];
        o8[ot] = ((3 * codes[x0 & 0xffff] + codes[x0 >>> 16]) << 4) | (3 * codes[x1 & 0xffff] + codes[x1 >>> 16]); // TL1's pair byte
      }
    }
  }
}

/** One row-major pass over the weights; each row's bytes go straight to their places in tile order. */
export function packTl2Codes(src: TernaryCodes, M: number, K: number, w: number, params?: TlParams, out?: Uint8Array): Uint8Array {
  const g = tl2Geometry(M, K, params);
  checkCodeCount("tl2", src.bits.length, M, K);
  checkScale("tl2", w);
  const o8 = outputOf("tl2", out, g.size);
  const wd = pairsOf(src.bits);
  packRows(o8, wd, src.codes, g, M, K);
  o8.fill(0, g.dataEnd);
  writeF32(o8, g.scaleAt, w);
  return o8;
}

export function packTl2(T: Int8Array, M: number, K: number, w: number, params?: TlParams): Uint8Array {
  resolveTlParams("tl2", M, K, params);
  checkTernary(T, M, K);
  return packTl2Codes(codesOfTernary(T), M, K, w, params);
}

const rowOf = (iM: number, BM: number, ib: number, q: number): number => iM * BM + ib * 32 + slotOf(q);

/** visit(byteIndex, firstWeightIndex): magnitude bytes, each covering weights first..first+5 of one row. */
function forEachMagnitudeByte(M: number, K: number, g: Tl2Geometry, visit: (o: number, w: number) => void): void {
  const { BM, BK } = g.p;
  let o = 0;
  for (let iM = 0; iM < M / BM; iM++)
    for (let iK = 0; iK < g.K3 / BK; iK++)
      for (let ib = 0; ib < BM / 32; ib++)
        for (let iy = 0; iy < BK / 6; iy++)
          for (let q = 0; q < 32; q++) visit(o++, rowOf(iM, BM, ib, q) * K + iK * BK + 6 * iy);
}

/** visit(wordByteIndex, bit, firstWeightIndex): sign bits, each for the triple at weights first..first+2. */
function forEachSignBit(M: number, K: number, g: Tl2Geometry, visit: (o: number, bit: number, w: number) => void): void {
  const { BM, BK } = g.p;
  let o = g.signsAt;
  for (let iM = 0; iM < M / BM; iM++)
    for (let iK = 0; iK < g.K3 / BK; iK++)
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
function forEachTailByte(M: number, K: number, g: Tl2Geometry, visit: (o: number, w: number) => void): void {
  const { BM } = g.p;
  let o = g.tailAt;
  for (let iM = 0; iM < M / BM; iM++)
    for (let iK2 = 0; iK2 < g.K2 / 32; iK2++)
      for (let ib = 0; ib < BM / 32; ib++)
        for (let iy = 0; iy < 8; iy++)
          for (let q = 0; q < 32; q++) visit(o++, rowOf(iM, BM, ib, q) * K + g.K3 + iK2 * 32 + 4 * iy);
}

/** Triple value with sign bit s and magnitude mag -> T0, T1, T2 (u = t + 13 in base 3). */
function tripleOf(s: number, mag: number): [number, number, number] {
  const u = (s ? -mag : mag) + 13;
  return [((u / 9) | 0) - 1, (((u / 3) | 0) % 3) - 1, (u % 3) - 1];
}

export function unpackTl2(bytes: Uint8Array, M: number, K: number, params?: TlParams): { T: Int8Array; scale: number } {
  const g = tl2Geometry(M, K, params);
  checkLength("tl2", bytes, g.size, M, K);
  const T = new Int8Array(M * K);
  // signs first, parked in T at the triple's first weight, so the magnitude pass can decode in one go
  forEachSignBit(M, K, g, (o, bit, w) => {
    T[w] = bit >= 8 ? (bytes[o + 1] >>> (bit - 8)) & 1 : (bytes[o] >>> bit) & 1;
  });
  const decodeTriple = (w: number, mag: number, at: number): void => {
    if (mag > 13) throw new BitconvError(`tl2 magnitude byte ${at} holds ${mag}, above 13`);
    [T[w], T[w + 1], T[w + 2]] = tripleOf(T[w], mag);
  };
  forEachMagnitudeByte(M, K, g, (o, w) => {
    decodeTriple(w, bytes[o] >>> 4, o);
    decodeTriple(w + 3, bytes[o] & 15, o);
  });
  forEachTailByte(M, K, g, (o, w) => unpackPairByte(bytes[o], T, w, () => `tl2 tail byte ${o}`));
  return { T, scale: readF32(bytes, g.scaleAt) };
}

/**
 * Counts of the unpacked matrix: a triple's values need its sign bit, which sits in another stream,
 * so TL2 is unpacked first (a magnitude above 13 or a tail index above 8 is refused, not counted).
 */
export function countTl2(bytes: Uint8Array, M: number, K: number, params?: TlParams): PackedCounts {
  const { T, scale } = unpackTl2(bytes, M, K, params);
  return { counts: countTernary(T), tail: { scale, at: tl2Geometry(M, K, params).scaleAt } };
}

/** Position of magnitude group n (32 rows x 6 columns) and its 32-byte sign unit. */
function magnitudeGroup(t: BlockContext, g: Tl2Geometry, n: number) {
  const { BM, BK } = g.p;
  const ny = BK / 6;
  const nb = BM / 32;
  const nK = g.K3 / BK;
  let x = n;
  const iy = x % ny; x = Math.floor(x / ny);
  const ib = x % nb; x = Math.floor(x / nb);
  const iK = x % nK;
  const iM = Math.floor(x / nK);
  const ig = iy >> 2;
  const unit = ((iM * nK + iK) * nb + ib) * (BK / 24) + ig;
  return { iM, iK, ib, iy, ig, signBase: g.signsAt + 32 * unit, k0: iK * BK + 6 * iy };
}

async function decodeMagnitudeGroup(t: BlockContext, g: Tl2Geometry, read: ReadRange, n: number, b: BlockBuilder): Promise<void> {
  const { BM, BK } = g.p;
  const { iM, iK, ib, ig, signBase, k0 } = magnitudeGroup(t, g, n);
  const base = 32 * n;
  const q = await read(base, 32);
  const sq = await read(signBase, 32);
  // sign of the triple at column k of row m: bit (15-i) of u16 word c
  const signOf = (m: number, k: number) => {
    const lr = m - iM * BM - ib * 32;
    const i = 2 * ((k - iK * BK - 24 * ig) / 3) + (lr >= 16 ? 1 : 0);
    const bit = 15 - i;
    const off = 2 * (lr & 15) + (bit >= 8 ? 1 : 0);
    return { s: (sq[off] >> (bit & 7)) & 1, byte: signBase + off, bit: bit & 7, word: lr & 15, wbit: bit };
  };
  const signFields = new Map<number, BitField[]>();
  for (let p = 0; p < 32; p++) {
    const m = rowOf(iM, BM, ib, p);
    const by = b.byte(base + p, q[p], "magnitudes");
    for (const [mag, bits, k] of [[q[p] >> 4, "7:4", k0], [q[p] & 15, "3:0", k0 + 3]] as const) {
      const sg = signOf(m, k);
      const valid = mag <= 13;
      const [T0, T1, T2] = valid ? tripleOf(sg.s, mag) : [0, 0, 0];
      const sign = { byte: sg.byte, bit: sg.bit };
      const vs = [T0, T1, T2].map((v, d) => b.value(m, k + d, v, base + p, bits, sign));
      b.field(by, {
        bits,
        raw: mag,
        meaning: valid
          ? `|t| = ${mag}, sign bit ${sg.s} -> t = ${sg.s ? -mag : mag} = 9*(${signed(T0)}) + 3*(${signed(T1)}) + (${signed(T2)}): row ${m}, columns ${k}..${k + 2}`
          : `magnitude ${mag}: invalid (above 13)`,
        values: vs,
      });
      const list = signFields.get(sg.byte) ?? [];
      list.push({ bits: `${sg.bit}`, raw: sg.s, meaning: `sign of the triple at row ${m}, columns ${k}..${k + 2} (u16 word ${sg.word}, bit ${sg.wbit})`, values: vs });
      signFields.set(sg.byte, list);
    }
  }
  for (let o = 0; o < 32; o++) {
    const by = b.byte(signBase + o, sq[o], "signs");
    for (const f of (signFields.get(signBase + o) ?? []).sort((x, y) => Number(y.bits) - Number(x.bits))) b.field(by, f);
  }
}

async function decodeTailGroup(g: Tl2Geometry, read: ReadRange, j0: number, b: BlockBuilder): Promise<void> {
  const { BM } = g.p;
  let x = j0;
  const nb = BM / 32;
  const nK2 = g.K2 / 32;
  const iy = x % 8; x = Math.floor(x / 8);
  const ib = x % nb; x = Math.floor(x / nb);
  const iK2 = x % nK2;
  const iM = Math.floor(x / nK2);
  const base = g.tailAt + 32 * j0;
  const q = await read(base, 32);
  for (let p = 0; p < 32; p++) {
    const k = g.K3 + iK2 * 32 + 4 * iy;
    pairByteFields(b, b.byte(base + p, q[p], "two-weight tail"), q[p], rowOf(iM, BM, ib, p), k, base + p);
  }
}

function geometryOf(t: BlockContext): Tl2Geometry {
  return tl2Geometry(t.M, t.K, needParams(t, "tl2"));
}

async function decodeTl2Block(t: BlockContext, read: ReadRange, n: number, b: BlockBuilder): Promise<BlockScale> {
  const g = geometryOf(t);
  const nMag = (t.M * g.K3) / 192;
  if (n < nMag) await decodeMagnitudeGroup(t, g, read, n, b);
  else await decodeTailGroup(g, read, n - nMag, b);
  return tailScale(read, g.scaleAt, " = roundup32(P)");
}

export const tl2Blocks: BlockDecoder = {
  definition: "blocks 0 .. M*K3/192-1: one magnitude group of 32 rows x 6 columns (192 values), 32 magnitude bytes at 32*N plus the 64 sign bits for its triples inside its 32-byte sign unit; then the two-weight tail: 32 rows x 4 columns (128 values), 32 bytes each",
  count: (t) => {
    const g = geometryOf(t);
    return (t.M * g.K3) / 192 + (t.M * g.K2) / 128;
  },
  decode: decodeTl2Block,
};

export const tl2: Layout = {
  name: "tl2",
  ggmlType: GgmlType.TL2,
  fileType: FileType.MOSTLY_TL2,
  scaleTensor: false,
  shapeError: tl2ShapeError,
  params: tl2Params,
  nbytes: tl2Nbytes,
  fileNbytes: tl2FileNbytes,
  packCodes: (src, M, K, w, params, _tq, out) => packTl2Codes(src, M, K, w, params, out),
  pack: (T, M, K, w, params) => packTl2(T, M, K, w, params),
  unpack: (bytes, M, K, params) => unpackTl2(bytes, M, K, params),
  count: (bytes, M, K, params) => countTl2(bytes, M, K, params),
  blocks: tl2Blocks,
};
