// Hot loops over 16-bit data (bf16/f16 weights, ternary codes) read two values per 32-bit load.

/** Two-per-word view of a 16-bit array (needs a 4-byte aligned start); an odd last element is left out. */
export function pairsOf(bits: Uint16Array): Uint32Array {
  return new Uint32Array(bits.buffer, bits.byteOffset, bits.length >>> 1);
}
