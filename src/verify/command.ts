// `bitconv verify`: the CLI over verify() (src/verify/verify.ts). See docs/verify.md.
import { printable } from "../util/printable.js";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { progressBar, type Progress } from "../util/progress.js";
import {
  DEFAULT_MAX_KL,
  DEFAULT_MAX_PPL_DRIFT,
  verify,
  type VerifyPass,
  type VerifyResult,
} from "./verify.js";
import { checkRecordedSource, type SourceCheck } from "./provenance.js";
import { parseReferenceChunks } from "./sample.js";
import { hubOptionsFromEnv } from "../hub/options.js";

interface VerifyArgs {
  artifact: string;
  text?: string;
  ctx?: number;
  chunks?: number;
  reference?: string;
  source?: string;
  "require-source": boolean;
  "reference-chunks"?: string;
  tokenizer?: string;
  threads?: number;
  "max-ppl-drift": number;
  "max-kl": number;
  bench: boolean;
  "check-source"?: string;
  quiet: boolean;
  json: boolean;
}

const fmt = (v: number | null | undefined, digits = 4): string => (v === null || v === undefined ? "n/a" : v.toFixed(digits));
const fmtRate = (v: number | null): string => (v === null ? "n/a" : `${v.toFixed(1)} tok/s`);
const pct = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined ? "n/a" : `${(v * 100).toFixed(digits)} %`);

/** The reference block of the report: what it is, what was compared, the figures, the external one. */
function referenceRows(r: VerifyResult): [string, string][] {
  const rows: [string, string][] = [];
  rows.push(["conversion", r.conversion_checked ? "checked against its source checkpoint" : "NOT CHECKED (kernels only): the reference is not the source checkpoint"]);
  const ref = r.reference;
  if (!ref) return [...rows, ["reference", "none"]];
  rows.push(["reference", ref.description]);
  rows.push(["  compared", `${ref.chunks} of ${r.chunks_total} chunk(s)${ref.chunks < r.chunks_total ? ", spread over the text (--reference-chunks)" : ""}, ${ref.tokens_scored ?? "n/a"} tokens`]);
  rows.push(["  perplexity", `${fmt(ref.perplexity)}  (the artifact on the same chunks: ${fmt(ref.artifact_perplexity)})`]);
  const drift = ref.ppl_drift_pct;
  const diff = ref.ppl_diff !== null ? `${ref.ppl_diff >= 0 ? "+" : ""}${ref.ppl_diff.toFixed(4)}` : "n/a";
  rows.push(["  drift", drift === null ? "n/a" : `${drift >= 0 ? "+" : ""}${drift.toFixed(4)} %  (${diff}; limit ±${r.max_ppl_drift_pct} %)`]);
  rows.push(["  KL mean", `${ref.kl_mean === null ? "n/a" : ref.kl_mean.toPrecision(4)}  (limit ${r.max_kl})`]);
  rows.push(["  KL p99", ref.kl_p99 === null ? "n/a" : ref.kl_p99.toPrecision(4)]);
  rows.push(["  top-1 agreement", pct(ref.top1_agreement)]);
  const ext = r.external_reference;
  if (ext) rows.push(["external", `float perplexity ${fmt(ext.perplexity)} of ${ext.model} on this text, computed outside bitconv (${ext.file}); the artifact: ${fmt(r.perplexity)}`]);
  return rows;
}

