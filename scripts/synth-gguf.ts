// Synthetic GGUF models for the runtime benchmark: the exact tensor list, shapes and keys of a bitconv
// artifact (docs/architecture.md), with random ternary weights (a realistic -1/0/+1 mix), random norms
// and a random f16 or q8_0 tied embedding, written straight from the layout packers and the streaming
// GGUF writer. No safetensors checkpoint is involved, so a 2B-4T-shaped model takes seconds per layout
// instead of a 4.8 GB conversion. Files are cached under a work folder, keyed by shape + layout + embed
// type + generator settings; a cached file is complete (the writer renames it into place at the end).
//
// Layout "float" writes the same model as `bitconv verify`'s checkpoint reference file stores it
// (src/verify/reference/build.ts): each BitLinear weight as F16 codes -1/0/+1 with an F32 `.scale`, read
// by the runtime's float path only. Its codes, scales, norms and embedding are those of every other
// layout of the same spec (one random stream per tensor name), so it is the float reference of them.
//
// As a command: node dist/scripts/synth-gguf.js --layout i2_s|float [--embed f16] [--shape 2b4t|tiny] [-o F]

import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GgmlType } from "../src/gguf/types.js";
import { GgufStreamWriter, kv, type GgufKv, type GgufTensorInfo } from "../src/gguf/writer.js";
import { getLayout, LAYOUT_NAMES, type LayoutName, type TlParams } from "../src/layouts/index.js";
import { f32ArrayToF16 } from "../src/quant/float.js";
import { quantizeQ8_0, q8_0Nbytes } from "../src/quant/q8_0.js";
import { codesAsF16 } from "../src/verify/reference/ternary.js";
import { VERSION } from "../src/version.js";
import { synthTokenizerJson } from "../test/helpers/synth.js";

/** Bump when the bytes a spec produces change, so stale cache entries are not reused. */
export const SYNTH_VERSION = 1;

export interface ModelShape {
  /** short name used in cache keys and tables */
  name: string;
  layers: number;
  hidden: number;
  ffn: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  ctx: number;
  ropeTheta: number;
  eps: number;
}

/** microsoft/bitnet-b1.58-2B-4T (formats/checkpoint-bitnet-2b4t.md). */
export const SHAPE_2B4T: ModelShape = {
  name: "2b4t", layers: 30, hidden: 2560, ffn: 6912, heads: 20, kvHeads: 5, headDim: 128, vocab: 128256,
  ctx: 4096, ropeTheta: 500000, eps: 1e-5,
};

/** A small model for tests: every dimension a multiple of 256, so every layout blocks it. */
export const SHAPE_TINY: ModelShape = {
  name: "tiny", layers: 2, hidden: 256, ffn: 512, heads: 4, kvHeads: 2, headDim: 64, vocab: 512,
  ctx: 256, ropeTheta: 10000, eps: 1e-5,
};

export const SHAPES: Record<string, ModelShape> = { "2b4t": SHAPE_2B4T, tiny: SHAPE_TINY };

export type SynthEmbed = "f16" | "q8_0";
export const SYNTH_EMBEDS: readonly SynthEmbed[] = ["f16", "q8_0"];

/** A ternary layout, or the float codes of verify's checkpoint reference. */
export type SynthLayout = LayoutName | "float";
export const FLOAT_REFERENCE = "float";
/** GGML file type 1: mostly F16 */
const FTYPE_F16 = 1;

export interface SynthSpec {
  shape: ModelShape;
  layout: SynthLayout;
  embed: SynthEmbed;
  /** written as `bitnet.hidden_activation`; llama.cpp ignores the key and computes SiLU (formats/gguf.md 4.3) */
  activation?: "relu2" | "silu";
  seed?: number;
  /**
   * Share of zero codes. Absmean on normally distributed masters gives about 31% (|w| < 0.4 sigma);
   * the rest is split evenly between -1 and +1.
   */
  zeroFraction?: number;
  /**
   * "bitnet.cpp": the keys of `bitconv convert --target bitnet.cpp` (arch bitnet-b1.58, which bitnet.cpp
   * and ik_llama.cpp compute with relu²; docs/architecture.md); i2_s and tl layouts only. Default "auto"
   * (arch bitnet).
   */
  target?: SynthTarget;
}

export type SynthTarget = "auto" | "bitnet.cpp";

type Resolved = Required<SynthSpec>;

