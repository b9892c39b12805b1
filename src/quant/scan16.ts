// NaN/Inf scans over 16-bit floats (bf16, f16), two values per 32-bit word: a float is non-finite iff
// its exponent bits are all ones (`exp` 0x7f80 for bf16, 0x7c00 for f16).

import { pairsOf } from "../util/pairs.js";

/**
 * dst = lut[src] two per word, and a flag: true when some source pattern is NaN/Inf (`srcExp`) or
 * some result is (`dstExp`: e.g. an f16 overflow).
 */
export function map16Checked(
  src: Uint16Array,
  lut: Uint16Array,
  srcExp: number,
  dstExp: number,
  out: Uint16Array = new Uint16Array(src.length),
): { out: Uint16Array; bad: boolean } {
  const sw = pairsOf(src);
  const dw = new Uint32Array(out.buffer, out.byteOffset, sw.length);
  const sPair = srcExp * 0x10001;
  const dPair = dstExp * 0x10001;
  let bad = false;
  for (let i = 0; i < sw.length; i++) {
    const x = sw[i];
    const y = lut[x & 0xffff] | (lut[x >>> 16] << 16);
    dw[i] = y;
    // a half is non-finite iff none of its exponent bits is clear
    const m = (~x & sPair) | 0;
    const n = (~y & dPair) | 0;
    if ((m & 0xffff) === 0 || m >>> 16 === 0 || (n & 0xffff) === 0 || n >>> 16 === 0) bad = true;
  }
  if (src.length & 1) {
    const x = src[src.length - 1];
    const y = lut[x];
    out[src.length - 1] = y;
    if ((x & srcExp) === srcExp || (y & dstExp) === dstExp) bad = true;
  }
  return { out, bad };
}

/** True iff some 16-bit value is NaN/Inf. */
export function anyNonFinite16(bits: Uint16Array, exp: number): boolean {
  const w = pairsOf(bits);
  const pair = exp * 0x10001;
  for (let i = 0; i < w.length; i++) {
    const m = (~w[i] & pair) | 0;
    if ((m & 0xffff) === 0 || m >>> 16 === 0) return true;
  }
  return bits.length % 2 === 1 && (bits[bits.length - 1] & exp) === exp;
}

/** Index of the first NaN/Inf 16-bit value, or -1. */
export function firstNonFinite16(bits: Uint16Array, exp: number): number {
  for (let i = 0; i < bits.length; i++) if ((bits[i] & exp) === exp) return i;
  return -1;
}
