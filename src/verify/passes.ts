// The runtime passes of verify: the reference's logits on the compared chunks (--kl-base), the
// artifact on the same chunks against them (--kl-compare), the artifact's perplexity over the whole
// text when the comparison was a sample, and the speed run.
import { join } from "node:path";
import { BitconvError } from "../util/errors.js";
import { runRuntime, type RuntimeEvent } from "../runtime/runtime.js";
import type { ArtifactInfo } from "../runtime/artifact.js";
import { buildCheckpointReference } from "./reference/build.js";
import type { ReferencePlan } from "./reference.js";
import type { TokenFiles, VerifyOptions, VerifyPass, VerifyReference } from "./verify.js";

/** Sizes of the speed run (`bitconv-rt bench -p P -n N`), clamped to the model's context. */
export const BENCH_PROMPT = 128;
export const BENCH_GEN = 32;

const num = (v: unknown): number | null => (typeof v === "number" ? v : null);

interface PassResult {
  result: RuntimeEvent | null;
  interrupted: boolean;
}

async function perplexityPass(pass: VerifyPass, args: string[], opts: VerifyOptions, expectChunks: number): Promise<PassResult> {
  if (opts.signal?.aborted) return { result: null, interrupted: true };
  opts.onPass?.({ pass, chunks: expectChunks });
  const r = await runRuntime(["perplexity", ...args, "--json"], {
    signal: opts.signal,
    okCodes: [130],
    onEvent: (ev) => {
      if (ev.event === "chunk") opts.onProgress?.({ pass, chunk: Number(ev.chunk), chunks: Number(ev.chunks), ppl: Number(ev.ppl) });
    },
  });
  const result = [...r.events].reverse().find((e) => e.event === "result") ?? null;
  if (!result && !r.interrupted) throw new BitconvError(`bitconv-rt perplexity printed no result${r.stderr ? `: ${r.stderr.trim()}` : ""}`, 1);
  return { result, interrupted: r.interrupted || result?.partial === true };
}

/** What the passes measured, before the gates. */
export interface Measured {
  perplexity: number | null;
  perplexityError: number | null;
  chunks: number;
  tokensScored: number;
  seconds: number | null;
  tokensPerS: number | null;
  reference?: VerifyReference;
  partial: boolean;
}

/** The model file whose logits are the reference, and whether it runs on the float path. */
async function referenceModel(ref: ReferencePlan, info: ArtifactInfo, opts: VerifyOptions, dir: string): Promise<{ model: string; float: boolean }> {
  if (ref.kind === "float-ref") return { model: info.path, float: true };
  if (ref.kind === "artifact") return { model: ref.path, float: false };
  const out = join(dir, "reference.gguf");
  const bos = info.kv.get("tokenizer.ggml.bos_token_id")?.value;
  const addBos = info.kv.get("tokenizer.ggml.add_bos_token")?.value;
  await buildCheckpointReference(ref.path, out, {
    ...(typeof bos === "number" || typeof bos === "bigint" ? { bos: Number(bos) } : {}),
    ...(typeof addBos === "boolean" ? { addBos } : {}),
  }, (done, total) => {
    if (done === 0) opts.onPass?.({ pass: "build-reference", chunks: total });
    else opts.onProgress?.({ pass: "build-reference", chunk: done, chunks: total });
  });
  return { model: out, float: true };
}

function common(ctx: number, opts: VerifyOptions, chunks?: number): string[] {
  const a = ["-c", String(ctx)];
  if (chunks !== undefined) a.push("--chunks", String(chunks));
  if (opts.threads !== undefined) a.push("-t", String(opts.threads));
  return a;
}

/** Reference logits (unless a logits file), then the artifact against them on the same chunks. */
async function referencePasses(opts: VerifyOptions, info: ArtifactInfo, ref: ReferencePlan, ctx: number, files: TokenFiles, dir: string): Promise<{ refPass: PassResult | null; cmp: PassResult }> {
  let klBase = ref.path;
  let refPass: PassResult | null = null;
  const n = files.sampled.length;
  const limit = files.sample ? undefined : opts.chunks;
  if (ref.kind !== "logits") {
    const { model, float } = await referenceModel(ref, info, opts, dir);
    klBase = join(dir, "reference.kl");
    const args = ["-m", model, "--tokens", files.sample ?? files.full!, ...common(ctx, opts, limit), "--kl-base", klBase];
    if (float) args.push("--float-ref");
    refPass = await perplexityPass("reference", args, opts, n);
    if (refPass.interrupted) return { refPass, cmp: { result: null, interrupted: true } };
  }
  const cmp = await perplexityPass("compare", ["-m", info.path, ...common(ctx, opts, limit), "--kl-compare", klBase], opts, ref.logits ? ref.logits.nChunk : n);
  return { refPass, cmp };
}

