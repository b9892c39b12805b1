// bitconv verify: perplexity (llama-perplexity's method), KL divergence against a reference, speed.
// The numbers come from the C runtime (`bitconv-rt perplexity --json`, `bitconv-rt bench --json`);
// this module picks the reference (the source checkpoint whenever it can be found), tokenizes the
// text, runs the passes (passes.ts) and applies the gates.
import { existsSync } from "node:fs";
import { statInput } from "../util/files.js";
import { join, resolve } from "node:path";
import { BitconvError, inputError } from "../util/errors.js";
import { loadTokenizer } from "../tokenizer/encode.js";
import { makeTempDir, packageRoot, writeTokenFile } from "../runtime/runtime.js";
import { readArtifactInfo, type ArtifactInfo } from "../runtime/artifact.js";
import type { HubOptions } from "../hub/options.js";
import { readUtf8Text } from "./text.js";
import { recordedSource } from "./provenance.js";
import { bundledFigure, type ExternalFigure } from "./bundled.js";
import { DEFAULT_REFERENCE_CHUNKS, sampleChunks, writeChunkTokens } from "./sample.js";
import { fileMagic, readLogitsHeader, resolveReference, type LogitsFileHeader, type ReferencePlan } from "./reference.js";
import { benchPass, comparePasses, type Measured } from "./passes.js";

export { parseBench } from "./passes.js";
export { readLogitsHeader, type LogitsFileHeader } from "./reference.js";
export { DEFAULT_REFERENCE_CHUNKS } from "./sample.js";

/** llama-perplexity's default context. */
export const DEFAULT_CTX = 512;
/** Default gate on |PPL - PPL(ref)| / PPL(ref), in percent. */
export const DEFAULT_MAX_PPL_DRIFT = 1;
/** Default gate on the mean KL divergence (nats per token) from the reference. */
export const DEFAULT_MAX_KL = 0.01;

export type ReferenceKind = "float-ref" | "checkpoint" | "artifact" | "logits" | "none";
export type VerifyPass = "reference" | "compare" | "artifact" | "bench" | "build-reference";

export interface VerifyOptions {
  /** The artifact to verify (.gguf). */
  artifact: string;
  /** Evaluation text (UTF-8); default fixtures/text/kjv-dev.txt of the package. */
  text?: string;
  /** Context per chunk; default min(512, the model's context_length). */
  ctx?: number;
  /** Evaluate at most this many chunks. */
  chunks?: number;
  /**
   * What to compare against. Undefined = the source checkpoint (`source`, else the recorded
   * repo@commit in the local Hub cache), else the artifact's own float path; "float" = the artifact's
   * float path; "none"; a checkpoint directory; another .gguf (its integer path); a llama.cpp
   * `_logits_` file.
   */
  reference?: string;
  /** The source checkpoint folder (default: the recorded repo@commit in the local Hub cache). */
  source?: string;
  /** Fail (exit 1) when the conversion cannot be checked against its source. */
  requireSource?: boolean;
  /** Chunks compared with the reference, spread over the text (default 16); perplexity covers all. */
  referenceChunks?: number | "all";
  /** Where the Hub cache is (the source lookup never downloads). */
  hub?: Partial<HubOptions>;
  /** tokenizer.json (or a checkpoint directory holding one); default: the reference checkpoint's, else rebuilt from the artifact. */
  tokenizer?: string;
  threads?: number;
  /** Percent; default 1. */
  maxPplDrift?: number;
  /** Mean KL divergence; default 0.01. */
  maxKl?: number;
  /** Run the speed measurement (default true). */
  bench?: boolean;
  /** Progress within a pass: chunks of a perplexity pass, tensors of build-reference. */
  onProgress?: (p: { pass: VerifyPass; chunk: number; chunks: number; ppl?: number }) => void;
  /** Called when a pass starts (for progress bars). */
  onPass?: (p: { pass: VerifyPass; chunks?: number }) => void;
  /** Abort = stop after the current chunk and return what was measured (partial: true). */
  signal?: AbortSignal;
}

