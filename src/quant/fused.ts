// Fast paths for 16-bit float masters (bf16, f16), the 2B-4T-bf16 case: every weight is one of 65536
// bit patterns, so |W| and the ternary code of each pattern come from tables, and the hot loops read
// two weights per 32-bit word. The fused packers go from bit patterns straight to the layout bytes
// (no intermediate ternary matrix); test/quant.test.ts checks them byte for byte against src/layouts.

import { bf16ToF32, f16ToF32 } from "./float.js";
import { tl2DataBound } from "../layouts/tl2.js";
import type { TlParams } from "../layouts/types.js";

export type Format16 = "bf16" | "f16";

const absTables: Partial<Record<Format16, Float64Array>> = {};

/** |value| of every 15-bit magnitude pattern (sign dropped); NaN/Inf patterns stay NaN/Inf. */
function absTable(format: Format16): Float64Array {
  let t = absTables[format];
  if (!t) {
    t = new Float64Array(32768);
    const toF32 = format === "bf16" ? bf16ToF32 : f16ToF32;
    for (let b = 0; b < 32768; b++) t[b] = toF32(b);
    absTables[format] = t;
  }
  return t;
}

/** Two-per-word view of a 16-bit array (needs a 4-byte aligned start); the odd last element is separate. */
export function words(bits: Uint16Array): Uint32Array {
  return new Uint32Array(bits.buffer, bits.byteOffset, bits.length >>> 1);
}

/**
 * Sum of |W| in f64 with two accumulators, in a fixed order (deterministic). NaN or Inf anywhere
 * makes the sum non-finite, which the caller turns into an error.
 */
export function absSum16(bits: Uint16Array, format: Format16): number {
  const abs = absTable(format);
  const w = words(bits);
  let a = 0;
  let b = 0;
  for (let i = 0; i < w.length; i++) {
    const x = w[i];
    a += abs[x & 0x7fff];
    b += abs[(x >>> 16) & 0x7fff];
  }
  if (bits.length & 1) a += abs[bits[bits.length - 1] & 0x7fff];
  return a + b;
}

/** T = code - 1 for every weight, two per word. */
export function ternaryFromCodes(bits: Uint16Array, codes: Uint8Array, T: Int8Array = new Int8Array(bits.length)): Int8Array {
  const w = words(bits);
  for (let i = 0, j = 0; i < w.length; i++, j += 2) {
    const x = w[i];
    T[j] = codes[x & 0xffff] - 1;
    T[j + 1] = codes[x >>> 16] - 1;
  }
  if (bits.length & 1) T[bits.length - 1] = codes[bits[bits.length - 1]] - 1;
  return T;
}

/**
 * I2_S (formats/i2_s.md): each run of 128 values -> 32 bytes, byte p = c[p]<<6 | c[32+p]<<4 |
 * c[64+p]<<2 | c[96+p]; then the f32 scale at byte n/4 of a 32-byte zero tail. n % 128 == 0.
 */
export function packI2sFromCodes(bits: Uint16Array, codes: Uint8Array, scale: number, out: Uint8Array = new Uint8Array(bits.length / 4 + 32)): Uint8Array {
  const n = bits.length;
  out.fill(0, n / 4); // the tail: scale, then zeros (out may be a recycled buffer)
  for (let e = 0, o = 0; e < n; e += 128, o += 32) {
    for (let p = 0; p < 32; p++) {
      out[o + p] = (codes[bits[e + p]] << 6) | (codes[bits[e + 32 + p]] << 4) | (codes[bits[e + 64 + p]] << 2) | codes[bits[e + 96 + p]];
    }
  }
  new DataView(out.buffer).setFloat32(n / 4, scale, true);
  return out;
}

/**
 * TQ2_0 (formats/tq2_0.md): blocks of 256 values -> qs[64] + f16 d; within each half of 128,
 * byte m = c[m] | c[32+m]<<2 | c[64+m]<<4 | c[96+m]<<6. n % 256 == 0.
 */
export function packTq2_0FromCodes(bits: Uint16Array, codes: Uint8Array, dBits: number, out: Uint8Array = new Uint8Array((bits.length / 256) * 66)): Uint8Array {
  const n = bits.length;
  const dLo = dBits & 0xff;
  const dHi = dBits >>> 8;
  for (let e = 0, o = 0; e < n; e += 256, o += 66) {
    for (let h = 0; h < 2; h++) {
      const eh = e + h * 128;
      const oh = o + h * 32;
      for (let m = 0; m < 32; m++) {
        out[oh + m] = codes[bits[eh + m]] | (codes[bits[eh + 32 + m]] << 2) | (codes[bits[eh + 64 + m]] << 4) | (codes[bits[eh + 96 + m]] << 6);
      }
    }
    out[o + 64] = dLo;
    out[o + 65] = dHi;
  }
  return out;
}

