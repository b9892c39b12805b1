// bitconv verify: perplexity (llama-perplexity's method), KL divergence against a reference, speed.
// The numbers come from the C runtime (`bitconv-rt perplexity --json`, `bitconv-rt bench --json`);
// this module picks the reference, tokenizes the text, runs the passes and applies the gates.
import { closeSync, existsSync, readSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { BitconvError, inputError } from "../util/errors.js";
import { openInputSync } from "../util/files.js";
import { loadTokenizer, type BitconvTokenizer } from "../tokenizer/encode.js";
import { makeTempDir, packageRoot, runRuntime, writeTokenFile, type RuntimeEvent } from "../runtime/runtime.js";
import { readArtifactInfo, type ArtifactInfo } from "../runtime/artifact.js";
import { readUtf8Text } from "./text.js";
import { convert, type EmbedType, type Target } from "../convert/index.js";

/** llama-perplexity's default context. */
export const DEFAULT_CTX = 512;
/** Default gate on |PPL - PPL(ref)| / PPL(ref), in percent. */
export const DEFAULT_MAX_PPL_DRIFT = 1;
/** Default gate on the mean KL divergence (nats per token) from the reference. */
export const DEFAULT_MAX_KL = 0.01;
/** Sizes of the speed run (`bitconv-rt bench -p P -n N`), clamped to the model's context. */
export const BENCH_PROMPT = 128;
export const BENCH_GEN = 32;

export type ReferenceKind = "float-ref" | "checkpoint" | "artifact" | "logits" | "none";

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
   * What to compare against: undefined / "float" = the float reference path of the same artifact;
   * "none" = no reference; a directory = a Hugging Face checkpoint (converted to a temporary artifact
   * in the same layout, float reference path); a .gguf = another artifact (its own default integer
   * path); a file starting with `_logits_` = llama.cpp's --kl-divergence-base file.
   */
  reference?: string;
  /** tokenizer.json (or a checkpoint directory holding one); default: the reference checkpoint's, else rebuilt from the artifact. */
  tokenizer?: string;
  threads?: number;
  /** Percent; default 1. */
  maxPplDrift?: number;
  /** Mean KL divergence; default 0.01. */
  maxKl?: number;
  /** Run the speed measurement (default true). */
  bench?: boolean;
  /** Progress over chunks of each perplexity pass. */
  onProgress?: (p: { pass: "reference" | "artifact"; chunk: number; chunks: number; ppl: number }) => void;
  /** Called when a pass starts (for progress bars). */
  onPass?: (p: { pass: "reference" | "artifact" | "bench" | "convert"; chunks?: number }) => void;
  /** Abort = stop after the current chunk and return what was measured (partial: true). */
  signal?: AbortSignal;
}

export interface VerifyReference {
  kind: ReferenceKind;
  /** the file / directory, or the artifact itself for float-ref */
  path: string;
  description: string;
  perplexity: number | null;
  kl_mean: number | null;
  kl_p99: number | null;
  top1_agreement: number | null;
  /** 100 * (PPL - PPL(ref)) / PPL(ref) */
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
  /** prompt processing tokens/s (bitconv-rt bench) */
  prefill_tokens_per_s: number | null;
  /** generation tokens/s (bitconv-rt bench) */
  decode_tokens_per_s: number | null;
  /** how the speed was measured */
  speed_method: string | null;
  threads: number | null;
  reference?: VerifyReference;
  max_ppl_drift_pct: number;
  max_kl: number;
  failures: string[];
  notes: string[];
  partial: boolean;
  passed: boolean;
}

/** Header of a llama.cpp `--kl-divergence-base` file. */
export interface LogitsFileHeader {
  nCtx: number;
  nVocab: number;
  nChunk: number;
}

export function readLogitsHeader(file: string): LogitsFileHeader | null {
  const fd = openInputSync(file);
  try {
    const b = Buffer.alloc(20);
    const n = readSync(fd, b, 0, 20, 0);
    if (n < 20 || b.toString("latin1", 0, 8) !== "_logits_") return null;
    return { nCtx: b.readUInt32LE(8), nVocab: b.readInt32LE(12), nChunk: b.readInt32LE(16) };
  } finally {
    closeSync(fd);
  }
}