export interface VerifyReference {
  kind: ReferenceKind;
  /** the file / directory, or the artifact itself for float-ref */
  path: string;
  description: string;
  /** the source checkpoint: where it was found */
  source?: { dir: string; repo: string | null; commit: string | null; how: "given" | "hub-cache"; hashed: boolean };
  /** chunks compared with the reference (a sample spread over the text, or all) */
  chunks: number;
  tokens_scored: number | null;
  /** the reference's perplexity over the compared chunks */
  perplexity: number | null;
  /** the artifact's perplexity over the same chunks */
  artifact_perplexity: number | null;
  kl_mean: number | null;
  kl_p99: number | null;
  top1_agreement: number | null;
  /** 100 * (PPL - PPL(ref)) / PPL(ref), over the compared chunks */
  ppl_drift_pct: number | null;
  ppl_diff: number | null;
}

export interface VerifyResult {
  artifact: string;
  architecture: string;
  layout: string | null;
  text: string;
  text_bytes: number;
  /** tokens of the whole text (BOS included) */
  tokens: number;
  tokenizer: string;
  ctx: number;
  /** chunks evaluated */
  chunks: number;
  /** chunks the text (or --chunks) asked for; more than `chunks` only in a partial run */
  chunks_total: number;
  tokens_scored: number;
  perplexity: number | null;
  perplexity_error: number | null;
  /** seconds of the artifact's perplexity pass */
  seconds: number | null;
  /** tokens evaluated per second in the artifact's perplexity pass (whole chunks, batched) */
  perplexity_tokens_per_s: number | null;
  prefill_tokens_per_s: number | null;
  decode_tokens_per_s: number | null;
  speed_method: string | null;
  threads: number | null;
  /** true when the reference is the source checkpoint: the conversion itself was checked */
  conversion_checked: boolean;
  reference?: VerifyReference;
  /** for the bundled model: the float perplexity computed outside bitconv */
  external_reference?: ExternalFigure;
  max_ppl_drift_pct: number;
  max_kl: number;
  failures: string[];
  notes: string[];
  partial: boolean;
  passed: boolean;
}

/** The package's bundled dev text. */
export function defaultTextPath(): string {
  return join(packageRoot(), "fixtures", "text", "kjv-dev.txt");
}

function checkNumbers(opts: VerifyOptions): void {
  const bad = (flag: string, what: string, v: unknown) => new BitconvError(`${flag} must be ${what} (got ${v})`, 2);
  if (!((opts.maxPplDrift ?? DEFAULT_MAX_PPL_DRIFT) >= 0)) throw bad("--max-ppl-drift", "a non-negative percentage", opts.maxPplDrift);
  if (!((opts.maxKl ?? DEFAULT_MAX_KL) >= 0)) throw bad("--max-kl", "non-negative", opts.maxKl);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) throw bad("--threads", "a positive integer", opts.threads);
  if (opts.chunks !== undefined && !(Number.isInteger(opts.chunks) && opts.chunks >= 1)) throw bad("--chunks", "a positive integer", opts.chunks);
  const rc = opts.referenceChunks;
  if (rc !== undefined && rc !== "all" && !(Number.isInteger(rc) && rc >= 1)) throw bad("--reference-chunks", "a positive integer or 'all'", rc);
}

async function openArtifact(path: string): Promise<ArtifactInfo> {
  const artifact = resolve(path);
  const st = await statInput(artifact); // names a dangling link or a symlink loop as such
  if (!st) throw inputError(path, "no such file");
  if (st.isDirectory()) throw inputError(path, "is a directory; verify takes a .gguf artifact (convert a checkpoint first)");
  if (!fileMagic(artifact).startsWith("GGUF")) throw inputError(path, "not a GGUF file");
  return readArtifactInfo(artifact);
}

