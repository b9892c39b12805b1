// convert(): a Hugging Face BitNet checkpoint folder -> one GGUF artifact, streamed.
// The main thread plans, dispatches jobs to worker threads (bounded window), and writes their results
// strictly in tensor order; input files are hashed on one more thread meanwhile (provenance), and the
// header is rewritten with those hashes at the end (fixed-length placeholders keep every offset).

import { availableParallelism } from "node:os";
import { realpathSync, rmSync, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { openCheckpoint } from "../checkpoint/index.js";
import { GgufStreamWriter, sha256File, stringElementOffsets } from "../gguf/writer.js";
import { f16ToF32, f32ToF16Bits } from "../quant/float.js";
import { checkTarget, writeFileAtomic } from "../util/atomic.js";
import { BitconvError } from "../util/errors.js";
import { progressBar } from "../util/progress.js";
import { VERSION } from "../version.js";
import type { EmbedType, JobResult } from "./jobs.js";
import { planConversion, type ConversionPlan, type PlannedOutput, type Target } from "./plan.js";
import { WorkerPool } from "./pool.js";

export { planConversion, TARGETS, EMBED_TYPES } from "./plan.js";
export { convertFromGguf, type ConvertGgufOptions, type ConvertGgufResult } from "./fromGguf.js";
export type { ConversionPlan, PlannedOutput, Target, PlanOptions } from "./plan.js";
export type { EmbedType } from "./jobs.js";

export interface ConvertOptions {
  /** Hugging Face model folder (config.json, *.safetensors, tokenizer files) */
  modelDir: string;
  layout: string;
  /** the .gguf to write (not needed for dryRun) */
  output?: string;
  target?: Target;
  embedType?: EmbedType;
  /** worker threads (default: all cores) */
  threads?: number;
  quiet?: boolean;
  dryRun?: boolean;
  /** also write a JSON manifest here (atomically) */
  manifest?: string;
  sourceRepo?: string;
  sourceCommit?: string;
}

export interface PlanSummary {
  model: { dir: string; name: string; family: string; architecture: string };
  arch: string;
  target: Target;
  layout: string;
  embedType: EmbedType;
  tensors: Omit<PlannedOutput, "params">[];
  tensorCount: number;
  inputBytes: number;
  outputBytes: number;
  notes: string[];
}

export interface ConvertResult {
  dryRun: boolean;
  output?: string;
  bytes: number;
  tensors: number;
  inputBytes: number;
  seconds: number;
  /** input bytes per second / 1e6 */
  mbPerSec: number;
  threads: number;
  sha256?: string;
  manifest?: string;
  notes: string[];
  plan: PlanSummary;
}

export function summarizePlan(plan: ConversionPlan): PlanSummary {
  return {
    model: { dir: plan.modelDir, name: plan.modelName, family: plan.family, architecture: plan.architecture },
    arch: plan.arch,
    target: plan.target,
    layout: plan.layout,
    embedType: plan.embedType,
    tensors: plan.tensors.map(({ params: _p, ...t }) => t),
    tensorCount: plan.tensors.length,
    inputBytes: plan.inputBytes,
    outputBytes: plan.outputBytes,
    notes: plan.notes,
  };
}

/** A file inside a Hugging Face cache whose blob is named by its sha256 (LFS files) needs no rehash. */
function cachedSha256(path: string): string | undefined {
  try {
    const real = realpathSync(path);
    const name = basename(real);
    if (basename(dirname(real)) === "blobs" && /^[0-9a-f]{64}$/.test(name)) return name;
  } catch {
    // unreadable paths are reported by the hashing itself
  }
  return undefined;
}

function checkOutput(output: string | undefined, inputs: readonly string[]): string {
  if (!output) throw new BitconvError("no output file: pass -o <file.gguf>");
  const out = resolve(output);
  let st;
  try {
    st = statSync(dirname(out));
  } catch {
    throw new BitconvError(`${output}: the folder ${dirname(out)} does not exist`);
  }
  if (!st.isDirectory()) throw new BitconvError(`${output}: ${dirname(out)} is not a folder`);
  checkTarget(out);
  if (inputs.some((f) => resolve(f) === out)) throw new BitconvError(`${output}: is one of the input files`);
  return out;
}

/** The manifest path, checked before any work (a refusal after the artifact is written would split them). */
function checkManifest(manifest: string, output: string, inputs: readonly string[]): string {
  const m = resolve(manifest);
  if (m === output) throw new BitconvError(`${manifest}: --manifest names the output file itself`);
  if (inputs.some((f) => resolve(f) === m)) throw new BitconvError(`${manifest}: is one of the input files`);
  checkTarget(m);
  return m;
}

function resolveThreads(threads: number | undefined): number {
  if (threads === undefined) return Math.max(1, availableParallelism());
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new BitconvError(`--threads ${threads}: expected an integer from 1 to 256`);
  return threads;
}

function scaleBytes(w: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, w, true);
  return b;
}

