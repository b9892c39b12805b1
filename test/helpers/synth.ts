// Synthetic Hugging Face checkpoints of the three families, for tests and the benchmark.
// The tensor list and config keys here are written from the families' real checkpoints
// (formats/checkpoint-*.md), independently of src/checkpoint, so tests can check one against the other.
import { promises as fsp, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Family } from "../../src/checkpoint/config.js";
import { DTYPE_SIZE, numel, type StDtype } from "../../src/checkpoint/safetensors.js";
import { packHfPacked } from "../../src/layouts/hfPacked.js";
import { f32ArrayToBf16, f32ArrayToF16 } from "../../src/quant/float.js";
import { writeSafetensors, type TensorSource } from "./safetensorsWriter.js";
import { mulberry32 } from "./prng.js";

export type FloatDtype = "BF16" | "F16" | "F32";

export interface SynthOptions {
  family: Family;
  layers: number;
  hidden: number;
  ffn: number;
  heads: number;
  kvHeads: number;
  /** written to config.json when given (llama-bitnet always writes one: hidden / heads by default) */
  headDim?: number;
  vocab: number;
  dtype: FloatDtype;
  /** projections as transformers-packed U8 + weight_scale (default: llama-bitnet yes, others no) */
  packed?: boolean;
  linearClass?: "bitlinear" | "autobitlinear";
  /** number of safetensors shards (default 1: a single model.safetensors) */
  shards?: number;
  /** default: true for bitnet-b1.58 and 1bitllm, false for llama-bitnet */
  tied?: boolean;
  seed: number;
}

export interface SynthTensor { name: string; dtype: StDtype; shape: number[] }

export interface SynthResult {
  dir: string;
  config: Record<string, unknown>;
  /** files written, relative to dir */
  files: string[];
  /** every tensor written, in file order */
  tensors: SynthTensor[];
}

const FIXTURE_DIR = fileURLToPath(new URL("../../../fixtures/tiny-bitnet-b1.58/", import.meta.url));
const TORCH_DTYPE: Record<FloatDtype, string> = { BF16: "bfloat16", F16: "float16", F32: "float32" };

// ---------------------------------------------------------------- random numbers


