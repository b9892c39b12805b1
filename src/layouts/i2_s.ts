import { GgmlType, FileType } from "../gguf/types.js";
import { BlockBuilder, signed, tailScale, type BlockContext, type BlockDecoder, type BlockScale, type ReadRange } from "./blockDecode.js";
import { codesOfTernary, type TernaryCodes } from "./codes.js";
import { addCounts, countTable, emptyCounts, type PackedCounts } from "./counts.js";
import { checkCodeCount, checkDims, checkLength, checkScale, checkTernary, outputOf, readF32, refuseShape, writeF32 } from "./common.js";
import type { Layout } from "./types.js";

// bitnet.cpp's x86 I2_S (QK_I2_S = 128, formats/i2_s.md): 128 values of the flat tensor -> 32 bytes,
// byte p holds values p, 32+p, 64+p, 96+p from the high bit pair down; then a 32-byte tail with the
// f32 scale first.
const QK = 128;
const TAIL = 32;

export function i2_sShapeError(M: number, K: number): string | null {
  checkDims(M, K);
  // the kernels address row m at byte m*K/4, so a 128-block must never straddle two rows
  if (K % QK !== 0) return `i2_s needs K (columns, in-features) to be a multiple of 128, got K = ${K}`;
  return null;
}

/** The fork's ggml_nbytes: 2 bits per value and the 32-byte tail, whatever the shape. */
export function i2_sFileNbytes(M: number, K: number): number | string {
  const n = M * K;
  return n % 4 === 0 ? n / 4 + TAIL : `${n} elements is not a multiple of 4 (I2_S packs 4 per byte)`;
}

export function i2_sNbytes(M: number, K: number): number {
  refuseShape(i2_sShapeError(M, K));
  return (M * K) / 4 + TAIL;
}

export function packI2_sCodes(src: TernaryCodes, M: number, K: number, w: number, out?: Uint8Array): Uint8Array {
  const size = i2_sNbytes(M, K);
  checkCodeCount("i2_s", src.bits.length, M, K);
  checkScale("i2_s", w);
  const o8 = outputOf("i2_s", out, size);
  const { bits, codes } = src;
  const n = M * K;
  for (let e = 0, o = 0; e < n; e += QK, o += 32) {
    for (let p = 0; p < 32; p++) {
      o8[o + p] = (codes[bits[e + p]] << 6) | (codes[bits[e + 32 + p]] << 4) | (codes[bits[e + 64 + p]] << 2) | codes[bits[e + 96 + p]];
    }
  }
  o8.fill(0, n / 4); // the tail: scale, then zeros (out may be a recycled buffer)
  writeF32(o8, n / 4, w);
  return o8;
}

export function packI2_s(T: Int8Array, M: number, K: number, w: number): Uint8Array {
  refuseShape(i2_sShapeError(M, K));
  checkTernary(T, M, K);
  return packI2_sCodes(codesOfTernary(T), M, K, w);
}

/** Code 3 never occurs in files bitconv or bitnet.cpp writes; it reads as 0, like the fork's dequantizer. */
const I2_VALUE = Int8Array.of(-1, 0, 1, 0);

export function unpackI2_s(bytes: Uint8Array, M: number, K: number): { T: Int8Array; scale: number } {
  const size = i2_sNbytes(M, K);
  checkLength("i2_s", bytes, size, M, K);
  const n = M * K;
  const T = new Int8Array(n);
  for (let blk = 0; blk < n / QK; blk++) {
    const e = blk * QK;
    const o = blk * 32;
    for (let p = 0; p < 32; p++) {
      const q = bytes[o + p];
      T[e + p] = I2_VALUE[q >>> 6];
      T[e + 32 + p] = I2_VALUE[(q >>> 4) & 3];
      T[e + 64 + p] = I2_VALUE[(q >>> 2) & 3];
      T[e + 96 + p] = I2_VALUE[q & 3];
    }
  }
  return { T, scale: readF32(bytes, n / 4) };
}

/** Four 2-bit codes per byte through I2_VALUE (code 3 reads as 0). */
const CODE_COUNTS = countTable((q, add) => {
  for (let s = 0; s < 4; s++) add(I2_VALUE[(q >> (2 * s)) & 3]);
});

/** Counts straight from the M*K/4 code bytes (the tail is not counted); the scale from the tail. */
export function countI2_s(bytes: Uint8Array, M: number, K: number): PackedCounts {
  const n = (M * K) / 4;
  return { counts: addCounts(emptyCounts(), CODE_COUNTS, bytes, 0, n), tail: { scale: readF32(bytes, n), at: n } };
}

async function decodeI2_sBlock(t: BlockContext, read: ReadRange, n: number, b: BlockBuilder): Promise<BlockScale> {
  const base = n * 32;
  const q = await read(base, 32);
  const first = n * QK;
  const idx = new Array<number>(QK);
  const shift = (j: number) => 6 - 2 * (j >> 5);
  for (let j = 0; j < QK; j++) {
    const i = first + j;
    const c = (q[j & 31] >> shift(j)) & 3;
    idx[j] = b.value(Math.floor(i / t.K), i % t.K, I2_VALUE[c], base + (j & 31), `${shift(j) + 1}:${shift(j)}`);
  }
  for (let p = 0; p < 32; p++) {
    const by = b.byte(base + p, q[p], "codes");
    for (let g = 0; g < 4; g++) {
      const j = 32 * g + p;
      const s = shift(j);
      const c = (q[p] >> s) & 3;
      b.field(by, {
        bits: `${s + 1}:${s}`,
        raw: c,
        meaning: c === 3 ? "code 3: unused (the fork reads it as 0)" : `code ${c} -> ${signed(c - 1)}: value ${first + j} = row ${Math.floor((first + j) / t.K)}, column ${(first + j) % t.K}`,
        values: [idx[j]],
      });
    }
  }
  return tailScale(read, (t.M * t.K) / 4, "");
}

export const i2_sBlocks: BlockDecoder = {
  definition: "128 consecutive values of the flattened row-major tensor (values N*128 ..+127), 32 bytes at byte 32*N",
  count: (t) => (t.M * t.K) / QK,
  decode: decodeI2_sBlock,
};

export const i2_s: Layout = {
  name: "i2_s",
  ggmlType: GgmlType.I2_S,
  fileType: FileType.MOSTLY_I2_S,
  scaleTensor: false,
  shapeError: i2_sShapeError,
  params: () => undefined,
  nbytes: i2_sNbytes,
  fileNbytes: i2_sFileNbytes,
  packCodes: (src, M, K, w, _params, _tq, out) => packI2_sCodes(src, M, K, w, out),
  pack: (T, M, K, w) => packI2_s(T, M, K, w),
  unpack: (bytes, M, K) => unpackI2_s(bytes, M, K),
  count: (bytes, M, K) => countI2_s(bytes, M, K),
  blocks: i2_sBlocks,
};
