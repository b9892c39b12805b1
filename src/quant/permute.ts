// llama.cpp's `llama` arch applies NORM rope (adjacent dims pair up) while HF Llama checkpoints use
// rotate-half (dims i and i + hd/2 pair up), so q and k rows are reordered per head (formats/checkpoint-llama-bitnet.md "Rope permutation"):
// within each head, new row 2i = old row i, new row 2i+1 = old row i + hd/2.

/** Row permutation for NORM rope; returns a new row-major M x K array. M must be nHeads * hd, hd even. */
export function permuteRowsForNormRope<A extends Int8Array | Float32Array>(W: A, M: number, K: number, nHeads: number): A {
  const hd = M / nHeads;
  if (!Number.isInteger(hd) || hd % 2 !== 0) {
    throw new Error(`cannot permute ${M} rows for ${nHeads} heads: head size ${hd} is not an even integer`);
  }
  const out = new (W.constructor as { new (n: number): A })(W.length);
  const half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      const base = h * hd;
      out.set(W.subarray((base + i) * K, (base + i + 1) * K), (base + 2 * i) * K);
      out.set(W.subarray((base + half + i) * K, (base + half + i + 1) * K), (base + 2 * i + 1) * K);
    }
  }
  return out;
}

/** Inverse of permuteRowsForNormRope (for tests and readers). */
export function unpermuteRowsForNormRope<A extends Int8Array | Float32Array>(W: A, M: number, K: number, nHeads: number): A {
  const hd = M / nHeads;
  const out = new (W.constructor as { new (n: number): A })(W.length);
  const half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      const base = h * hd;
      out.set(W.subarray((base + 2 * i) * K, (base + 2 * i + 1) * K), (base + i) * K);
      out.set(W.subarray((base + 2 * i + 1) * K, (base + 2 * i + 2) * K), (base + half + i) * K);
    }
  }
  return out;
}