/** The context: --ctx (checked), a logits file's, else min(512, the model's). */
function pickCtx(opts: VerifyOptions, info: ArtifactInfo, logits: LogitsFileHeader | null, refPath: string, notes: string[]): number {
  const train = info.contextLength;
  let ctx: number;
  if (opts.ctx !== undefined) {
    if (!Number.isInteger(opts.ctx) || opts.ctx < 8 || opts.ctx % 2 !== 0) throw new BitconvError(`--ctx must be an even integer of at least 8 (got ${opts.ctx})`, 2);
    if (train > 0 && opts.ctx > train) {
      throw new BitconvError(`--ctx ${opts.ctx} exceeds the model's context length ${train} (${info.architecture}.context_length); use --ctx ${train} or less`, 2);
    }
    ctx = opts.ctx;
  } else if (logits) {
    ctx = logits.nCtx;
  } else {
    ctx = train > 0 ? Math.min(DEFAULT_CTX, train) : DEFAULT_CTX;
    if (ctx < DEFAULT_CTX) notes.push(`ctx ${ctx}: the model's context length (llama-perplexity's default ${DEFAULT_CTX} exceeds it)`);
  }
  if (logits && logits.nCtx !== ctx) throw inputError(refPath, `was saved with ctx ${logits.nCtx}; run with --ctx ${logits.nCtx}`);
  if (logits && train > 0 && logits.nCtx > train) throw inputError(refPath, `was saved with ctx ${logits.nCtx}, more than the model's context length ${train}`);
  return ctx;
}

export interface TextTokens {
  path: string;
  bytes: number;
  ids: Int32Array | null;
  count: number;
  tokenizer: string;
}

/** Tokenizes the text with the model's tokenizer (or takes the count from a logits file). */
async function tokenize(opts: VerifyOptions, info: ArtifactInfo, ref: ReferencePlan, ctx: number, notes: string[]): Promise<TextTokens> {
  if (ref.logits) {
    if (opts.text) notes.push("--text ignored: the logits file carries its own tokens");
    return { path: ref.path, bytes: 0, ids: null, count: ref.logits.nCtx * ref.logits.nChunk, tokenizer: "(tokens from the logits file)" };
  }
  const path = resolve(opts.text ?? defaultTextPath());
  const { text, bytes } = readUtf8Text(opts.text ?? path);
  const hasTokenizer = (dir: string) => existsSync(join(dir, "tokenizer.json")) || existsSync(join(dir, "tokenizer.model"));
  const fromCkpt = ref.kind === "checkpoint" && hasTokenizer(ref.path) ? ref.path : undefined;
  const src = opts.tokenizer ?? fromCkpt;
  const tok = src ? await loadTokenizer({ tokenizerJson: src }) : await loadTokenizer({ gguf: info.path });
  const ids = tok.encode(text);
  let maxId = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] > maxId) maxId = ids[i];
  if (maxId >= info.vocabSize) throw inputError(tok.path, `gives token id ${maxId}, but the model has ${info.vocabSize} tokens: not this model's tokenizer`);
  if (ids.length < 2 * ctx) throw inputError(opts.text ?? path, `has ${ids.length} tokens; perplexity with ctx ${ctx} needs at least ${2 * ctx} (2 chunks)`);
  const label = tok.source === "gguf" ? "rebuilt from the artifact's tokenizer.ggml.* keys" : tok.path;
  return { path, bytes, ids, count: ids.length, tokenizer: label };
}

/** Gates: drift and KL against the reference (unless partial), a finite perplexity, the source requirement. */
function applyGates(m: Measured, ref: ReferencePlan, opts: VerifyOptions): string[] {
  const failures: string[] = [];
  const maxDrift = opts.maxPplDrift ?? DEFAULT_MAX_PPL_DRIFT;
  const maxKl = opts.maxKl ?? DEFAULT_MAX_KL;
  if (m.partial) return failures;
  if (m.reference) {
    const drift = m.reference.ppl_drift_pct;
    if (drift === null || !Number.isFinite(drift)) failures.push("perplexity drift could not be computed");
    else if (Math.abs(drift) > maxDrift) failures.push(`perplexity drift ${drift.toFixed(4)}% exceeds ${maxDrift}%`);
    const kl = m.reference.kl_mean;
    if (kl === null || !Number.isFinite(kl)) failures.push("KL divergence could not be computed");
    else if (kl > maxKl) failures.push(`mean KL divergence ${kl.toPrecision(4)} exceeds ${maxKl}`);
  }
  if (m.perplexity === null || !Number.isFinite(m.perplexity)) failures.push("perplexity is not finite");
  if (opts.requireSource && ref.kind !== "checkpoint") failures.push("the conversion was not checked against its source checkpoint (--require-source)");
  return failures;
}

