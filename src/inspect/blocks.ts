// Decodes one block of a packed ternary tensor byte by byte, straight from the byte specifications in
// formats/<layout>.md (an implementation independent of src/layouts' unpackers, which the tests use
// as the cross-check). What a "block" is per layout is in docs/inspect.md and BLOCK_DEFINITIONS.

import { f16ToF32 } from "../quant/float.js";
import { BitconvError } from "../util/errors.js";
import type { BitField, BlockByte, BlockDecode, BlockValue } from "./types.js";

export type PackedLayout = "tq1_0" | "tq2_0" | "i2_s" | "tl1" | "tl2" | "hf-packed";

export interface BlockTensor {
  name: string;
  layout: PackedLayout;
  /** rows (out-features) and columns (in-features) of the ternary matrix */
  M: number;
  K: number;
  nbytes: number;
  params?: { BM: number; BK: number; bm: number };
  params_source?: string;
  /** hf-packed: the per-tensor scale w (W = T * w) and where it came from; TQ: the `.scale` tensor value */
  scale?: { value: number | null; source: string };
}

/** Reads `len` bytes at `start` within the tensor data. */
export type ReadRange = (start: number, len: number) => Promise<Uint8Array>;

export const BLOCK_DEFINITIONS: Record<PackedLayout, string> = {
  tq2_0: "one ggml block: 256 consecutive values of one row, 66 bytes (qs[64] + f16 d); block N covers row N div (K/256), columns (N mod (K/256))*256 ..+255",
  tq1_0: "one ggml block: 256 consecutive values of one row, 54 bytes (qs[48] + qh[4] + f16 d); numbered as TQ2_0",
  i2_s: "128 consecutive values of the flattened row-major tensor (values N*128 ..+127), 32 bytes at byte 32*N",
  tl1: "one 16-byte emission group: 16 consecutive rows x 4 consecutive columns (64 values), bytes 16*N ..+15 in the layout's emission order",
  tl2: "blocks 0 .. M*K3/192-1: one magnitude group of 32 rows x 6 columns (192 values), 32 magnitude bytes at 32*N plus the 64 sign bits for its triples inside its 32-byte sign unit; then the two-weight tail: 32 rows x 4 columns (128 values), 32 bytes each",
  "hf-packed": "32 consecutive bytes of the [M/4, K] uint8 array (128 values; the last block may be shorter); byte [r, k] holds rows r, r+M/4, r+M/2, r+3M/4 of column k",
};

const hex2 = (b: number): string => b.toString(16).padStart(2, "0");
const sgn = (v: number): string => (v > 0 ? "+1" : v < 0 ? "-1" : "0");
const PERM = [0, 2, 1, 3];

