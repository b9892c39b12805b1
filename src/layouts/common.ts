import { BitconvError } from "../util/errors.js";

/** Rejects non-integer or non-positive dimensions before any size arithmetic runs on them. */
export function checkDims(M: number, K: number): void {
  if (!Number.isSafeInteger(M) || !Number.isSafeInteger(K) || M <= 0 || K <= 0) {
    throw new BitconvError(`matrix shape ${M} x ${K} is not a pair of positive integers`);
  }
}

/** Throws unless T holds exactly M*K values, each -1, 0 or +1. */
export function checkTernary(T: Int8Array, M: number, K: number): void {
  if (T.length !== M * K) {
    throw new BitconvError(`ternary matrix has ${T.length} values, expected M*K = ${M} * ${K} = ${M * K}`);
  }
  for (let i = 0; i < T.length; i++) {
    const v = T[i];
    if (v > 1 || v < -1) {
      throw new BitconvError(`ternary matrix value ${v} at row ${Math.floor(i / K)}, column ${i % K} is not -1, 0 or +1`);
    }
  }
}

/** Throws unless the codes cover exactly M*K weights. */
export function checkCodeCount(what: string, n: number, M: number, K: number): void {
  if (n !== M * K) throw new BitconvError(`${what}: ${n} codes for a ${M} x ${K} matrix (expected ${M * K})`);
}

export function checkLength(what: string, bytes: Uint8Array, expected: number, M: number, K: number): void {
  if (bytes.length !== expected) {
    throw new BitconvError(`${what} tensor ${M} x ${K} has ${bytes.length} bytes, expected ${expected}`);
  }
}

export function checkScale(what: string, scale: number): void {
  if (!Number.isFinite(scale)) throw new BitconvError(`${what} scale ${scale} is not a finite number`);
}

/** An output buffer of n bytes: `out` when given (it must be exactly n bytes), else a fresh one. */
export function outputOf(what: string, out: Uint8Array | undefined, n: number): Uint8Array {
  if (out === undefined) return new Uint8Array(n);
  if (out.length !== n) throw new BitconvError(`${what}: output buffer of ${out.length} bytes, the tensor needs ${n}`);
  return out;
}

/** Fork layouts keep the scale as one little-endian f32; the other tail bytes stay zero. */
export function writeF32(out: Uint8Array, offset: number, value: number): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setFloat32(offset, value, true);
}

export function readF32(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat32(offset, true);
}

/** Throws the reason a shape does not fit a layout (from its shapeError), if there is one. */
export function refuseShape(error: string | null): void {
  if (error !== null) throw new BitconvError(error);
}

export const roundup32 = (n: number): number => Math.ceil(n / 32) * 32;