function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Per-tensor streams, so a tensor's values do not depend on the others or on slab sizes. */
function tensorSeed(seed: number, name: string): number {
  return (fnv1a(name) ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
}

function tensorRng(seed: number, name: string): () => number {
  return mulberry32(tensorSeed(seed, name));
}

/**
 * Fills `x` with `mean + std * z`, z bell-shaped with unit variance from ONE mulberry32 draw: the sum
 * of its two 16-bit halves is triangular on [-1, 1] (variance 1/6), rescaled. Absmean then gives about
 * 31% zeros, as on real weights. The generator is inlined (with its state kept in `st`) because this
 * loop writes billions of values for the 2B-4T-shaped benchmark model.
 */
function fillNoise(st: { a: number }, x: Float32Array, mean: number, std: number): void {
  let a = st.a | 0;
  const k = std * (2.449489742783178 / 65536);
  for (let i = 0; i < x.length; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t = (t ^ (t >>> 14)) >>> 0;
    x[i] = mean + ((t & 0xffff) + (t >>> 16) - 65535) * k;
  }
  st.a = a;
}

function uniform(rng: () => number): number {
  return rng() / 4294967296;
}

// ---------------------------------------------------------------- tensor sources

function encodeFloats(x: Float32Array, dtype: FloatDtype): Uint8Array {
  if (dtype === "F32") return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const h = dtype === "BF16" ? f32ArrayToBf16(x) : f32ArrayToF16(x);
  return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
}

/** Values `mean + std * noise`, generated slab by slab from the tensor's own stream. */
function floatSource(name: string, dtype: FloatDtype, shape: number[], seed: number, mean: number, std: number): TensorSource {
  const st = { a: tensorSeed(seed, name) };
  return {
    name, dtype, shape,
    produce(_start, count) {
      const x = new Float32Array(count);
      fillNoise(st, x, mean, std);
      return encodeFloats(x, dtype);
    },
  };
}

/**
 * A packed projection: ternary codes with the zero share absmean gives a normal weight (about 31%),
 * packed the way transformers does, plus its weight_scale in the model dtype. The scale magnitude
 * varies per tensor so a mix-up between tensors shows.
 */
function packedSources(stem: string, M: number, K: number, dtype: FloatDtype, seed: number, linearClass: "bitlinear" | "autobitlinear"): TensorSource[] {
  const rng = tensorRng(seed, stem);
  const T = new Int8Array(M * K);
  for (let i = 0; i < T.length; i++) {
    const u = uniform(rng);
    T[i] = u < 0.31 ? 0 : u < 0.655 ? -1 : 1;
  }
  const meanAbs = 0.02 * 0.7978845608 * (0.5 + uniform(rng));
  const packed = packHfPacked(T, M, K);
  const scale = encodeFloats(Float32Array.of(linearClass === "autobitlinear" ? meanAbs : 1 / meanAbs), dtype);
  return [
    { name: `${stem}.weight`, dtype: "U8", shape: [M / 4, K], produce: (s, n) => packed.subarray(s, s + n) },
    { name: `${stem}.weight_scale`, dtype, shape: [1], produce: () => scale },
  ];
}

// ---------------------------------------------------------------- the model

interface Resolved extends Required<Omit<SynthOptions, "headDim" | "linearClass">> {
  headDim: number;
  headDimGiven: boolean;
  linearClass: "bitlinear" | "autobitlinear";
}

function resolveOptions(o: SynthOptions): Resolved {
  const llama = o.family === "llama-bitnet";
  const packed = o.packed ?? llama;
  if (o.family === "1bitllm" && packed) throw new Error("1bitLLM checkpoints hold full-precision weights; packed is not a real form");
  if (o.vocab < 258) throw new Error(`synthetic vocab ${o.vocab} < 258 (256 bytes + BOS + EOS)`);
  return {
    ...o,
    packed,
    headDim: o.headDim ?? o.hidden / o.heads,
    headDimGiven: o.headDim !== undefined || llama,
    linearClass: o.linearClass ?? (o.family === "bitnet-b1.58" ? "autobitlinear" : "bitlinear"),
    shards: o.shards ?? 1,
    tied: o.tied ?? !llama,
  };
}

function projections(o: Resolved): [string, number, number][] {
  const q = o.heads * o.headDim, kv = o.kvHeads * o.headDim;
  return [
    ["self_attn.q_proj", q, o.hidden], ["self_attn.k_proj", kv, o.hidden], ["self_attn.v_proj", kv, o.hidden],
    ["self_attn.o_proj", o.hidden, q], ["mlp.gate_proj", o.ffn, o.hidden], ["mlp.up_proj", o.ffn, o.hidden],
    ["mlp.down_proj", o.hidden, o.ffn],
  ];
}

function layerNorms(o: Resolved): [string, number][] {
  const norms: [string, number][] = [["input_layernorm", o.hidden], ["post_attention_layernorm", o.hidden]];
  if (o.family === "bitnet-b1.58") norms.push(["self_attn.attn_sub_norm", o.heads * o.headDim], ["mlp.ffn_sub_norm", o.ffn]);
  if (o.family === "1bitllm") norms.push(["self_attn.inner_attn_ln", o.heads * o.headDim], ["mlp.ffn_layernorm", o.ffn]);
  return norms;
}

/** Every tensor of the checkpoint, sorted by name as the Python writer's files are. */
function tensorSources(o: Resolved): TensorSource[] {
  const out: TensorSource[] = [floatSource("model.embed_tokens.weight", o.dtype, [o.vocab, o.hidden], o.seed, 0, 0.02)];
  if (!o.tied) out.push(floatSource("lm_head.weight", o.dtype, [o.vocab, o.hidden], o.seed, 0, 0.02));
  out.push(floatSource("model.norm.weight", o.dtype, [o.hidden], o.seed, 1, 0.05));
  for (let i = 0; i < o.layers; i++) {
    const p = `model.layers.${i}.`;
    for (const [n, size] of layerNorms(o)) out.push(floatSource(`${p}${n}.weight`, o.dtype, [size], o.seed, 1, 0.05));
    for (const [n, M, K] of projections(o)) {
      if (o.packed) out.push(...packedSources(`${p}${n}`, M, K, o.dtype, o.seed, o.linearClass));
      else out.push(floatSource(`${p}${n}.weight`, o.dtype, [M, K], o.seed, 0, 0.02));
    }
    // 1bitLLM exports carry the rope buffer; readers must skip it.
    if (o.family === "1bitllm") out.push(floatSource(`${p}self_attn.rotary_emb.inv_freq`, "F32", [o.headDim / 2], o.seed, 0.5, 0.1));
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** config.json with the keys the family's real checkpoints carry. */
export function syntheticConfig(opts: SynthOptions): Record<string, unknown> {
  const o = resolveOptions(opts);
  const common = {
    hidden_size: o.hidden, intermediate_size: o.ffn, num_hidden_layers: o.layers,
    num_attention_heads: o.heads, num_key_value_heads: o.kvHeads, vocab_size: o.vocab,
    ...(o.headDimGiven ? { head_dim: o.headDim } : {}),
    tie_word_embeddings: o.tied, bos_token_id: o.vocab - 2, eos_token_id: o.vocab - 1,
    torch_dtype: TORCH_DTYPE[o.dtype], use_cache: true, initializer_range: 0.02,
  };
  if (o.family === "bitnet-b1.58") {
    return {
      architectures: ["BitNetForCausalLM"], model_type: "bitnet", hidden_act: "relu2", attention_bias: false,
      attention_dropout: 0.0, ...common, rms_norm_eps: 1e-5, rope_theta: 500000.0, max_position_embeddings: 4096,
      quantization_config: { quant_method: "bitnet", linear_class: o.linearClass, quantization_mode: o.packed ? "offline" : "online" },
    };
  }
  if (o.family === "1bitllm") {
    return {
      architectures: ["BitnetForCausalLM"], model_type: "llama", hidden_act: "silu", ...common,
      rms_norm_eps: 1e-5, rope_theta: 10000.0, max_position_embeddings: 2048, rope_scaling: null,
      pretraining_tp: 1, weight_bits: 1, input_bits: 8, pad_token_id: o.vocab - 1,
    };
  }
  const quant: Record<string, unknown> = { quant_method: "bitnet", modules_to_not_convert: ["lm_head"] };
  if (opts.linearClass) quant.linear_class = opts.linearClass;
  if (!o.packed) quant.quantization_mode = "online";
  return {
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_act: "silu", attention_bias: false, mlp_bias: false,
    attention_dropout: 0.0, ...common, rms_norm_eps: 1e-6, rope_theta: 1000042.0, max_position_embeddings: 8192,
    rope_scaling: null, pretraining_tp: 1, quantization_config: quant,
  };
}

// ---------------------------------------------------------------- tokenizer

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function fixtureTokenizer(): Json {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, "tokenizer.json"), "utf8")) as Json;
}