const f32At = (b: Uint8Array, o: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat32(o, true);

/** Number of blocks of a tensor in this layout. */
export function blockCount(t: BlockTensor): number {
  const { M, K } = t;
  switch (t.layout) {
    case "tq1_0":
    case "tq2_0":
      return (M * K) / 256;
    case "i2_s":
      return (M * K) / 128;
    case "tl1":
      return (M * K) / 64;
    case "tl2": {
      const { K3, K2 } = tl2Split(t);
      return (M * K3) / 192 + (M * K2) / 128;
    }
    case "hf-packed":
      return Math.ceil(((M / 4) * K) / 32);
  }
}

function tl2Split(t: BlockTensor): { K3: number; K2: number } {
  const p = needParams(t);
  const K2 = t.K % p.BK;
  return { K3: t.K - K2, K2 };
}

function needParams(t: BlockTensor): { BM: number; BK: number; bm: number } {
  if (!t.params) throw new BitconvError(`tensor ${t.name}: ${t.layout} block parameters (BM, BK, bm) are unknown`);
  return t.params;
}

/** The fork's TL2 allocation bound P (formats/tl2.md). */
function tl2Bound(M: number, K: number): number {
  const tr = Math.trunc;
  return tr((tr(((K - 256) * M) / 3) * 5) / 8) + tr((tr((256 * M) / 2) * 4) / 8);
}

class Builder {
  bytes: BlockByte[] = [];
  values: BlockValue[] = [];
  private byOffset = new Map<number, BlockByte>();

  byte(offset: number, value: number, part: string): BlockByte {
    let b = this.byOffset.get(offset);
    if (!b) {
      b = { offset, hex: hex2(value), part, fields: [] };
      this.byOffset.set(offset, b);
      this.bytes.push(b);
    }
    return b;
  }

  value(row: number, col: number, value: number, byte: number, bits: string, sign?: { byte: number; bit: number }): number {
    this.values.push(sign ? { row, col, value, byte, bits, sign } : { row, col, value, byte, bits });
    return this.values.length - 1;
  }

  field(b: BlockByte, f: BitField): void {
    b.fields.push(f);
  }
}

/** Decodes block `n` of tensor `t`. */
export async function decodeBlock(t: BlockTensor, read: ReadRange, n: number): Promise<BlockDecode> {
  const count = blockCount(t);
  if (!Number.isSafeInteger(n) || n < 0 || n >= count) {
    throw new BitconvError(`tensor ${t.name} has ${count} ${t.layout} blocks (0..${count - 1}); block ${n} does not exist`, 2);
  }
  const b = new Builder();
  let scale: BlockDecode["scale"];
  switch (t.layout) {
    case "tq2_0":
      scale = await decodeTq2(t, read, n, b);
      break;
    case "tq1_0":
      scale = await decodeTq1(t, read, n, b);
      break;
    case "i2_s":
      scale = await decodeI2s(t, read, n, b);
      break;
    case "tl1":
      scale = await decodeTl1(t, read, n, b);
      break;
    case "tl2":
      scale = await decodeTl2(t, read, n, b);
      break;
    case "hf-packed":
      scale = await decodeHf(t, read, n, b);
      break;
  }
  const out: BlockDecode = {
    tensor: t.name,
    layout: t.layout,
    block: n,
    blocks: count,
    definition: BLOCK_DEFINITIONS[t.layout],
    M: t.M,
    K: t.K,
    bytes: b.bytes.map((x) => x.hex).join(" "),
    bytes_detail: b.bytes,
    values: b.values,
    scale,
  };
  if (t.params) {
    out.params = t.params;
    if (t.params_source) out.params_source = t.params_source;
  }
  return out;
}

function tqScale(t: BlockTensor, dBits: number): BlockDecode["scale"] {
  const d = f16ToF32(dBits);
  const ts = t.scale?.value ?? null;
  const source = t.scale ? `block d (f16 0x${dBits.toString(16).padStart(4, "0")}) x ${t.scale.source}` : `block d (f16 0x${dBits.toString(16).padStart(4, "0")}); no .scale tensor`;
  return { value: ts === null ? (t.scale ? null : d) : Math.fround(d * ts), source, block_d: d };
}

async function decodeTq2(t: BlockTensor, read: ReadRange, n: number, b: Builder): Promise<BlockDecode["scale"]> {
  const perRow = t.K / 256;
  const row = Math.floor(n / perRow);
  const col0 = (n % perRow) * 256;
  const base = n * 66;
  const q = await read(base, 66);
  // values in element order: element e lives in byte (e div 128)*32 + e mod 32, bits 2*((e mod 128) div 32)
  const idx = new Array<number>(256);
  for (let e = 0; e < 256; e++) {
    const j = (e >> 7) * 32 + (e & 31);
    const s = (e & 127) >> 5;
    const c = (q[j] >> (2 * s)) & 3;
    idx[e] = b.value(row, col0 + e, c - 1, base + j, `${2 * s + 1}:${2 * s}`);
  }
  for (let j = 0; j < 64; j++) {
    const by = b.byte(base + j, q[j], "qs");
    for (let s = 0; s < 4; s++) {
      const e = (j >> 5) * 128 + s * 32 + (j & 31);
      const c = (q[j] >> (2 * s)) & 3;
      b.field(by, {
        bits: `${2 * s + 1}:${2 * s}`,
        raw: c,
        meaning: c === 3 ? "code 3: not ternary (decodes as +2d)" : `code ${c} -> ${sgn(c - 1)}: element ${e} = row ${row}, column ${col0 + e}`,
        values: [idx[e]],
      });
    }
  }
  const dBits = q[64] | (q[65] << 8);
  for (const j of [64, 65]) {
    const by = b.byte(base + j, q[j], "d");
    b.field(by, { bits: "7:0", raw: q[j], meaning: `${j === 64 ? "low" : "high"} byte of f16 d = ${f16ToF32(dBits)}`, values: [] });
  }
  return tqScale(t, dBits);
}

async function decodeTq1(t: BlockTensor, read: ReadRange, n: number, b: Builder): Promise<BlockDecode["scale"]> {
  const perRow = t.K / 256;
  const row = Math.floor(n / perRow);
  const col0 = (n % perRow) * 256;
  const base = n * 54;
  const q = await read(base, 54);
  const digit = (byte: number, k: number): number => {
    const p = (byte * 3 ** k) & 255;
    return (p * 3) >> 8;
  };
  // [byte, number of digits, element of digit k]
  const groups: [number, number, (k: number) => number, string][] = [];
  for (let j = 0; j < 32; j++) groups.push([j, 5, (k) => 32 * k + j, "qs"]);
  for (let m = 0; m < 16; m++) groups.push([32 + m, 5, (k) => 160 + 16 * k + m, "qs"]);
  for (let j = 0; j < 4; j++) groups.push([48 + j, 4, (k) => 240 + 4 * k + j, "qh"]);
  const valueAt = new Array<number>(256);
  const fieldsOf: { j: number; part: string; digits: { k: number; c: number; e: number }[] }[] = [];
  for (const [j, nd, elem, part] of groups) {
    const digits: { k: number; c: number; e: number }[] = [];
    for (let k = 0; k < nd; k++) digits.push({ k, c: digit(q[j], k), e: elem(k) });
    fieldsOf.push({ j, part, digits });
  }
  // values in element order
  const where = new Map<number, { j: number; k: number; c: number }>();
  for (const f of fieldsOf) for (const d of f.digits) where.set(d.e, { j: f.j, k: d.k, c: d.c });
  for (let e = 0; e < 256; e++) {
    const w = where.get(e)!;
    valueAt[e] = b.value(row, col0 + e, w.c - 1, base + w.j, `trit ${w.k}`);
  }
  for (const f of fieldsOf) {
    const by = b.byte(base + f.j, q[f.j], f.part);
    for (const d of f.digits) {
      b.field(by, {
        bits: `trit ${d.k}`,
        raw: d.c,
        meaning: `(q*3^${d.k} mod 256)*3 >> 8 = ${d.c} -> ${d.c > 2 ? "invalid" : sgn(d.c - 1)}: element ${d.e} = row ${row}, column ${col0 + d.e}`,
        values: [valueAt[d.e]],
      });
    }
  }
  const dBits = q[52] | (q[53] << 8);
  for (const j of [52, 53]) {
    const by = b.byte(base + j, q[j], "d");
    b.field(by, { bits: "7:0", raw: q[j], meaning: `${j === 52 ? "low" : "high"} byte of f16 d = ${f16ToF32(dBits)}`, values: [] });
  }
  return tqScale(t, dBits);
}

const I2_VALUE = [-1, 0, 1, 0];

async function decodeI2s(t: BlockTensor, read: ReadRange, n: number, b: Builder): Promise<BlockDecode["scale"]> {
  const base = n * 32;
  const q = await read(base, 32);
  const first = n * 128;
  const idx = new Array<number>(128);
  const shift = (j: number) => 6 - 2 * (j >> 5);
  for (let j = 0; j < 128; j++) {
    const i = first + j;
    const p = j & 31;
    const c = (q[p] >> shift(j)) & 3;
    idx[j] = b.value(Math.floor(i / t.K), i % t.K, I2_VALUE[c], base + p, `${shift(j) + 1}:${shift(j)}`);
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
        meaning: c === 3 ? "code 3: unused (the fork reads it as 0)" : `code ${c} -> ${sgn(c - 1)}: value ${first + j} = row ${Math.floor((first + j) / t.K)}, column ${(first + j) % t.K}`,
        values: [idx[j]],
      });
    }
  }
  const at = (t.M * t.K) / 4;
  const tail = await read(at, 4);
  return { value: f32At(tail, 0), source: `f32 at byte ${at} of the tensor (32-byte tail)` };
}