function fileMagic(file: string): string {
  const fd = openInputSync(file);
  try {
    const b = Buffer.alloc(8);
    const n = readSync(fd, b, 0, 8, 0);
    return b.toString("latin1", 0, n);
  } finally {
    closeSync(fd);
  }
}

function classifyReference(ref: string): { kind: ReferenceKind; path: string } {
  if (ref === "float" || ref === "float-ref" || ref === "self") return { kind: "float-ref", path: "" };
  if (ref === "none") return { kind: "none", path: "" };
  const p = resolve(ref);
  if (!existsSync(p)) throw inputError(ref, "no such file or directory (--reference takes a checkpoint directory, a .gguf, a logits file, 'float' or 'none')");
  if (statSync(p).isDirectory()) {
    if (!existsSync(join(p, "config.json"))) throw inputError(ref, "not a Hugging Face checkpoint directory (no config.json)");
    return { kind: "checkpoint", path: p };
  }
  const magic = fileMagic(p);
  if (magic.startsWith("GGUF")) return { kind: "artifact", path: p };
  if (magic === "_logits_") return { kind: "logits", path: p };
  throw inputError(ref, "not a GGUF file, a llama.cpp logits file (_logits_) or a checkpoint directory");
}

/** The package's bundled dev text. */
export function defaultTextPath(): string {
  return join(packageRoot(), "fixtures", "text", "kjv-dev.txt");
}

const num = (v: unknown): number | null => (typeof v === "number" ? v : null);

interface PassResult {
  result: RuntimeEvent | null;
  interrupted: boolean;
}

async function perplexityPass(
  pass: "reference" | "artifact",
  args: string[],
  opts: VerifyOptions,
  expectChunks: number,
): Promise<PassResult> {
  if (opts.signal?.aborted) return { result: null, interrupted: true };
  opts.onPass?.({ pass, chunks: expectChunks });
  const r = await runRuntime(["perplexity", ...args, "--json"], {
    signal: opts.signal,
    okCodes: [130],
    onEvent: (ev) => {
      if (ev.event === "chunk") {
        opts.onProgress?.({ pass, chunk: Number(ev.chunk), chunks: Number(ev.chunks), ppl: Number(ev.ppl) });
      }
    },
  });
  const result = [...r.events].reverse().find((e) => e.event === "result") ?? null;
  if (!result && !r.interrupted) throw new BitconvError(`bitconv-rt perplexity printed no result${r.stderr ? `: ${r.stderr.trim()}` : ""}`, 1);
  return { result, interrupted: r.interrupted || result?.partial === true };
}

/** Converts the reference checkpoint the way the artifact was converted (layout, target, embed type). */
async function convertReference(checkpoint: string, info: ArtifactInfo, outFile: string, threads?: number): Promise<void> {
  if (!info.layout) {
    throw inputError(info.path, "has no bitconv.layout key (not written by bitconv): compare it against another .gguf or a logits file instead of a checkpoint");
  }
  await convert({
    modelDir: checkpoint,
    output: outFile,
    layout: info.layout,
    ...(info.target ? { target: info.target as Target } : {}),
    ...(info.embedType ? { embedType: info.embedType as EmbedType } : {}),
    ...(threads !== undefined ? { threads } : {}),
    quiet: true,
  });
}

