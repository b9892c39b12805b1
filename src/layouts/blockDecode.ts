// What a layout's block decoder produces for `bitconv inspect --block N`: every byte of the block with
// the bit fields it holds, and every weight with the byte and bits it came from. Each layout module
// decodes its own blocks (the same byte order its packer writes); this file holds the shared shapes.

import type { TlParams } from "./types.js";

export interface BitField {
  /** "7:6", "7:4", "trit 2" (TQ1_0 base-3 digits), ... */
  bits: string;
  /** the raw field value (code, index, magnitude, digit, sign) */
  raw: number;
  /** what it decodes to, in words */
  meaning: string;
  /** indices into the block's values of the weights this field carries */
  values: number[];
}

export interface BlockByte {
  /** byte offset within the tensor data */
  offset: number;
  hex: string;
  /** the part of the block this byte belongs to (qs, qh, d, codes, magnitudes, signs, tail, ...) */
  part: string;
  fields: BitField[];
}

export interface BlockValue {
  row: number;
  col: number;
  value: number;
  /** byte offset (within the tensor) holding it, and the bits */
  byte: number;
  bits: string;
  /** extra bit that contributes (TL2 sign bit): byte offset and bit */
  sign?: { byte: number; bit: number };
}

/** The scale that applies to a block, and where it came from. */
export interface BlockScale {
  value: number | null;
  source: string;
  /** tq1_0/tq2_0: the block's own d */
  block_d?: number;
}

/** Reads `len` bytes at `start` within the tensor data. */
export type ReadRange = (start: number, len: number) => Promise<Uint8Array>;

/** What a decoder knows about the tensor beyond its bytes. */
export interface BlockContext {
  name: string;
  M: number;
  K: number;
  params?: TlParams;
  /** tq1_0/tq2_0: the `.scale` tensor value; hf-packed: the per-tensor scale w (value null when unknown) */
  scale?: { value: number | null; source: string };
}

/** How one layout numbers and decodes its blocks. */
export interface BlockDecoder {
  /** what a block is, for the reader of inspect's output */
  definition: string;
  count(t: BlockContext): number;
  /** Adds block n's bytes and values to `out`; returns the scale that applies to it. */
  decode(t: BlockContext, read: ReadRange, n: number, out: BlockBuilder): Promise<BlockScale>;
}

export class BlockBuilder {
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

  /** Adds one weight; returns its index for BitField.values. */
  value(row: number, col: number, value: number, byte: number, bits: string, sign?: { byte: number; bit: number }): number {
    this.values.push(sign ? { row, col, value, byte, bits, sign } : { row, col, value, byte, bits });
    return this.values.length - 1;
  }

  field(b: BlockByte, f: BitField): void {
    b.fields.push(f);
  }
}

export const hex2 = (b: number): string => b.toString(16).padStart(2, "0");
export const signed = (v: number): string => (v > 0 ? "+1" : v < 0 ? "-1" : "0");
export const f32At = (b: Uint8Array, o: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat32(o, true);

/** The tail scale of i2_s/tl1/tl2: an f32 at byte `at` of the tensor. */
export async function tailScale(read: ReadRange, at: number, where: string): Promise<BlockScale> {
  return { value: f32At(await read(at, 4), 0), source: `f32 at byte ${at}${where} of the tensor (32-byte tail)` };
}
