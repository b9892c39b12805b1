// The peers part of `npm run bench`: bitnet.cpp and ik_llama.cpp measured beside bitconv-rt in the same
// run, on the same files, in interleaved rounds (bitconv-rt, bitnet.cpp, ik_llama.cpp, bitconv-rt, ...),
// so that a machine whose speed drifts over the run moves every engine alike.
//
// The peers are not part of bitconv: they are built elsewhere (llama-bench and llama-quantize of each)
// and pointed at with `--peers DIR` or BITCONV_PEERS_DIR, DIR holding
//   DIR/BitNet/build/bin/llama-bench                 bitnet.cpp
//   DIR/ik_llama.cpp/build/bin/{llama-bench,llama-quantize}
// The files: one synthetic I2_S model with the keys of `bitconv convert --target bitnet.cpp` (arch
// bitnet-b1.58, relu²) per head type (f16, q8_0 token embedding = tied head). bitconv-rt and bitnet.cpp
// read it as it is; ik_llama.cpp reads I2_S only to requantize it, so its file is that model requantized
// to IQ2_BN_R4 with the head kept in the same type (`llama-quantize --allow-requantize
// --output-tensor-type T --token-embedding-type T in out IQ2_BN_R4`), and it runs with flash attention
// (-fa 1, its strongest prefill).
//
// Pure pieces (exported and unit-tested on fake inputs): locatePeers, llamaBenchArgs, ikQuantizeArgs,
// parseLlamaBenchJson, interleave, summarize, peerRatios, bandwidthShare.

import { execFile } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { runRuntime } from "../src/runtime/runtime.js";
import { ensureSynthGgufs, SHAPE_2B4T, SHAPE_TINY, type SynthEmbed, type SynthSpec } from "./synth-gguf.js";

export type PeerEngine = "bitnet.cpp" | "ik_llama.cpp";
export type Engine = "bitconv-rt" | PeerEngine;
export const ENGINES: readonly Engine[] = ["bitconv-rt", "bitnet.cpp", "ik_llama.cpp"];
export type Head = SynthEmbed;
export type Test = "pp" | "tg";

export const PEERS_ENV = "BITCONV_PEERS_DIR";

// ------------------------------------------------------------------ finding the binaries

export interface PeerBinaries {
  dir: string;
  bench: Partial<Record<PeerEngine, string>>;
  /** ik_llama.cpp's llama-quantize (its IQ2_BN_R4 file is made with it) */
  ikQuantize?: string;
  /** one line per binary that is not there */
  missing: string[];
}

/** Where the peers' binaries are under dir (the layout of build-anchors.sh's output). */
export function locatePeers(dir: string, exists: (p: string) => boolean = existsSync): PeerBinaries {
  const out: PeerBinaries = { dir, bench: {}, missing: [] };
  const want = (p: string): string | undefined => {
    if (exists(p)) return p;
    out.missing.push(`${p} not found`);
    return undefined;
  };
  const bn = want(join(dir, "BitNet", "build", "bin", "llama-bench"));
  if (bn) out.bench["bitnet.cpp"] = bn;
  const ikBench = want(join(dir, "ik_llama.cpp", "build", "bin", "llama-bench"));
  const ikQuant = want(join(dir, "ik_llama.cpp", "build", "bin", "llama-quantize"));
  if (ikBench && ikQuant) {
    out.bench["ik_llama.cpp"] = ikBench;
    out.ikQuantize = ikQuant;
  }
  return out;
}

// ------------------------------------------------------------------ command lines

export interface TestSize {
  threads: number;
  nPrompt: number;
  nGen: number;
  /** repetitions inside one engine run (llama-bench -r, bitconv-rt bench -r) */
  reps: number;
}

/** llama-bench's command line: pp and tg in one process, JSON on stdout; ik_llama.cpp with flash attention. */
export function llamaBenchArgs(engine: PeerEngine, file: string, t: TestSize): string[] {
  const args = ["-m", file, "-t", String(t.threads), "-p", String(t.nPrompt), "-n", String(t.nGen), "-r", String(t.reps), "-o", "json"];
  if (engine === "ik_llama.cpp") args.push("-fa", "1");
  return args;
}

/** ik_llama.cpp's requantization of a bitconv I2_S file to IQ2_BN_R4, the head kept in `head`. */
export function ikQuantizeArgs(src: string, out: string, head: Head): string[] {
  return ["--allow-requantize", "--output-tensor-type", head, "--token-embedding-type", head, src, out, "IQ2_BN_R4"];
}

