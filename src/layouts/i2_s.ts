import { GgmlType, FileType } from "../gguf/types.js";
import { checkDims, checkLength, checkScale, checkTernary, readF32, throwIfBlocked, writeF32 } from "./common.js";
import type { Layout } from "./types.js";

// bitnet.cpp's x86 I2_S (QK_I2_S = 128): 128 values of the flat tensor -> 32 bytes, byte p holds values
// p, 32+p, 64+p, 96+p from the high bit pair down; then a 32-byte tail with the f32 scale first.
const QK = 128;
const TAIL = 32;

export function i2_sBlockError(M: number, K: number): string | null {
  checkDims(M, K);
  // the kernels address row m at byte m*K/4, so a 128-block must never straddle two rows
  if (K % QK !== 0) return `i2_s needs K (columns, in-features) to be a multiple of 128, got K = ${K}`;
  return null;
}

export function i2_sNbytes(M: number, K: number): number {
  throwIfBlocked(i2_sBlockError(M, K));
  return (M * K) / 4 + TAIL;
}

export function packI2_S(T: Int8Array, M: number, K: number, scale: number): Uint8Array {
  throwIfBlocked(i2_sBlockError(M, K));
  checkTernary(T, M, K);
  checkScale("i2_s", scale);
  const n = M * K;
  const out = new Uint8Array(n / 4 + TAIL);
  for (let blk = 0; blk < n / QK; blk++) {
    const e = blk * QK;
    const o = blk * 32;
    for (let p = 0; p < 32; p++) {
      out[o + p] =
        ((T[e + p] + 1) << 6) | ((T[e + 32 + p] + 1) << 4) | ((T[e + 64 + p] + 1) << 2) | (T[e + 96 + p] + 1);
    }
  }
  writeF32(out, n / 4, scale);
  return out;
}

/** Code 3 never occurs in files bitconv or bitnet.cpp writes; it reads as 0, like the fork's dequantizer. */
const I2_VALUE = Int8Array.of(-1, 0, 1, 0);

export function unpackI2_S(bytes: Uint8Array, M: number, K: number): { T: Int8Array; scale: number } {
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

export const i2_s: Layout = {
  name: "i2_s",
  ggmlType: GgmlType.I2_S,
  fileType: FileType.MOSTLY_I2_S,
  scaleInTensor: true,
  blockError: i2_sBlockError,
  params: () => undefined,
  nbytes: i2_sNbytes,
  pack: (T, M, K, scale) => packI2_S(T, M, K, scale),
  unpack: unpackI2_S,
};