function resolveSpec(s: SynthSpec): Resolved {
  return { activation: "relu2", seed: 1234, zeroFraction: 0.31, target: "auto", ...s };
}

/** The cache file name of a spec: everything that changes the bytes is in it. */
export function synthFileName(spec: SynthSpec): string {
  const s = resolveSpec(spec);
  const sh = s.shape;
  const dims = `L${sh.layers}-h${sh.hidden}-f${sh.ffn}-a${sh.heads}x${sh.kvHeads}x${sh.headDim}-v${sh.vocab}`;
  const target = s.target === "auto" ? "" : "-tbitnetcpp"; // absent for "auto": older cache names stay valid
  return `synth-${sh.name}-${dims}-${s.layout}-${s.embed}-${s.activation}-z${Math.round(s.zeroFraction * 1000)}-s${s.seed}${target}-g${SYNTH_VERSION}.gguf`;
}

export function synthPath(dir: string, spec: SynthSpec): string {
  return join(dir, synthFileName(spec));
}

// ------------------------------------------------------------------ tensor plan

/** ggml-order projections of one layer: GGUF name, M (out features), K (in features). */
export function projections(sh: ModelShape): [string, number, number][] {
  const q = sh.heads * sh.headDim;
  const kvd = sh.kvHeads * sh.headDim;
  return [
    ["attn_q", q, sh.hidden], ["attn_k", kvd, sh.hidden], ["attn_v", kvd, sh.hidden], ["attn_output", sh.hidden, q],
    ["ffn_gate", sh.ffn, sh.hidden], ["ffn_up", sh.ffn, sh.hidden], ["ffn_down", sh.hidden, sh.ffn],
  ];
}

type PlanItem =
  | { kind: "embd"; info: GgufTensorInfo }
  | { kind: "norm"; info: GgufTensorInfo; size: number; }
  | { kind: "ternary"; info: GgufTensorInfo; M: number; K: number; params: TlParams | undefined }
  | { kind: "scale"; info: GgufTensorInfo; of: string };

const isTq = (l: SynthLayout): boolean => l === "tq1_0" || l === "tq2_0";
/** tq layouts and the float codes carry the per-tensor multiplier as a `.scale` tensor */
const hasScaleTensor = (l: SynthLayout): boolean => isTq(l) || l === FLOAT_REFERENCE;

/** The tensors of a spec in the artifact's order (docs/architecture.md "Tensors"). */
export function synthPlan(spec: SynthSpec): PlanItem[] {
  const s = resolveSpec(spec);
  const sh = s.shape;
  const layout = s.layout === FLOAT_REFERENCE ? undefined : getLayout(s.layout);
  const out: PlanItem[] = [];
  const nEmb = sh.vocab * sh.hidden;
  out.push({
    kind: "embd",
    info: {
      name: "token_embd.weight", ne: [sh.hidden, sh.vocab], type: s.embed === "f16" ? GgmlType.F16 : GgmlType.Q8_0,
      nbytes: s.embed === "f16" ? nEmb * 2 : q8_0Nbytes(nEmb),
    },
  });
  const norm = (name: string, size: number) => out.push({ kind: "norm", size, info: { name, ne: [size], type: GgmlType.F32, nbytes: size * 4 } });
  norm("output_norm.weight", sh.hidden);
  const proj = new Map(projections(sh).map(([n, M, K]) => [n, [M, K] as const]));
  for (let i = 0; i < sh.layers; i++) {
    const p = `blk.${i}.`;
    const ternary = (n: string) => {
      const [M, K] = proj.get(n)!;
      const name = `${p}${n}.weight`;
      if (!layout) out.push({ kind: "ternary", M, K, params: undefined, info: { name, ne: [K, M], type: GgmlType.F16, nbytes: 2 * M * K } });
      else {
        const why = layout.shapeError(M, K);
        if (why) throw new Error(`${s.layout} cannot store ${p}${n} (${M} x ${K}): ${why}`);
        const params = layout.params(M, K);
        out.push({ kind: "ternary", M, K, params, info: { name, ne: [K, M], type: layout.ggmlType, nbytes: layout.nbytes(M, K, params) } });
      }
      if (hasScaleTensor(s.layout)) out.push({ kind: "scale", of: name, info: { name: `${p}${n}.scale`, ne: [1], type: GgmlType.F32, nbytes: 4 } });
    };
    norm(`${p}attn_norm.weight`, sh.hidden);
    for (const n of ["attn_q", "attn_k", "attn_v", "attn_output"]) ternary(n);
    norm(`${p}attn_sub_norm.weight`, sh.heads * sh.headDim);
    norm(`${p}ffn_norm.weight`, sh.hidden);
    for (const n of ["ffn_gate", "ffn_up", "ffn_down"]) ternary(n);
    norm(`${p}ffn_sub_norm.weight`, sh.ffn);
  }
  return out;
}