/** TQ1_0's base-3 byte for a 5-digit value v (0..242): ceil(v * 256 / 243) (formats/tq1_0.md). */
const TQ1_BYTE = Uint8Array.from({ length: 243 }, (_, v) => Math.floor((v * 256 + 242) / 243));

/**
 * TQ1_0 (formats/tq1_0.md): blocks of 256 values -> qs[48] | qh[4] | f16 d, codes c = T + 1 packed in
 * base 3, first element most significant: qs[m] = c[m], c[m+32], .., c[m+128] (m < 32);
 * qs[32+m] = c[160+m], c[176+m], .., c[224+m] (m < 16); qh[j] = (c[240+j], .., c[252+j]) * 3.
 * `bits` must start 4-byte aligned (read two per word, like absSum16).
 */
export function packTq1_0FromCodes(bits: Uint16Array, codes: Uint8Array, dBits: number, out: Uint8Array = new Uint8Array((bits.length / 256) * 54)): Uint8Array {
  const n = bits.length;
  const dLo = dBits & 0xff;
  const dHi = dBits >>> 8;
  const wd = words(bits); // blocks start at even elements: two neighbouring m per word
  for (let e = 0, o = 0; e < n; e += 256, o += 54) {
    for (let m = 0, h = e >>> 1; m < 32; m += 2, h++) {
      const a = wd[h];
      const b = wd[h + 16];
      const c = wd[h + 32];
      const d = wd[h + 48];
      const f = wd[h + 64];
      out[o + m] = TQ1_BYTE[codes[a & 0xffff] * 81 + codes[b & 0xffff] * 27 + codes[c & 0xffff] * 9 + codes[d & 0xffff] * 3 + codes[f & 0xffff]];
      out[o + m + 1] = TQ1_BYTE[codes[a >>> 16] * 81 + codes[b >>> 16] * 27 + codes[c >>> 16] * 9 + codes[d >>> 16] * 3 + codes[f >>> 16]];
    }
    for (let m = 0, h = (e + 160) >>> 1; m < 16; m += 2, h++) {
      const a = wd[h];
      const b = wd[h + 8];
      const c = wd[h + 16];
      const d = wd[h + 24];
      const f = wd[h + 32];
      out[o + 32 + m] = TQ1_BYTE[codes[a & 0xffff] * 81 + codes[b & 0xffff] * 27 + codes[c & 0xffff] * 9 + codes[d & 0xffff] * 3 + codes[f & 0xffff]];
      out[o + 33 + m] = TQ1_BYTE[codes[a >>> 16] * 81 + codes[b >>> 16] * 27 + codes[c >>> 16] * 9 + codes[d >>> 16] * 3 + codes[f >>> 16]];
    }
    for (let j = 0; j < 4; j++) {
      const x = e + 240 + j;
      out[o + 48 + j] = TQ1_BYTE[(codes[bits[x]] * 27 + codes[bits[x + 4]] * 9 + codes[bits[x + 8]] * 3 + codes[bits[x + 12]]) * 3];
    }
    out[o + 52] = dLo;
    out[o + 53] = dHi;
  }
  return out;
}

/**
 * TL1 (formats/tl1.md): tiles BM x BK, compute blocks of bm rows x 256/bm columns, bytes emitted 16
 * rows at a time; byte = index(w, w+1) << 4 | index(w+2, w+3) of 4 neighbouring weights of a row.
 * The f32 scale follows the M*K/4 data bytes in a 32-byte tail.
 */