/**
 * Merges beyond the fixture's: lower-case letter words, shortest first, each built from its prefix
 * (already a token) and its last letter, skipping words the vocab has.
 */
function* letterWordMerges(has: (s: string) => boolean): Generator<[string, string]> {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  let words = [...letters];
  for (;;) {
    const next: string[] = [];
    for (const w of words) {
      for (const c of letters) {
        const word = w + c;
        next.push(word);
        if (!has(word)) yield [w, c];
      }
    }
    words = next;
  }
}

/**
 * A byte-level BPE tokenizer.json shaped like the fixture's (LLaMA 3 style) with exactly `vocab`
 * tokens: the 256 byte symbols, vocab - 258 merges (the fixture's first, then letter words), and
 * <|begin_of_text|> / <|end_of_text|> as the last two ids.
 */
export function synthTokenizerJson(vocab: number): string {
  const tok = fixtureTokenizer();
  const fixtureVocab = tok.model.vocab as Record<string, number>;
  const byId: string[] = [];
  for (const [s, id] of Object.entries(fixtureVocab)) byId[id] = s;
  const tokens = byId.slice(0, 256);
  const present = new Set(tokens);
  const merges: string[] = [];
  const want = vocab - 258;
  const add = (a: string, b: string) => {
    merges.push(`${a} ${b}`);
    tokens.push(a + b);
    present.add(a + b);
  };
  for (const m of tok.model.merges as string[]) {
    if (merges.length === want) break;
    const [a, b] = m.split(" ");
    add(a, b);
  }
  if (merges.length < want) {
    for (const [a, b] of letterWordMerges((s) => present.has(s))) {
      add(a, b);
      if (merges.length === want) break;
    }
  }
  tok.model.vocab = Object.fromEntries(tokens.map((s, i) => [s, i]));
  tok.model.merges = merges;
  const bos = vocab - 2, eos = vocab - 1;
  tok.added_tokens[0].id = bos;
  tok.added_tokens[1].id = eos;
  for (const p of tok.post_processor.processors as Json[]) {
    if (p.type === "TemplateProcessing") p.special_tokens["<|begin_of_text|>"].ids = [bos];
  }
  return JSON.stringify(tok, null, 1);
}

