import { GgmlType, FileType } from "../gguf/types.js";
import { BitconvError } from "../util/errors.js";
import { checkDims, checkLength, checkTernary, throwIfBlocked } from "./common.js";
import { blockScaleBits, UniformBlockScale } from "./tqScale.js";
import type { Layout } from "./types.js";

// block_tq2_0 (llama.cpp ggml-common.h): qs[64] then f16 d, 256 elements of one row
const QK = 256;
const BLOCK_BYTES = 66;

export function tq2_0BlockError(M: number, K: number): string | null {
  checkDims(M, K);
  if (K % QK !== 0) return `tq2_0 needs K (columns, in-features) to be a multiple of 256, got K = ${K}`;
  return null;
}

export function tq2_0Nbytes(M: number, K: number): number {
  throwIfBlocked(tq2_0BlockError(M, K));
  return (M * K / QK) * BLOCK_BYTES;
}

/** d: the block scale stored (as f16) in every block; 1 leaves the per-tensor scale to a `.scale` tensor. */
export function packTq2_0(T: Int8Array, M: number, K: number, d = 1): Uint8Array {
  throwIfBlocked(tq2_0BlockError(M, K));
  checkTernary(T, M, K);
  const dBits = blockScaleBits("tq2_0", d);
  const nBlocks = (M * K) / QK;
  const out = new Uint8Array(nBlocks * BLOCK_BYTES);
  // rows are whole blocks (K % 256 == 0), so blocks are consecutive 256-value runs of the flat tensor
  for (let g = 0; g < nBlocks; g++) {
    const o = g * BLOCK_BYTES;
    for (let h = 0; h < 2; h++) {
      const e = g * QK + h * 128;
      for (let m = 0; m < 32; m++) {
        out[o + h * 32 + m] =
          (T[e + m] + 1) | ((T[e + 32 + m] + 1) << 2) | ((T[e + 64 + m] + 1) << 4) | ((T[e + 96 + m] + 1) << 6);
      }
    }
    out[o + 64] = dBits & 0xff;
    out[o + 65] = dBits >>> 8;
  }
  return out;
}

export function unpackTq2_0(bytes: Uint8Array, M: number, K: number): { T: Int8Array; scale: number } {
  const size = tq2_0Nbytes(M, K);
  checkLength("tq2_0", bytes, size, M, K);
  const nBlocks = (M * K) / QK;
  const T = new Int8Array(M * K);
  const scale = new UniformBlockScale("tq2_0");
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
    scale.add(g, bytes[o + 64] | (bytes[o + 65] << 8), allZero);
  }
  return { T, scale: scale.value() };
}

export const tq2_0: Layout = {
  name: "tq2_0",
  ggmlType: GgmlType.TQ2_0,
  fileType: FileType.MOSTLY_TQ2_0,
  scaleInTensor: false,
  blockError: tq2_0BlockError,
  params: () => undefined,
  nbytes: tq2_0Nbytes,
  pack: (T, M, K) => packTq2_0(T, M, K),
  unpack: unpackTq2_0,
};