export function packTl1FromCodes(bits: Uint16Array, codes: Uint8Array, M: number, K: number, p: TlParams, scale: number, out: Uint8Array = new Uint8Array((M * K) / 4 + 32)): Uint8Array {
  const { BM, BK, bm } = p;
  const by = 256 / bm;
  // one row-major pass: byte (iM, iK, ib, iy, ir, ip, r) sits at the sum of these strides
  const sIp = 16;
  const sIr = (by / 4) * sIp;
  const sIy = (bm / 16) * sIr;
  const sIb = (BK / by) * sIy;
  const sIK = (BM / bm) * sIb;
  const sIM = (K / BK) * sIK;
  const nIK = K / BK;
  const nIy = BK / by;
  const nIp = by / 4;
  const wd = words(bits); // K is a multiple of 4, so every 4-weight run starts on a word
  for (let m = 0; m < M; m++) {
    const iM = (m / BM) | 0;
    const rt = m - iM * BM;
    const ib = (rt / bm) | 0;
    const rb = rt - ib * bm;
    const rowAt = iM * sIM + ib * sIb + (rb >>> 4) * sIr + (rb & 15);
    let w = m * K;
    for (let iK = 0; iK < nIK; iK++) {
      for (let iy = 0, oy = rowAt + iK * sIK; iy < nIy; iy++, oy += sIy) {
        for (let ip = 0, o = oy; ip < nIp; ip++, o += sIp, w += 4) {
          const x0 = wd[w >>> 1];
          const x1 = wd[(w >>> 1) + 1];
          out[o] = ((3 * codes[x0 & 0xffff] + codes[x0 >>> 16]) << 4) | (3 * codes[x1 & 0xffff] + codes[x1 >>> 16]);
        }
      }
    }
  }
  out.fill(0, (M * K) / 4);
  new DataView(out.buffer, out.byteOffset, out.byteLength).setFloat32((M * K) / 4, scale, true);
  return out;
}

/** TL2's 8-row group order inside each 32-row chunk (groups 1 and 2 swap; the swap is its own inverse). */
const TL2_PERM = [0, 2, 1, 3];

/** TL2 magnitude byte of two triple values u0, u1 (u = 9*c0 + 3*c1 + c2, 0..26): |u0-13| << 4 | |u1-13|. */
const TL2_MAG = (() => {
  const t = new Uint8Array(27 * 27);
  for (let a = 0; a < 27; a++) for (let b = 0; b < 27; b++) t[a * 27 + b] = (Math.abs(a - 13) << 4) | Math.abs(b - 13);
  return t;
})();

/** Sign nibble (bit 3 = first triple) spread to bits 7, 5, 3, 1 (a row's bits of one sign byte; >>> 1 for the odd row). */
const TL2_SPREAD = (() => {
  const t = new Uint8Array(16);
  for (let x = 0; x < 16; x++) t[x] = (((x >>> 3) & 1) << 7) | (((x >>> 2) & 1) << 5) | (((x >>> 1) & 1) << 3) | ((x & 1) << 1);
  return t;
})();

/**
 * TL2 (formats/tl2.md): the first K3 = K - K mod BK columns in triples (a 4-bit |value| stream, two
 * triples per byte, then a stream of sign bits in 16-bit words), the remaining K2 columns in pairs
 * like TL1; zero padding to roundup32 of the fork's size bound, then the f32 scale and 28 zeros.
 * One row-major pass over the weights; each row's bytes go straight to their places in tile order.
 */