/** Runs the verification; never prints. Throws BitconvError (exit 2) on bad input. */
export async function verify(opts: VerifyOptions): Promise<VerifyResult> {
  const artifact = resolve(opts.artifact);
  if (!existsSync(artifact)) throw inputError(opts.artifact, "no such file");
  if (statSync(artifact).isDirectory()) throw inputError(opts.artifact, "is a directory; verify takes a .gguf artifact (convert a checkpoint first)");
  if (!fileMagic(artifact).startsWith("GGUF")) throw inputError(opts.artifact, "not a GGUF file");
  const info = await readArtifactInfo(artifact);
  const notes: string[] = [];
  const maxDrift = opts.maxPplDrift ?? DEFAULT_MAX_PPL_DRIFT;
  const maxKl = opts.maxKl ?? DEFAULT_MAX_KL;
  if (!(maxDrift >= 0)) throw new BitconvError(`--max-ppl-drift must be a non-negative percentage (got ${opts.maxPplDrift})`, 2);
  if (!(maxKl >= 0)) throw new BitconvError(`--max-kl must be non-negative (got ${opts.maxKl})`, 2);
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
    throw new BitconvError(`--threads must be a positive integer (got ${opts.threads})`, 2);
  }
  if (opts.chunks !== undefined && !(Number.isInteger(opts.chunks) && opts.chunks >= 1)) {
    throw new BitconvError(`--chunks must be a positive integer (got ${opts.chunks})`, 2);
  }

  const ref = classifyReference(opts.reference ?? "float");
  const refArtifact = ref.kind === "artifact" ? await readArtifactInfo(ref.path) : null;
  if (refArtifact && refArtifact.vocabSize !== info.vocabSize) {
    throw inputError(ref.path, `has a vocabulary of ${refArtifact.vocabSize} tokens, the artifact ${info.vocabSize}: not the same model`);
  }
  const logitsHeader = ref.kind === "logits" ? readLogitsHeader(ref.path) : null;
  if (logitsHeader && logitsHeader.nVocab !== info.vocabSize) {
    throw inputError(ref.path, `holds logits over ${logitsHeader.nVocab} tokens, the artifact has ${info.vocabSize}`);
  }

  // context
  const nCtxTrain = info.contextLength;
  let ctx: number;
  if (opts.ctx !== undefined) {
    if (!Number.isInteger(opts.ctx) || opts.ctx < 8 || opts.ctx % 2 !== 0) {
      throw new BitconvError(`--ctx must be an even integer of at least 8 (got ${opts.ctx})`, 2);
    }
    if (nCtxTrain > 0 && opts.ctx > nCtxTrain) {
      throw new BitconvError(`--ctx ${opts.ctx} exceeds the model's context length ${nCtxTrain} (${info.architecture}.context_length); use --ctx ${nCtxTrain} or less`, 2);
    }
    ctx = opts.ctx;
  } else if (logitsHeader) {
    ctx = logitsHeader.nCtx;
  } else {
    ctx = nCtxTrain > 0 ? Math.min(DEFAULT_CTX, nCtxTrain) : DEFAULT_CTX;
    if (ctx < DEFAULT_CTX) notes.push(`ctx ${ctx}: the model's context length (llama-perplexity's default ${DEFAULT_CTX} exceeds it)`);
  }
  if (logitsHeader && logitsHeader.nCtx !== ctx) {
    throw inputError(ref.path, `was saved with ctx ${logitsHeader.nCtx}; run with --ctx ${logitsHeader.nCtx}`);
  }
  if (logitsHeader && nCtxTrain > 0 && logitsHeader.nCtx > nCtxTrain) {
    throw inputError(ref.path, `was saved with ctx ${logitsHeader.nCtx}, more than the model's context length ${nCtxTrain}`);
  }

  const tmp = makeTempDir("bitconv-verify-");
  try {
    // text and tokens
    let textPath = "";
    let textBytes = 0;
    let nTokens: number;
    let tokenizerLabel: string;
    const tokensFile = join(tmp.dir, "tokens.bin");
    if (logitsHeader) {
      if (opts.text) notes.push("--text ignored: the logits file carries its own tokens");
      textPath = ref.path;
      nTokens = logitsHeader.nCtx * logitsHeader.nChunk;
      tokenizerLabel = "(tokens from the logits file)";
    } else {
      textPath = resolve(opts.text ?? defaultTextPath());
      const { text, bytes } = readUtf8Text(opts.text ?? textPath);
      textBytes = bytes;
      const tokenizerSrc = opts.tokenizer ?? (ref.kind === "checkpoint" && (existsSync(join(ref.path, "tokenizer.json")) || existsSync(join(ref.path, "tokenizer.model"))) ? ref.path : undefined);
      let tok: BitconvTokenizer;
      if (tokenizerSrc) tok = await loadTokenizer({ tokenizerJson: tokenizerSrc });
      else tok = await loadTokenizer({ gguf: artifact });
      tokenizerLabel = tok.source === "gguf" ? `rebuilt from the artifact's tokenizer.ggml.* keys` : tok.path;
      const ids = tok.encode(text);
      let maxId = 0;
      for (let i = 0; i < ids.length; i++) if (ids[i] > maxId) maxId = ids[i];
      if (maxId >= info.vocabSize) {
        throw inputError(tok.path, `gives token id ${maxId}, but the model has ${info.vocabSize} tokens: not this model's tokenizer`);
      }
      nTokens = ids.length;
      if (nTokens < 2 * ctx) {
        throw inputError(opts.text ?? textPath, `has ${nTokens} tokens; perplexity with ctx ${ctx} needs at least ${2 * ctx} (2 chunks)`);
      }
      writeTokenFile(tokensFile, ids);
    }
    const allChunks = Math.floor(nTokens / ctx);
    const chunks = opts.chunks !== undefined ? Math.min(opts.chunks, allChunks) : allChunks;

    const common = ["-c", String(ctx)];
    if (opts.chunks !== undefined) common.push("--chunks", String(opts.chunks));
    if (opts.threads !== undefined) common.push("-t", String(opts.threads));

    let refDescription = "";
    let klBase: string | null = null;
    let refPass: PassResult | null = null;
    let partial = false;

    if (ref.kind === "float-ref" || ref.kind === "checkpoint" || ref.kind === "artifact") {
      let refModel = artifact;
      const floatRef = ref.kind !== "artifact";
      if (ref.kind === "float-ref") {
        refDescription = "float reference path of the same artifact (bitconv-rt --float-ref)";
      } else if (ref.kind === "checkpoint") {
        opts.onPass?.({ pass: "convert" });
        refModel = join(tmp.dir, "reference.gguf");
        await convertReference(ref.path, info, refModel, opts.threads);
        refDescription = `float reference path of ${basename(ref.path)} converted to ${info.layout ?? "the same layout"} (bitconv-rt --float-ref)`;
      } else {
        refModel = ref.path;
        refDescription = `${basename(ref.path)}, its own integer path`;
      }
      klBase = join(tmp.dir, "reference.kl");
      const args = ["-m", refModel, "--tokens", tokensFile, ...common, "--kl-base", klBase];
      if (floatRef) args.push("--float-ref");
      refPass = await perplexityPass("reference", args, opts, chunks);
      if (refPass.interrupted) partial = true;
    } else if (ref.kind === "logits") {
      klBase = ref.path;
      refDescription = `saved logits ${basename(ref.path)} (llama.cpp --kl-divergence-base format)`;
    }

    let main: PassResult = { result: null, interrupted: partial };
    if (!partial) {
      const args = ["-m", artifact, ...common];
      if (klBase) args.push("--kl-compare", klBase);
      else args.push("--tokens", tokensFile); // with --kl-compare the tokens come from the logits file
      main = await perplexityPass("artifact", args, opts, chunks);
      if (main.interrupted) partial = true;
    }

    // speed
    let prefill: number | null = null;
    let decode: number | null = null;
    let speedMethod: string | null = null;
    if (!partial && opts.bench !== false && !opts.signal?.aborted) {
      const limit = nCtxTrain > 0 ? nCtxTrain : 2048;
      const p = Math.min(BENCH_PROMPT, Math.floor(limit / 2));
      const n = Math.min(BENCH_GEN, Math.floor(limit / 4));
      opts.onPass?.({ pass: "bench" });
      const args = ["bench", "-m", artifact, "-p", String(p), "-n", String(n), "-r", "2", "--json"];
      if (opts.threads !== undefined) args.push("-t", String(opts.threads));
      const r = await runRuntime(args, { signal: opts.signal, okCodes: [130] });
      const s = parseBench(r.events, r.text);
      prefill = s.pp;
      decode = s.tg;
      speedMethod = `bitconv-rt bench -p ${p} -n ${n} -r 2 (pp${p} / tg${n}, mean of 2 repetitions)`;
      if (r.interrupted) partial = true;
    }

    const res = main.result;
    const perplexity = res ? num(res.perplexity) : null;
    const failures: string[] = [];
    let reference: VerifyReference | undefined;
    if (ref.kind !== "none") {
      const refPpl = res && res.reference_perplexity !== undefined ? num(res.reference_perplexity) : refPass?.result ? num(refPass.result.perplexity) : null;
      const drift = perplexity !== null && refPpl !== null && refPpl > 0 ? (100 * (perplexity - refPpl)) / refPpl : null;
      reference = {
        kind: ref.kind,
        path: ref.kind === "float-ref" ? artifact : ref.path,
        description: refDescription,
        perplexity: refPpl,
        kl_mean: res ? num(res.kl_mean) : null,
        kl_p99: res ? num(res.kl_p99) : null,
        top1_agreement: res ? num(res.top1_agreement) : null,
        ppl_drift_pct: drift,
        ppl_diff: perplexity !== null && refPpl !== null ? perplexity - refPpl : null,
      };
      if (!partial) {
        if (drift === null || !Number.isFinite(drift)) failures.push("perplexity drift could not be computed");
        else if (Math.abs(drift) > maxDrift) failures.push(`perplexity drift ${drift.toFixed(4)}% exceeds ${maxDrift}%`);
        const kl = reference.kl_mean;
        if (kl === null || !Number.isFinite(kl)) failures.push("KL divergence could not be computed");
        else if (kl > maxKl) failures.push(`mean KL divergence ${kl.toPrecision(4)} exceeds ${maxKl}`);
      }
    }
    if (!partial && (perplexity === null || !Number.isFinite(perplexity))) failures.push("perplexity is not finite");

    return {
      artifact,
      architecture: info.architecture,
      layout: info.layout,
      text: textPath,
      text_bytes: textBytes,
      tokens: nTokens,
      tokenizer: tokenizerLabel,
      ctx,
      chunks: res ? Number(res.chunks ?? chunks) : 0,
      chunks_total: chunks,
      tokens_scored: res ? Number(res.tokens_scored ?? 0) : 0,
      perplexity,
      perplexity_error: res ? num(res.perplexity_error) : null,
      seconds: res ? num(res.seconds) : null,
      perplexity_tokens_per_s: res ? num(res.prefill_tokens_per_s) : null,
      prefill_tokens_per_s: prefill,
      decode_tokens_per_s: decode,
      speed_method: speedMethod,
      threads: opts.threads ?? null,
      ...(reference ? { reference } : {}),
      max_ppl_drift_pct: maxDrift,
      max_kl: maxKl,
      failures,
      notes,
      partial,
      passed: !partial && failures.length === 0,
    };
  } finally {
    tmp.dispose();
  }
}

