// llama.cpp (the CPU build bundled with node-llama-cpp 3.22.1, llama.cpp v0.5.0) measured like
// llama-bench: pp = N random tokens (BOS first) in one batch with logits for the last
// one; tg = starting from BOS, one token per decode call, N times; the sequence is cleared before each
// test; one warm-up run; tokens/s per repetition, reported as average ± sample standard deviation.
//
// Two ways in, both timed from JavaScript, so their JS-side overhead is part of the figure:
// - "controlledEvaluate": the public LlamaContextSequence.controlledEvaluate(), the lowest-level public
//   evaluation call. The last token of each call asks for `generateNext: {token: true}` so llama.cpp
//   computes the output head as llama-bench does; node-llama-cpp then samples (greedy) in C++ and
//   returns through its batching scheduler. (evaluateWithoutGeneratingNewTokens requests no logits,
//   which skips the 128256-row head and would overstate decode speed.)
// - "addon": node-llama-cpp's internal native binding (context._ctx: initBatch / addToBatch /
//   decodeBatch), one llama_decode per call with the same logits request and no sampling: the closest
//   to llama-bench reachable from JS. Internal API: if it is missing, the result says so.
//
// As a command (one model per process, so a llama.cpp abort cannot take the harness down):
//   node dist/scripts/bench-llamacpp.js -m F [-t 2] [-p 512] [-n 128] [-r 3] [--api controlled,addon] [--json]
// With --json it prints one JSON object per test line, then {"event":"done"}; errors as
// {"event":"error","api":...,"message":...}.

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import type { Token } from "node-llama-cpp";

export type LlamaCppApi = "controlled" | "addon";
export const LLAMACPP_APIS: readonly LlamaCppApi[] = ["controlled", "addon"];

export const API_LABEL: Record<LlamaCppApi, string> = {
  controlled: "node-llama-cpp controlledEvaluate (public API; greedy sampling of the last token included)",
  addon: "node-llama-cpp native addon decodeBatch (internal API; no sampling)",
};

export interface LlamaCppBenchOptions {
  model: string;
  threads: number;
  nPrompt: number;
  nGen: number;
  reps: number;
  warmup?: boolean;
  apis?: readonly LlamaCppApi[];
  seed?: number;
  onResult?: (r: LlamaCppTestResult) => void;
}

export interface LlamaCppTestResult {
  event: "bench";
  api: LlamaCppApi;
  test: string;
  n_prompt: number;
  n_gen: number;
  avg_ts: number;
  stddev_ts: number;
  samples_ts: number[];
  threads: number;
}

export interface LlamaCppError {
  event: "error";
  api: LlamaCppApi | "load";
  message: string;
}

export interface LlamaCppInfo {
  event: "info";
  llama_cpp: string;
  node_llama_cpp: string;
  context_size: number;
  batch_size: number;
  flash_attention: boolean | string;
  threads: number;
  n_vocab: number;
}

export function stats(x: readonly number[]): { avg: number; sd: number } {
  const avg = x.reduce((a, b) => a + b, 0) / x.length;
  const v = x.length > 1 ? x.reduce((a, b) => a + (b - avg) * (b - avg), 0) / (x.length - 1) : 0;
  return { avg, sd: Math.sqrt(v) };
}

/** xorshift32: deterministic token ids. */
function tokenStream(seed: number, nVocab: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % nVocab;
  };
}