interface Outcome {
  info: ArtifactInfo;
  text: TextTokens;
  ctx: number;
  chunks: number;
  measured: Measured;
  speed: Awaited<ReturnType<typeof benchPass>>;
  ref: ReferencePlan;
  external: ExternalFigure | null;
  failures: string[];
  notes: string[];
}

function resultOf(o: Outcome, opts: VerifyOptions): VerifyResult {
  const m = o.measured;
  return {
    artifact: o.info.path,
    architecture: o.info.architecture,
    layout: o.info.layout,
    text: o.text.path,
    text_bytes: o.text.bytes,
    tokens: o.text.count,
    tokenizer: o.text.tokenizer,
    ctx: o.ctx,
    chunks: m.chunks,
    chunks_total: o.chunks,
    tokens_scored: m.tokensScored,
    perplexity: m.perplexity,
    perplexity_error: m.perplexityError,
    seconds: m.seconds,
    perplexity_tokens_per_s: m.tokensPerS,
    prefill_tokens_per_s: o.speed?.pp ?? null,
    decode_tokens_per_s: o.speed?.tg ?? null,
    speed_method: o.speed?.method ?? null,
    threads: opts.threads ?? null,
    conversion_checked: o.ref.kind === "checkpoint",
    ...(m.reference ? { reference: m.reference } : {}),
    ...(o.external ? { external_reference: o.external } : {}),
    max_ppl_drift_pct: opts.maxPplDrift ?? DEFAULT_MAX_PPL_DRIFT,
    max_kl: opts.maxKl ?? DEFAULT_MAX_KL,
    failures: o.failures,
    notes: o.notes,
    partial: m.partial,
    passed: !m.partial && o.failures.length === 0,
  };
}

/** Runs the verification; never prints. Throws BitconvError (exit 2) on bad input. */
export async function verify(opts: VerifyOptions): Promise<VerifyResult> {
  checkNumbers(opts);
  const info = await openArtifact(opts.artifact);
  const notes: string[] = [];
  const ref = await resolveReference(opts, info, notes);
  const ctx = pickCtx(opts, info, ref.logits, ref.path, notes);
  const tmp = makeTempDir("bitconv-verify-");
  try {
    const text = await tokenize(opts, info, ref, ctx, notes);
    const allChunks = Math.floor(text.count / ctx);
    const chunks = opts.chunks !== undefined ? Math.min(opts.chunks, allChunks) : allChunks;
    const files = writeTokens(tmp.dir, text, ctx, chunks, ref, opts);
    const measured = await comparePasses(opts, info, ref, ctx, chunks, files, tmp.dir);
    const speed = measured.partial ? null : await benchPass(opts, info);
    if (speed?.interrupted) measured.partial = true;
    const failures = applyGates(measured, ref, opts);
    const recorded = (await recordedSource(info.path).catch(() => null))?.files ?? [];
    const external = await bundledFigure(recorded, text.path, ctx, chunks === allChunks && !ref.logits);
    return resultOf({ info, text, ctx, chunks, measured, speed, ref, external, failures, notes }, opts);
  } finally {
    tmp.dispose();
  }
}

export interface TokenFiles {
  /** the whole text (null with a logits reference: its tokens come from the file) */
  full: string | null;
  /** the chunks compared with the reference, and their indices */
  sample: string | null;
  sampled: number[];
}

/** The token files: the whole text, and the chunks compared with the reference when that is a sample. */
function writeTokens(dir: string, text: TextTokens, ctx: number, chunks: number, ref: ReferencePlan, opts: VerifyOptions): TokenFiles {
  if (!text.ids) return { full: null, sample: null, sampled: [] };
  const full = join(dir, "tokens.bin");
  writeTokenFile(full, text.ids);
  const want = opts.referenceChunks === "all" ? chunks : (opts.referenceChunks ?? DEFAULT_REFERENCE_CHUNKS);
  const sampled = ref.kind === "none" ? [] : sampleChunks(chunks, want);
  if (sampled.length === 0 || sampled.length === chunks) return { full, sample: null, sampled };
  const sample = join(dir, "sample.bin");
  writeChunkTokens(sample, text.ids, ctx, sampled);
  return { full, sample, sampled };
}
