import { GgmlType, FileType } from "../gguf/types.js";
import { BitconvError } from "../util/errors.js";
import { BlockBuilder, signed, type BlockContext, type BlockDecoder, type BlockScale, type ReadRange } from "./blockDecode.js";
import { codesOfTernary, type TernaryCodes } from "./codes.js";
import { addCounts, TWO_BIT_CODES, type PackedCounts } from "./counts.js";
import { checkCodeCount, checkLength, checkTernary, outputOf, refuseShape } from "./common.js";
import { blockDBits, countTqBlocks, dFields, tensorScale, tqSizeRules, tqBlockPosition, tqBlockScale, UniformBlockScale } from "./tqScale.js";
import type { Layout, TqScale } from "./types.js";

// block_tq2_0 (llama.cpp ggml-common.h, formats/tq2_0.md): qs[64] then f16 d, 256 elements of one row;
// within each half of 128, byte m = c[m] | c[32+m]<<2 | c[64+m]<<4 | c[96+m]<<6.
const QK = 256;
const BLOCK_BYTES = 66;

export const { shapeError: tq2_0ShapeError, fileNbytes: tq2_0FileNbytes, nbytes: tq2_0Nbytes } = tqSizeRules("tq2_0", BLOCK_BYTES);

/** w goes into every block's d only with tqScale "block-d"; otherwise d = 1 (w in a `.scale` tensor). */
export function packTq2_0Codes(src: TernaryCodes, M: number, K: number, w: number, tqScale?: TqScale, out?: Uint8Array): Uint8Array {
  const size = tq2_0Nbytes(M, K);
  checkCodeCount("tq2_0", src.bits.length, M, K);
  const dBits = blockDBits("tq2_0", w, tqScale);
  const o8 = outputOf("tq2_0", out, size);
  const { bits, codes } = src;
  const n = M * K;
  // rows are whole blocks (K % 256 == 0), so blocks are consecutive 256-value runs of the flat tensor
  for (let e = 0, o = 0; e < n; e += QK, o += BLOCK_BYTES) {
    for (let h = 0; h < 2; h++) {
      const eh = e + h * 128;
      const oh = o + h * 32;
      for (let m = 0; m < 32; m++) {
        o8[oh + m] = codes[bits[eh + m]] | (codes[bits[eh + 32 + m]] << 2) | (codes[bits[eh + 64 + m]] << 4) | (codes[bits[eh + 96 + m]] << 6);
      }
    }
    o8[o + 64] = dBits & 0xff;
    o8[o + 65] = dBits >>> 8;
  }
  return o8;
}

export function packTq2_0(T: Int8Array, M: number, K: number, w = 1, tqScale?: TqScale): Uint8Array {
  refuseShape(tq2_0ShapeError(M, K));
  checkTernary(T, M, K);
  return packTq2_0Codes(codesOfTernary(T), M, K, w, tqScale);
}

/** scaleTensor: the `.scale` tensor's value when the file has one. */
export function unpackTq2_0(bytes: Uint8Array, M: number, K: number, scaleTensor?: number): { T: Int8Array; scale: number } {
  const size = tq2_0Nbytes(M, K);
  checkLength("tq2_0", bytes, size, M, K);
  const nBlocks = (M * K) / QK;
  const T = new Int8Array(M * K);
  const d = new UniformBlockScale("tq2_0");
  for (let g = 0; g < nBlocks; g++) {
    const o = g * BLOCK_BYTES;
    let allZero = true;
    for (let j = 0; j < 64; j++) {
      const q = bytes[o + j];
      if (q !== 0x55) allZero = false;
      const e = g * QK + (j >>> 5) * 128 + (j & 31);
      for (let s = 0; s < 4; s++) {
        const c = (q >>> (2 * s)) & 3;
        if (c === 3) {
          throw new BitconvError(`tq2_0 block ${g} holds code 3 (value +2d), which is not ternary`);
        }
        T[e + 32 * s] = c - 1;
      }
    }
    d.add(g, bytes[o + 64] | (bytes[o + 65] << 8), allZero);
  }
  return { T, scale: tensorScale(d.value(), scaleTensor) };
}

/** Counts straight from the qs bytes (four 2-bit codes each; code 3 is counted as invalid). */
export function countTq2_0(bytes: Uint8Array): PackedCounts {
  return countTqBlocks(bytes, BLOCK_BYTES, (c, o) => addCounts(c, TWO_BIT_CODES, bytes, o, o + 64));
}

async function decodeTq2_0Block(t: BlockContext, read: ReadRange, n: number, b: BlockBuilder): Promise<BlockScale> {
  const { row, col0 } = tqBlockPosition(t.K, n);
  const base = n * BLOCK_BYTES;
  const q = await read(base, BLOCK_BYTES);
  // values in element order: element e lives in byte (e div 128)*32 + e mod 32, bits 2*((e mod 128) div 32)
  const idx = new Array<number>(QK);
  for (let e = 0; e < QK; e++) {
    const j = (e >> 7) * 32 + (e & 31);
    const s = (e & 127) >> 5;
    const c = (q[j] >> (2 * s)) & 3;
    idx[e] = b.value(row, col0 + e, c - 1, base + j, `${2 * s + 1}:${2 * s}`);
  }
  for (let j = 0; j < 64; j++) {
    const by = b.byte(base + j, q[j], "qs");
    for (let s = 0; s < 4; s++) {
      const e = (j >> 5) * 128 + s * 32 + (j & 31);
      const c = (q[j] >> (2 * s)) & 3;
      b.field(by, {
        bits: `${2 * s + 1}:${2 * s}`,
        raw: c,
        meaning: c === 3 ? "code 3: not ternary (decodes as +2d)" : `code ${c} -> ${signed(c - 1)}: element ${e} = row ${row}, column ${col0 + e}`,
        values: [idx[e]],
      });
    }
  }
  return tqBlockScale(t, dFields(b, base, q, 64));
}

export const tq2_0Blocks: BlockDecoder = {
  definition: "one ggml block: 256 consecutive values of one row, 66 bytes (qs[64] + f16 d); block N covers row N div (K/256), columns (N mod (K/256))*256 ..+255",
  count: (t) => (t.M * t.K) / QK,
  decode: decodeTq2_0Block,
};

export const tq2_0: Layout = {
  name: "tq2_0",
  ggmlType: GgmlType.TQ2_0,
  fileType: FileType.MOSTLY_TQ2_0,
  scaleTensor: true,
  shapeError: tq2_0ShapeError,
  params: () => undefined,
  nbytes: tq2_0Nbytes,
  fileNbytes: tq2_0FileNbytes,
  packCodes: (src, M, K, w, _params, tqScale, out) => packTq2_0Codes(src, M, K, w, tqScale, out),
  pack: (T, M, K, w, _params, tqScale) => packTq2_0(T, M, K, w, tqScale),
  unpack: (bytes, M, K, _params, scaleTensor) => unpackTq2_0(bytes, M, K, scaleTensor),
  count: (bytes) => countTq2_0(bytes),
  blocks: tq2_0Blocks,
};