// The parts of node-llama-cpp's internals the addon path touches (typed here, checked at run time).
interface AddonCtx {
  initBatch(size: number): void;
  addToBatch(sequenceId: number, firstTokenSequenceIndex: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  removeTokenCellsFromSequence(sequenceId: number, startPos: number, endPos: number): boolean;
}

export async function benchLlamaCpp(o: LlamaCppBenchOptions): Promise<{ info: LlamaCppInfo; results: LlamaCppTestResult[]; errors: LlamaCppError[] }> {
  const nlc = await import("node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: nlc.LlamaLogLevel.error, maxThreads: o.threads });
  const model = await llama.loadModel({ modelPath: resolve(o.model), gpuLayers: 0 });
  const results: LlamaCppTestResult[] = [];
  const errors: LlamaCppError[] = [];
  try {
    const nVocab = model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0;
    if (!(nVocab > 0)) throw new Error("the model has no tokenizer.ggml.tokens");
    const bos = model.tokens.bos ?? 0;
    const contextSize = o.nPrompt + o.nGen + 1;
    const batchSize = Math.max(1, o.nPrompt);
    const ctx = await model.createContext({
      contextSize, batchSize, threads: { ideal: o.threads, min: o.threads }, sequences: 1,
    });
    const info: LlamaCppInfo = {
      event: "info",
      llama_cpp: llama.llamaCppRelease.release,
      node_llama_cpp: await nodeLlamaCppVersion(),
      context_size: ctx.contextSize,
      batch_size: ctx.batchSize,
      flash_attention: ctx.flashAttention,
      threads: ctx.currentThreads,
      n_vocab: nVocab,
    };
    const seq = ctx.getSequence();
    const next = tokenStream(o.seed ?? 1234, nVocab);
    const promptTokens = () => {
      const t = Array.from({ length: o.nPrompt }, () => next());
      t[0] = bos;
      return t;
    };
    type Runner = { pp(tokens: number[]): Promise<void>; tg(n: number): Promise<void> };

    const controlled: Runner = {
      async pp(tokens) {
        await seq.clearHistory();
        const items: Parameters<typeof seq.controlledEvaluate>[0] = tokens.map((t, i) =>
          i === tokens.length - 1 ? [t as Token, { generateNext: { token: true } }] : (t as Token));
        const t0 = performance.now();
        await seq.controlledEvaluate(items);
        lastSeconds = (performance.now() - t0) / 1000;
      },
      async tg(n) {
        await seq.clearHistory();
        let tok = bos;
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          await seq.controlledEvaluate([[tok as Token, { generateNext: { token: true } }]]);
          tok = next();
        }
        lastSeconds = (performance.now() - t0) / 1000;
      },
    };

    const internal = (ctx as unknown as { _ctx?: Partial<AddonCtx> })._ctx;
    const seqId = (seq as unknown as { _sequenceId?: number })._sequenceId;
    const addonReady = internal && typeof internal.initBatch === "function" && typeof internal.addToBatch === "function" &&
      typeof internal.decodeBatch === "function" && typeof internal.removeTokenCellsFromSequence === "function" &&
      typeof seqId === "number";
    const a = internal as AddonCtx;
    const decode = async (tokens: Uint32Array, pos: number) => {
      a.initBatch(tokens.length);
      a.addToBatch(seqId!, pos, tokens, Uint32Array.of(tokens.length - 1));
      await a.decodeBatch();
    };
    const addon: Runner = {
      async pp(tokens) {
        await seq.clearHistory();
        a.removeTokenCellsFromSequence(seqId!, -1, -1);
        const t = Uint32Array.from(tokens);
        const t0 = performance.now();
        await decode(t, 0);
        lastSeconds = (performance.now() - t0) / 1000;
        a.removeTokenCellsFromSequence(seqId!, -1, -1);
      },
      async tg(n) {
        await seq.clearHistory();
        a.removeTokenCellsFromSequence(seqId!, -1, -1);
        const one = new Uint32Array(1);
        one[0] = bos;
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          await decode(one, i);
          one[0] = next();
        }
        lastSeconds = (performance.now() - t0) / 1000;
        a.removeTokenCellsFromSequence(seqId!, -1, -1);
      },
    };
    let lastSeconds = 0;

    for (const api of o.apis ?? LLAMACPP_APIS) {
      const r = api === "controlled" ? controlled : addon;
      if (api === "addon" && !addonReady) {
        errors.push({ event: "error", api, message: "node-llama-cpp's internal addon context (context._ctx.initBatch/addToBatch/decodeBatch) is not available in this version" });
        continue;
      }
      try {
        const record = (test: string, np: number, ng: number, ts: number[]) => {
          const { avg, sd } = stats(ts);
          const res: LlamaCppTestResult = { event: "bench", api, test, n_prompt: np, n_gen: ng, avg_ts: avg, stddev_ts: sd, samples_ts: ts, threads: info.threads };
          results.push(res);
          o.onResult?.(res);
        };
        if (o.nPrompt > 0) {
          if (o.warmup !== false) await r.pp(promptTokens());
          const ts: number[] = [];
          for (let i = 0; i < o.reps; i++) {
            await r.pp(promptTokens());
            ts.push(o.nPrompt / lastSeconds);
          }
          record(`pp${o.nPrompt}`, o.nPrompt, 0, ts);
        }
        if (o.nGen > 0) {
          if (o.warmup !== false) await r.tg(1);
          const ts: number[] = [];
          for (let i = 0; i < o.reps; i++) {
            await r.tg(o.nGen);
            ts.push(o.nGen / lastSeconds);
          }
          record(`tg${o.nGen}`, 0, o.nGen, ts);
        }
      } catch (e) {
        errors.push({ event: "error", api, message: (e as Error).message });
      }
    }
    await ctx.dispose();
    return { info, results, errors };
  } finally {
    await model.dispose();
  }
}