/**
 * Input hashes for provenance: LFS blob names where the Hub cache gives them, else one hashing
 * thread running alongside the conversion. cancel() stops it after a failure.
 */
function hashInputs(plan: ConversionPlan): { hashes: Promise<string[]>; cancel: () => Promise<void> } {
  const known = plan.provenanceFiles.map((f) => cachedSha256(f.path));
  const todo = plan.provenanceFiles.filter((_, i) => known[i] === undefined).map((f) => f.path);
  if (todo.length === 0) return { hashes: Promise.resolve(known as string[]), cancel: async () => undefined };
  const pool = new WorkerPool(1);
  const hashes = pool.run({ kind: "hash", files: todo }).then((r) => {
    let k = 0;
    return known.map((h) => h ?? r.hashes![k++]);
  });
  hashes.catch(() => undefined); // awaited (or cancelled) by the caller
  hashes.finally(() => pool.close()).catch(() => undefined);
  return { hashes, cancel: () => pool.close() };
}

/**
 * Buffers the workers produced go back to them once on disk (no fresh pages per job): the caller adds
 * each worker buffer to the returned set before writing it.
 */
function recycleWritten(writer: GgufStreamWriter, pool: WorkerPool): WeakSet<ArrayBuffer> {
  const fromWorkers = new WeakSet<ArrayBuffer>();
  writer.onWritten = (chunks) => {
    const back: ArrayBuffer[] = [];
    for (const c of chunks) {
      const b = c.buffer as ArrayBuffer;
      if (fromWorkers.has(b) && c.byteOffset === 0 && c.byteLength === b.byteLength) {
        fromWorkers.delete(b);
        back.push(b);
      }
    }
    pool.recycle(back);
  };
  return fromWorkers;
}

/** Fills the 64-hex placeholders of bitconv.source.files (at `hashAt`) with the inputs' sha256. */
async function patchHashes(writer: GgufStreamWriter, plan: ConversionPlan, hashAt: number[], hashes: string[]): Promise<void> {
  for (let i = 0; i < hashes.length; i++) {
    if (!/^[0-9a-f]{64}$/.test(hashes[i])) throw new Error(`bad sha256 for ${plan.provenanceFiles[i].rel}`);
    await writer.patchBytes(hashAt[i], Buffer.from(hashes[i], "latin1"));
  }
}

