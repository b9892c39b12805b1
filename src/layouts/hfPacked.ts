import { BitconvError } from "../util/errors.js";
import { checkDims, checkTernary } from "./common.js";

// transformers integrations/bitnet.py pack_weights / unpack_weights: byte [r, k] holds rows
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
