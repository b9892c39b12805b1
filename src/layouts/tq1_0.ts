import { GgmlType, FileType } from "../gguf/types.js";
import { pairsOf } from "../util/pairs.js";
import { BlockBuilder, signed, type BlockContext, type BlockDecoder, type BlockScale, type ReadRange } from "./blockDecode.js";
import { codesOfTernary, type TernaryCodes } from "./codes.js";
import { addCounts, countTable, type PackedCounts } from "./counts.js";
import { checkCodeCount, checkLength, checkTernary, outputOf, refuseShape } from "./common.js";
import { blockDBits, countTqBlocks, dFields, tensorScale, tqSizeRules, tqBlockPosition, tqBlockScale, UniformBlockScale } from "./tqScale.js";
import type { Layout, TqScale } from "./types.js";

// block_tq1_0 (llama.cpp ggml-common.h, formats/tq1_0.md): qs[48] | qh[4] | f16 d, 256 elements of one
// row, codes c = T + 1 in base 3, first element most significant: qs[m] = c[m], c[m+32], .., c[m+128]
// (m < 32); qs[32+m] = c[160+m], c[176+m], .., c[224+m] (m < 16); qh[j] = (c[240+j], .., c[252+j]) * 3.
const QK = 256;
const BLOCK_BYTES = 54;

/** base-3 value v (0..242) -> stored byte ceil(v * 256 / 243), so that digit k reads back as ((q*3^k) mod 256)*3 >> 8 */
const ENCODE = Uint8Array.from({ length: 243 }, (_, v) => Math.floor((v * 256 + 242) / 243));

/** DECODE[q*5 + k] = code of digit k (k = 0 most significant) of stored byte q */
const DECODE = (() => {
  const t = new Uint8Array(256 * 5);
  for (let q = 0; q < 256; q++) {
    let p = q;
    for (let k = 0; k < 5; k++) {
      t[q * 5 + k] = (p * 3) >>> 8;
      p = (p * 3) & 0xff;
    }
  }
  return t;
})();

export const { shapeError: tq1_0ShapeError, fileNbytes: tq1_0FileNbytes, nbytes: tq1_0Nbytes } = tqSizeRules("tq1_0", BLOCK_BYTES);

/** w goes into every block's d only with tqScale "block-d"; otherwise d = 1 (w in a `.scale` tensor). */
export function packTq1_0Codes(src: TernaryCodes, M: number, K: number, w: number, tqScale?: TqScale, out?: Uint8Array): Uint8Array {
  const size = tq1_0Nbytes(M, K);
  checkCodeCount("tq1_0", src.bits.length, M, K);
  const dBits = blockDBits("tq1_0", w, tqScale);
  const o8 = outputOf("tq1_0", out, size);
  const { bits, codes } = src;
  const n = M * K;
  const wd = pairsOf(bits); // blocks start at even elements: two neighbouring m per word
  for (let e = 0, o = 0; e < n; e += QK, o += BLOCK_BYTES) {
    for (let m = 0, h = e >>> 1; m < 32; m += 2, h++) {
      const a = wd[h], b = wd[h + 16], c = wd[h + 32], d = wd[h + 48], f = wd[h + 64];
      o8[o + m] = ENCODE[codes[a & 0xffff] * 81 + codes[b & 0xffff] * 27 + codes[c & 0xffff] * 9 + codes[d & 0xffff] * 3 + codes[f & 0xffff]];
      o8[o + m + 1] = ENCODE[codes[a >>> 16] * 81 + codes[b >>> 16] * 27 + codes[c >>> 16] * 9 + codes[d >>> 16] * 3 + codes[f >>> 16]];
    }
    for (let m = 0, h = (e + 160) >>> 1; m < 16; m += 2, h++) {
      const a = wd[h], b = wd[h + 8], c = wd[h + 16], d = wd[h + 24], f = wd[h + 32];
      o8[o + 32 + m] = ENCODE[codes[a & 0xffff] * 81 + codes[b & 0xffff] * 27 + codes[c & 0xffff] * 9 + codes[d & 0xffff] * 3 + codes[f & 0xffff]];
      o8[o + 33 + m] = ENCODE[codes[a >>> 16] * 81 + codes[b >>> 16] * 27 + codes[c >>> 16] * 9 + codes[d >>> 16] * 3 + codes[f >>> 16]];
    }
    for (let j = 0; j < 4; j++) {
      const x = e + 240 + j;
      o8[o + 48 + j] = ENCODE[(codes[bits[x]] * 27 + codes[bits[x + 4]] * 9 + codes[bits[x + 8]] * 3 + codes[bits[x + 12]]) * 3];
    }
    o8[o + 52] = dBits & 0xff;
    o8[o + 53] = dBits >>> 8;
  }
  return o8;
}

export function packTq1_0(T: Int8Array, M: number, K: number, w = 1, tqScale?: TqScale): Uint8Array {
  refuseShape(tq1_0ShapeError(M, K));
  checkTernary(T, M, K);
  return packTq1_0Codes(codesOfTernary(T), M, K, w, tqScale);
}