export function packTl2FromCodes(bits: Uint16Array, codes: Uint8Array, M: number, K: number, p: TlParams, scale: number, out?: Uint8Array): Uint8Array {
  const { BM, BK } = p;
  const K2 = K % BK;
  const K3 = K - K2;
  const signsAt = (M * K3) / 6;
  const tailAt = signsAt + (M * K3) / 24;
  const dataEnd = tailAt + (M * K2) / 4;
  const scaleAt = Math.ceil(tl2DataBound(M, K) / 32) * 32;
  const o8 = out ?? new Uint8Array(scaleAt + 32);
  const mag = TL2_MAG;
  const spread = TL2_SPREAD;
  const nIK = K3 / BK;
  const nIK2 = K2 / 32;
  const nIb = BM / 32;
  const nIg = BK / 24;
  const wd = words(bits); // K is even, so every row starts on a word
  const magTile = (BK / 6) * 32; // magnitude bytes per (iM, iK, ib)
  const sgnTile = (BK / 24) * 32; // sign bytes per (iM, iK, ib)
  for (let r = 0; r < M; r++) {
    const iM = (r / BM) | 0;
    const rt = r - iM * BM;
    const ib = rt >>> 5;
    const rr = rt & 31;
    const q = TL2_PERM[rr >>> 3] * 8 + (rr & 7); // emission slot of this row in its 32-row chunk
    const half = rr >>> 4; // rows c and c + 16 share a sign word: even bits for c, odd for c + 16
    const c = rr & 15;
    let w = r * K;
    for (let iK = 0; iK < nIK; iK++) {
      const blk = (iM * nIK + iK) * nIb + ib;
      let om = blk * magTile + q;
      let os = signsAt + blk * sgnTile + 2 * c;
      for (let ig = 0; ig < nIg; ig++, om += 128, os += 32, w += 24) {
        const h = w >>> 1; // w is even (K and 24 are): two weights per word
        const x0 = wd[h], x1 = wd[h + 1], x2 = wd[h + 2], x3 = wd[h + 3], x4 = wd[h + 4], x5 = wd[h + 5];
        const x6 = wd[h + 6], x7 = wd[h + 7], x8 = wd[h + 8], x9 = wd[h + 9], x10 = wd[h + 10], x11 = wd[h + 11];
        const u0 = 9 * codes[x0 & 0xffff] + 3 * codes[x0 >>> 16] + codes[x1 & 0xffff];
        const u1 = 9 * codes[x1 >>> 16] + 3 * codes[x2 & 0xffff] + codes[x2 >>> 16];
        const u2 = 9 * codes[x3 & 0xffff] + 3 * codes[x3 >>> 16] + codes[x4 & 0xffff];
        const u3 = 9 * codes[x4 >>> 16] + 3 * codes[x5 & 0xffff] + codes[x5 >>> 16];
        const u4 = 9 * codes[x6 & 0xffff] + 3 * codes[x6 >>> 16] + codes[x7 & 0xffff];
        const u5 = 9 * codes[x7 >>> 16] + 3 * codes[x8 & 0xffff] + codes[x8 >>> 16];
        const u6 = 9 * codes[x9 & 0xffff] + 3 * codes[x9 >>> 16] + codes[x10 & 0xffff];
        const u7 = 9 * codes[x10 >>> 16] + 3 * codes[x11 & 0xffff] + codes[x11 >>> 16];
        o8[om] = mag[u0 * 27 + u1];
        o8[om + 32] = mag[u2 * 27 + u3];
        o8[om + 64] = mag[u4 * 27 + u5];
        o8[om + 96] = mag[u6 * 27 + u7];
        // triple value < 0 iff u < 13; triples 0..3 go to the word's high byte, 4..7 to its low byte
        const hi = spread[((u0 - 13) >>> 31 << 3) | ((u1 - 13) >>> 31 << 2) | ((u2 - 13) >>> 31 << 1) | ((u3 - 13) >>> 31)] >>> half;
        const lo = spread[((u4 - 13) >>> 31 << 3) | ((u5 - 13) >>> 31 << 2) | ((u6 - 13) >>> 31 << 1) | ((u7 - 13) >>> 31)] >>> half;
        // row c comes before row c + 16, so it sets the bytes and row c + 16 adds its bits
        if (half === 0) {
          o8[os] = lo;
          o8[os + 1] = hi;
        } else {
          o8[os] |= lo;
          o8[os + 1] |= hi;
        }
      }
    }
    for (let iK2 = 0; iK2 < nIK2; iK2++) {
      let ot = tailAt + ((iM * nIK2 + iK2) * nIb + ib) * 256 + q;
      for (let iy = 0; iy < 8; iy++, ot += 32, w += 4) {
        const x0 = wd[w >>> 1];
        const x1 = wd[(w >>> 1) + 1];
        o8[ot] = ((3 * codes[x0 & 0xffff] + codes[x0 >>> 16]) << 4) | (3 * codes[x1 & 0xffff] + codes[x1 >>> 16]);
      }
    }
  }
  o8.fill(0, dataEnd);
  new DataView(o8.buffer, o8.byteOffset, o8.byteLength).setFloat32(scaleAt, scale, true);
  return o8;
}

/**
 * dst = lut[src] two per word, and a flag: true when some source pattern is NaN/Inf (exponent all
 * ones: `srcExp` 0x7f80 bf16, 0x7c00 f16) or some result is (`dstExp`: e.g. an f16 overflow).
 */
export function map16Checked(
  src: Uint16Array,
  lut: Uint16Array,
  srcExp: number,
  dstExp: number,
  out: Uint16Array = new Uint16Array(src.length),
): { out: Uint16Array; bad: boolean } {
  const sw = words(src);
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

/** True iff some 16-bit value has its exponent all ones (NaN/Inf); `exp` 0x7f80 bf16, 0x7c00 f16. */
export function anyNonFinite16(bits: Uint16Array, exp: number): boolean {
  const w = words(bits);
  const pair = exp * 0x10001;
  for (let i = 0; i < w.length; i++) {
    const m = (~w[i] & pair) | 0;
    if ((m & 0xffff) === 0 || m >>> 16 === 0) return true;
  }
  return bits.length % 2 === 1 && (bits[bits.length - 1] & exp) === exp;
}
