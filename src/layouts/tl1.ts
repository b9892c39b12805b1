import { GgmlType, FileType } from "../gguf/types.js";
import { BitconvError } from "../util/errors.js";
import { checkLength, checkScale, checkTernary, readF32, writeF32 } from "./common.js";
import { resolveTlParams, tl1BlockError, tl1Params } from "./tlParams.js";
import type { Layout, TlParams } from "./types.js";

// bitnet.cpp TL1 (utils/convert-hf-to-gguf-bitnet.py preprocess_weights_tl1): each pair of neighbouring
// weights along K becomes a 4-bit index 3*T0 + T1 + 4; a byte holds two pairs (4 weights of one row),
// bytes are emitted tile by tile, 16 rows at a time. Then the f32 scale in a 32-byte tail.

export function tl1Nbytes(M: number, K: number, params?: TlParams): number {
  resolveTlParams("tl1", M, K, params);
  return (M * K) / 4 + 32;
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

export function packTl1(T: Int8Array, M: number, K: number, scale: number, params?: TlParams): Uint8Array {
  const p = resolveTlParams("tl1", M, K, params);
  checkTernary(T, M, K);
  checkScale("tl1", scale);
  const out = new Uint8Array((M * K) / 4 + 32);
  forEachTl1Byte(M, K, p, (o, w) => {
    out[o] = ((3 * T[w] + T[w + 1] + 4) << 4) | (3 * T[w + 2] + T[w + 3] + 4);
  });
  writeF32(out, (M * K) / 4, scale);
  return out;
}

export function unpackTl1(bytes: Uint8Array, M: number, K: number, params?: TlParams): { T: Int8Array; scale: number } {
  const p = resolveTlParams("tl1", M, K, params);
  checkLength("tl1", bytes, (M * K) / 4 + 32, M, K);
  const T = new Int8Array(M * K);
  forEachTl1Byte(M, K, p, (o, w) => {
    const q = bytes[o];
    const hi = q >>> 4;
    const lo = q & 15;
    if (hi > 8 || lo > 8) throw new BitconvError(`tl1 byte ${o} = 0x${q.toString(16)} holds an index above 8`);
    T[w] = ((hi / 3) | 0) - 1;
    T[w + 1] = (hi % 3) - 1;
    T[w + 2] = ((lo / 3) | 0) - 1;
    T[w + 3] = (lo % 3) - 1;
  });
  return { T, scale: readF32(bytes, (M * K) / 4) };
}

export const tl1: Layout = {
  name: "tl1",
  ggmlType: GgmlType.TL1,
  fileType: FileType.MOSTLY_TL1,
  scaleInTensor: true,
  blockError: tl1BlockError,
  params: tl1Params,
  nbytes: tl1Nbytes,
  pack: packTl1,
  unpack: unpackTl1,
};
