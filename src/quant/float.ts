// Exact conversions between the float formats checkpoints and GGUF use: bf16, f16, f32.
// Node 20 has no Float16Array, so f16 goes through bit patterns; every f32 rounding is
// round-to-nearest-even, as PyTorch, numpy and ggml's FP32_TO_FP16 do.

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** bf16 bits -> f32 value (exact: bf16 is the top half of an f32). */
export function bf16ToF32(bits: number): number {
  u32buf[0] = (bits & 0xffff) << 16;
  return f32buf[0];
}

/** f32(x) -> bf16 bits, round to nearest even; NaN stays a quiet NaN with its sign. */
export function f32ToBf16Bits(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  // adding 0x7fff plus the lowest kept bit rounds ties to even; a carry bumps the exponent (up to inf)
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f16 bits -> f32 value (exact). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** f32(x) -> f16 bits, round to nearest even, subnormals kept, overflow -> infinity, NaN -> quiet NaN. */
export function f32ToF16Bits(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal (or zero): shift the full significand so one unit = 2^-24
    if (e < -10) return sign;
    const sig = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = sig & ((1 << shift) - 1);
    let h = sig >>> shift;
    if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // a carry out of the mantissa correctly bumps the exponent (up to infinity)
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
  return sign | h;
}

let bf16ToF16Table: Uint16Array | undefined;
/** All 65536 bf16 patterns -> f16 bits (bf16 -> f32 is exact, so this is f16(RNE) of the value). */
export function bf16ToF16Lut(): Uint16Array {
  if (!bf16ToF16Table) {
    bf16ToF16Table = new Uint16Array(65536);
    for (let b = 0; b < 65536; b++) bf16ToF16Table[b] = f32ToF16Bits(bf16ToF32(b));
  }
  return bf16ToF16Table;
}

let f16ToBf16Table: Uint16Array | undefined;
export function f16ToBf16Lut(): Uint16Array {
  if (!f16ToBf16Table) {
    f16ToBf16Table = new Uint16Array(65536);
    for (let h = 0; h < 65536; h++) f16ToBf16Table[h] = f32ToBf16Bits(f16ToF32(h));
  }
  return f16ToBf16Table;
}

let f16ToF32Table: Float32Array | undefined;
export function f16ToF32Lut(): Float32Array {
  if (!f16ToF32Table) {
    f16ToF32Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16ToF32Table[h] = f16ToF32(h);
  }
  return f16ToF32Table;
}

/** bf16 bits array -> f32 array (exact), by shifting into the high half of each f32 word. */
export function bf16ArrayToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return dst;
}

export function f32ArrayToF16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = f32ToF16Bits(src[i]);
  return dst;
}

export function f32ArrayToBf16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = f32ToBf16Bits(src[i]);
  return dst;
}