/** scaleTensor: the `.scale` tensor's value when the file has one. */
export function unpackTq1_0(bytes: Uint8Array, M: number, K: number, scaleTensor?: number): { T: Int8Array; scale: number } {
  const size = tq1_0Nbytes(M, K);
  checkLength("tq1_0", bytes, size, M, K);
  const nBlocks = (M * K) / QK;
  const T = new Int8Array(M * K);
  const d = new UniformBlockScale("tq1_0");
  for (let g = 0; g < nBlocks; g++) {
    const b = g * QK;
    const o = g * BLOCK_BYTES;
    let allZero = true;
    for (let m = 0; m < 32; m++) {
      const q = bytes[o + m] * 5;
      for (let k = 0; k < 5; k++) T[b + 32 * k + m] = DECODE[q + k] - 1;
    }
    for (let m = 0; m < 16; m++) {
      const q = bytes[o + 32 + m] * 5;
      for (let k = 0; k < 5; k++) T[b + 160 + 16 * k + m] = DECODE[q + k] - 1;
    }
    for (let j = 0; j < 4; j++) {
      const q = bytes[o + 48 + j] * 5;
      for (let k = 0; k < 4; k++) T[b + 240 + 4 * k + j] = DECODE[q + k] - 1;
    }
    for (let e = b; e < b + QK; e++) {
      if (T[e] !== 0) {
        allZero = false;
        break;
      }
    }
    d.add(g, bytes[o + 52] | (bytes[o + 53] << 8), allZero);
  }
  return { T, scale: tensorScale(d.value(), scaleTensor) };
}

/** Count tables of a qs byte (5 base-3 digits) and a qh byte (4). */
const QS_COUNTS = countTable((q, add) => {
  for (let k = 0; k < 5; k++) add(DECODE[q * 5 + k] - 1);
});
const QH_COUNTS = countTable((q, add) => {
  for (let k = 0; k < 4; k++) add(DECODE[q * 5 + k] - 1);
});

/** Counts straight from the qs and qh bytes. */
export function countTq1_0(bytes: Uint8Array): PackedCounts {
  return countTqBlocks(bytes, BLOCK_BYTES, (c, o) => {
    addCounts(c, QS_COUNTS, bytes, o, o + 48);
    addCounts(c, QH_COUNTS, bytes, o + 48, o + 52);
  });
}

/** The base-3 bytes of a block: [byte, digits, element of digit k, part]. */
function tq1_0Groups(): [number, number, (k: number) => number, string][] {
  const groups: [number, number, (k: number) => number, string][] = [];
  for (let j = 0; j < 32; j++) groups.push([j, 5, (k) => 32 * k + j, "qs"]);
  for (let m = 0; m < 16; m++) groups.push([32 + m, 5, (k) => 160 + 16 * k + m, "qs"]);
  for (let j = 0; j < 4; j++) groups.push([48 + j, 4, (k) => 240 + 4 * k + j, "qh"]);
  return groups;
}

async function decodeTq1_0Block(t: BlockContext, read: ReadRange, n: number, b: BlockBuilder): Promise<BlockScale> {
  const { row, col0 } = tqBlockPosition(t.K, n);
  const base = n * BLOCK_BYTES;
  const q = await read(base, BLOCK_BYTES);
  const fieldsOf = tq1_0Groups().map(([j, nd, elem, part]) => ({
    j,
    part,
    digits: Array.from({ length: nd }, (_, k) => ({ k, c: DECODE[q[j] * 5 + k], e: elem(k) })),
  }));
  // values in element order
  const where = new Map<number, { j: number; k: number; c: number }>();
  for (const f of fieldsOf) for (const d of f.digits) where.set(d.e, { j: f.j, k: d.k, c: d.c });
  const valueAt = new Array<number>(QK);
  for (let e = 0; e < QK; e++) {
    const w = where.get(e)!;
    valueAt[e] = b.value(row, col0 + e, w.c - 1, base + w.j, `trit ${w.k}`);
  }
  for (const f of fieldsOf) {
    const by = b.byte(base + f.j, q[f.j], f.part);
    for (const d of f.digits) {
      b.field(by, {
        bits: `trit ${d.k}`,
        raw: d.c,
        meaning: `(q*3^${d.k} mod 256)*3 >> 8 = ${d.c} -> ${d.c > 2 ? "invalid" : signed(d.c - 1)}: element ${d.e} = row ${row}, column ${col0 + d.e}`,
        values: [valueAt[d.e]],
      });
    }
  }
  return tqBlockScale(t, dFields(b, base, q, 52));
}

export const tq1_0Blocks: BlockDecoder = {
  definition: "one ggml block: 256 consecutive values of one row, 54 bytes (qs[48] + qh[4] + f16 d); numbered as TQ2_0",
  count: (t) => (t.M * t.K) / QK,
  decode: decodeTq1_0Block,
};

export const tq1_0: Layout = {
  name: "tq1_0",
  ggmlType: GgmlType.TQ1_0,
  fileType: FileType.MOSTLY_TQ1_0,
  scaleTensor: true,
  shapeError: tq1_0ShapeError,
  params: () => undefined,
  nbytes: tq1_0Nbytes,
  fileNbytes: tq1_0FileNbytes,
  packCodes: (src, M, K, w, _params, tqScale, out) => packTq1_0Codes(src, M, K, w, tqScale, out),
  pack: (T, M, K, w, _params, tqScale) => packTq1_0(T, M, K, w, tqScale),
  unpack: (bytes, M, K, _params, scaleTensor) => unpackTq1_0(bytes, M, K, scaleTensor),
  count: (bytes) => countTq1_0(bytes),
  blocks: tq1_0Blocks,
};
