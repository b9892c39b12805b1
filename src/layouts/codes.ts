// The one input every packer takes: ternary codes c = T + 1 (0, 1, 2), given as 16-bit patterns and a
// table from pattern to code. For bf16/f16 master weights the patterns are the weights themselves and
// the table is absmean's per-tensor code of each of the 65536 patterns (src/quant/absmean.ts), so a
// packer goes from the checkpoint's bits to layout bytes with no ternary matrix in between; for a
// ternary matrix T the patterns are the codes and the table is the identity.

import { pairsOf } from "../util/pairs.js";

export interface TernaryCodes {
  /** one 16-bit pattern per weight, row-major M x K; must start 4-byte aligned (read two per word) */
  bits: Uint16Array;
  /** code of pattern b is codes[b], 0..2 */
  codes: Uint8Array;
}

/** The identity table for patterns that are codes already. */
const IDENTITY = Uint8Array.of(0, 1, 2);

/** T in {-1, 0, 1} -> its codes (the caller has checked T). */
export function codesOfTernary(T: Int8Array): TernaryCodes {
  const bits = new Uint16Array(T.length);
  for (let i = 0; i < T.length; i++) bits[i] = T[i] + 1;
  return { bits, codes: IDENTITY };
}

/** T = code - 1 for every weight, two per word. */
export function ternaryOfCodes(src: TernaryCodes, T: Int8Array = new Int8Array(src.bits.length)): Int8Array {
  const { bits, codes } = src;
  const w = pairsOf(bits);
  for (let i = 0, j = 0; i < w.length; i++, j += 2) {
    const x = w[i];
    T[j] = codes[x & 0xffff] - 1;
    T[j + 1] = codes[x >>> 16] - 1;
  }
  if (bits.length & 1) T[bits.length - 1] = codes[bits[bits.length - 1]] - 1;
  return T;
}