/** Bytes of the ternary weights of a layout (the `.scale` tensors of tq layouts included). */
export function ternaryBytes(spec: SynthSpec): number {
  let n = 0;
  for (const t of synthPlan(spec)) if (t.kind === "ternary" || t.kind === "scale") n += t.info.nbytes;
  return n;
}

// ------------------------------------------------------------------ random numbers

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** xorshift32 stream per tensor name, so a tensor's values do not depend on the layout or on the others. */
function rngFor(seed: number, name: string): () => number {
  let x = (fnv1a(name) ^ Math.imul(seed | 0, 0x9e3779b1)) >>> 0 || 0x12345678;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Ternary codes: P(0) = zeroFraction, P(-1) = P(+1) = (1 - zeroFraction) / 2. */
function randomTernary(n: number, rng: () => number, zeroFraction: number): Int8Array {
  const T = new Int8Array(n);
  const z = Math.floor(zeroFraction * 4294967296);
  const half = z + Math.floor((4294967296 - z) / 2);
  for (let i = 0; i < n; i++) {
    const u = rng();
    T[i] = u < z ? 0 : u < half ? -1 : 1;
  }
  return T;
}

/** mean + std * (approximately normal: four 16-bit uniforms, Irwin-Hall, rescaled). */
function randomNormal(n: number, rng: () => number, mean: number, std: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = rng(), b = rng();
    const s = (a & 0xffff) + (a >>> 16) + (b & 0xffff) + (b >>> 16);
    x[i] = mean + std * (s / 65536 - 2) * 1.7320508075688772;
  }
  return x;
}

/** Per-tensor scale w = mean|W| of N(0, 0.02) masters (0.016) times a factor in [0.5, 1.5). */
function randomScale(rng: () => number): number {
  return Math.fround(0.02 * 0.7978845608 * (0.5 + rng() / 4294967296));
}

// ------------------------------------------------------------------ keys

/** GPT-2 / LLaMA-3 byte-level BPE keys from the test helpers' synthetic tokenizer.json. */
function tokenizerKvs(vocab: number): GgufKv[] {
  const tok = JSON.parse(synthTokenizerJson(vocab)) as {
    model: { vocab: Record<string, number>; merges: string[] };
    added_tokens: { id: number; content: string; special?: boolean }[];
  };
  const tokens: string[] = new Array<string>(vocab);
  for (const [s, id] of Object.entries(tok.model.vocab)) tokens[id] = s;
  const types: number[] = new Array<number>(vocab).fill(1); // NORMAL
  for (const a of tok.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4; // CONTROL : USER_DEFINED
  }
  for (let i = 0; i < vocab; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = 5; // UNUSED
    }
  }
  return [
    kv.str("tokenizer.ggml.model", "gpt2"),
    kv.str("tokenizer.ggml.pre", "llama-bpe"),
    kv.strArray("tokenizer.ggml.tokens", tokens),
    kv.i32Array("tokenizer.ggml.token_type", types),
    kv.strArray("tokenizer.ggml.merges", tok.model.merges),
    kv.u32("tokenizer.ggml.bos_token_id", vocab - 2),
    kv.u32("tokenizer.ggml.eos_token_id", vocab - 1),
    kv.bool("tokenizer.ggml.add_bos_token", true),
  ];
}