async function nodeLlamaCppVersion(): Promise<string> {
  try {
    const { createRequire } = await import("node:module");
    const { readFileSync, existsSync } = await import("node:fs");
    const { dirname, join } = await import("node:path");
    let dir = dirname(createRequire(import.meta.url).resolve("node-llama-cpp"));
    while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
    return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

// ------------------------------------------------------------------ command line

async function main(argv: string[]): Promise<number> {
  const { default: yargs } = await import("yargs");
  const args = await yargs(argv)
    .scriptName("bench-llamacpp")
    .option("model", { alias: "m", type: "string", demandOption: true })
    .option("threads", { alias: "t", type: "number", default: 2 })
    .option("n-prompt", { alias: "p", type: "number", default: 512 })
    .option("n-gen", { alias: "n", type: "number", default: 128 })
    .option("reps", { alias: "r", type: "number", default: 3 })
    .option("warmup", { type: "boolean", default: true, describe: "one untimed run before each test (--no-warmup: none)" })
    .option("api", { type: "string", default: LLAMACPP_APIS.join(",") })
    .option("json", { type: "boolean", default: false })
    .strict()
    .parseAsync();
  const apis = args.api.split(",").map((s) => s.trim()) as LlamaCppApi[];
  for (const a of apis) if (!LLAMACPP_APIS.includes(a)) throw new Error(`--api ${a}: expected ${LLAMACPP_APIS.join(", ")}`);
  const out = (o: object) => process.stdout.write(JSON.stringify(o) + "\n");
  let res;
  try {
    res = await benchLlamaCpp({
      model: args.model, threads: args.threads, nPrompt: args["n-prompt"], nGen: args["n-gen"], reps: args.reps,
      warmup: args.warmup, apis,
      onResult: (r) => {
        if (args.json) out(r);
        else process.stdout.write(`${r.api.padEnd(10)} ${r.test.padEnd(6)} ${r.avg_ts.toFixed(2)} ± ${r.stddev_ts.toFixed(2)} t/s\n`);
      },
    });
  } catch (e) {
    const err: LlamaCppError = { event: "error", api: "load", message: (e as Error).message };
    if (args.json) out(err);
    else process.stderr.write(`bench-llamacpp: ${err.message}\n`);
    return 1;
  }
  if (args.json) {
    out(res.info);
    for (const e of res.errors) out(e);
    out({ event: "done" });
  } else {
    for (const e of res.errors) process.stderr.write(`bench-llamacpp: ${e.api}: ${e.message}\n`);
  }
  return res.errors.length > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`bench-llamacpp: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