// ------------------------------------------------------------------ llama-bench output

export interface LlamaBenchTest {
  test: Test;
  n_prompt: number;
  n_gen: number;
  avg_ts: number;
  stddev_ts: number;
  samples_ts: number[];
  flash_attn?: boolean;
  n_threads?: number;
  model_type?: string;
  build_commit?: string;
}

/**
 * The tests of `llama-bench -o json` (a JSON array of objects; anything before the array on stdout is
 * ignored). A test with n_prompt > 0 is pp, with n_gen > 0 tg. Throws on output that holds no array or
 * a test without a finite avg_ts.
 */
export function parseLlamaBenchJson(stdout: string): LlamaBenchTest[] {
  const start = stdout.search(/^\s*\[/m);
  const end = stdout.lastIndexOf("]");
  if (start < 0 || end < start) throw new Error("llama-bench printed no JSON array");
  let arr: unknown;
  try {
    arr = JSON.parse(stdout.slice(start, end + 1));
  } catch (e) {
    throw new Error(`llama-bench JSON does not parse: ${(e as Error).message}`);
  }
  if (!Array.isArray(arr)) throw new Error("llama-bench JSON is not an array");
  return arr.map((x: Record<string, unknown>, i) => {
    const num = (k: string): number => Number(x[k]);
    const np = num("n_prompt"), ng = num("n_gen"), avg = num("avg_ts");
    if (!Number.isFinite(avg) || !(np > 0 || ng > 0)) throw new Error(`llama-bench test ${i}: no n_prompt/n_gen or avg_ts`);
    const t: LlamaBenchTest = {
      test: np > 0 ? "pp" : "tg", n_prompt: np, n_gen: ng, avg_ts: avg, stddev_ts: num("stddev_ts") || 0,
      samples_ts: Array.isArray(x.samples_ts) ? (x.samples_ts as unknown[]).map(Number) : [],
    };
    if (typeof x.flash_attn === "boolean") t.flash_attn = x.flash_attn;
    if (Number.isFinite(num("n_threads"))) t.n_threads = num("n_threads");
    if (typeof x.model_type === "string") t.model_type = x.model_type;
    if (typeof x.build_commit === "string") t.build_commit = x.build_commit;
    return t;
  });
}

// ------------------------------------------------------------------ rounds and figures

export interface Slot {
  round: number;
  head: Head;
  engine: Engine;
}

/** The order of the runs: per round, per head, every engine in turn. */
export function interleave(rounds: number, heads: readonly Head[], engines: readonly Engine[]): Slot[] {
  const out: Slot[] = [];
  for (let round = 0; round < rounds; round++) for (const head of heads) for (const engine of engines) out.push({ round, head, engine });
  return out;
}

export interface Spread {
  /** mean over rounds of each round's tokens/s */
  avg_ts: number;
  /** sample standard deviation over rounds */
  stddev_ts: number;
  min_ts: number;
  max_ts: number;
  /** one figure per round (NaN where that round failed) */
  rounds_ts: number[];
}

/** Mean, spread and range of the rounds that produced a figure; undefined when none did. */
export function summarize(rounds: readonly number[]): Spread | undefined {
  const ok = rounds.filter((x) => Number.isFinite(x));
  if (ok.length === 0) return undefined;
  const avg = ok.reduce((a, b) => a + b, 0) / ok.length;
  const sd = ok.length > 1 ? Math.sqrt(ok.reduce((a, b) => a + (b - avg) ** 2, 0) / (ok.length - 1)) : 0;
  return { avg_ts: avg, stddev_ts: sd, min_ts: Math.min(...ok), max_ts: Math.max(...ok), rounds_ts: [...rounds] };
}

export interface PeerCell {
  engine: Engine;
  head: Head;
  file?: string;
  pp?: Spread;
  tg?: Spread;
  /** bytes a decode step reads (the file's weights, the head once, one embedding row, the KV cache) */
  decode_bytes_per_token?: number;
  /** tg tokens/s x bytes per token / measured read bandwidth */
  tg_bandwidth_share?: number;
  notes: string[];
  /** the last failure, when some round failed */
  error?: string;
}

export interface PeerRatio {
  head: Head;
  test: Test;
  bitconv_ts: number;
  best_peer: PeerEngine;
  best_peer_ts: number;
  /** bitconv_ts / best_peer_ts */
  ratio: number;
  /** the same ratio round by round (rounds where all three ran): its lowest and highest */
  round_min?: number;
  round_max?: number;
}

/**
 * bitconv-rt against the fastest peer, per head and test: the ratio of the means, and the range of the
 * per-round ratios (each round's bitconv figure over that round's best peer figure).
 */
export function peerRatios(cells: readonly PeerCell[]): PeerRatio[] {
  const out: PeerRatio[] = [];
  const heads = [...new Set(cells.map((c) => c.head))];
  for (const head of heads) {
    for (const test of ["pp", "tg"] as const) {
      const mine = cells.find((c) => c.engine === "bitconv-rt" && c.head === head)?.[test];
      const peers = cells.filter((c) => c.engine !== "bitconv-rt" && c.head === head && c[test] !== undefined);
      if (!mine || peers.length === 0) continue;
      const best = peers.reduce((a, b) => (b[test]!.avg_ts > a[test]!.avg_ts ? b : a));
      const r: PeerRatio = {
        head, test, bitconv_ts: mine.avg_ts, best_peer: best.engine as PeerEngine, best_peer_ts: best[test]!.avg_ts,
        ratio: mine.avg_ts / best[test]!.avg_ts,
      };
      const per: number[] = [];
      for (let i = 0; i < mine.rounds_ts.length; i++) {
        const p = Math.max(...peers.map((c) => c[test]!.rounds_ts[i] ?? NaN));
        if (Number.isFinite(mine.rounds_ts[i]) && Number.isFinite(p) && p > 0) per.push(mine.rounds_ts[i] / p);
      }
      if (per.length > 0) {
        r.round_min = Math.min(...per);
        r.round_max = Math.max(...per);
      }
      out.push(r);
    }
  }
  return out;
}

/** tokens/s x bytes per token / (GB/s x 1e9): the share of the bandwidth bound a decode figure reaches. */
export function bandwidthShare(tgTs: number, bytesPerToken: number, gbs: number): number {
  return (tgTs * bytesPerToken) / (gbs * 1e9);
}

// ------------------------------------------------------------------ running

export interface PeersReport {
  /** the folder given, if any */
  dir?: string;
  /** "measured", or why not (in words) */
  status: string;
  missing?: string[];
  rounds?: number;
  size?: TestSize;
  model?: string;
  cells: PeerCell[];
  ratios: PeerRatio[];
}

export interface PeersOptions extends TestSize {
  dir: string;
  rounds: number;
  quick: boolean;
  heads: readonly Head[];
  workDir: string;
  log: (msg: string) => void;
}

function run(bin: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(bin, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === "number" ? Number((err as NodeJS.ErrnoException).code) : -1) : 0;
      res({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === -1 ? err.message : "") });
    });
  });
}

