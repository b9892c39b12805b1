// What a worker does with a job: positional reads, then pure conversions (src/quant, src/layouts).
// Kept apart from the worker_threads glue so tests and the single-threaded path can call it directly.

import { closeSync, openSync, readSync } from "node:fs";
import { createHash } from "node:crypto";
import { ternarizeAbsmean, ternarizeAbsmean16, NonFiniteWeight } from "../quant/absmean.js";
import { bf16ToF16Lut, bf16ToF32, f16ToBf16Lut, f16ToF32, f16ToF32Lut, f32ToBf16Bits, f32ToF16Bits } from "../quant/float.js";
import { quantizeQ8_0 } from "../quant/q8_0.js";
import { permuteRowsForNormRope } from "../quant/permute.js";
import { getLayout, packTq1_0, packTq2_0, unpackHfPacked } from "../layouts/index.js";
import { BitconvError, inputError } from "../util/errors.js";
import type { FloatDtype, FloatJob, HashJob, Job, JobResult, Source, TernaryJob } from "./jobs.js";

const fround = Math.fround;
const READ_CHUNK = 1 << 30;

/** Reads a byte range into a fresh, exclusively owned buffer (so it can be transferred). */
export function readSource(src: Source): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(src.nbytes));
  const fd = openSync(src.file, "r");
  try {
    let done = 0;
    while (done < src.nbytes) {
      const n = readSync(fd, out, done, Math.min(READ_CHUNK, src.nbytes - done), src.offset + done);
      if (n === 0) throw inputError(src.file, `unexpected end of file at byte ${src.offset + done}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

const u16 = (b: Uint8Array) => new Uint16Array(b.buffer, b.byteOffset, b.byteLength >>> 1);
const f32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function readScalar(bytes: Uint8Array, dtype: FloatDtype): number {
  if (dtype === "BF16") return bf16ToF32(bytes[0] | (bytes[1] << 8));
  if (dtype === "F16") return f16ToF32(bytes[0] | (bytes[1] << 8));
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
}

function nonFinite(job: { name: string; hfName: string; src: Source }, index: number, cols: number, row0 = 0): BitconvError {
  const where = cols > 0 ? ` (row ${row0 + Math.floor(index / cols)}, column ${index % cols})` : "";
  return inputError(job.src.file, `tensor ${job.hfName}: NaN or Inf weight at element ${index}${where}`);
}

/** The per-tensor scale w (W = T * w) of a packed checkpoint (docs/architecture.md "Scales"). */
export function packedScale(ws: number, linearClass: "bitlinear" | "autobitlinear"): number {
  return linearClass === "autobitlinear" ? fround(ws) : fround(1 / ws);
}

function ternaryCodes(job: TernaryJob): { T: Int8Array; scale: number; meanAbs?: number } {
  const raw = readSource(job.src);
  if (job.dtype === "U8") {
    if (!job.scaleSrc) throw new BitconvError(`${job.hfName}: packed weight without weight_scale`);
    const ws = readScalar(readSource(job.scaleSrc), job.scaleSrc.dtype);
    if (!Number.isFinite(ws) || ws <= 0) {
      throw inputError(job.scaleSrc.file, `tensor ${job.hfName.replace(/\.weight$/, ".weight_scale")} is ${ws}, not a positive finite scale`);
    }
    let T: Int8Array;
    try {
      T = unpackHfPacked(raw, job.M / 4, job.K);
    } catch (e) {
      throw inputError(job.src.file, `tensor ${job.hfName}: ${(e as Error).message}`);
    }
    return { T, scale: packedScale(ws, job.linearClass) };
  }
  try {
    if (job.dtype === "F32") return ternarizeAbsmean(f32(raw));
    return ternarizeAbsmean16(u16(raw), job.dtype === "BF16" ? "bf16" : "f16");
  } catch (e) {
    if (e instanceof NonFiniteWeight) throw nonFinite(job, e.index, job.K);
    throw e;
  }
}

export function runTernary(job: TernaryJob): JobResult {
  let { T, scale, meanAbs } = ternaryCodes(job);
  if (job.permuteHeads !== undefined) T = permuteRowsForNormRope(T, job.M, job.K, job.permuteHeads);
  let bytes: Uint8Array;
  if (job.blockScale === "w" && (job.layout === "tq1_0" || job.layout === "tq2_0")) {
    try {
      bytes = (job.layout === "tq1_0" ? packTq1_0 : packTq2_0)(T, job.M, job.K, scale);
    } catch (e) {
      throw inputError(job.src.file, `tensor ${job.hfName}: ${(e as Error).message}`);
    }
  } else {
    bytes = getLayout(job.layout).pack(T, job.M, job.K, scale, job.params);
  }
  const r: JobResult = { bytes, scale };
  if (meanAbs !== undefined) r.meanAbs = meanAbs;
  return r;
}

/** Index of the first NaN/Inf of 16-bit floats (bf16 and f16 share the all-ones exponent test). */
function firstNonFinite16(a: Uint16Array, expMask: number): number {
  for (let i = 0; i < a.length; i++) if ((a[i] & expMask) === expMask) return i;
  return -1;
}

function firstNonFinite32(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v - v !== 0) return i;
  }
  return -1;
}

function toF32(raw: Uint8Array, dtype: FloatDtype): Float32Array {
  if (dtype === "F32") return f32(raw);
  const src = u16(raw);
  const out = new Float32Array(src.length);
  if (dtype === "BF16") {
    const o = new Uint32Array(out.buffer);
    for (let i = 0; i < src.length; i++) o[i] = src[i] << 16;
  } else {
    const lut = f16ToF32Lut();
    for (let i = 0; i < src.length; i++) out[i] = lut[src[i]];
  }
  return out;
}

export function convertFloats(raw: Uint8Array, dtype: FloatDtype, out: FloatJob["out"]): Uint8Array {
  if (out === "f32") return dtype === "F32" ? raw : bytesOf(toF32(raw, dtype));
  if (out === "q8_0") return quantizeQ8_0(toF32(raw, dtype));
  if (dtype === "F32") {
    const src = f32(raw);
    const dst = new Uint16Array(src.length);
    const conv = out === "f16" ? f32ToF16Bits : f32ToBf16Bits;
    for (let i = 0; i < src.length; i++) dst[i] = conv(src[i]);
    return bytesOf(dst);
  }
  const same = (dtype === "BF16" && out === "bf16") || (dtype === "F16" && out === "f16");
  if (same) return raw;
  const lut = dtype === "BF16" ? bf16ToF16Lut() : f16ToBf16Lut();
  const src = u16(raw);
  const dst = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) dst[i] = lut[src[i]];
  return bytesOf(dst);
}

export function runFloat(job: FloatJob): JobResult {
  const raw = readSource(job.src);
  const bad =
    job.dtype === "F32" ? firstNonFinite32(f32(raw)) : firstNonFinite16(u16(raw), job.dtype === "BF16" ? 0x7f80 : 0x7c00);
  if (bad >= 0) throw nonFinite(job, bad, job.rows > 1 ? job.cols : 0, job.row0);
  return { bytes: convertFloats(raw, job.dtype, job.out) };
}

export function runHash(job: HashJob): JobResult {
  const hashes: string[] = [];
  const buf = new Uint8Array(16 << 20);
  for (const file of job.files) {
    const h = createHash("sha256");
    const fd = openSync(file, "r");
    try {
      let pos = 0;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
    hashes.push(h.digest("hex"));
  }
  return { hashes };
}

export function runJob(job: Job): JobResult {
  switch (job.kind) {
    case "ternary": return runTernary(job);
    case "float": return runFloat(job);
    case "hash": return runHash(job);
  }
}