function synthKvs(s: Resolved, plan: PlanItem[], tokenizer: GgufKv[]): GgufKv[] {
  const sh = s.shape;
  const fileType = s.layout === FLOAT_REFERENCE ? FTYPE_F16 : getLayout(s.layout).fileType;
  if (s.target === "bitnet.cpp" && (isTq(s.layout) || s.layout === FLOAT_REFERENCE)) throw new Error(`target bitnet.cpp reads i2_s, tl1 and tl2, not ${s.layout}`);
  const a = s.target === "bitnet.cpp" ? "bitnet-b1.58" : "bitnet";
  const tl: number[] = [];
  const seen = new Set<string>();
  for (const t of plan) {
    if (t.kind !== "ternary" || !t.params) continue;
    const key = `${t.M}x${t.K}`;
    if (seen.has(key)) continue;
    seen.add(key);
    tl.push(t.M, t.K, t.params.BM, t.params.BK, t.params.bm);
  }
  const kvs: GgufKv[] = [
    kv.str("general.architecture", a),
    kv.str("general.type", "model"),
    kv.str("general.name", `synthetic ${sh.name}-shaped BitNet b1.58`),
    kv.u32("general.file_type", fileType),
    kv.u32("general.quantization_version", 2),
    kv.u32("general.alignment", 32),
    kv.u32(`${a}.vocab_size`, sh.vocab),
    kv.u32(`${a}.context_length`, sh.ctx),
    kv.u32(`${a}.embedding_length`, sh.hidden),
    kv.u32(`${a}.block_count`, sh.layers),
    kv.u32(`${a}.feed_forward_length`, sh.ffn),
    kv.u32(`${a}.attention.head_count`, sh.heads),
    kv.u32(`${a}.attention.head_count_kv`, sh.kvHeads),
    kv.u32(`${a}.attention.key_length`, sh.headDim),
    kv.u32(`${a}.attention.value_length`, sh.headDim),
    kv.f32(`${a}.attention.layer_norm_rms_epsilon`, sh.eps),
    kv.f32(`${a}.rope.freq_base`, sh.ropeTheta),
    kv.u32(`${a}.rope.dimension_count`, sh.headDim),
    kv.str(`${a}.hidden_activation`, s.activation),
    ...tokenizer,
    kv.str("bitconv.version", VERSION),
    kv.str("bitconv.layout", s.layout),
    kv.str("bitconv.target", s.target),
    kv.str("bitconv.embed_type", s.embed),
  ];
  if (tl.length > 0) kvs.push(kv.u32Array("bitconv.tl_params", tl));
  kvs.push(kv.str("bitconv.options", JSON.stringify({
    synthetic: true, generator: `scripts/synth-gguf.ts v${SYNTH_VERSION}`, seed: s.seed, zero_fraction: s.zeroFraction,
    embed_type: s.embed, layout: s.layout, target: s.target,
  })));
  return kvs;
}

// ------------------------------------------------------------------ writing

export interface SynthProgress {
  (done: number, total: number, what: string): void;
}

const EMB_ROWS_PER_CHUNK = 4096;

/**
 * Writes every spec whose cache file is missing, in one pass (a tensor's random codes are generated
 * once and packed for each layout). All specs must share one shape and seed. Returns the paths, in
 * the order of `specs`.
 */
