// What a worker does with a job: positional reads, then pure conversions (src/quant, src/layouts).
// Kept apart from the worker_threads glue so tests and the single-threaded path can call it directly.

import { closeSync, openSync, readSync } from "node:fs";
import { createHash } from "node:crypto";
import { absmeanCodes16, firstNonFinite16, NonFiniteWeight, ternarizeAbsmean } from "../quant/absmean.js";
import { bf16ToF16Lut, bf16ToF32, f16ToBf16Lut, f16ToF32, f16ToF32Lut, f32ToBf16Bits, f32ToF16Bits } from "../quant/float.js";
import {
  anyNonFinite16, map16Checked, packI2sFromCodes, packTl1FromCodes, packTl2FromCodes, packTq1_0FromCodes, packTq2_0FromCodes, ternaryFromCodes,
} from "../quant/fused.js";
import { quantizeQ8_0 } from "../quant/q8_0.js";
import { permuteRowsForNormRope } from "../quant/permute.js";
import { getLayout, packTq1_0, packTq2_0, tl2Nbytes, unpackHfPacked } from "../layouts/index.js";
import { BitconvError, inputError } from "../util/errors.js";
import type { FloatDtype, FloatJob, HashJob, Job, JobResult, Source, TernaryJob } from "./jobs.js";

const fround = Math.fround;
const READ_CHUNK = 1 << 30;
const F16_ONE = 0x3c00;
const EXP = { BF16: 0x7f80, F16: 0x7c00 } as const;

let scratch = new Uint8Array(0);

/**
 * Reads a byte range. With `reuse`, into this thread's scratch buffer (valid until the next read:
 * saves the page faults of a fresh allocation per job); else into a fresh, transferable buffer.
 */