/** Extracts pp / tg tokens/s from `bitconv-rt bench --json` output. */
export function parseBench(events: RuntimeEvent[], text: string): { pp: number | null; tg: number | null } {
  let pp: number | null = null;
  let tg: number | null = null;
  for (const e of events) {
    const name = String(e.test ?? e.name ?? "");
    const ts = num(e.avg_ts ?? e.tokens_per_s ?? e.t_s);
    if (typeof e.prefill_tokens_per_s === "number") pp = e.prefill_tokens_per_s;
    if (typeof e.decode_tokens_per_s === "number") tg = e.decode_tokens_per_s;
    if (typeof e.pp_tokens_per_s === "number") pp = e.pp_tokens_per_s;
    if (typeof e.tg_tokens_per_s === "number") tg = e.tg_tokens_per_s;
    if (ts !== null && /^pp/.test(name)) pp = ts;
    if (ts !== null && /^tg/.test(name)) tg = ts;
  }
  if (pp === null && tg === null && text) {
    const m1 = /pp\d+\D+?([\d.]+)/.exec(text);
    const m2 = /tg\d+\D+?([\d.]+)/.exec(text);
    if (m1) pp = Number(m1[1]);
    if (m2) tg = Number(m2[1]);
  }
  return { pp, tg };
}
