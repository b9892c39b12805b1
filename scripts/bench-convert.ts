// Conversion benchmark: throughput (MB/s of input bytes, wall clock) and peak RSS of the converting
// process, per layout, on a synthetic checkpoint shaped like microsoft/bitnet-b1.58-2B-4T-bf16
// (4.83 GB of bf16, synthesized once into workDir) or, with quick, on the bundled bf16 fixture.
// Each conversion runs the CLI as a child process; its peak RSS comes from /usr/bin/time when
// available, else from process.resourceUsage() in a preloaded exit hook.
//
//   node dist/scripts/bench-convert.js [--quick] [--threads N] [--work-dir DIR] [--layouts a,b]
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LAYOUT_NAMES, type LayoutName } from "../src/layouts/index.js";
import { MODEL_2B4T, writeSyntheticModel2B4T } from "../test/helpers/synth.js";

export interface ConvertBenchResult {
  layout: LayoutName;
  model: string;
  threads: number;
  inputBytes: number;
  outputBytes: number;
  /** wall seconds of the whole CLI run (start-up, planning, hashing, conversion, fsync) */
  seconds: number;
  /** input bytes / seconds / 1e6 */
  mbPerSec: number;
  /** convert's own figure (same ratio, timed inside the process) */
  internalMbPerSec: number;
  peakRssBytes: number;
  rssSource: "/usr/bin/time" | "resourceUsage";
  error?: string;
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist/src/cli.js");
const FIXTURE = join(ROOT, "fixtures/tiny-bitnet-b1.58-bf16");
/** 38,440 header + 8 + 4,825,640,960 data bytes: the size of the real -bf16 file (formats/checkpoint-bitnet-2b4t.md "Tensors") */
const SIZE_2B4T = 4_825_679_400;
const TIME = "/usr/bin/time";
const RSS_HOOK = "data:text/javascript,process.on('exit',()=>process.stderr.write('\\nBITCONV_MAXRSS_KB '+process.resourceUsage().maxRSS+'\\n'))";

async function ensureModel(workDir: string): Promise<string> {
  const dir = join(workDir, "bitnet-b1.58-2B-4T-bf16-synthetic");
  const st = join(dir, "model.safetensors");
  if (existsSync(join(dir, "config.json")) && existsSync(st) && statSync(st).size === SIZE_2B4T) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`bench-convert: synthesizing a ${MODEL_2B4T.layers}-layer 2B-4T-shaped bf16 checkpoint in ${dir} (once)\n`);
  await writeSyntheticModel2B4T(dir);
  return dir;
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", rej);
    child.on("close", (code) => res({ code, stdout, stderr }));
  });
}

async function convertOnce(model: string, modelName: string, layout: LayoutName, threads: number, workDir: string): Promise<ConvertBenchResult> {
  const out = join(workDir, `bench-${layout}.gguf`);
  const cli = [CLI, "convert", model, "--layout", layout, "-o", out, "--threads", String(threads), "--json", "--quiet"];
  const useTime = existsSync(TIME);
  const started = performance.now();
  const r = useTime ? await run(TIME, ["-v", process.execPath, ...cli]) : await run(process.execPath, ["--import", RSS_HOOK, ...cli]);
  const seconds = (performance.now() - started) / 1000;
  const base = { layout, model: modelName, threads, rssSource: useTime ? "/usr/bin/time" : "resourceUsage" } as const;
  const kb = useTime ? /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr) : /BITCONV_MAXRSS_KB (\d+)/.exec(r.stderr);
  const peakRssBytes = kb ? Number(kb[1]) * 1024 : NaN;
  try {
    if (r.code !== 0) throw new Error(r.stderr.split("\n").find((l) => l.startsWith("bitconv:")) ?? `exit ${r.code}`);
    const j = JSON.parse(r.stdout) as { inputBytes: number; bytes: number; mbPerSec: number };
    return { ...base, inputBytes: j.inputBytes, outputBytes: j.bytes, seconds, mbPerSec: j.inputBytes / 1e6 / seconds, internalMbPerSec: j.mbPerSec, peakRssBytes };
  } catch (e) {
    return { ...base, inputBytes: 0, outputBytes: 0, seconds, mbPerSec: 0, internalMbPerSec: 0, peakRssBytes, error: (e as Error).message };
  } finally {
    rmSync(out, { force: true });
  }
}

/**
 * Reads every file of the checkpoint once, untimed, so that the conversions measure conversion and not
 * the disk: the runtime part of a previous run streams ~10 GB of models through the page cache, and
 * the first layout converted then read most of its 4.8 GB from disk (300 instead of 550 MB/s).
 */
function warmPageCache(dir: string): void {
  const buf = Buffer.alloc(16 << 20);
  for (const name of readdirSync(dir)) {
    const fd = openSync(join(dir, name), "r");
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  }
}

export async function benchConvert(opts: { quick: boolean; threads: number; workDir: string; layouts?: LayoutName[] }): Promise<ConvertBenchResult[]> {
  mkdirSync(opts.workDir, { recursive: true });
  const model = opts.quick ? FIXTURE : await ensureModel(opts.workDir);
  warmPageCache(model);
  const name = opts.quick ? "fixture tiny-bitnet-b1.58-bf16" : "synthetic 2B-4T-shaped bf16 (4.83 GB)";
  const results: ConvertBenchResult[] = [];
  for (const layout of opts.layouts ?? LAYOUT_NAMES) {
    results.push(await convertOnce(model, name, layout, opts.threads, opts.workDir));
  }
  return results;
}

async function main(argv: string[]): Promise<void> {
  const arg = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const threads = Number(arg("--threads") ?? availableParallelism());
  const workDir = resolve(arg("--work-dir") ?? join(ROOT, ".bench"));
  const layouts = arg("--layouts")?.split(",") as LayoutName[] | undefined;
  const rows = await benchConvert({ quick: argv.includes("--quick"), threads, workDir, ...(layouts ? { layouts } : {}) });
  if (argv.includes("--json")) {
    process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
    return;
  }
  for (const r of rows) {
    process.stdout.write(
      `${r.layout.padEnd(6)} ${r.error ? `error: ${r.error}` : `${r.mbPerSec.toFixed(0).padStart(5)} MB/s  ${r.seconds.toFixed(2).padStart(6)} s  peak RSS ${(r.peakRssBytes / 1048576).toFixed(0)} MiB  (${r.model}, ${r.threads} threads)`}\n`,
    );
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`bench-convert: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
