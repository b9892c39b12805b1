// inspect: summaries, ternary statistics, block decoding and the HTML report of GGUF files and
// Hugging Face checkpoints (docs/inspect.md). The CLI (command.ts) is a thin layer over `inspect`.
import { looksLikeRepoId } from "../hub/paths.js";
import { writeFileAtomic } from "../util/atomic.js";
import { BitconvError, inputError } from "../util/errors.js";
import { fileKind, openInput, statInput } from "../util/files.js";
import { inspectGguf } from "./gguf.js";
import { renderHtml } from "./html.js";
import { inspectHub } from "./hub.js";
import { inspectCheckpoint, listLocalCheckpoint } from "./safetensors.js";
import type { InspectOptions, InspectResult } from "./types.js";

export type * from "./types.js";
export { renderText } from "./text.js";
export { renderHtml } from "./html.js";
export { decodeBlock, blockCount, BLOCK_DEFINITIONS } from "./blocks.js";

async function sniff(path: string): Promise<"gguf" | "safetensors" | "unknown"> {
  const fh = await openInput(path);
  try {
    const b = Buffer.alloc(9);
    const { bytesRead } = await fh.read(b, 0, 9, 0);
    if (bytesRead >= 4 && b.toString("latin1", 0, 4) === "GGUF") return "gguf";
    if (bytesRead === 9 && b.readBigUInt64LE(0) > 1n && b[8] === 0x7b /* { */) return "safetensors";
    return "unknown";
  } finally {
    await fh.close();
  }
}

/** Inspects a GGUF file, a model folder, a .safetensors file or a Hub repo (headers only). */
export async function inspect(opts: InspectOptions): Promise<InspectResult> {
  const src = opts.source;
  if (opts.block !== undefined && (!Number.isSafeInteger(opts.block) || opts.block < 0)) {
    throw new BitconvError(`--block must be a block number >= 0, got ${opts.block}`);
  }
  const st = await statInput(src);
  let result: InspectResult;
  if (!st) {
    if (!looksLikeRepoId(src)) throw inputError(src, "no such file or folder (and not a Hub repo id org/name)");
    result = await inspectHub(src, opts);
  } else if (st.isDirectory()) {
    result = await inspectCheckpoint(await listLocalCheckpoint(src, true), opts);
  } else if (!st.isFile()) {
    throw inputError(src, `is ${fileKind(st)}, not a regular file or folder`);
  } else {
    const kind = st.size === 0 ? "gguf" : await sniff(src);
    if (kind === "gguf" || (kind === "unknown" && src.endsWith(".gguf"))) result = await inspectGguf(src, opts);
    else if (kind === "safetensors" || src.endsWith(".safetensors")) result = await inspectCheckpoint(await listLocalCheckpoint(src, false), opts);
    else throw inputError(src, "neither a GGUF file (magic \"GGUF\") nor a safetensors file");
  }
  if (opts.html !== undefined) {
    try {
      await writeFileAtomic(opts.html, renderHtml(result));
    } catch (e) {
      if (e instanceof BitconvError) throw e;
      throw inputError(opts.html, `cannot write the report: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  // without --block the block was decoded only for the report's diagram
  if (opts.block === undefined) delete result.block;
  return result;
}
