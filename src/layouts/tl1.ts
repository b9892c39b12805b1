import { GgmlType, FileType } from "../gguf/types.js";
import { BitconvError } from "../util/errors.js";
import { pairsOf } from "../util/pairs.js";
import { BlockBuilder, signed, tailScale, type BlockByte, type BlockContext, type BlockDecoder, type BlockScale, type ReadRange } from "./blockDecode.js";
import { codesOfTernary, type TernaryCodes } from "./codes.js";
import { addCounts, countTable, emptyCounts, type PackedCounts } from "./counts.js";
import { checkCodeCount, checkLength, checkScale, checkTernary, outputOf, readF32, writeF32 } from "./common.js";
import { resolveTlParams, tl1Params, tl1ShapeError } from "./tlParams.js";
import type { Layout, TlParams } from "./types.js";

// bitnet.cpp TL1 (utils/convert-hf-to-gguf-bitnet.py preprocess_weights_tl1, formats/tl1.md): each pair
// of neighbouring weights along K becomes a 4-bit index 3*T0 + T1 + 4 (= 3*c0 + c1 in codes); a byte
// holds two pairs (4 weights of one row), bytes are emitted tile by tile, 16 rows at a time. Then the
// f32 scale in a 32-byte tail. TL2's two-weight tail uses the same pair bytes.

export function tl1Nbytes(M: number, K: number, params?: TlParams): number {
  resolveTlParams("tl1", M, K, params);
  return (M * K) / 4 + 32;
}

/** The fork's ggml_nbytes: 2 bits per value and the 32-byte tail, whatever the shape. */
export function tl1FileNbytes(M: number, K: number): number | string {
  const n = M * K;
  return n % 4 === 0 ? n / 4 + 32 : `${n} elements is not a multiple of 4 (TL1 packs 4 per byte)`;
}

export function packTl1Codes(src: TernaryCodes, M: number, K: number, w: number, params?: TlParams, out?: Uint8Array): Uint8Array {
  const { BM, BK, bm } = resolveTlParams("tl1", M, K, params);
  checkCodeCount("tl1", src.bits.length, M, K);
  checkScale("tl1", w);
  const o8 = outputOf("tl1", out, (M * K) / 4 + 32);
  const codes = src.codes;
  // byte (iM, iK, ib, iy, ir, ip, r) of the emission order sits at the sum of these strides (locals,
  // not an object's fields: the inner loop is the hot one of a TL1 conversion)
  const by = 256 / bm; // columns per compute block
  const sIp = 16;
  const sIr = (by / 4) * sIp;
  const sIy = (bm / 16) * sIr;
  const sIb = (BK / by) * sIy;
  const sIK = (BM / bm) * sIb;
  const sIM = (K / BK) * sIK;
  const nIK = K / BK;
  const nIy = BK / by;
  const nIp = by / 4;
  const wd = pairsOf(src.bits); // K is a multiple of 4, so every 4-weight run starts on a word
  // one row-major pass; each row's bytes go straight to their places in emission order
  for (let m = 0; m < M; m++) {
    const iM = (m / BM) | 0;
    const rt = m - iM * BM;
    const ib = (rt / bm) | 0;
    const rb = rt - ib * bm;
    const rowAt = iM * sIM + ib * sIb + (rb >>> 4) * sIr + (rb & 15);
    let h = (m * K) >>> 1;
    for (let iK = 0; iK < nIK; iK++) {
      for (let iy = 0, oy = rowAt + iK * sIK; iy < nIy; iy++, oy += sIy) {
        for (let ip = 0, o = oy; ip < nIp; ip++, o += sIp, h += 2) {
          const x0 = wd[h];
          const x1 = wd[h + 1];
          // the pair byte of 4 neighbouring codes: (3*c0 + c1) << 4 | (3*c2 + c3), written out (through
          // a one-line function this loop packed 8-15 % slower)
          o8[o] = ((3 * codes[x0 & 0xffff] + codes[x0 >>> 16]) << 4) | (3 * codes[x1 & 0xffff] + codes[x1 >>> 16]);
        }
      }
    }
  }
  o8.fill(0, (M * K) / 4);
  writeF32(o8, (M * K) / 4, w);
  return o8;
}

export function packTl1(T: Int8Array, M: number, K: number, w: number, params?: TlParams): Uint8Array {
  resolveTlParams("tl1", M, K, params);
  checkTernary(T, M, K);
  return packTl1Codes(codesOfTernary(T), M, K, w, params);
}

/**
 * Calls visit(byteIndex, firstWeightIndex) for every data byte in emission order; the byte covers
 * weights first..first+3 of one row (first = m*K + k).
 */
function forEachTl1Byte(M: number, K: number, p: TlParams, visit: (o: number, w: number) => void): void {
  const { BM, BK, bm } = p;
  const by = 256 / bm;
  let o = 0;
  for (let iM = 0; iM < M / BM; iM++)
    for (let iK = 0; iK < K / BK; iK++)
      for (let ib = 0; ib < BM / bm; ib++)
        for (let iy = 0; iy < BK / by; iy++)
          for (let ir = 0; ir < bm / 16; ir++)
            for (let ip = 0; ip < by / 4; ip++) {
              const m0 = iM * BM + ib * bm + ir * 16;
              const k = iK * BK + iy * by + 4 * ip;
              for (let r = 0; r < 16; r++) visit(o++, (m0 + r) * K + k);
            }
}