const tail = (s: string): string => s.split("\n").map((l) => l.trim()).filter(Boolean).slice(-2).join(" | ");

/** ik_llama.cpp's IQ2_BN_R4 copy of src (cached beside the other bench files; rebuilt when src is newer). */
async function ikFile(quantize: string, src: string, head: Head, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const out = join(dir, basename(src).replace(/\.gguf$/, `-iq2_bn_r4-${head}.gguf`));
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) return out;
  const tmp = `${out}.tmp`;
  rmSync(tmp, { force: true });
  const r = await run(quantize, ikQuantizeArgs(src, tmp, head));
  if (r.code !== 0 || !existsSync(tmp)) {
    rmSync(tmp, { force: true });
    throw new Error(`ik_llama.cpp llama-quantize exited ${r.code}: ${tail(r.stderr + "\n" + r.stdout)}`);
  }
  renameSync(tmp, out);
  return out;
}

type RoundFigures = Partial<Record<Test, number>>;

async function runBitconv(file: string, t: TestSize): Promise<{ fig: RoundFigures; note: string }> {
  const r = await runRuntime(["bench", "-m", file, "-p", String(t.nPrompt), "-n", String(t.nGen), "-r", String(t.reps), "-t", String(t.threads), "--json"]);
  const fig: RoundFigures = {};
  let note = "";
  for (const e of r.events) {
    if (e.event !== "bench") continue;
    fig[String(e.test).startsWith("pp") ? "pp" : "tg"] = Number(e.avg_ts);
    note = `bitconv-rt bench, isa ${String(e.isa)}, ${String(e.threads)} threads`;
  }
  return { fig, note };
}