function tokenizerConfigJson(ctx: number): string {
  return JSON.stringify({
    bos_token: "<|begin_of_text|>", eos_token: "<|end_of_text|>", clean_up_tokenization_spaces: true,
    model_input_names: ["input_ids", "attention_mask"], model_max_length: ctx, tokenizer_class: "PreTrainedTokenizerFast",
  }, null, 2);
}

// ---------------------------------------------------------------- files

function bytesOf(t: SynthTensor): number {
  return numel(t.shape) * DTYPE_SIZE[t.dtype];
}

/** Splits the (sorted) tensors into `n` consecutive groups of roughly equal bytes. */
function splitShards(sources: TensorSource[], n: number): TensorSource[][] {
  const total = sources.reduce((a, s) => a + bytesOf(s), 0);
  const groups: TensorSource[][] = Array.from({ length: n }, () => []);
  let acc = 0;
  for (const s of sources) {
    const g = Math.min(n - 1, Math.floor((acc * n) / total));
    groups[g].push(s);
    acc += bytesOf(s);
  }
  if (groups.some((g) => g.length === 0)) throw new Error(`cannot split ${sources.length} tensors into ${n} non-empty shards`);
  return groups;
}

async function writeWeights(dir: string, sources: TensorSource[], shards: number): Promise<string[]> {
  if (shards <= 1) {
    await writeSafetensors(join(dir, "model.safetensors"), sources);
    return ["model.safetensors"];
  }
  const groups = splitShards(sources, shards);
  const pad = (i: number) => String(i).padStart(5, "0");
  const names = groups.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards)}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < groups.length; i++) {
    await writeSafetensors(join(dir, names[i]), groups[i]);
    for (const s of groups[i]) weightMap[s.name] = names[i];
  }
  const totalSize = sources.reduce((a, s) => a + bytesOf(s), 0);
  const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
  await fsp.writeFile(join(dir, "model.safetensors.index.json"), JSON.stringify(index, null, 2));
  return ["model.safetensors.index.json", ...names];
}

/** Writes config.json, generation_config.json, tokenizer files and the weights into `dir`. */
export async function writeSyntheticCheckpoint(dir: string, opts: SynthOptions): Promise<SynthResult> {
  const o = resolveOptions(opts);
  const config = syntheticConfig(opts);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(join(dir, "config.json"), JSON.stringify(config, null, 2));
  const gen = { _from_model_config: true, bos_token_id: o.vocab - 2, eos_token_id: o.vocab - 1, do_sample: false };
  await fsp.writeFile(join(dir, "generation_config.json"), JSON.stringify(gen, null, 2));
  if (o.vocab === 4096) {
    await fsp.copyFile(join(FIXTURE_DIR, "tokenizer.json"), join(dir, "tokenizer.json"));
    await fsp.copyFile(join(FIXTURE_DIR, "tokenizer_config.json"), join(dir, "tokenizer_config.json"));
  } else {
    await fsp.writeFile(join(dir, "tokenizer.json"), synthTokenizerJson(o.vocab));
    await fsp.writeFile(join(dir, "tokenizer_config.json"), tokenizerConfigJson(config.max_position_embeddings as number));
  }
  const sources = tensorSources(o);
  const weightFiles = await writeWeights(dir, sources, o.shards);
  return {
    dir,
    config,
    files: ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", ...weightFiles],
    tensors: sources.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
  };
}

/** The shape of microsoft/bitnet-b1.58-2B-4T-bf16 (4.8 GB): the benchmark's input. */
export const MODEL_2B4T: SynthOptions = {
  family: "bitnet-b1.58", layers: 30, hidden: 2560, ffn: 6912, heads: 20, kvHeads: 5, vocab: 128256,
  dtype: "BF16", packed: false, tied: true, seed: 20250414,
};

export async function writeSyntheticModel2B4T(dir: string, overrides: Partial<SynthOptions> = {}): Promise<SynthResult> {
  return writeSyntheticCheckpoint(dir, { ...MODEL_2B4T, ...overrides });
}
