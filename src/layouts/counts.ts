// What `bitconv inspect` reports per tensor: how many weights are -1, 0, +1 (and how many codes are not
// ternary at all), counted straight from the packed bytes. Each layout module counts its own bytes
// (`Layout.count`); this file holds the shared shapes and the lookup-table counter: where the counts do
// not depend on the element order, a byte's counts come from a 256-entry table, with no unpacking.

/** Counts of -1, 0, +1 and of codes that decode to no ternary value. */
export interface Counts {
  minus: number;
  zero: number;
  plus: number;
  invalid: number;
}

export const emptyCounts = (): Counts => ({ minus: 0, zero: 0, plus: 0, invalid: 0 });

/** tq1_0/tq2_0: the range of the per-block d over the blocks holding a non-zero value. */
export interface BlockDStats {
  min: number;
  max: number;
  uniform: boolean;
  /** the d of the blocks holding a non-zero code when uniform (else the first block's) */
  d: number;
}

/** A layout's count of one tensor, and where its scale is. */
export interface PackedCounts {
  counts: Counts;
  /** i2_s, tl1, tl2: the f32 scale in the tensor's own tail and its byte offset */
  tail?: { scale: number; at: number };
  /** tq1_0, tq2_0: per-block d (the tensor's scale is d x its `.scale` tensor) */
  blockD?: BlockDStats;
}

/** Per byte value: counts of -1, 0, +1, invalid packed in 8-bit fields (each < 256). */
export type CountTable = Uint32Array;

/** The table of a byte whose values `fill` lists (null for a code that is not ternary). */
export function countTable(fill: (q: number, add: (v: number | null) => void) => void): CountTable {
  const lut = new Uint32Array(256);
  for (let q = 0; q < 256; q++) {
    let packed = 0;
    fill(q, (v) => {
      packed += v === null ? 1 << 24 : v < 0 ? 1 : v === 0 ? 1 << 8 : 1 << 16;
    });
    lut[q] = packed;
  }
  return lut;
}

/** Adds the counts of bytes[start..end) by table `lut` to c. */
export function addCounts(c: Counts, lut: CountTable, bytes: Uint8Array, start: number, end: number): Counts {
  // sum packed counts in chunks small enough not to overflow an 8-bit field (at most 5 per byte)
  for (let i = start; i < end; ) {
    const stop = Math.min(end, i + 50);
    let acc = 0;
    for (; i < stop; i++) acc += lut[bytes[i]];
    c.minus += acc & 255;
    c.zero += (acc >>> 8) & 255;
    c.plus += (acc >>> 16) & 255;
    c.invalid += acc >>> 24;
  }
  return c;
}

/** Four 2-bit codes c per byte, value c - 1; code 3 is not ternary (tq2_0, HF packed). */
export const TWO_BIT_CODES = countTable((q, add) => {
  for (let s = 0; s < 4; s++) {
    const c = (q >> (2 * s)) & 3;
    add(c === 3 ? null : c - 1);
  }
});

/** Counts of an unpacked ternary matrix. */
export function countTernary(T: Int8Array, c = emptyCounts()): Counts {
  for (let i = 0; i < T.length; i++) {
    const v = T[i];
    if (v < 0) c.minus++;
    else if (v === 0) c.zero++;
    else c.plus++;
  }
  return c;
}
