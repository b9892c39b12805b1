// Which chunks verify compares with its reference: a bounded sample spread evenly over the text (the
// reference's float path costs several times the integer path; docs/verify.md says why 16 suffice),
// written as a token file of whole chunks so the runtime scores them exactly as in the full pass.
import { writeTokenFile } from "../runtime/runtime.js";
import { BitconvError } from "../util/errors.js";

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

/** --reference-chunks: a positive integer or "all" (anything else is bad input, exit 2). */
export function parseReferenceChunks(v: unknown): number | "all" | undefined {
  if (v === undefined) return undefined;
  if (v === "all") return "all";
  const n = typeof v === "number" ? v : /^\d+$/.test(String(v)) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 1) throw new BitconvError(`--reference-chunks must be a positive integer or 'all' (got ${JSON.stringify(v)})`, 2);
  return n;
}
