// llama.cpp's Q8_0 (block_q8_0: f16 d, then 32 int8 q), with the semantics of its reference quantizer
// quantize_row_q8_0_ref: per block amax = max|x|, d = amax/127 and id = 1/d in f32 (0 when d = 0),
// q = roundf(x*id), i.e. the f32 product rounded half away from zero; d is stored as f16(d).

import { f32ToF16Bits } from "./float.js";

export const Q8_0_BLOCK = 32;
export const Q8_0_BYTES = 34;

const fround = Math.fround;

/** C roundf: halves go away from zero. */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

export function q8_0Nbytes(n: number): number {
  return (n / Q8_0_BLOCK) * Q8_0_BYTES;
}

/** x.length must be a multiple of 32 (rows of K % 32 == 0 laid end to end). */
export function quantizeQ8_0(x: Float32Array, out: Uint8Array = new Uint8Array(q8_0Nbytes(x.length))): Uint8Array {
  if (x.length % Q8_0_BLOCK !== 0) throw new Error(`q8_0 needs a multiple of 32 values, got ${x.length}`);
  const nb = x.length / Q8_0_BLOCK;
  for (let i = 0; i < nb; i++) {
    const e = i * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const a = Math.abs(x[e + j]);
      if (a > amax) amax = a;
    }
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    const o = i * Q8_0_BYTES;
    const dBits = f32ToF16Bits(d);
    out[o] = dBits & 0xff;
    out[o + 1] = dBits >>> 8;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      // |x*id| <= 127 up to one f32 rounding, so the value always fits an int8
      out[o + 2 + j] = roundHalfAway(fround(x[e + j] * id)) & 0xff;
    }
  }
  return out;
}


/** Q8_0 blocks back to f32 (a Q8_0 embedding or head of an input GGUF). */
export function dequantizeQ8_0(bytes: Uint8Array, n: number, f16ToF32: (h: number) => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n / Q8_0_BLOCK; i++) {
    const o = i * Q8_0_BYTES;
    const d = f16ToF32(bytes[o] | (bytes[o + 1] << 8));
    for (let j = 0; j < Q8_0_BLOCK; j++) out[i * Q8_0_BLOCK + j] = d * ((bytes[o + 2 + j] << 24) >> 24);
  }
  return out;
}
