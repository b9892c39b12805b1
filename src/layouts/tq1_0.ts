import { GgmlType, FileType } from "../gguf/types.js";
import { checkDims, checkLength, checkTernary, throwIfBlocked } from "./common.js";
import { blockScaleBits, UniformBlockScale } from "./tqScale.js";
import type { Layout } from "./types.js";

// block_tq1_0 (llama.cpp ggml-common.h): qs[48] | qh[4] | f16 d, 256 elements of one row
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

export function tq1_0BlockError(M: number, K: number): string | null {
  checkDims(M, K);
  if (K % QK !== 0) return `tq1_0 needs K (columns, in-features) to be a multiple of 256, got K = ${K}`;
  return null;
}

export function tq1_0Nbytes(M: number, K: number): number {
  throwIfBlocked(tq1_0BlockError(M, K));
  return (M * K / QK) * BLOCK_BYTES;
}

/** d: the block scale stored (as f16) in every block; 1 leaves the per-tensor scale to a `.scale` tensor. */
export function packTq1_0(T: Int8Array, M: number, K: number, d = 1): Uint8Array {
  throwIfBlocked(tq1_0BlockError(M, K));
  checkTernary(T, M, K);
  const dBits = blockScaleBits("tq1_0", d);
  const nBlocks = (M * K) / QK;
  const out = new Uint8Array(nBlocks * BLOCK_BYTES);
  for (let g = 0; g < nBlocks; g++) {
    const b = g * QK;
    const o = g * BLOCK_BYTES;
    // c = T + 1; the constant 121 = base3(1,1,1,1,1) adds the +1 to all five digits at once
    for (let m = 0; m < 32; m++) {
      const e = b + m;
      out[o + m] = ENCODE[121 + T[e] * 81 + T[e + 32] * 27 + T[e + 64] * 9 + T[e + 96] * 3 + T[e + 128]];
    }
    for (let m = 0; m < 16; m++) {
      const e = b + 160 + m;
      out[o + 32 + m] = ENCODE[121 + T[e] * 81 + T[e + 16] * 27 + T[e + 32] * 9 + T[e + 48] * 3 + T[e + 64]];
    }
    for (let j = 0; j < 4; j++) {
      const e = b + 240 + j;
      out[o + 48 + j] = ENCODE[(40 + T[e] * 27 + T[e + 4] * 9 + T[e + 8] * 3 + T[e + 12]) * 3];
    }
    out[o + 52] = dBits & 0xff;
    out[o + 53] = dBits >>> 8;
  }
  return out;
}

export function unpackTq1_0(bytes: Uint8Array, M: number, K: number): { T: Int8Array; scale: number } {
  const size = tq1_0Nbytes(M, K);
  checkLength("tq1_0", bytes, size, M, K);
  const nBlocks = (M * K) / QK;
  const T = new Int8Array(M * K);
  const scale = new UniformBlockScale("tq1_0");
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
    scale.add(g, bytes[o + 52] | (bytes[o + 53] << 8), allZero);
  }
  return { T, scale: scale.value() };
}

export const tq1_0: Layout = {
  name: "tq1_0",
  ggmlType: GgmlType.TQ1_0,
  fileType: FileType.MOSTLY_TQ1_0,
  scaleInTensor: false,
  blockError: tq1_0BlockError,
  params: () => undefined,
  nbytes: tq1_0Nbytes,
  pack: (T, M, K) => packTq1_0(T, M, K),
  unpack: unpackTq1_0,
};