async function writeArtifact(
  plan: ConversionPlan,
  output: string,
  threads: number,
  quiet: boolean,
  manifest: string | undefined,
): Promise<{ scales: number[]; hashes: string[] }> {
  const writer = await GgufStreamWriter.create(output, plan.kvs, plan.tensorInfos);
  // where the 64-hex placeholders of bitconv.source.files sit, filled in once the hashes are known
  const fileEntries = plan.provenanceFiles.map((f) => `${f.rel} ${"0".repeat(64)}`);
  const hashAt = stringElementOffsets(writer.layout, "bitconv.source.files", fileEntries).map((at, i) => at + Buffer.byteLength(fileEntries[i]) - 64);
  // drop the key list (hundreds of thousands of token and merge strings) so the GC does not keep
  // tracing it while the weights stream through
  plan.kvs = [];
  let pool: WorkerPool;
  try {
    pool = new WorkerPool(threads);
  } catch (e) {
    await writer.abort();
    throw e;
  }
  const fromWorkers = recycleWritten(writer, pool);
  const bar = progressBar({ quiet, unit: "bytes" });
  const hashing = hashInputs(plan);
  const window = Math.max(2, threads * 4);
  const results: (Promise<JobResult> | undefined)[] = new Array(plan.jobs.length);
  const scales: number[] = new Array(plan.jobs.length);
  let launched = 0;
  let consumed = 0;
  const launch = () => {
    while (launched < plan.jobs.length && launched - consumed < window) {
      const p = pool.run(plan.jobs[launched]);
      p.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
      results[launched++] = p;
    }
  };
  try {
    bar.start(plan.inputBytes, `convert ${plan.layout}`);
    launch();
    for (const step of plan.steps) {
      if ("scaleOf" in step) {
        await writer.write(scaleBytes(scales[step.scaleOf]));
        continue;
      }
      for (const j of step.jobs) {
        const r = await results[j]!;
        results[j] = undefined;
        consumed++;
        launch();
        if (r.scale !== undefined) scales[j] = r.scale;
        fromWorkers.add(r.bytes!.buffer as ArrayBuffer);
        await writer.write(r.bytes!);
        const job = plan.jobs[j];
        if (job.kind !== "hash") bar.increment(job.src.nbytes + (job.kind === "ternary" ? (job.scaleSrc?.nbytes ?? 0) : 0));
      }
    }
    const hashes = await hashing.hashes;
    await patchHashes(writer, plan, hashAt, hashes);
    // an old manifest must never sit beside the new artifact (docs/convert.md, "after a kill")
    if (manifest) rmSync(manifest, { force: true });
    await writer.finish();
    return { scales: scales.filter((s) => s !== undefined), hashes };
  } catch (e) {
    await hashing.cancel();
    await writer.abort();
    throw e;
  } finally {
    bar.stop();
    await pool.close();
  }
}

/** Largest relative change of a scale rounded to f16 (llama arch under --target llama.cpp). */
function f16RoundingNote(scales: number[]): string {
  let worst = 0;
  for (const w of scales) worst = Math.max(worst, Math.abs(f16ToF32(f32ToF16Bits(w)) - w) / w);
  return `scales rounded to f16: largest relative change ${worst.toExponential(2)}`;
}

export async function convert(opts: ConvertOptions): Promise<ConvertResult> {
  const t0 = performance.now();
  const ckpt = await openCheckpoint(opts.modelDir);
  const plan = planConversion(ckpt, opts);
  const summary = summarizePlan(plan);
  const threads = resolveThreads(opts.threads);
  if (opts.dryRun) {
    return { dryRun: true, bytes: plan.outputBytes, tensors: plan.tensors.length, inputBytes: plan.inputBytes, seconds: 0, mbPerSec: 0, threads, notes: plan.notes, plan: summary };
  }
  const output = checkOutput(opts.output, ckpt.files);
  const manifest = opts.manifest ? checkManifest(opts.manifest, output, ckpt.files) : undefined;
  const { scales, hashes } = await writeArtifact(plan, output, threads, opts.quiet ?? false, manifest);
  const notes = [...plan.notes];
  if (plan.tqScale === "block-d") notes.push(f16RoundingNote(scales));
  const seconds = (performance.now() - t0) / 1000;
  const result: ConvertResult = {
    dryRun: false,
    output,
    bytes: plan.outputBytes,
    tensors: plan.tensors.length,
    inputBytes: plan.inputBytes,
    seconds,
    mbPerSec: plan.inputBytes / 1e6 / seconds,
    threads,
    notes,
    plan: summary,
  };
  if (manifest) {
    result.sha256 = await sha256File(output);
    result.manifest = manifest;
    await writeFileAtomic(result.manifest, JSON.stringify(manifestOf(plan, result, hashes), null, 2) + "\n");
  }
  return result;
}

/** The manifest pipelines read: the artifact, its hash, the options and provenance, the tensors. */
export function manifestOf(plan: ConversionPlan, result: ConvertResult, hashes: string[]): Record<string, unknown> {
  return {
    bitconv_version: VERSION,
    output: result.output,
    bytes: result.bytes,
    sha256: result.sha256,
    layout: plan.layout,
    target: plan.target,
    arch: plan.arch,
    embed_type: plan.embedType,
    options: JSON.parse(plan.optionsJson) as unknown,
    provenance: {
      repo: plan.sourceRepo ?? null,
      commit: plan.sourceCommit ?? null,
      files: plan.provenanceFiles.map((f, i) => ({ path: f.rel, sha256: hashes[i] })),
    },
    tensors: plan.tensors.map((t) => ({ name: t.name, type: t.typeName, shape: t.shape, bytes: t.nbytes, offset: t.offset })),
    notes: result.notes,
  };
}
