import { BitconvError } from "../util/errors.js";
import { signed, type BlockBuilder, type BlockContext, type BlockDecoder, type BlockScale, type ReadRange } from "./blockDecode.js";
import { checkDims, checkTernary } from "./common.js";
import { addCounts, emptyCounts, TWO_BIT_CODES, type Counts } from "./counts.js";

// transformers integrations/bitnet.py (formats/hf-packed.md) pack_weights / unpack_weights: byte [r, k] holds rows
// r, r+R, r+2R, r+3R of column k (R = M/4), code T+1, lowest bit pair first.

/** T: row-major M x K ternary (M % 4 == 0) -> [M/4, K] bytes. */
export function packHfPacked(T: Int8Array, M: number, K: number): Uint8Array {
  checkDims(M, K);
  if (M % 4 !== 0) throw new BitconvError(`HF packed weights need M (rows) to be a multiple of 4, got M = ${M}`);
  checkTernary(T, M, K);
  const R = M / 4;
  const n = R * K;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = (T[i] + 1) | ((T[n + i] + 1) << 2) | ((T[2 * n + i] + 1) << 4) | ((T[3 * n + i] + 1) << 6);
  }
  return out;
}

/** [R, K] bytes -> row-major 4R x K ternary. Code 3 (value +2) is refused: it is not ternary. */
export function unpackHfPacked(bytes: Uint8Array, R: number, K: number): Int8Array {
  checkDims(R, K);
  const n = R * K;
  if (bytes.length !== n) throw new BitconvError(`HF packed weight has ${bytes.length} bytes, expected R*K = ${R} * ${K} = ${n}`);
  const T = new Int8Array(4 * n);
  for (let i = 0; i < n; i++) {
    const q = bytes[i];
    for (let s = 0; s < 4; s++) {
      const c = (q >>> (2 * s)) & 3;
      if (c === 3) {
        throw new BitconvError(`HF packed weight byte [${Math.floor(i / K)}, ${i % K}] = 0x${q.toString(16)} holds code 3, not a ternary value`);
      }
      T[s * n + i] = c - 1;
    }
  }
  return T;
}

/** Counts straight from the bytes (four 2-bit codes each, in any order; code 3 is counted as invalid). */
export function countHfPacked(bytes: Uint8Array): Counts {
  return addCounts(emptyCounts(), TWO_BIT_CODES, bytes, 0, bytes.length);
}

async function decodeHfPackedBlock(t: BlockContext, read: ReadRange, n: number, b: BlockBuilder): Promise<BlockScale> {
  const R = t.M / 4;
  const base = 32 * n;
  const len = Math.min(32, R * t.K - base);
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
        meaning: c === 3 ? "code 3: not ternary" : `code ${c} -> ${signed(c - 1)}: row ${s * R + r}, column ${k}`,
        values: [v],
      });
    }
  }
  return t.scale ?? { value: null, source: "no weight_scale" };
}

export const hfPackedBlocks: BlockDecoder = {
  definition: "32 consecutive bytes of the [M/4, K] uint8 array (128 values; the last block may be shorter); byte [r, k] holds rows r, r+M/4, r+M/2, r+3M/4 of column k",
  count: (t) => Math.ceil(((t.M / 4) * t.K) / 32),
  decode: decodeHfPackedBlock,
};
