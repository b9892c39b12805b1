// Which chunks verify compares with its reference: a bounded sample spread evenly over the text (the
// reference's float path costs several times the integer path; docs/verify.md says why 16 suffice),
// written as a token file of whole chunks so the runtime scores them exactly as in the full pass.
import { writeTokenFile } from "../runtime/runtime.js";

/** Default number of chunks compared with the reference. */
export const DEFAULT_REFERENCE_CHUNKS = 16;

/** Indices of n chunks spread evenly over `total` (all of them when n >= total): the middle of n equal strata. */
export function sampleChunks(total: number, n: number): number[] {
  if (n >= total) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: n }, (_, j) => Math.floor(((j + 0.5) * total) / n));
}

/** Writes the tokens of the given chunks (ctx tokens each, in order) to `file`. */
export function writeChunkTokens(file: string, ids: Int32Array, ctx: number, chunks: readonly number[]): void {
  const out = new Int32Array(chunks.length * ctx);
  chunks.forEach((c, j) => out.set(ids.subarray(c * ctx, (c + 1) * ctx), j * ctx));
  writeTokenFile(file, out);
}

/** --reference-chunks: a positive integer or "all". */
export function parseReferenceChunks(v: unknown): number | "all" | undefined {
  if (v === undefined) return undefined;
  if (v === "all") return "all";
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isInteger(n) || n < 1) return Number.NaN;
  return n;
}