export function readSource(src: Source, reuse = false): Uint8Array {
  let out: Uint8Array;
  if (reuse) {
    if (scratch.length < src.nbytes) scratch = new Uint8Array(Math.ceil(Math.max(src.nbytes, scratch.length * 1.25) / 8) * 8);
    out = scratch.subarray(0, src.nbytes);
  } else {
    out = new Uint8Array(new ArrayBuffer(src.nbytes));
  }
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

// Output buffers come back from the main thread once written (recycle()), so a steady stream of
// same-sized tensors reuses memory instead of faulting in fresh pages for every job.
const RECYCLE_CAP = 32 << 20; // per worker: bounded whatever the thread count
const recycled = new Map<number, ArrayBuffer[]>();
let recycledBytes = 0;

export function recycle(buffers: ArrayBuffer[]): void {
  for (const b of buffers) {
    if (recycledBytes + b.byteLength > RECYCLE_CAP) continue;
    const list = recycled.get(b.byteLength) ?? [];
    list.push(b);
    recycled.set(b.byteLength, list);
    recycledBytes += b.byteLength;
  }
}

/** An output buffer of exactly n bytes (its own ArrayBuffer, so it can be transferred); contents undefined. */
function outputBuffer(n: number): Uint8Array {
  const b = recycled.get(n)?.pop();
  if (b === undefined) return new Uint8Array(n);
  recycledBytes -= n;
  return new Uint8Array(b);
}

const u16 = (b: Uint8Array) => new Uint16Array(b.buffer, b.byteOffset, b.byteLength >>> 1);
const f32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function readScalar(bytes: Uint8Array, dtype: FloatDtype): number {
  if (dtype === "BF16") return bf16ToF32(bytes[0] | (bytes[1] << 8));
  if (dtype === "F16") return f16ToF32(bytes[0] | (bytes[1] << 8));
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
}

function where(index: number, cols: number, row0: number): string {
  return cols > 0 ? ` (row ${row0 + Math.floor(index / cols)}, column ${index % cols})` : "";
}

function nonFinite(job: { hfName: string; src: Source }, index: number, cols: number, row0 = 0): BitconvError {
  return inputError(job.src.file, `tensor ${job.hfName}: NaN or Inf weight at element ${index}${where(index, cols, row0)}`);
}

/** The per-tensor scale w (W = T * w) of a packed checkpoint (docs/architecture.md "Scales"). */
export function packedScale(ws: number, linearClass: "bitlinear" | "autobitlinear"): number {
  return linearClass === "autobitlinear" ? fround(ws) : fround(1 / ws);
}

function unpackPacked(job: TernaryJob): { T: Int8Array; scale: number } {
  if (!job.scaleSrc) throw new BitconvError(`${job.hfName}: packed weight without weight_scale`);
  const ws = readScalar(readSource(job.scaleSrc), job.scaleSrc.dtype);
  if (!Number.isFinite(ws) || ws <= 0) {
    throw inputError(job.scaleSrc.file, `tensor ${job.hfName.replace(/\.weight$/, ".weight_scale")} is ${ws}, not a positive finite scale`);
  }
  try {
    return { T: unpackHfPacked(readSource(job.src, true), job.M / 4, job.K), scale: packedScale(ws, job.linearClass) };
  } catch (e) {
    throw inputError(job.src.file, `tensor ${job.hfName}: ${(e as Error).message}`);
  }
}

/**
 * TEST ONLY (test/verify-fault.test.ts): BITCONV_TEST_FAULT makes the packing systematically wrong, to
 * prove that verify against the source catches it: "invert-scale" packs 1/w, "swap-codes" swaps
 * neighbouring codes in the first 64 of every 256. Applied to packed (U8) checkpoints, before every
 * layout's packer and the .scale tensors. Never set it outside that test.
 */
function testFault({ T, scale }: { T: Int8Array; scale: number }): { T: Int8Array; scale: number } {
  const f = process.env.BITCONV_TEST_FAULT;
  if (f === "invert-scale") return { T, scale: 1 / scale };
  if (f !== "swap-codes") return { T, scale };
  const S = T.slice();
  for (let b = 0; b < S.length; b += 256) for (let i = b; i < b + 64 && i + 1 < S.length; i += 2) [S[i], S[i + 1]] = [T[i + 1], T[i]];
  return { T: S, scale };
}

function pack(job: TernaryJob, T: Int8Array, scale: number): Uint8Array {
  if (job.permuteHeads !== undefined) T = permuteRowsForNormRope(T, job.M, job.K, job.permuteHeads);
  if (job.blockScale === "w" && (job.layout === "tq1_0" || job.layout === "tq2_0")) {
    try {
      return (job.layout === "tq1_0" ? packTq1_0 : packTq2_0)(T, job.M, job.K, scale);
    } catch (e) {
      throw inputError(job.src.file, `tensor ${job.hfName}: ${(e as Error).message}`);
    }
  }
  return getLayout(job.layout).pack(T, job.M, job.K, scale, job.params);
}

/** bf16/f16 masters: codes from tables, then every layout packed straight from the bit patterns. */
function runMasters16(job: TernaryJob, dtype: "BF16" | "F16"): JobResult {
  const bits = u16(readSource(job.src, true));
  let c;
  try {
    c = absmeanCodes16(bits, dtype === "BF16" ? "bf16" : "f16");
  } catch (e) {
    if (e instanceof NonFiniteWeight) throw nonFinite(job, e.index, job.K);
    throw e;
  }
  const plain = job.permuteHeads === undefined && job.blockScale === "one";
  let bytes: Uint8Array;
  if (plain && job.layout === "i2_s") bytes = packI2sFromCodes(bits, c.codes, c.scale, outputBuffer(bits.length / 4 + 32));
  else if (plain && job.layout === "tq2_0") bytes = packTq2_0FromCodes(bits, c.codes, F16_ONE, outputBuffer((bits.length / 256) * 66));
  else if (plain && job.layout === "tq1_0") bytes = packTq1_0FromCodes(bits, c.codes, F16_ONE, outputBuffer((bits.length / 256) * 54));
  else if (plain && job.layout === "tl1" && job.params) bytes = packTl1FromCodes(bits, c.codes, job.M, job.K, job.params, c.scale, outputBuffer(bits.length / 4 + 32));
  else if (plain && job.layout === "tl2" && job.params) bytes = packTl2FromCodes(bits, c.codes, job.M, job.K, job.params, c.scale, outputBuffer(tl2Nbytes(job.M, job.K, job.params)));
  else bytes = pack(job, ternaryFromCodes(bits, c.codes), c.scale);
  return { bytes, scale: c.scale, meanAbs: c.meanAbs };
}

export function runTernary(job: TernaryJob): JobResult {
  if (job.dtype === "BF16" || job.dtype === "F16") return runMasters16(job, job.dtype);
  if (job.dtype === "U8") {
    const { T, scale } = testFault(unpackPacked(job));
    return { bytes: pack(job, T, scale), scale };
  }
  let r;
  try {
    r = ternarizeAbsmean(f32(readSource(job.src, true)));
  } catch (e) {
    if (e instanceof NonFiniteWeight) throw nonFinite(job, e.index, job.K);
    throw e;
  }
  return { bytes: pack(job, r.T, r.scale), scale: r.scale, meanAbs: r.meanAbs };
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

/** Where the first value became NaN/Inf: a bad input, or a finite value the output type cannot hold. */
function conversionError(job: FloatJob, raw: Uint8Array, out: Uint16Array): BitconvError {
  const cols = job.rows > 1 ? job.cols : 0;
  const bad = job.dtype === "F32" ? firstNonFinite32(f32(raw)) : firstNonFinite16(u16(raw), EXP[job.dtype]);
  if (bad >= 0) return nonFinite(job, bad, cols, job.row0);
  const o = firstNonFinite16(out, EXP.F16);
  return inputError(job.src.file, `tensor ${job.hfName}: element ${o}${where(o, cols, job.row0)} overflows f16 (largest 65504); use --embed-type bf16 or f32`);
}

/** Converts one slab; `raw` may be the scratch buffer, so the result never aliases it. */
export function convertFloats(job: FloatJob, raw: Uint8Array): Uint8Array {
  const { dtype, out } = job;
  if (dtype !== "F32" && (out === "f16" || out === "bf16")) {
    if (out === dtype.toLowerCase()) {
      if (anyNonFinite16(u16(raw), EXP[dtype])) throw conversionError(job, raw, new Uint16Array(0));
      return raw.slice();
    }
    const lut = dtype === "BF16" ? bf16ToF16Lut() : f16ToBf16Lut();
    const r = map16Checked(u16(raw), lut, EXP[dtype], out === "f16" ? EXP.F16 : EXP.BF16, u16(outputBuffer(raw.length)));
    if (r.bad) throw conversionError(job, raw, r.out);
    return bytesOf(r.out);
  }
  if (dtype === "F32") {
    const bad = firstNonFinite32(f32(raw));
    if (bad >= 0) throw conversionError(job, raw, new Uint16Array(0));
  } else if (anyNonFinite16(u16(raw), EXP[dtype])) {
    throw conversionError(job, raw, new Uint16Array(0));
  }
  if (out === "f32") return dtype === "F32" ? raw.slice() : bytesOf(toF32(raw, dtype));
  if (out === "q8_0") return quantizeQ8_0(dtype === "F32" ? f32(raw) : toF32(raw, dtype));
  // f32 input -> f16 / bf16
  const src = f32(raw);
  const dst = new Uint16Array(src.length);
  const conv = out === "f16" ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < src.length; i++) dst[i] = conv(src[i]);
  if (out === "f16" && anyNonFinite16(dst, EXP.F16)) throw conversionError(job, raw, dst);
  return bytesOf(dst);
}

export function runFloat(job: FloatJob): JobResult {
  return { bytes: convertFloats(job, readSource(job.src, true)) };
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
