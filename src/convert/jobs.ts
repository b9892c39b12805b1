// The units of work the convert pipeline hands to its worker threads, and what they return.
// Pure data (structured-clone friendly): a worker reads its own input bytes with positional reads.

import type { LayoutName, TlParams, TqScale } from "../layouts/types.js";

export type FloatDtype = "BF16" | "F16" | "F32";
export type EmbedType = "f32" | "f16" | "bf16" | "q8_0";
export type FloatOut = EmbedType;

/** A byte range of one input file. */
export interface Source {
  file: string;
  offset: number;
  nbytes: number;
}

/** One whole ternary projection: masters (absmean) or HF packed U8 + weight_scale. */
export interface TernaryJob {
  kind: "ternary";
  /** GGUF name (errors name it together with the HF name) */
  name: string;
  hfName: string;
  src: Source;
  dtype: FloatDtype | "U8";
  M: number;
  K: number;
  /** packed checkpoints: the weight_scale tensor and how to read it */
  scaleSrc?: Source & { dtype: FloatDtype };
  linearClass: "bitlinear" | "autobitlinear";
  layout: LayoutName;
  params?: TlParams;
  /** llama arch: rows reordered for NORM rope, per head */
  permuteHeads?: number;
  /** tq layouts: where the per-tensor scale w goes (a `.scale` tensor, or d = f16(w) in every block) */
  tqScale: TqScale;
}

/** Rows [row0, row0 + rows) of a float matrix (or a whole 1-D norm), converted to `out`. */
export interface FloatJob {
  kind: "float";
  name: string;
  hfName: string;
  src: Source;
  dtype: FloatDtype;
  rows: number;
  cols: number;
  row0: number;
  out: FloatOut;
}

/** sha256 of whole files (provenance), streamed in large reads. */
export interface HashJob {
  kind: "hash";
  files: string[];
}

export type Job = TernaryJob | FloatJob | HashJob;

export interface JobResult {
  /** the tensor bytes this job produced (transferred, not copied) */
  bytes?: Uint8Array;
  /** ternary: the per-tensor scale w (f32), W = T * w */
  scale?: number;
  /** ternary masters: mean |W| */
  meanAbs?: number;
  /** hash: hex digests in file order */
  hashes?: string[];
}

export interface JobError {
  message: string;
  exitCode: number;
}