function tlIndexFields(b: Builder, by: BlockByte, q: number, m: number, k: number, byteOff: number): void {
  for (const [half, bits, col] of [[q >> 4, "7:4", k], [q & 15, "3:0", k + 2]] as const) {
    const valid = half <= 8;
    const t0 = valid ? Math.floor(half / 3) - 1 : 0;
    const t1 = valid ? (half % 3) - 1 : 0;
    const v0 = b.value(m, col, t0, byteOff, bits);
    const v1 = b.value(m, col + 1, t1, byteOff, bits);
    b.field(by, {
      bits,
      raw: half,
      meaning: valid
        ? `idx ${half} = 3*(${sgn(t0)}) + (${sgn(t1)}) + 4 -> row ${m}, columns ${col}, ${col + 1}`
        : `idx ${half}: invalid (above 8)`,
      values: [v0, v1],
    });
  }
}

async function decodeTl1(t: BlockTensor, read: ReadRange, n: number, b: Builder): Promise<BlockDecode["scale"]> {
  const { BM, BK, bm } = needParams(t);
  const by = 256 / bm;
  const np = by / 4;
  const nr = bm / 16;
  const ny = BK / by;
  const nb = BM / bm;
  const nK = t.K / BK;
  let x = n;
  const ip = x % np; x = Math.floor(x / np);
  const ir = x % nr; x = Math.floor(x / nr);
  const iy = x % ny; x = Math.floor(x / ny);
  const ib = x % nb; x = Math.floor(x / nb);
  const iK = x % nK;
  const iM = Math.floor(x / nK);
  const base = n * 16;
  const q = await read(base, 16);
  for (let r = 0; r < 16; r++) {
    const m = iM * BM + ib * bm + ir * 16 + r;
    const k = iK * BK + iy * by + 4 * ip;
    const byte = b.byte(base + r, q[r], "indices");
    tlIndexFields(b, byte, q[r], m, k, base + r);
  }
  const at = (t.M * t.K) / 4;
  const tail = await read(at, 4);
  return { value: f32At(tail, 0), source: `f32 at byte ${at} of the tensor (32-byte tail)` };
}

