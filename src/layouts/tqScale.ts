import { f16ToF32, f32ToF16Bits } from "../quant/float.js";
import { BitconvError } from "../util/errors.js";
import type { BlockBuilder, BlockContext, BlockScale } from "./blockDecode.js";
import { emptyCounts, type Counts, type PackedCounts } from "./counts.js";
import { checkDims, refuseShape } from "./common.js";
import type { TqScale } from "./types.js";

const F16_ONE = 0x3c00;

/** f16 bits of the block scale d, refusing values f16 cannot hold (they would zero or blow up the tensor). */
export function blockScaleBits(what: string, d: number): number {
  if (!Number.isFinite(d) || d <= 0) throw new BitconvError(`${what} block scale ${d} is not a positive finite number`);
  const bits = f32ToF16Bits(d);
  if ((bits & 0x7c00) === 0x7c00) throw new BitconvError(`${what} block scale ${d} overflows f16 (max 65504)`);
  if (bits === 0) throw new BitconvError(`${what} block scale ${d} underflows f16 to 0`);
  return bits;
}

/** The f16 bits every block's d gets for per-tensor scale w (d = 1 when w goes to a `.scale` tensor). */
export function blockDBits(what: string, w: number, tqScale: TqScale = "scale-tensor"): number {
  return tqScale === "block-d" ? blockScaleBits(what, w) : F16_ONE;
}

/**
 * Collects the d of every block that holds a non-zero code: bitconv's runtime needs one scale per
 * tensor, so differing values are an error. All-zero blocks may carry any d (llama.cpp writes 0).
 */
export class UniformBlockScale {
  private bits = -1;
  private block = -1;
  private firstBits = -1;

  constructor(private readonly what: string) {}

  add(block: number, dBits: number, allZero: boolean): void {
    if (this.firstBits < 0) this.firstBits = dBits;
    if (allZero) return;
    if (this.bits < 0) {
      this.bits = dBits;
      this.block = block;
    } else if (dBits !== this.bits) {
      throw new BitconvError(
        `${this.what} blocks have different scales (d = ${f16ToF32(this.bits)} in block ${this.block}, ` +
          `${f16ToF32(dBits)} in block ${block}); bitconv needs one scale per tensor`,
      );
    }
  }

  /** The uniform d; for a tensor with no non-zero code, the d of its first block. */
  value(): number {
    return f16ToF32(this.bits >= 0 ? this.bits : this.firstBits);
  }
}

/** w = d x the `.scale` tensor's value (1 when absent), rounded to f32 as the runtime computes it. */
export function tensorScale(d: number, scaleTensor: number | undefined): number {
  return scaleTensor === undefined ? d : Math.fround(d * scaleTensor);
}

/** What inspect shows as the scale of one tq block with d bits `dBits`. */
export function tqBlockScale(t: BlockContext, dBits: number): BlockScale {
  const d = f16ToF32(dBits);
  const ts = t.scale?.value ?? null;
  const hex = dBits.toString(16).padStart(4, "0");
  const source = t.scale ? `block d (f16 0x${hex}) x ${t.scale.source}` : `block d (f16 0x${hex}); no .scale tensor`;
  return { value: ts === null ? (t.scale ? null : d) : Math.fround(d * ts), source, block_d: d };
}

/** The block's f16 d at byte `at` of block bytes q (block at tensor byte `base`) as inspect's two byte fields; returns d's bits. */
export function dFields(b: BlockBuilder, base: number, q: Uint8Array, at: number): number {
  const dBits = q[at] | (q[at + 1] << 8);
  for (const j of [at, at + 1]) {
    const by = b.byte(base + j, q[j], "d");
    b.field(by, { bits: "7:0", raw: q[j], meaning: `${j === at ? "low" : "high"} byte of f16 d = ${f16ToF32(dBits)}`, values: [] });
  }
  return dBits;
}

/**
 * The size rules both tq layouts share: blocks of 256 values along each row (K % 256 == 0), `blockBytes`
 * bytes each (54 for tq1_0, 66 for tq2_0).
 */
export function tqSizeRules(name: "tq1_0" | "tq2_0", blockBytes: number) {
  const shapeError = (M: number, K: number): string | null => {
    checkDims(M, K);
    return K % 256 === 0 ? null : `${name} needs K (columns, in-features) to be a multiple of 256, got K = ${K}`;
  };
  return {
    shapeError,
    /** ggml's size, for any shape a reader may meet */
    fileNbytes: (M: number, K: number): number | string =>
      K % 256 === 0 ? (M * K / 256) * blockBytes : `ne[0] = ${K} is not a multiple of ${name.toUpperCase()}'s block size 256`,
    /** the size of a shape bitconv packs (throws for one it refuses) */
    nbytes: (M: number, K: number): number => {
      refuseShape(shapeError(M, K));
      return (M * K / 256) * blockBytes;
    },
  };
}

/** Both tq layouts number blocks the same way: 256 consecutive values of one row. */
export function tqBlockPosition(K: number, n: number): { row: number; col0: number } {
  const perRow = K / 256;
  return { row: Math.floor(n / perRow), col0: (n % perRow) * 256 };
}

/**
 * Counts of a tq tensor's blocks (`countBlock` adds one block's codes) and the range of d over the
 * blocks holding a non-zero value; d is the f16 in the block's last two bytes in both tq layouts.
 */
export function countTqBlocks(bytes: Uint8Array, blockBytes: number, countBlock: (c: Counts, o: number) => void): PackedCounts {
  const c = emptyCounts();
  const dAt = blockBytes - 2;
  let min = Infinity;
  let max = -Infinity;
  let first = NaN;
  let firstNonZero = NaN;
  for (let o = 0; o + blockBytes <= bytes.length; o += blockBytes) {
    const before = c.minus + c.plus + c.invalid;
    countBlock(c, o);
    const d = f16ToF32(bytes[o + dAt] | (bytes[o + dAt + 1] << 8));
    if (Number.isNaN(first)) first = d;
    if (c.minus + c.plus + c.invalid !== before) {
      if (Number.isNaN(firstNonZero)) firstNonZero = d;
      if (d < min) min = d;
      if (d > max) max = d;
    }
  }
  if (min === Infinity) min = max = first;
  return { counts: c, blockD: { min, max, uniform: min === max, d: Number.isNaN(firstNonZero) ? first : firstNonZero } };
}