function referenceResult(ref: ReferencePlan, refPass: PassResult | null, cmp: PassResult, chunks: number): VerifyReference {
  const r = cmp.result;
  const refPpl = r && r.reference_perplexity !== undefined ? num(r.reference_perplexity) : refPass?.result ? num(refPass.result.perplexity) : null;
  const ppl = r ? num(r.perplexity) : null;
  return {
    kind: ref.kind,
    path: ref.path,
    description: ref.description,
    ...(ref.source ? { source: ref.source } : {}),
    chunks: r ? Number(r.chunks ?? chunks) : 0,
    tokens_scored: r ? Number(r.tokens_scored ?? 0) : null,
    perplexity: refPpl,
    artifact_perplexity: ppl,
    kl_mean: r ? num(r.kl_mean) : null,
    kl_p99: r ? num(r.kl_p99) : null,
    top1_agreement: r ? num(r.top1_agreement) : null,
    ppl_drift_pct: ppl !== null && refPpl !== null && refPpl > 0 ? (100 * (ppl - refPpl)) / refPpl : null,
    ppl_diff: ppl !== null && refPpl !== null ? ppl - refPpl : null,
  };
}

function measuredFrom(p: PassResult, chunks: number, partial: boolean, reference?: VerifyReference): Measured {
  const r = p.result;
  return {
    perplexity: r ? num(r.perplexity) : null,
    perplexityError: r ? num(r.perplexity_error) : null,
    chunks: r ? Number(r.chunks ?? chunks) : 0,
    tokensScored: r ? Number(r.tokens_scored ?? 0) : 0,
    seconds: r ? num(r.seconds) : null,
    tokensPerS: r ? num(r.prefill_tokens_per_s) : null,
    ...(reference ? { reference } : {}),
    partial,
  };
}

/** Every perplexity pass: against the reference on its chunks, and over the whole text. */
export async function comparePasses(opts: VerifyOptions, info: ArtifactInfo, ref: ReferencePlan, ctx: number, chunks: number, files: TokenFiles, dir: string): Promise<Measured> {
  if (ref.kind === "none") {
    const full = await perplexityPass("artifact", ["-m", info.path, "--tokens", files.full!, ...common(ctx, opts, opts.chunks)], opts, chunks);
    return measuredFrom(full, chunks, full.interrupted);
  }
  const { refPass, cmp } = await referencePasses(opts, info, ref, ctx, files, dir);
  const reference = referenceResult(ref, refPass, cmp, files.sampled.length);
  if (cmp.interrupted || !files.sample) return measuredFrom(cmp, chunks, cmp.interrupted, reference);
  const full = await perplexityPass("artifact", ["-m", info.path, "--tokens", files.full!, ...common(ctx, opts, opts.chunks)], opts, chunks);
  return measuredFrom(full, chunks, full.interrupted, reference);
}

/** The speed run; null when skipped. */
export async function benchPass(opts: VerifyOptions, info: ArtifactInfo): Promise<{ pp: number | null; tg: number | null; method: string; interrupted: boolean } | null> {
  if (opts.bench === false || opts.signal?.aborted) return null;
  const limit = info.contextLength > 0 ? info.contextLength : 2048;
  const p = Math.min(BENCH_PROMPT, Math.floor(limit / 2));
  const n = Math.min(BENCH_GEN, Math.floor(limit / 4));
  opts.onPass?.({ pass: "bench" });
  const args = ["bench", "-m", info.path, "-p", String(p), "-n", String(n), "-r", "2", "--json"];
  if (opts.threads !== undefined) args.push("-t", String(opts.threads));
  const r = await runRuntime(args, { signal: opts.signal, okCodes: [130] });
  const s = parseBench(r.events, r.text);
  return { ...s, method: `bitconv-rt bench -p ${p} -n ${n} -r 2 (pp${p} / tg${n}, mean of 2 repetitions)`, interrupted: r.interrupted };
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