async function decodeTl2(t: BlockTensor, read: ReadRange, n: number, b: Builder): Promise<BlockDecode["scale"]> {
  const { BM, BK } = needParams(t);
  const { K3, K2 } = tl2Split(t);
  const { M, K } = t;
  const signsAt = (M * K3) / 6;
  const tailAt = signsAt + (M * K3) / 24;
  const nMag = (M * K3) / 192;
  const rowOf = (iM: number, ib: number, p: number) => iM * BM + ib * 32 + PERM[p >> 3] * 8 + (p & 7);
  if (n < nMag) {
    const ny = BK / 6;
    const nb = BM / 32;
    const nK = K3 / BK;
    let x = n;
    const iy = x % ny; x = Math.floor(x / ny);
    const ib = x % nb; x = Math.floor(x / nb);
    const iK = x % nK;
    const iM = Math.floor(x / nK);
    const ig = iy >> 2;
    const unit = ((iM * nK + iK) * nb + ib) * (BK / 24) + ig;
    const signBase = signsAt + 32 * unit;
    const base = 32 * n;
    const q = await read(base, 32);
    const sq = await read(signBase, 32);
    // sign of the triple at column k of row m: bit (15-i) of u16 word c
    const signOf = (m: number, k: number) => {
      const lr = m - iM * BM - ib * 32;
      const tt = (k - iK * BK - 24 * ig) / 3;
      const i = 2 * tt + (lr >= 16 ? 1 : 0);
      const c = lr & 15;
      const bit = 15 - i;
      const off = 2 * c + (bit >= 8 ? 1 : 0);
      return { s: (sq[off] >> (bit & 7)) & 1, byte: signBase + off, bit: bit & 7, word: c, wbit: bit };
    };
    const signFields = new Map<number, BitField[]>();
    for (let p = 0; p < 32; p++) {
      const m = rowOf(iM, ib, p);
      const by = b.byte(base + p, q[p], "magnitudes");
      for (const [mag, bits, k] of [[q[p] >> 4, "7:4", iK * BK + 6 * iy], [q[p] & 15, "3:0", iK * BK + 6 * iy + 3]] as const) {
        const sg = signOf(m, k);
        const valid = mag <= 13;
        const u = (sg.s ? -mag : mag) + 13;
        const T0 = valid ? Math.floor(u / 9) - 1 : 0;
        const T1 = valid ? (Math.floor(u / 3) % 3) - 1 : 0;
        const T2 = valid ? (u % 3) - 1 : 0;
        const sign = { byte: sg.byte, bit: sg.bit };
        const vs = [T0, T1, T2].map((v, d) => b.value(m, k + d, v, base + p, bits, sign));
        const tval = sg.s ? -mag : mag;
        b.field(by, {
          bits,
          raw: mag,
          meaning: valid
            ? `|t| = ${mag}, sign bit ${sg.s} -> t = ${tval} = 9*(${sgn(T0)}) + 3*(${sgn(T1)}) + (${sgn(T2)}): row ${m}, columns ${k}..${k + 2}`
            : `magnitude ${mag}: invalid (above 13)`,
          values: vs,
        });
        const list = signFields.get(sg.byte) ?? [];
        list.push({
          bits: `${sg.bit}`,
          raw: sg.s,
          meaning: `sign of the triple at row ${m}, columns ${k}..${k + 2} (u16 word ${sg.word}, bit ${sg.wbit})`,
          values: vs,
        });
        signFields.set(sg.byte, list);
      }
    }
    for (let o = 0; o < 32; o++) {
      const by = b.byte(signBase + o, sq[o], "signs");
      for (const f of (signFields.get(signBase + o) ?? []).sort((x, y) => Number(y.bits) - Number(x.bits))) b.field(by, f);
    }
  } else {
    const j0 = n - nMag;
    let x = j0;
    const nb = BM / 32;
    const nK2 = K2 / 32;
    const iy = x % 8; x = Math.floor(x / 8);
    const ib = x % nb; x = Math.floor(x / nb);
    const iK2 = x % nK2;
    const iM = Math.floor(x / nK2);
    const base = tailAt + 32 * j0;
    const q = await read(base, 32);
    for (let p = 0; p < 32; p++) {
      const m = rowOf(iM, ib, p);
      const k = K3 + iK2 * 32 + 4 * iy;
      const by = b.byte(base + p, q[p], "two-weight tail");
      tlIndexFields(b, by, q[p], m, k, base + p);
    }
  }
  const at = Math.ceil(tl2Bound(M, K) / 32) * 32;
  const tail = await read(at, 4);
  return { value: f32At(tail, 0), source: `f32 at byte ${at} = roundup32(P) of the tensor (32-byte tail)` };
}

async function decodeHf(t: BlockTensor, read: ReadRange, n: number, b: Builder): Promise<BlockDecode["scale"]> {
  const R = t.M / 4;
  const total = R * t.K;
  const base = 32 * n;
  const len = Math.min(32, total - base);
  const q = await read(base, len);
  for (let o = 0; o < len; o++) {
    const i = base + o;
    const r = Math.floor(i / t.K);
    const k = i % t.K;
    const by = b.byte(i, q[o], "codes");
    for (let s = 0; s < 4; s++) {
      const c = (q[o] >> (2 * s)) & 3;
      const v = b.value(s * R + r, k, c === 3 ? 0 : c - 1, i, `${2 * s + 1}:${2 * s}`);
      b.field(by, {
        bits: `${2 * s + 1}:${2 * s}`,
        raw: c,
        meaning: c === 3 ? "code 3: not ternary" : `code ${c} -> ${sgn(c - 1)}: row ${s * R + r}, column ${k}`,
        values: [v],
      });
    }
  }
  return t.scale ?? { value: null, source: "no weight_scale" };
}
