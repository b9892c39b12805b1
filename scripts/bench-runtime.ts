// The runtime part of `npm run bench`, as a function: bitconv-rt's pp/tg speed per layout on
// synthetic 2B-4T-shaped GGUFs (30 layers, hidden 2560, ffn 6912, 20/5 heads of 128, vocab 128256,
// relu², random ternary weights; f16 and q8_0 token embeddings), llama.cpp (node-llama-cpp) on the same
// shapes in TQ2_0 / TQ1_0 (arch bitnet: llama.cpp computes the FFN with SiLU, same cost), and the
// memory-bandwidth bound for decode. `quick` runs the bundled fixture model instead (under a minute).
//
// The machinery (GGUF synthesis, the llama.cpp driver, the bandwidth probe) lives in scripts/bench.ts,
// scripts/synth-gguf.ts and scripts/bench-llamacpp.ts; this module picks the runtime figures out of
// it and says how each was taken.
//
//   node dist/scripts/bench-runtime.js [--quick] [--threads N] [--layouts i2_s,tq2_0] [--no-llamacpp]

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LAYOUT_NAMES, type LayoutName } from "../src/layouts/index.js";
import { packageRoot } from "../src/runtime/runtime.js";
import { runBench, type Bandwidth, type RuntimeRow } from "./bench.js";
import { API_LABEL, LLAMACPP_APIS } from "./bench-llamacpp.js";
import { SYNTH_EMBEDS } from "./synth-gguf.js";

export interface RuntimeBenchOptions {
  quick: boolean;
  threads: number;
  /** default: every layout */
  layouts?: LayoutName[];
  /** default 512 (quick: 64) */
  nPrompt?: number;
  /** default 128 (quick: 16) */
  nGen?: number;
  /** default 3 (quick: 2) */
  reps?: number;
  /** also run llama.cpp (default true) */
  llamacpp?: boolean;
  /** cache of synthesized models (default <package>/.bench) */
  workDir?: string;
}

export interface RuntimeBenchResult extends RuntimeRow {
  /** how the figures were taken, in words */
  how: string;
  /** measured read bandwidth used for the bound (GB/s), when measured */
  bandwidth_gbs?: number;
}

export async function benchRuntime(opts: RuntimeBenchOptions): Promise<RuntimeBenchResult[]> {
  const quick = opts.quick;
  const nPrompt = opts.nPrompt ?? (quick ? 64 : 512);
  const nGen = opts.nGen ?? (quick ? 16 : 128);
  const reps = opts.reps ?? (quick ? 2 : 3);
  const parts = new Set(["membw", "runtime", ...(opts.llamacpp === false ? [] : ["llamacpp"])]);
  const o: Parameters<typeof runBench>[0] = {
    quick, json: true, write: false, threads: opts.threads, reps, nPrompt, nGen,
    layouts: opts.layouts ?? [...LAYOUT_NAMES],
    embeds: [...SYNTH_EMBEDS],
    llamaEmbeds: ["f16"],
    apis: [...LLAMACPP_APIS],
    parts,
    workDir: opts.workDir ?? resolve(packageRoot(), ".bench"),
    command: `benchRuntime(${JSON.stringify({ quick, threads: opts.threads })})`,
  };
  const report = await runBench(o);
  const bw: Bandwidth | undefined = report.bandwidth;
  const reps_ = `avg ± sd over ${reps} repetitions after one warm-up, ${opts.threads} threads`;
  return report.runtime.map((row) => {
    const what =
      row.engine === "bitconv-rt"
        ? `bitconv-rt bench -p ${nPrompt} -n ${nGen} -r ${reps} -t ${opts.threads}: pp = ${nPrompt} random tokens (BOS first) ` +
          `prefilled in one batch, logits for the last one; tg = ${nGen} single-token decodes from BOS, each with full logits; ` +
          `integer path (per-token int8 activations), ${row.notes?.[0] ?? ""}`
        : `llama.cpp through ${API_LABEL[row.api ?? "controlled"]}: prefill of ${nPrompt} tokens in one batch, then ${nGen} ` +
          `single-token decode steps; ${row.notes?.[0] ?? ""}`;
    const bound =
      row.tg_bound_ts !== undefined && bw?.best_gbs !== undefined
        ? `; decode bound ${row.tg_bound_ts.toFixed(1)} tokens/s = ${bw.best_gbs.toFixed(1)} GB/s measured read bandwidth / ` +
          `${((row.decode_bytes_per_token ?? 0) / 1e6).toFixed(0)} MB read per decoded token (all weights, the head once, ` +
          `one embedding row, the KV cache)`
        : quick
          ? "; no bandwidth bound: the model stays in the CPU caches"
          : "";
    return { ...row, how: `${what}; ${reps_}${bound} (${row.model})`, ...(bw?.best_gbs !== undefined ? { bandwidth_gbs: bw.best_gbs } : {}) };
  });
}

async function main(argv: string[]): Promise<number> {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const threads = Number(get("--threads") ?? get("-t") ?? 2);
  if (!Number.isInteger(threads) || threads < 1) {
    process.stderr.write("bench-runtime: --threads must be a positive integer\n");
    return 2;
  }
  const layouts = get("--layouts")?.split(",") as LayoutName[] | undefined;
  if (layouts?.some((l) => !LAYOUT_NAMES.includes(l))) {
    process.stderr.write(`bench-runtime: --layouts takes ${LAYOUT_NAMES.join(", ")}\n`);
    return 2;
  }
  const rows = await benchRuntime({ quick: argv.includes("--quick"), threads, layouts, llamacpp: !argv.includes("--no-llamacpp") });
  process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`bench-runtime: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