/** The human-readable report. */
export function formatReport(r: VerifyResult & { source_check?: SourceCheck }): string {
  const rows: [string, string][] = [];
  const status = r.partial ? "PARTIAL (interrupted: not a verdict)" : r.passed ? "PASS" : "FAIL";
  rows.push(["artifact", `${r.artifact} (${r.architecture}${r.layout ? `, layout ${r.layout}` : ""})`]);
  rows.push(["text", r.text_bytes > 0 ? `${r.text} (${r.text_bytes} bytes, ${r.tokens} tokens)` : `${r.text} (${r.tokens} tokens)`]);
  rows.push(["tokenizer", r.tokenizer]);
  const perChunk = r.ctx - r.ctx / 2 - 1;
  rows.push(["method", `llama-perplexity: ctx ${r.ctx}, ${r.chunks}${r.chunks !== r.chunks_total ? ` of ${r.chunks_total}` : ""} chunk(s), BOS first in each, last ${perChunk} tokens of each chunk scored`]);
  const pplLine = r.perplexity === null ? "n/a" : `${fmt(r.perplexity)} ± ${fmt(r.perplexity_error, 5)}`;
  rows.push([r.partial ? "perplexity (PARTIAL)" : "perplexity", `${pplLine}  (${r.tokens_scored} tokens scored${r.seconds !== null ? `, ${r.seconds.toFixed(1)} s` : ""})`]);
  rows.push(...referenceRows(r));
  if (r.speed_method) {
    rows.push(["speed", `prefill ${fmtRate(r.prefill_tokens_per_s)}, decode ${fmtRate(r.decode_tokens_per_s)}`]);
    rows.push(["", `${r.speed_method}${r.threads ? `, ${r.threads} threads` : ""}`]);
  }
  if (r.source_check) {
    const c = r.source_check;
    const where = `${c.dir}${c.repo ? ` (${c.repo}${c.commit ? `@${c.commit.slice(0, 12)}` : ""})` : ""}`;
    rows.push(["source", `${c.files.length - c.mismatches.length} of ${c.files.length} recorded input files match in ${where}`]);
  }
  for (const n of r.notes) rows.push(["note", n]);
  for (const f of r.failures) rows.push(["failed", f]);
  rows.push(["result", status]);
  const w = Math.max(...rows.map(([k]) => k.length));
  // values carry names from the artifact and its provenance (repo, paths, architecture): escaped
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${printable(v, 2000)}`).join("\n") + "\n";
}

/** The --json object (stable field names; docs/verify.md). */
export function jsonReport(r: VerifyResult): Record<string, unknown> {
  return { ...r };
}

const PASS_LABEL: Record<VerifyPass, string> = {
  "build-reference": "reference weights",
  reference: "reference",
  compare: "comparison",
  artifact: "perplexity",
  bench: "speed",
};

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: "verify <artifact>",
  describe: "Perplexity, KL divergence against a reference, and speed of an artifact",
  builder: (y: Argv<object>) =>
    y
      .positional("artifact", { type: "string", demandOption: true, describe: "The .gguf artifact" })
      .option("text", { type: "string", describe: "Evaluation text, any UTF-8 file (default: the bundled fixtures/text/kjv-dev.txt)" })
      .option("ctx", { type: "number", describe: "Tokens per chunk (default: min(512, the model's context length))" })
      .option("chunks", { type: "number", describe: "Evaluate at most N chunks" })
      .option("reference", {
        type: "string",
        describe: "Compare against (default: the source checkpoint when found, else the artifact's float path): a checkpoint dir, 'float', another .gguf, a llama.cpp logits file, or 'none'",
      })
      .option("source", { type: "string", describe: "The artifact's source checkpoint folder (default: its recorded repo@commit in the local Hub cache, never downloaded)" })
      .option("require-source", { type: "boolean", default: false, describe: "Fail (exit 1) when the conversion cannot be checked against its source checkpoint" })
      .option("reference-chunks", { type: "string", describe: "Chunks compared with the reference, spread over the text: N or 'all' (default 16; perplexity always covers the whole text)" })
      .option("tokenizer", { type: "string", describe: "tokenizer.json or tokenizer.model (or their directory) to tokenize the text with (default: rebuilt from the artifact)" })
      .option("threads", { alias: "t", type: "number", describe: "Threads for the runtime (default: all cores)" })
      .option("max-ppl-drift", { type: "number", default: DEFAULT_MAX_PPL_DRIFT, describe: "Fail when |PPL - PPL(ref)| exceeds this percentage" })
      .option("max-kl", { type: "number", default: DEFAULT_MAX_KL, describe: "Fail when the mean KL divergence from the reference exceeds this" })
      .option("bench", { type: "boolean", default: true, describe: "Measure prefill/decode speed (--no-bench skips it)" })
      .option("check-source", {
        type: "string",
        describe: "Also check the artifact against its recorded inputs (sha256 of every file): in DIR, or with no value at the recorded repo@commit in the Hub cache",
      }) as unknown as Argv<VerifyArgs>,
  handler: async (argv: ArgumentsCamelCase<VerifyArgs>) => {
    const controller = new AbortController();
    // While verify runs, Ctrl-C means "stop after the current chunk and report"; a second one exits.
    // Other SIGINT listeners (e.g. the atomic-write cleanup, which exits at once) are set aside while
    // the measurement runs and put back afterwards; convert's temp files are committed by then.
    const saved: ((...a: unknown[]) => void)[] = [];
    const isolate = () => {
      for (const l of process.listeners("SIGINT")) {
        if (l === onSigint) continue;
        saved.push(l as (...a: unknown[]) => void);
        process.removeListener("SIGINT", l);
      }
    };
    let sigints = 0;
    const onSigint = () => {
      sigints++;
      if (sigints === 1) {
        if (!argv.quiet) process.stderr.write("\nbitconv: interrupted; finishing the current chunk (Ctrl-C again to abort)\n");
        controller.abort();
      } else {
        process.exit(130);
      }
    };
    isolate();
    process.on("SIGINT", onSigint);

    const jsonLines = argv.json && !process.stderr.isTTY && !argv.quiet;
    let bar: Progress | null = null;
    const stopBar = () => {
      bar?.stop();
      bar = null;
    };
    // Checked first: a bad source is bad input (exit 2) before minutes of measurement.
    const sourceCheck =
      argv["check-source"] === undefined
        ? undefined
        : await checkRecordedSource(argv.artifact, argv["check-source"] || undefined, hubOptionsFromEnv({}));
    let result: VerifyResult & { source_check?: SourceCheck };
    try {
      result = await verify({
        artifact: argv.artifact,
        text: argv.text,
        ctx: argv.ctx,
        chunks: argv.chunks,
        reference: argv.reference,
        source: argv.source,
        requireSource: argv["require-source"],
        referenceChunks: parseReferenceChunks(argv["reference-chunks"]),
        hub: hubOptionsFromEnv({}),
        tokenizer: argv.tokenizer,
        threads: argv.threads,
        maxPplDrift: argv["max-ppl-drift"],
        maxKl: argv["max-kl"],
        bench: argv.bench,
        signal: controller.signal,
        onPass: (p) => {
          isolate();
          stopBar();
          if (jsonLines) process.stderr.write(JSON.stringify({ event: "pass", pass: p.pass, ...(p.chunks ? { chunks: p.chunks } : {}) }) + "\n");
          if (p.chunks) {
            bar = progressBar({ quiet: argv.quiet });
            bar.start(p.chunks, PASS_LABEL[p.pass]);
          }
        },
        onProgress: (p) => {
          bar?.update(Math.min(p.chunk, p.chunks));
          if (jsonLines) process.stderr.write(JSON.stringify({ event: "chunk", ...p }) + "\n");
        },
      });
    } finally {
      stopBar();
      process.removeListener("SIGINT", onSigint);
      for (const l of saved) process.on("SIGINT", l);
    }
    if (sourceCheck) {
      result = { ...result, source_check: sourceCheck };
      for (const m of sourceCheck.mismatches) {
        result.failures.push(`source file ${m.path} ${m.actual === null ? "is missing" : `changed since conversion (sha256 ${m.actual.slice(0, 12)}…, recorded ${m.expected.slice(0, 12)}…)`}`);
      }
      result.passed = result.passed && sourceCheck.passed;
    }
    if (argv.json) process.stdout.write(JSON.stringify(jsonReport(result)) + "\n");
    else process.stdout.write(formatReport(result));
    process.exitCode = result.partial ? 130 : result.passed ? 0 : 1;
  },
};
