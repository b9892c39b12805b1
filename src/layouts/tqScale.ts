import { BitconvError } from "../util/errors.js";
import { f16BitsToF32, f32ToF16Bits } from "./f16.js";

/** f16 bits of the block scale d, refusing values f16 cannot hold (they would zero or blow up the tensor). */
export function blockScaleBits(what: string, d: number): number {
  if (!Number.isFinite(d) || d <= 0) throw new BitconvError(`${what} block scale ${d} is not a positive finite number`);
  const bits = f32ToF16Bits(d);
  if ((bits & 0x7c00) === 0x7c00) throw new BitconvError(`${what} block scale ${d} overflows f16 (max 65504)`);
  if (bits === 0) throw new BitconvError(`${what} block scale ${d} underflows f16 to 0`);
  return bits;
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
        `${this.what} blocks have different scales (d = ${f16BitsToF32(this.bits)} in block ${this.block}, ` +
          `${f16BitsToF32(dBits)} in block ${block}); bitconv needs one scale per tensor`,
      );
    }
  }

  /** The uniform d; for a tensor with no non-zero code, the d of its first block. */
  value(): number {
    return f16BitsToF32(this.bits >= 0 ? this.bits : this.firstBits);
  }
}
