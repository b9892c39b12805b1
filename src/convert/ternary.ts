// A ternary job: master weights (absmean) or HF packed U8 + weight_scale -> the layout's bytes.
// The scale rules (docs/architecture.md "Scales") live here; the bytes are the layout module's.

import { absmeanCodes16, NonFiniteWeight, ternarizeAbsmean } from "../quant/absmean.js";
import { bf16ToF32, f16ToF32 } from "../quant/float.js";
import { permuteRowsForNormRope } from "../quant/permute.js";
import { codesOfTernary, getLayout, ternaryOfCodes, unpackHfPacked, type TernaryCodes } from "../layouts/index.js";
import { BitconvError, inputError } from "../util/errors.js";
import { f32, outputBuffer, readSource, u16 } from "./read.js";
import type { FloatDtype, JobResult, Source, TernaryJob } from "./jobs.js";

const fround = Math.fround;

function readScalar(bytes: Uint8Array, dtype: FloatDtype): number {
  if (dtype === "BF16") return bf16ToF32(bytes[0] | (bytes[1] << 8));
  if (dtype === "F16") return f16ToF32(bytes[0] | (bytes[1] << 8));
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
}

/** " (row r, column c)" of flat element `index`, for error messages. */
export function where(index: number, cols: number, row0: number): string {
  return cols > 0 ? ` (row ${row0 + Math.floor(index / cols)}, column ${index % cols})` : "";
}

export function nonFinite(job: { hfName: string; src: Source }, index: number, cols: number, row0 = 0): BitconvError {
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
 * TEST ONLY (test/verify-source.test.ts): BITCONV_TEST_FAULT makes every packing systematically wrong,
 * to prove that verify against the source catches it: "invert-scale" packs 1/w, "swap-codes" swaps
 * neighbouring codes in the first 64 of every 256. It sits on the one path every input dtype and every
 * layout goes through (codes and w, before the packer and the .scale tensors). Never set it otherwise.
 */
function testFault(src: TernaryCodes, w: number): { src: TernaryCodes; w: number } {
  const f = process.env.BITCONV_TEST_FAULT;
  if (f === "invert-scale") return { src, w: 1 / w };
  if (f !== "swap-codes") return { src, w };
  const T = ternaryOfCodes(src);
  const S = T.slice();
  for (let b = 0; b < S.length; b += 256) for (let i = b; i < b + 64 && i + 1 < S.length; i += 2) [S[i], S[i + 1]] = [T[i + 1], T[i]];
  return { src: codesOfTernary(S), w };
}

/** The layout's packer, into a recycled output buffer; a refusal names the file and tensor. */
function pack(job: TernaryJob, codes: TernaryCodes, scale: number): { bytes: Uint8Array; scale: number } {
  const { src, w } = testFault(codes, scale);
  const layout = getLayout(job.layout);
  try {
    const out = outputBuffer(layout.nbytes(job.M, job.K, job.params));
    return { bytes: layout.packCodes(src, job.M, job.K, w, job.params, job.tqScale, out), scale: w };
  } catch (e) {
    throw inputError(job.src.file, `tensor ${job.hfName}: ${(e as Error).message}`);
  }
}

/** A ternary matrix's codes, its rows reordered first when the job says so (llama arch, NORM rope). */
function codesOf(job: TernaryJob, T: Int8Array): TernaryCodes {
  return codesOfTernary(job.permuteHeads === undefined ? T : permuteRowsForNormRope(T, job.M, job.K, job.permuteHeads));
}

/** bf16/f16 masters: absmean codes from tables, packed straight from the bit patterns. */
function ternaryFromMasters16(job: TernaryJob, dtype: "BF16" | "F16"): JobResult {
  const bits = u16(readSource(job.src, true));
  let c;
  try {
    c = absmeanCodes16(bits, dtype === "BF16" ? "bf16" : "f16");
  } catch (e) {
    if (e instanceof NonFiniteWeight) throw nonFinite(job, e.index, job.K);
    throw e;
  }
  const src: TernaryCodes = { bits, codes: c.codes };
  const codes = job.permuteHeads === undefined ? src : codesOf(job, ternaryOfCodes(src));
  return { ...pack(job, codes, c.scale), meanAbs: c.meanAbs };
}

function ternaryFromMasters32(job: TernaryJob): JobResult {
  let r;
  try {
    r = ternarizeAbsmean(f32(readSource(job.src, true)));
  } catch (e) {
    if (e instanceof NonFiniteWeight) throw nonFinite(job, e.index, job.K);
    throw e;
  }
  return { ...pack(job, codesOf(job, r.T), r.scale), meanAbs: r.meanAbs };
}

export function runTernary(job: TernaryJob): JobResult {
  if (job.dtype === "BF16" || job.dtype === "F16") return ternaryFromMasters16(job, job.dtype);
  if (job.dtype === "F32") return ternaryFromMasters32(job);
  const { T, scale } = unpackPacked(job);
  return pack(job, codesOf(job, T), scale);
}
