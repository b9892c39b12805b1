// A float job: a slab of embedding / output / norm weights converted to the --embed-type, refusing
// NaN/Inf inputs and values the output type cannot hold.

import { bf16ToF16Lut, f16ToBf16Lut, f16ToF32Lut, f32ToBf16Bits, f32ToF16Bits } from "../quant/float.js";
import { quantizeQ8_0 } from "../quant/q8_0.js";
import { anyNonFinite16, firstNonFinite16, map16Checked } from "../quant/scan16.js";
import { BitconvError, inputError } from "../util/errors.js";
import { bytesOf, f32, outputBuffer, readSource, u16 } from "./read.js";
import { nonFinite, where } from "./ternary.js";
import type { FloatDtype, FloatJob, JobResult } from "./jobs.js";

const EXP = { BF16: 0x7f80, F16: 0x7c00 } as const;

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

/** bf16 <-> f16 (or a copy when the type stays): one table lookup per value. */
function convert16(job: FloatJob, raw: Uint8Array, dtype: "BF16" | "F16", out: "f16" | "bf16"): Uint8Array {
  if (out === dtype.toLowerCase()) {
    if (anyNonFinite16(u16(raw), EXP[dtype])) throw conversionError(job, raw, new Uint16Array(0));
    return raw.slice();
  }
  const lut = dtype === "BF16" ? bf16ToF16Lut() : f16ToBf16Lut();
  const r = map16Checked(u16(raw), lut, EXP[dtype], out === "f16" ? EXP.F16 : EXP.BF16, u16(outputBuffer(raw.length)));
  if (r.bad) throw conversionError(job, raw, r.out);
  return bytesOf(r.out);
}

/** Converts one slab; `raw` may be the scratch buffer, so the result never aliases it. */
export function convertFloats(job: FloatJob, raw: Uint8Array): Uint8Array {
  const { dtype, out } = job;
  if (dtype !== "F32" && (out === "f16" || out === "bf16")) return convert16(job, raw, dtype, out);
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