/** Writes the four weights of pair byte q at T[w..w+3]; `what` names the byte in the error. */
export function unpackPairByte(q: number, T: Int8Array, w: number, what: () => string): void {
  const hi = q >>> 4;
  const lo = q & 15;
  if (hi > 8 || lo > 8) throw new BitconvError(`${what()} = 0x${q.toString(16)} holds an index above 8`);
  T[w] = ((hi / 3) | 0) - 1;
  T[w + 1] = (hi % 3) - 1;
  T[w + 2] = ((lo / 3) | 0) - 1;
  T[w + 3] = (lo % 3) - 1;
}

export function unpackTl1(bytes: Uint8Array, M: number, K: number, params?: TlParams): { T: Int8Array; scale: number } {
  const p = resolveTlParams("tl1", M, K, params);
  checkLength("tl1", bytes, (M * K) / 4 + 32, M, K);
  const T = new Int8Array(M * K);
  forEachTl1Byte(M, K, p, (o, w) => unpackPairByte(bytes[o], T, w, () => `tl1 byte ${o}`));
  return { T, scale: readF32(bytes, (M * K) / 4) };
}

/** Count table of a pair byte: two 4-bit indices 3*T0 + T1 + 4; an index above 8 is two invalid values. */
export const PAIR_BYTE_COUNTS = countTable((q, add) => {
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

/** Counts straight from the M*K/4 index bytes (in any order, so without the block parameters); the scale from the tail. */
export function countTl1(bytes: Uint8Array, M: number, K: number): PackedCounts {
  const n = (M * K) / 4;
  return { counts: addCounts(emptyCounts(), PAIR_BYTE_COUNTS, bytes, 0, n), tail: { scale: readF32(bytes, n), at: n } };
}

/** The two index fields of pair byte q (weights k..k+3 of row m) for inspect. */
export function pairByteFields(b: BlockBuilder, by: BlockByte, q: number, m: number, k: number, byteOff: number): void {
  for (const [half, bits, col] of [[q >> 4, "7:4", k], [q & 15, "3:0", k + 2]] as const) {
    const valid = half <= 8;
    const t0 = valid ? Math.floor(half / 3) - 1 : 0;
    const t1 = valid ? (half % 3) - 1 : 0;
    const v0 = b.value(m, col, t0, byteOff, bits);
    const v1 = b.value(m, col + 1, t1, byteOff, bits);
    b.field(by, {
      bits,
      raw: half,
      meaning: valid
        ? `idx ${half} = 3*(${signed(t0)}) + (${signed(t1)}) + 4 -> row ${m}, columns ${col}, ${col + 1}`
        : `idx ${half}: invalid (above 8)`,
      values: [v0, v1],
    });
  }
}

export function needParams(t: BlockContext, layout: string): TlParams {
  if (!t.params) throw new BitconvError(`tensor ${t.name}: ${layout} block parameters (BM, BK, bm) are unknown`);
  return t.params;
}

async function decodeTl1Block(t: BlockContext, read: ReadRange, n: number, b: BlockBuilder): Promise<BlockScale> {
  const { BM, BK, bm } = needParams(t, "tl1");
  const by = 256 / bm;
  const np = by / 4;
  const nr = bm / 16;
  const ny = BK / by;
  const nb = BM / bm;
  const nK = t.K / BK;
  let x = n;
  const ip = x % np; x = Math.floor(x / np);
  const ir = x % nr; x = Math.floor(x / nr);
  const iy = x % ny; x = Math.floor(x / ny);
  const ib = x % nb; x = Math.floor(x / nb);
  const iK = x % nK;
  const iM = Math.floor(x / nK);
  const base = n * 16;
  const q = await read(base, 16);
  for (let r = 0; r < 16; r++) {
    const m = iM * BM + ib * bm + ir * 16 + r;
    const k = iK * BK + iy * by + 4 * ip;
    pairByteFields(b, b.byte(base + r, q[r], "indices"), q[r], m, k, base + r);
  }
  return tailScale(read, (t.M * t.K) / 4, "");
}

export const tl1Blocks: BlockDecoder = {
  definition: "one 16-byte emission group: 16 consecutive rows x 4 consecutive columns (64 values), bytes 16*N ..+15 in the layout's emission order",
  count: (t) => (t.M * t.K) / 64,
  decode: decodeTl1Block,
};

export const tl1: Layout = {
  name: "tl1",
  ggmlType: GgmlType.TL1,
  fileType: FileType.MOSTLY_TL1,
  scaleTensor: false,
  shapeError: tl1ShapeError,
  params: tl1Params,
  nbytes: tl1Nbytes,
  fileNbytes: tl1FileNbytes,
  packCodes: (src, M, K, w, params, _tq, out) => packTl1Codes(src, M, K, w, params, out),
  pack: (T, M, K, w, params) => packTl1(T, M, K, w, params),
  unpack: (bytes, M, K, params) => unpackTl1(bytes, M, K, params),
  count: (bytes, M, K) => countTl1(bytes, M, K),
  blocks: tl1Blocks,
};