export async function ensureSynthGgufs(dir: string, specs: readonly SynthSpec[], onProgress?: SynthProgress): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const paths = specs.map((s) => resolve(synthPath(dir, s)));
  const todo = specs.map(resolveSpec).filter((_, i) => !existsSync(paths[i]));
  const seen = new Set<string>();
  const unique = todo.filter((s) => {
    const k = synthFileName(s);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  if (unique.length === 0) return paths;
  const first = unique[0];
  const group = (s: Resolved) => JSON.stringify([s.shape, s.seed, s.zeroFraction]);
  if (unique.some((s) => group(s) !== group(first))) {
    throw new Error("ensureSynthGgufs: specs written in one pass must share shape, seed and zero fraction");
  }
  const sh = first.shape;
  const plans = unique.map((s) => synthPlan(s));
  const tokKvs = tokenizerKvs(sh.vocab);
  const writers: GgufStreamWriter[] = [];
  try {
    for (let i = 0; i < unique.length; i++) {
      const target = resolve(synthPath(dir, unique[i]));
      writers.push(await GgufStreamWriter.create(target, synthKvs(unique[i], plans[i], tokKvs), plans[i].map((t) => t.info)));
    }
    // the union of tensor names, in order (only tq layouts have .scale tensors)
    const longest = plans.reduce((a, b) => (b.length > a.length ? b : a));
    const total = longest.length;
    const scales = new Map<string, number>();
    let done = 0;
    for (const item of longest) {
      const name = item.info.name;
      if (item.kind === "embd") {
        const rng = rngFor(first.seed, name);
        const f16: Uint8Array[] = [];
        const q8: Uint8Array[] = [];
        const wantF16 = unique.some((s) => s.embed === "f16");
        const wantQ8 = unique.some((s) => s.embed === "q8_0");
        for (let r = 0; r < sh.vocab; r += EMB_ROWS_PER_CHUNK) {
          const rows = Math.min(EMB_ROWS_PER_CHUNK, sh.vocab - r);
          const x = randomNormal(rows * sh.hidden, rng, 0, 0.02);
          if (wantF16) {
            const h = f32ArrayToF16(x);
            f16.push(new Uint8Array(h.buffer, h.byteOffset, h.byteLength));
          }
          if (wantQ8) q8.push(quantizeQ8_0(x));
        }
        for (let i = 0; i < unique.length; i++) await writers[i].writeTensor(unique[i].embed === "f16" ? f16 : q8);
      } else if (item.kind === "norm") {
        const x = randomNormal(item.size, rngFor(first.seed, name), 1, 0.05);
        const bytes = new Uint8Array(x.buffer);
        for (const w of writers) await w.writeTensor(bytes);
      } else if (item.kind === "ternary") {
        const rng = rngFor(first.seed, name);
        const w = randomScale(rng);
        scales.set(name, w);
        const T = randomTernary(item.M * item.K, rng, first.zeroFraction);
        const packed = new Map<SynthLayout, Uint8Array>();
        for (let i = 0; i < unique.length; i++) {
          const l = unique[i].layout;
          let bytes = packed.get(l);
          if (!bytes) {
            if (l === FLOAT_REFERENCE) bytes = codesAsF16(T);
            else {
              const layout = getLayout(l);
              bytes = layout.pack(T, item.M, item.K, w, layout.params(item.M, item.K));
            }
            packed.set(l, bytes);
          }
          await writers[i].writeTensor(bytes);
        }
      } else {
        const bytes = new Uint8Array(Float32Array.of(scales.get(item.of)!).buffer);
        for (let i = 0; i < unique.length; i++) if (hasScaleTensor(unique[i].layout)) await writers[i].writeTensor(bytes);
      }
      done++;
      onProgress?.(done, total, name);
    }
    for (const w of writers) await w.finish();
  } catch (e) {
    for (const w of writers) await w.abort().catch(() => undefined);
    throw e;
  }
  return paths;
}

export async function ensureSynthGguf(dir: string, spec: SynthSpec, onProgress?: SynthProgress): Promise<string> {
  return (await ensureSynthGgufs(dir, [spec], onProgress))[0];
}

// ------------------------------------------------------------------ command line

async function main(argv: string[]): Promise<void> {
  const { default: yargs } = await import("yargs");
  const args = await yargs(argv)
    .scriptName("synth-gguf")
    .usage("$0 --layout L [--embed f16|q8_0] [--shape 2b4t|tiny] [--target auto|bitnet.cpp] [--dir D]")
    .option("layout", { type: "string", choices: [...LAYOUT_NAMES, FLOAT_REFERENCE], demandOption: true,
      describe: "a ternary layout, or float: verify's checkpoint reference form (F16 codes and an F32 .scale)" })
    .option("embed", { type: "string", choices: SYNTH_EMBEDS as string[], default: "f16" })
    .option("shape", { type: "string", choices: Object.keys(SHAPES), default: "2b4t" })
    .option("activation", { type: "string", choices: ["relu2", "silu"], default: "relu2" })
    .option("seed", { type: "number", default: 1234 })
    .option("zero-fraction", { type: "number", default: 0.31 })
    .option("target", { type: "string", choices: ["auto", "bitnet.cpp"], default: "auto", describe: "bitnet.cpp: arch bitnet-b1.58 (the peers' loader)" })
    .option("dir", { type: "string", default: ".bench/gguf", describe: "cache folder" })
    .strict()
    .help()
    .parseAsync();
  const spec: SynthSpec = {
    shape: SHAPES[args.shape], layout: args.layout as SynthLayout, embed: args.embed as SynthEmbed,
    activation: args.activation as "relu2" | "silu", seed: args.seed, zeroFraction: args["zero-fraction"],
    target: args.target as SynthTarget,
  };
  let last = 0;
  const path = await ensureSynthGguf(args.dir, spec, (d, t) => {
    const now = Date.now();
    if (now - last > 1000 || d === t) {
      last = now;
      process.stderr.write(`\rsynth-gguf: ${d}/${t} tensors`);
      if (d === t) process.stderr.write("\n");
    }
  });
  process.stdout.write(path + "\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`synth-gguf: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