async function runPeer(engine: PeerEngine, bin: string, file: string, t: TestSize): Promise<{ fig: RoundFigures; note: string }> {
  const args = llamaBenchArgs(engine, file, t);
  const r = await run(bin, args);
  if (r.code !== 0) throw new Error(`${engine} llama-bench exited ${r.code}: ${tail(r.stderr)}`);
  const tests = parseLlamaBenchJson(r.stdout);
  const fig: RoundFigures = {};
  for (const x of tests) fig[x.test] = x.avg_ts;
  const x = tests[0];
  const note = `llama-bench ${args.slice(2).join(" ")}` +
    (x ? ` (${x.model_type ?? "?"}, flash attention ${x.flash_attn ?? "?"}, build ${x.build_commit ?? "?"})` : "");
  return { fig, note };
}

/** Synthesizes (or reuses) the I2_S files, makes ik_llama.cpp's copies, then runs the interleaved rounds. */
export async function runPeers(o: PeersOptions): Promise<PeersReport> {
  const bins = locatePeers(o.dir);
  const size: TestSize = { threads: o.threads, nPrompt: o.nPrompt, nGen: o.nGen, reps: o.reps };
  const report: PeersReport = { dir: o.dir, status: "measured", rounds: o.rounds, size, cells: [], ratios: [] };
  if (bins.missing.length > 0) report.missing = bins.missing;
  const peers = (Object.keys(bins.bench) as PeerEngine[]);
  if (peers.length === 0) return { ...report, status: `no peer binaries under ${o.dir}` };
  const shape = o.quick ? SHAPE_TINY : SHAPE_2B4T;
  report.model = `synthetic ${shape.name}-shaped I2_S, arch bitnet-b1.58 (bitconv convert --target bitnet.cpp keys)`;
  const specs: SynthSpec[] = o.heads.map((embed) => ({ shape, layout: "i2_s", embed, target: "bitnet.cpp" }));
  o.log(`peers: synthesizing ${specs.length} I2_S file(s) for bitnet.cpp / ik_llama.cpp (cached)`);
  const files = await ensureSynthGgufs(join(o.workDir, "gguf"), specs);
  const cells = new Map<string, PeerCell & { raw: Record<Test, number[]> }>();
  const engines = ENGINES.filter((e) => e === "bitconv-rt" || peers.includes(e));
  for (let h = 0; h < o.heads.length; h++) {
    const head = o.heads[h];
    for (const engine of engines) {
      const cell: PeerCell & { raw: Record<Test, number[]> } = { engine, head, file: files[h], notes: [], raw: { pp: [], tg: [] } };
      if (engine === "ik_llama.cpp") {
        try {
          o.log(`peers: ik_llama.cpp requantizing to IQ2_BN_R4 (${head} head)`);
          cell.file = await ikFile(bins.ikQuantize!, files[h], head, join(o.workDir, "peers"));
          cell.notes.push(`requantized: llama-quantize ${ikQuantizeArgs("in.gguf", "out.gguf", head).join(" ")}`);
        } catch (e) {
          cell.file = undefined;
          cell.error = (e as Error).message;
        }
      }
      cells.set(`${engine}/${head}`, cell);
    }
  }
  for (const slot of interleave(o.rounds, o.heads, engines)) {
    const cell = cells.get(`${slot.engine}/${slot.head}`)!;
    let fig: RoundFigures = {};
    if (cell.file) {
      o.log(`peers: round ${slot.round + 1}/${o.rounds}, ${slot.engine}, ${slot.head} head`);
      try {
        const r = slot.engine === "bitconv-rt" ? await runBitconv(cell.file, size) : await runPeer(slot.engine, bins.bench[slot.engine]!, cell.file, size);
        fig = r.fig;
        if (!cell.notes.includes(r.note)) cell.notes.push(r.note);
      } catch (e) {
        cell.error = (e as Error).message;
      }
    }
    for (const t of ["pp", "tg"] as const) cell.raw[t].push(fig[t] ?? NaN);
  }
  for (const cell of cells.values()) {
    const { raw, ...c } = cell;
    const pp = summarize(raw.pp), tg = summarize(raw.tg);
    if (pp) c.pp = pp;
    if (tg) c.tg = tg;
    report.cells.push(c);
  }
  report.ratios = peerRatios(report.cells);
  return report;
}
