// End-to-end tests of `bitconv convert`: the bundled fixture in all three checkpoint forms x all five
// layouts, synthetic 1bitLLM / Llama / sharded checkpoints, refusals, dry-run, determinism, manifest,
// and Ctrl-C. Artifacts are parsed with @huggingface/gguf (an independent reader); expected values
// come from the checkpoints' own bytes and the contracts in docs/architecture.md.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gguf } from "@huggingface/gguf";
import { convert } from "../src/convert/index.js";
import { BitconvError } from "../src/util/errors.js";
import { getLayout, LAYOUT_NAMES, type LayoutName } from "../src/layouts/index.js";
import { writeSyntheticCheckpoint } from "./helpers/synth.js";
import { tokenizerKeys } from "../src/tokenizer/gguf.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const CLI = join(ROOT, "dist/src/cli.js");
const FIX = {
  packed: join(ROOT, "fixtures/tiny-bitnet-b1.58"),
  bf16: join(ROOT, "fixtures/tiny-bitnet-b1.58-bf16"),
  bitlinear: join(ROOT, "fixtures/tiny-bitnet-b1.58-bitlinear"),
} as const;
type Form = keyof typeof FIX;
const FORMS: Form[] = ["packed", "bf16", "bitlinear"];
const tmp = mkdtempSync(join(tmpdir(), "bitconv-convert-"));
const fround = Math.fround;

// ---------------------------------------------------------------- independent readers

interface StEntry { dtype: string; shape: number[]; bytes: Uint8Array }
function readSt(file: string): Map<string, StEntry> {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString()) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const m = new Map<string, StEntry>();
  for (const [k, v] of Object.entries(h)) {
    if (k === "__metadata__") continue;
    const [s, e] = v.data_offsets;
    m.set(k, { dtype: v.dtype, shape: v.shape, bytes: new Uint8Array(b.buffer, b.byteOffset + 8 + n + s, e - s) });
  }
  return m;
}
const bf16Value = (bits: number) => new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
function bf16Floats(e: StEntry): Float32Array {
  const out = new Float32Array(e.bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = bf16Value(e.bytes[2 * i] | (e.bytes[2 * i + 1] << 8));
  return out;
}
function f32Floats(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.slice().buffer);
}

interface Artifact {
  path: string;
  keys: string[];
  typed: Record<string, { value: unknown; type: number; subType?: number }>;
  tensors: { name: string; dtype: number; shape: number[]; offset: number }[];
  dataStart: number;
  file: Buffer;
}
async function readArtifact(path: string): Promise<Artifact> {
  const r = await gguf(path, { allowLocalFile: true, typedMetadata: true });
  const typed = r.typedMetadata as unknown as Artifact["typed"];
  return {
    path,
    keys: Object.keys(typed).filter((k) => !["version", "tensor_count", "kv_count"].includes(k)),
    typed,
    tensors: r.tensorInfos.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape.map(Number), offset: Number(t.offset) })),
    dataStart: Number(r.tensorDataOffset),
    file: readFileSync(path),
  };
}
function tensorBytes(a: Artifact, name: string, nbytes: number): Uint8Array {
  const t = a.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`${a.path}: no tensor ${name}`);
  return new Uint8Array(a.file.buffer, a.file.byteOffset + a.dataStart + t.offset, nbytes);
}
const meta = (a: Artifact, k: string) => a.typed[k]?.value;

/** Ternary codes and effective scale (d x .scale) of one projection. */
function ternaryOf(a: Artifact, name: string, layoutName: LayoutName): { T: Int8Array; scale: number; d: number; M: number; K: number } {
  const t = a.tensors.find((x) => x.name === name)!;
  const [K, M] = t.shape;
  const layout = getLayout(layoutName);
  const params = layout.params(M, K);
  const u = layout.unpack(tensorBytes(a, name, layout.nbytes(M, K, params)), M, K, params);
  const scaleName = name.replace(/\.weight$/, ".scale");
  const hasScale = a.tensors.some((x) => x.name === scaleName);
  const s = hasScale ? f32Floats(tensorBytes(a, scaleName, 4))[0] : 1;
  return { T: u.T, scale: u.scale * s, d: u.scale, M, K };
}

// ---------------------------------------------------------------- expectations from the contract

const FILE_TYPE: Record<LayoutName, number> = { tq1_0: 36, tq2_0: 37, tl1: 38, tl2: 39, i2_s: 40 };
const GGML_TYPE: Record<LayoutName, number> = { tq1_0: 34, tq2_0: 35, i2_s: 36, tl1: 38, tl2: 39 };
const PROJ: [string, string][] = [
  ["attn_q", "self_attn.q_proj"], ["attn_k", "self_attn.k_proj"], ["attn_v", "self_attn.v_proj"], ["attn_output", "self_attn.o_proj"],
  ["ffn_gate", "mlp.gate_proj"], ["ffn_up", "mlp.up_proj"], ["ffn_down", "mlp.down_proj"],
];
const isTq = (l: LayoutName) => l === "tq1_0" || l === "tq2_0";

function expectedNames(layers: number, layout: LayoutName, opts: { subNorms: boolean; untied: boolean; scales?: boolean }): string[] {
  const scales = opts.scales ?? isTq(layout);
  const names = ["token_embd.weight", ...(opts.untied ? ["output.weight"] : []), "output_norm.weight"];
  for (let i = 0; i < layers; i++) {
    const b = `blk.${i}.`;
    const proj = (p: string) => [`${b}${p}.weight`, ...(scales ? [`${b}${p}.scale`] : [])];
    names.push(`${b}attn_norm.weight`, ...proj("attn_q"), ...proj("attn_k"), ...proj("attn_v"), ...proj("attn_output"));
    if (opts.subNorms) names.push(`${b}attn_sub_norm.weight`);
    names.push(`${b}ffn_norm.weight`, ...proj("ffn_gate"), ...proj("ffn_up"), ...proj("ffn_down"));
    if (opts.subNorms) names.push(`${b}ffn_sub_norm.weight`);
  }
  return names;
}

function expectedKeys(arch: string, opts: { tl: boolean; eot?: boolean; template?: boolean; repo?: boolean }): string[] {
  return [
    "general.architecture", "general.type", "general.name", "general.file_type", "general.quantization_version", "general.alignment",
    ...["vocab_size", "context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
      "attention.head_count_kv", "attention.key_length", "attention.value_length", "attention.layer_norm_rms_epsilon",
      "rope.freq_base", "rope.dimension_count", "hidden_activation"].map((k) => `${arch}.${k}`),
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", ...(opts.eot ? ["tokenizer.ggml.eot_token_id"] : []),
    "tokenizer.ggml.add_bos_token", ...(opts.template ? ["tokenizer.chat_template"] : []),
    "bitconv.version", "bitconv.layout", "bitconv.target", "bitconv.embed_type", ...(opts.tl ? ["bitconv.tl_params"] : []),
    ...(opts.repo ? ["bitconv.source.repo", "bitconv.source.commit"] : []),
    "bitconv.source.files", "bitconv.options",
  ];
}

/** Offsets strictly sequential, each blob padded to 32; the file ends with the last padded blob. */
function checkOffsets(a: Artifact, sizes: Map<string, number>): void {
  let next = 0;
  for (const t of a.tensors) {
    assert.is(t.offset, next, `offset of ${t.name}`);
    const n = sizes.get(t.name);
    assert.ok(n !== undefined, `size of ${t.name}`);
    next += Math.ceil(n! / 32) * 32;
  }
  assert.is(a.dataStart % 32, 0);
  assert.is(a.file.length, a.dataStart + next, "file size");
}

// ---------------------------------------------------------------- the fixture

const FIXTURE_CFG = { vocab: 4096, ctx: 256, hidden: 256, layers: 4, ffn: 512, heads: 8, kv: 2, headDim: 32 };
const artifacts = new Map<string, Artifact>();
const key = (form: Form, layout: LayoutName) => `${form}/${layout}`;

test("fixture: all three forms convert to all five layouts", async () => {
  for (const form of FORMS) {
    for (const layout of LAYOUT_NAMES) {
      const out = join(tmp, `fixture-${form}-${layout}.gguf`);
      const r = await convert({ modelDir: FIX[form], layout, output: out, threads: 2, quiet: true });
      assert.is(r.output, out);
      assert.is(r.bytes, readFileSync(out).length);
      artifacts.set(key(form, layout), await readArtifact(out));
    }
  }
});

test("fixture: keys in order, with llama.cpp's value types and the config's values", () => {
  for (const [k, a] of artifacts) {
    const layout = k.split("/")[1] as LayoutName;
    assert.equal(a.keys, expectedKeys("bitnet", { tl: layout === "tl1" || layout === "tl2" }), k);
    const t = (name: string) => a.typed[name].type;
    for (const name of a.keys) {
      if (/^bitnet\.(vocab_size|context_length|embedding_length|block_count|feed_forward_length|attention\.head_count|attention\.head_count_kv|attention\.key_length|attention\.value_length|rope\.dimension_count)$/.test(name)) {
        assert.is(t(name), 4, `${name} is UINT32`);
      }
    }
    for (const name of ["general.file_type", "general.quantization_version", "general.alignment", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"]) assert.is(t(name), 4, name);
    assert.is(t("bitnet.attention.layer_norm_rms_epsilon"), 6);
    assert.is(t("bitnet.rope.freq_base"), 6);
    assert.is(t("tokenizer.ggml.add_bos_token"), 7);
    assert.is(a.typed["tokenizer.ggml.tokens"].subType, 8);
    assert.is(a.typed["tokenizer.ggml.token_type"].subType, 5);
    assert.is(a.typed["tokenizer.ggml.merges"].subType, 8);
    assert.is(a.typed["bitconv.source.files"].subType, 8);
    const c = FIXTURE_CFG;
    assert.equal(
      ["vocab_size", "context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count", "attention.head_count_kv", "attention.key_length", "attention.value_length", "rope.dimension_count"].map((n) => meta(a, `bitnet.${n}`)),
      [c.vocab, c.ctx, c.hidden, c.layers, c.ffn, c.heads, c.kv, c.headDim, c.headDim, c.headDim],
    );
    assert.is(meta(a, "bitnet.attention.layer_norm_rms_epsilon"), fround(1e-5));
    assert.is(meta(a, "bitnet.rope.freq_base"), 10000);
    assert.is(meta(a, "bitnet.hidden_activation"), "relu2");
    assert.is(meta(a, "general.architecture"), "bitnet");
    assert.is(meta(a, "general.type"), "model");
    assert.is(meta(a, "general.file_type"), FILE_TYPE[layout]);
    assert.is(meta(a, "general.quantization_version"), 2);
    assert.is(meta(a, "general.alignment"), 32);
    assert.is(meta(a, "bitconv.layout"), layout);
    assert.is(meta(a, "bitconv.target"), "auto");
    assert.is(meta(a, "bitconv.embed_type"), "f16");
    assert.equal(JSON.parse(meta(a, "bitconv.options") as string), { embed_type: "f16", layout, target: "auto" });
  }
});

test("fixture: tensor names, order, shapes, types and offsets per docs/architecture.md", () => {
  const c = FIXTURE_CFG;
  const shapeOf: Record<string, [number, number]> = {
    attn_q: [c.hidden, c.hidden], attn_k: [c.hidden, c.kv * c.headDim], attn_v: [c.hidden, c.kv * c.headDim], attn_output: [c.hidden, c.hidden],
    ffn_gate: [c.hidden, c.ffn], ffn_up: [c.hidden, c.ffn], ffn_down: [c.ffn, c.hidden],
  };
  for (const [k, a] of artifacts) {
    const layout = getLayout(k.split("/")[1]);
    const names = expectedNames(c.layers, layout.name, { subNorms: true, untied: false });
    assert.equal(a.tensors.map((t) => t.name), names, k);
    assert.is(a.tensors.length, isTq(layout.name) ? 2 + c.layers * 18 : 2 + c.layers * 11);
    const sizes = new Map<string, number>();
    for (const t of a.tensors) {
      const proj = /(?:^|\.)(\w+)\.(weight|scale)$/.exec(t.name)!;
      if (t.name === "token_embd.weight") {
        assert.equal(t.shape, [c.hidden, c.vocab]);
        assert.is(t.dtype, 1);
        sizes.set(t.name, 2 * c.hidden * c.vocab);
      } else if (proj[2] === "scale") {
        assert.equal(t.shape, [1]);
        assert.is(t.dtype, 0);
        sizes.set(t.name, 4);
      } else if (shapeOf[proj[1]]) {
        const [K, M] = shapeOf[proj[1]];
        assert.equal(t.shape, [K, M], t.name);
        assert.is(t.dtype, GGML_TYPE[layout.name]);
        const expected = layout.name === "tq2_0" ? (M * K / 256) * 66 : layout.name === "tq1_0" ? (M * K / 256) * 54 : layout.name === "tl2" ? layout.nbytes(M, K, layout.params(M, K)) : M * K / 4 + 32;
        sizes.set(t.name, expected);
      } else {
        assert.is(t.dtype, 0, `${t.name} is F32`);
        assert.equal(t.shape, [proj[1] === "ffn_sub_norm" ? c.ffn : c.hidden], t.name);
        sizes.set(t.name, 4 * t.shape[0]);
      }
    }
    checkOffsets(a, sizes);
    if (layout.name === "tl1" || layout.name === "tl2") {
      const tl = meta(a, "bitconv.tl_params") as number[];
      assert.is(a.typed["bitconv.tl_params"].subType, 4);
      const shapes = new Set(Object.values(shapeOf).map(([K, M]) => `${M}x${K}`));
      assert.is(tl.length, 5 * shapes.size);
      for (let i = 0; i < tl.length; i += 5) {
        const [M, K, BM, BK, bm] = tl.slice(i, i + 5);
        assert.ok(shapes.delete(`${M}x${K}`), `tl_params shape ${M}x${K}`);
        assert.equal({ BM, BK, bm }, layout.params(M, K));
      }
    }
  }
});

test("fixture: ternary codes agree across the three forms; masters equal PyTorch's except one-ulp boundary weights", () => {
  const masters = readSt(join(FIX.bf16, "model.safetensors"));
  const packedSt = readSt(join(FIX.packed, "model.safetensors"));
  const bitlinSt = readSt(join(FIX.bitlinear, "model.safetensors"));
  let boundary = 0;
  let compared = 0;
  for (let i = 0; i < FIXTURE_CFG.layers; i++) {
    for (const [g, h] of PROJ) {
      const name = `blk.${i}.${g}.weight`;
      const hf = `model.layers.${i}.${h}`;
      // masters: recompute which weights sit within one f32 ulp of the 0.5 boundary
      const W = bf16Floats(masters.get(`${hf}.weight`)!);
      let sum = 0;
      for (const x of W) sum += Math.abs(x);
      const mean = sum / W.length;
      const s = fround(1 / fround(mean));
      const ws = packedSt.get(`${hf}.weight_scale`)!.bytes;
      const wl = bitlinSt.get(`${hf}.weight_scale`)!.bytes;
      for (const layout of LAYOUT_NAMES) {
        const p = ternaryOf(artifacts.get(key("packed", layout))!, name, layout);
        const b = ternaryOf(artifacts.get(key("bf16", layout))!, name, layout);
        const l = ternaryOf(artifacts.get(key("bitlinear", layout))!, name, layout);
        assert.equal(l.T, p.T, `${layout} ${name}: bitlinear vs packed`);
        for (let k = 0; k < W.length; k++) {
          if (b.T[k] === p.T[k]) continue;
          const prod = fround(W[k] * s);
          const atBoundary = Math.abs(Math.abs(prod) - 0.5) <= 2 ** -24;
          if (!atBoundary) assert.unreachable(`${layout} ${name}[${k}]: ${b.T[k]} vs PyTorch ${p.T[k]} (W*s = ${prod})`);
          boundary++;
        }
        compared += W.length;
        // scales: masters w = f32(1/s); autobitlinear = weight_scale; bitlinear = f32(1/weight_scale)
        assert.is(b.scale, fround(1 / s), `${name} masters scale`);
        assert.ok(Math.abs(b.scale - mean) / mean < 1e-6);
        assert.is(p.scale, bf16Value(ws[0] | (ws[1] << 8)), `${name} autobitlinear scale`);
        assert.is(l.scale, fround(1 / bf16Value(wl[0] | (wl[1] << 8))), `${name} bitlinear scale`);
        for (const x of [p.scale, l.scale]) assert.ok(Math.abs(x - mean) / mean < 2 ** -8, `${name}: ${x} vs mean|W| ${mean}`);
        // tq: d = 1 in every block, w in the .scale tensor; others: w inside the tensor
        if (isTq(layout)) for (const x of [p, b, l]) assert.is(x.d, 1);
        let nz = 0;
        for (const t of p.T) nz += t !== 0 ? 1 : 0;
        assert.ok(nz > 0.4 * p.T.length && nz < 0.9 * p.T.length, `${name}: ${nz} non-zero`);
      }
    }
  }
  console.log(`  masters vs PyTorch: ${compared} weights compared, ${boundary} differ (all within one f32 ulp of a rounding boundary)`);
});

test("fixture: norms are exact f32, token_embd follows --embed-type (f16, f32, bf16, q8_0)", async () => {
  const st = readSt(join(FIX.bf16, "model.safetensors"));
  const E = bf16Floats(st.get("model.embed_tokens.weight")!);
  const a16 = artifacts.get(key("bf16", "i2_s"))!;
  const norm = f32Floats(tensorBytes(a16, "blk.2.ffn_sub_norm.weight", 4 * 512));
  assert.equal(Array.from(norm), Array.from(bf16Floats(st.get("model.layers.2.mlp.ffn_sub_norm.weight")!)));
  const e16 = tensorBytes(a16, "token_embd.weight", 2 * E.length);
  for (let i = 0; i < E.length; i++) {
    const v = f16Value(e16[2 * i] | (e16[2 * i + 1] << 8));
    const tol = Math.max(Math.abs(E[i]) * 2 ** -11, 2 ** -25);
    if (Math.abs(v - E[i]) > tol) assert.unreachable(`token_embd[${i}] f16 ${v} vs ${E[i]}`);
  }
  for (const embedType of ["f32", "bf16", "q8_0"] as const) {
    const out = join(tmp, `embed-${embedType}.gguf`);
    await convert({ modelDir: FIX.bf16, layout: "i2_s", output: out, embedType, threads: 2, quiet: true });
    const a = await readArtifact(out);
    const t = a.tensors.find((x) => x.name === "token_embd.weight")!;
    assert.is(meta(a, "bitconv.embed_type"), embedType);
    if (embedType === "f32") {
      assert.is(t.dtype, 0);
      assert.equal(Array.from(f32Floats(tensorBytes(a, t.name, 4 * E.length))), Array.from(E));
    } else if (embedType === "bf16") {
      assert.is(t.dtype, 30);
      assert.equal(Buffer.from(tensorBytes(a, t.name, 2 * E.length)), Buffer.from(st.get("model.embed_tokens.weight")!.bytes));
    } else {
      assert.is(t.dtype, 8);
      const q = tensorBytes(a, t.name, (E.length / 32) * 34);
      for (let blk = 0; blk < E.length / 32; blk++) {
        const d = f16Value(q[34 * blk] | (q[34 * blk + 1] << 8));
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(E[blk * 32 + j]));
        assert.ok(Math.abs(d - amax / 127) <= (amax / 127) * 2 ** -10, `block ${blk} d`);
        for (let j = 0; j < 32; j++) {
          const v = ((q[34 * blk + 2 + j] << 24) >> 24) * d;
          if (Math.abs(v - E[blk * 32 + j]) > d * 0.51 + amax * 2 ** -10) assert.unreachable(`q8_0 block ${blk}[${j}]: ${v} vs ${E[blk * 32 + j]}`);
        }
      }
      // the next tensor starts after the padded Q8_0 blob
      assert.is(a.tensors[1].offset, Math.ceil(((E.length / 32) * 34) / 32) * 32);
    }
  }
});

test("fixture: tokenizer keys from tokenizer.json", () => {
  const tj = JSON.parse(readFileSync(join(FIX.packed, "tokenizer.json"), "utf8"));
  const a = artifacts.get(key("packed", "tq2_0"))!;
  const tokens = meta(a, "tokenizer.ggml.tokens") as string[];
  assert.is(tokens.length, 4096);
  for (const [s, id] of Object.entries(tj.model.vocab as Record<string, number>)) if (tokens[id] !== s) assert.unreachable(`token ${id}`);
  assert.is(tokens[4094], "<|begin_of_text|>");
  assert.is(tokens[4095], "<|end_of_text|>");
  const types = meta(a, "tokenizer.ggml.token_type") as number[];
  assert.equal([types[0], types[4093], types[4094], types[4095]], [1, 1, 3, 3]);
  assert.is(types.filter((t) => t === 1).length, 4094);
  assert.equal(meta(a, "tokenizer.ggml.merges"), tj.model.merges);
  assert.is(meta(a, "tokenizer.ggml.model"), "gpt2");
  assert.is(meta(a, "tokenizer.ggml.pre"), "llama-bpe");
  assert.is(meta(a, "tokenizer.ggml.bos_token_id"), 4094);
  assert.is(meta(a, "tokenizer.ggml.eos_token_id"), 4095);
  assert.is(meta(a, "tokenizer.ggml.add_bos_token"), true);
  const files = meta(a, "bitconv.source.files") as string[];
  assert.equal(files.map((f) => f.split(" ")[0]), ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]);
  for (const f of files) {
    const [rel, sha] = f.split(" ");
    assert.is(sha, createHash("sha256").update(readFileSync(join(FIX.packed, rel))).digest("hex"), rel);
  }
});

test("tokenizer keys: pair merges, added tokens, eot, chat template list, padding, GPT-2 pre-tokenizer", () => {
  const tok = {
    model: { type: "BPE", vocab: { a: 0, b: 1, "ab": 2, "Ġ": 3 }, merges: [["a", "b"]] },
    added_tokens: [
      { id: 4, content: "<|eot_id|>", special: true },
      { id: 5, content: "<tool>", special: false },
    ],
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, use_regex: true },
    decoder: { type: "ByteLevel" },
    post_processor: null,
  };
  const cfg = { bos_token: "a", eos_token: { content: "<|eot_id|>" }, add_bos_token: false, chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "{{ x }}" }] };
  const r = tokenizerKeys({ tokenizer: tok, tokenizerConfig: cfg, vocabSize: 8, file: "t.json" });
  const get = (k: string) => r.kvs.find((e) => e.key === k)?.value;
  assert.equal(get("tokenizer.ggml.tokens"), ["a", "b", "ab", "Ġ", "<|eot_id|>", "<tool>", "[PAD6]", "[PAD7]"]);
  assert.equal(get("tokenizer.ggml.token_type"), [1, 1, 1, 1, 3, 4, 5, 5]);
  assert.equal(get("tokenizer.ggml.merges"), ["a b"]);
  assert.is(get("tokenizer.ggml.pre"), "gpt-2");
  assert.is(get("tokenizer.ggml.bos_token_id"), 0);
  assert.is(get("tokenizer.ggml.eos_token_id"), 4);
  assert.is(get("tokenizer.ggml.eot_token_id"), 4);
  assert.is(get("tokenizer.ggml.add_bos_token"), false);
  assert.is(get("tokenizer.chat_template"), "{{ x }}");
  assert.equal(r.kvs.map((e) => e.key), [
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
    "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.chat_template",
  ]);
  assert.ok(r.notes.some((n) => /2 embedding rows have no token/.test(n)));
  // config ids win over tokenizer_config names; too many tokens and duplicates are refused
  const r2 = tokenizerKeys({ tokenizer: tok, tokenizerConfig: cfg, bosTokenId: 1, eosTokenId: 2, vocabSize: 6, file: "t.json" });
  assert.is(r2.kvs.find((e) => e.key === "tokenizer.ggml.bos_token_id")?.value, 1);
  assert.throws(() => tokenizerKeys({ tokenizer: tok, vocabSize: 5, file: "t.json" }), /t\.json: the tokenizer has ids up to 5, more than the model's 5 embedding rows/);
  const dup = { ...tok, added_tokens: [{ id: 4, content: "ab", special: true }] };
  assert.throws(() => tokenizerKeys({ tokenizer: dup, vocabSize: 6, file: "t.json" }), /token "ab" appears twice/);
  const spm = { model: { type: "BPE", vocab: { a: 0 }, merges: [], byte_fallback: true }, pre_tokenizer: { type: "Metaspace" }, decoder: { type: "Sequence" } };
  assert.throws(() => tokenizerKeys({ tokenizer: spm, vocabSize: 1, file: "t.json" }), /SentencePiece-style/);
  // an unknown split regex falls back to the default pre-tokenizer, with a note
  const other = { ...tok, pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: "\\s+" } }, { type: "ByteLevel", use_regex: false }] } };
  const r3 = tokenizerKeys({ tokenizer: other, vocabSize: 6, file: "t.json" });
  assert.is(r3.kvs.find((e) => e.key === "tokenizer.ggml.pre")?.value, "default");
  assert.ok(r3.notes.some((n) => /^warning: tokenizer: .*llama\.cpp would split text differently/.test(n)));
  assert.throws(() => tokenizerKeys({ tokenizer: other, vocabSize: 6, file: "t.json", target: "llama.cpp" }), /^t\.json: its pre-tokenizer is neither .*; use --target bitconv$/);
});

// ---------------------------------------------------------------- synthetic families

function hfUnpack(bytes: Uint8Array, R: number, K: number): Int8Array {
  const T = new Int8Array(4 * R * K);
  for (let i = 0; i < 4; i++) for (let r = 0; r < R; r++) for (let k = 0; k < K; k++) T[(i * R + r) * K + k] = ((bytes[r * K + k] >> (2 * i)) & 3) - 1;
  return T;
}

test("1bitLLM-style checkpoint (F32 masters, SiLU, inner_attn_ln, rope buffer) converts to tq1_0", async () => {
  const dir = join(tmp, "onebit");
  await writeSyntheticCheckpoint(dir, { family: "1bitllm", layers: 2, hidden: 256, ffn: 512, heads: 4, kvHeads: 4, vocab: 4096, dtype: "F32", seed: 5 });
  const out = join(tmp, "onebit.gguf");
  await convert({ modelDir: dir, layout: "tq1_0", output: out, threads: 2, quiet: true });
  const a = await readArtifact(out);
  assert.equal(a.tensors.map((t) => t.name), expectedNames(2, "tq1_0", { subNorms: true, untied: false }));
  assert.is(meta(a, "general.architecture"), "bitnet");
  assert.is(meta(a, "bitnet.hidden_activation"), "silu");
  const st = readSt(join(dir, "model.safetensors"));
  assert.equal(Array.from(f32Floats(tensorBytes(a, "blk.1.attn_sub_norm.weight", 1024))), Array.from(f32Floats(st.get("model.layers.1.self_attn.inner_attn_ln.weight")!.bytes)));
  for (const [g, h] of PROJ) {
    const W = f32Floats(st.get(`model.layers.1.${h}.weight`)!.bytes);
    let sum = 0;
    for (const x of W) sum += Math.abs(x);
    const s = fround(1 / fround(sum / W.length));
    const t = ternaryOf(a, `blk.1.${g}.weight`, "tq1_0");
    for (let k = 0; k < W.length; k++) {
      const p = fround(W[k] * s);
      const want = p > 0.5 ? 1 : p < -0.5 ? -1 : 0;
      if (t.T[k] !== want && Math.abs(Math.abs(p) - 0.5) > 2 ** -24) assert.unreachable(`${g}[${k}]`);
    }
    assert.is(t.scale, fround(1 / s));
  }
});

test("Llama-style checkpoint (packed bitlinear, untied): arch llama, q/k rows permuted for NORM rope", async () => {
  const dir = join(tmp, "llama");
  await writeSyntheticCheckpoint(dir, { family: "llama-bitnet", layers: 2, hidden: 256, ffn: 512, heads: 4, kvHeads: 2, vocab: 4096, dtype: "BF16", seed: 9 });
  const st = readSt(join(dir, "model.safetensors"));
  for (const target of ["auto", "llama.cpp"] as const) {
    const out = join(tmp, `llama-${target}.gguf`);
    const r = await convert({ modelDir: dir, layout: "tq2_0", output: out, target, threads: 2, quiet: true });
    const a = await readArtifact(out);
    const llamaCpp = target === "llama.cpp";
    assert.equal(a.tensors.map((t) => t.name), expectedNames(2, "tq2_0", { subNorms: false, untied: true, scales: !llamaCpp }));
    assert.equal(a.keys, expectedKeys("llama", { tl: false }));
    assert.is(meta(a, "general.architecture"), "llama");
    assert.is(meta(a, "llama.hidden_activation"), "silu");
    assert.is(meta(a, "llama.rope.freq_base"), 1000042);
    assert.is(meta(a, "llama.attention.layer_norm_rms_epsilon"), fround(1e-6));
    if (llamaCpp) assert.ok(r.notes.some((n) => /f16/.test(n)), "the f16 rounding of w is reported");
    const hd = 64;
    for (const [g, h] of PROJ) {
      const hf = `model.layers.0.${h}`;
      const packed = st.get(`${hf}.weight`)!;
      const [R, K] = packed.shape;
      const orig = hfUnpack(packed.bytes, R, K);
      const t = ternaryOf(a, `blk.0.${g}.weight`, "tq2_0");
      const heads = g === "attn_q" ? 4 : g === "attn_k" ? 2 : 0;
      const M = 4 * R;
      for (let row = 0; row < M; row++) {
        // GGUF row for HF row `row`: within a head, i -> 2i and hd/2 + i -> 2i + 1
        let g2 = row;
        if (heads) {
          const head = Math.floor(row / hd), i = row % hd;
          g2 = head * hd + (i < hd / 2 ? 2 * i : 2 * (i - hd / 2) + 1);
        }
        for (let k = 0; k < K; k++) if (t.T[g2 * K + k] !== orig[row * K + k]) assert.unreachable(`${target} ${g} row ${row}`);
      }
      const wsb = st.get(`${hf}.weight_scale`)!.bytes;
      const w = fround(1 / bf16Value(wsb[0] | (wsb[1] << 8)));
      if (llamaCpp) {
        assert.ok(Math.abs(t.d - w) <= w * 2 ** -11, `${g}: d = f16(w)`);
        assert.is(t.scale, t.d);
      } else {
        assert.is(t.d, 1);
        assert.is(t.scale, w);
      }
    }
    const E = bf16Floats(st.get("lm_head.weight")!);
    const o = tensorBytes(a, "output.weight", 2 * E.length);
    for (let i = 0; i < 1000; i++) assert.ok(Math.abs(f16Value(o[2 * i] | (o[2 * i + 1] << 8)) - E[i]) <= Math.abs(E[i]) * 2 ** -11 + 2 ** -25);
  }
});

test("Llama-style bf16 masters: absmean codes, q/k permuted, i2_s", async () => {
  const dir = join(tmp, "llama-masters");
  await writeSyntheticCheckpoint(dir, { family: "llama-bitnet", layers: 1, hidden: 256, ffn: 512, heads: 4, kvHeads: 2, vocab: 4096, dtype: "BF16", packed: false, seed: 13 });
  const out = join(tmp, "llama-masters.gguf");
  await convert({ modelDir: dir, layout: "i2_s", output: out, threads: 2, quiet: true });
  const a = await readArtifact(out);
  const st = readSt(join(dir, "model.safetensors"));
  const hd = 64;
  for (const [g, h, heads] of [["attn_q", "self_attn.q_proj", 4], ["attn_k", "self_attn.k_proj", 2], ["ffn_up", "mlp.up_proj", 0]] as const) {
    const W = bf16Floats(st.get(`model.layers.0.${h}.weight`)!);
    let sum = 0;
    for (const x of W) sum += Math.abs(x);
    const s = fround(1 / fround(sum / W.length));
    const t = ternaryOf(a, `blk.0.${g}.weight`, "i2_s");
    assert.is(t.scale, fround(1 / s));
    for (let row = 0; row < t.M; row++) {
      const head = Math.floor(row / hd), i = row % hd;
      const g2 = heads ? head * hd + (i < hd / 2 ? 2 * i : 2 * (i - hd / 2) + 1) : row;
      for (let k = 0; k < t.K; k++) {
        const p = fround(W[row * t.K + k] * s);
        const want = p > 0.5 ? 1 : p < -0.5 ? -1 : 0;
        if (t.T[g2 * t.K + k] !== want && Math.abs(Math.abs(p) - 0.5) > 2 ** -24) assert.unreachable(`${g} row ${row} col ${k}`);
      }
    }
  }
});

test("sharded checkpoint gives the same tensor data as the single-file one", async () => {
  const opts = { family: "bitnet-b1.58" as const, layers: 2, hidden: 256, ffn: 512, heads: 4, kvHeads: 2, vocab: 4096, dtype: "BF16" as const, seed: 3 };
  await writeSyntheticCheckpoint(join(tmp, "one"), opts);
  await writeSyntheticCheckpoint(join(tmp, "three"), { ...opts, shards: 3 });
  assert.ok(existsSync(join(tmp, "three/model.safetensors.index.json")));
  const a1 = join(tmp, "one.gguf"), a3 = join(tmp, "three.gguf");
  await convert({ modelDir: join(tmp, "one"), layout: "i2_s", output: a1, threads: 2, quiet: true });
  await convert({ modelDir: join(tmp, "three"), layout: "i2_s", output: a3, threads: 2, quiet: true });
  const [x, y] = [await readArtifact(a1), await readArtifact(a3)];
  assert.ok(x.file.subarray(x.dataStart).equals(y.file.subarray(y.dataStart)), "data sections equal");
  const files = (meta(y, "bitconv.source.files") as string[]).map((f) => f.split(" ")[0]);
  assert.equal(files.filter((f) => f.endsWith(".safetensors")).length, 3);
  assert.ok(files.includes("model.safetensors.index.json"));
});

// ---------------------------------------------------------------- CLI behaviour

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectRefusal(args: string[], pattern: RegExp, out?: string): string {
  const r = cli(args);
  assert.is(r.code, 2, `exit code for ${args.join(" ")}: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.is(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0], pattern);
  if (out) assert.not.ok(existsSync(out), "no output file");
  return lines[0];
}

test("bad inputs: exit 2, one line naming the file and the problem, no output", async () => {
  const out = join(tmp, "refused.gguf");
  expectRefusal(["convert", FIX.packed, "--layout", "tq2_0", "--target", "llama.cpp", "-o", out], /config\.json: hidden_act "relu2": llama\.cpp computes the FFN of arch "bitnet" with SiLU/, out);
  expectRefusal(["convert", FIX.packed, "--layout", "i2_s", "--target", "llama.cpp", "-o", out], /llama\.cpp cannot read layout i2_s/, out);
  expectRefusal(["convert", FIX.packed, "--layout", "tq1_0", "--target", "bitnet.cpp", "-o", out], /bitnet\.cpp .* not tq1_0/, out);
  expectRefusal(["convert", join(tmp, "nowhere"), "--layout", "tq2_0", "-o", out], /nowhere: /, out);
  expectRefusal(["convert", FIX.packed, "--layout", "tq2_0", "-o", join(tmp, "no/such/dir/x.gguf")], /does not exist/);

  // a dimension tq2_0 cannot block (K = 384), while i2_s and tl1 can
  const odd = join(tmp, "odd");
  await writeSyntheticCheckpoint(odd, { family: "bitnet-b1.58", layers: 1, hidden: 384, ffn: 512, heads: 6, kvHeads: 2, vocab: 4096, dtype: "BF16", seed: 1 });
  const line = expectRefusal(["convert", odd, "--layout", "tq2_0", "-o", out], /odd\/model\.safetensors: tensor model\.layers\.0\.self_attn\.q_proj\.weight \(blk\.0\.attn_q\.weight, 384 x 384\) cannot be stored as tq2_0/, out);
  assert.match(line, /layouts that fit: i2_s, tl1/);

  // NaN in a master weight, and Inf in the embedding: the tensor and the file are named
  const nan = join(tmp, "nan");
  const res = await writeSyntheticCheckpoint(nan, { family: "bitnet-b1.58", layers: 1, hidden: 256, ffn: 512, heads: 4, kvHeads: 2, vocab: 4096, dtype: "BF16", seed: 2 });
  assert.ok(res.files.includes("model.safetensors"));
  const file = join(nan, "model.safetensors");
  const poke = (tensor: string, element: number, bits: number) => {
    const b = readFileSync(file);
    const n = Number(b.readBigUInt64LE(0));
    const h = JSON.parse(b.subarray(8, 8 + n).toString());
    b.writeUInt16LE(bits, 8 + n + h[tensor].data_offsets[0] + 2 * element);
    writeFileSync(file, b);
  };
  poke("model.layers.0.mlp.up_proj.weight", 1000, 0x7fc0);
  // repeated: closing the worker pool while threads were busy once let Node's event loop empty, and
  // about one refusal in six ended with exit 0 and no message (WorkerPool.close holds the loop now)
  for (let i = 0; i < 12; i++) {
    expectRefusal(["convert", nan, "--layout", "i2_s", "-o", out], /nan\/model\.safetensors: tensor model\.layers\.0\.mlp\.up_proj\.weight: NaN or Inf weight at element 1000/, out);
  }
  poke("model.layers.0.mlp.up_proj.weight", 1000, 0x3c00);
  poke("model.embed_tokens.weight", 300, 0xff80);
  expectRefusal(["convert", nan, "--layout", "i2_s", "-o", out], /tensor model\.embed_tokens\.weight: NaN or Inf weight at element 300 \(row 1, column 44\)/, out);
  assert.equal(readdirSync(tmp).filter((f) => f.startsWith(".refused")), [], "no temp files left");
  // the library rejects with a BitconvError (exit code 2) and leaves nothing behind either
  const libOut = join(tmp, "lib", "refused.gguf");
  mkdirSync(join(tmp, "lib"));
  let err: unknown;
  try {
    await convert({ modelDir: nan, layout: "tq2_0", output: libOut, threads: 2, quiet: true });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof BitconvError && err.exitCode === 2, String(err));
  assert.match((err as Error).message, /model\.embed_tokens\.weight: NaN or Inf/);
  assert.equal(readdirSync(join(tmp, "lib")), []);

  // the output may not replace an input file
  const self = join(tmp, "self");
  mkdirSync(self);
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(FIX.packed, f), join(self, f));
  expectRefusal(["convert", self, "--layout", "tq2_0", "-o", join(self, "model.safetensors")], /model\.safetensors: is one of the input files/);
  assert.ok(readFileSync(join(self, "model.safetensors")).equals(readFileSync(join(FIX.packed, "model.safetensors"))), "input untouched");

  // a Unigram tokenizer.json without its unknown piece (test/unigram.test.ts has the rest)
  const uni = join(tmp, "unigram");
  mkdirSync(uni);
  for (const f of ["config.json", "model.safetensors", "tokenizer_config.json"]) copyFileSync(join(FIX.packed, f), join(uni, f));
  writeFileSync(join(uni, "tokenizer.json"), JSON.stringify({ model: { type: "Unigram", vocab: [["a", 0]] }, pre_tokenizer: { type: "Metaspace" } }));
  expectRefusal(["convert", uni, "--layout", "tq2_0", "-o", out], /unigram\/tokenizer\.json: a SentencePiece-style tokenizer needs model\.unk_id naming a token \(got undefined\)/, out);
});

test("--dry-run writes nothing and prints the plan; --json gives the same sizes as a real run", () => {
  const out = join(tmp, "dry.gguf");
  const text = cli(["convert", FIX.packed, "--layout", "tq1_0", "-o", out, "--dry-run"]);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /blk\.3\.ffn_down\.weight\s+tq1_0\s+\[512, 256\]\s+27648 B/);
  assert.match(text.stdout, /74 tensors/);
  const js = cli(["convert", FIX.packed, "--layout", "tq1_0", "-o", out, "--dry-run", "--json"]);
  assert.is(js.code, 0, js.stderr);
  const plan = JSON.parse(js.stdout);
  assert.not.ok(existsSync(out));
  assert.equal(readdirSync(tmp).filter((f) => f.includes("dry.gguf")), []);
  assert.is(plan.dryRun, true);
  assert.is(plan.plan.tensors.length, 74);
  const real = cli(["convert", FIX.packed, "--layout", "tq1_0", "-o", out, "--json"]);
  assert.is(real.code, 0, real.stderr);
  const result = JSON.parse(real.stdout);
  assert.is(readFileSync(out).length, plan.plan.outputBytes);
  assert.is(result.bytes, plan.plan.outputBytes);
  assert.equal(result.plan.tensors, plan.plan.tensors);
  const summary = cli(["convert", FIX.packed, "--layout", "tq1_0", "-o", out]);
  assert.match(summary.stdout, /^wrote .*dry\.gguf: 74 tensors, .* MB\/s/);
});

test("same inputs and options give the same bytes with --threads 1 and 2; manifest describes the file", async () => {
  const outs = [join(tmp, "det1.gguf"), join(tmp, "det2.gguf")];
  const manifest = join(tmp, "det2.json");
  const r1 = cli(["convert", FIX.bf16, "--layout", "tl2", "-o", outs[0], "--threads", "1", "--embed-type", "q8_0"]);
  assert.is(r1.code, 0, r1.stderr);
  const r = cli(["convert", FIX.bf16, "--layout", "tl2", "-o", outs[1], "--threads", "2", "--embed-type", "q8_0", "--manifest", manifest, "--source-repo", "someone/tiny", "--source-commit", "0123456789abcdef0123456789abcdef01234567"]);
  assert.is(r.code, 0, r.stderr);
  const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
  const a = await readArtifact(outs[1]);
  // provenance keys differ by design; everything else is identical
  const b = await readArtifact(outs[0]);
  assert.ok(a.file.subarray(a.dataStart).equals(b.file.subarray(b.dataStart)), "tensor data identical across thread counts");
  const again = join(tmp, "det3.gguf");
  const r3 = cli(["convert", FIX.bf16, "--layout", "tl2", "-o", again, "--threads", "1", "--embed-type", "q8_0", "--source-repo", "someone/tiny", "--source-commit", "0123456789abcdef0123456789abcdef01234567"]);
  assert.is(r3.code, 0, r3.stderr);
  assert.is(sha(again), sha(outs[1]), "whole file identical with 1 and 2 threads");
  assert.equal(a.keys, expectedKeys("bitnet", { tl: true, repo: true }));
  assert.is(meta(a, "bitconv.source.repo"), "someone/tiny");
  const m = JSON.parse(readFileSync(manifest, "utf8"));
  assert.is(m.sha256, sha(outs[1]));
  assert.is(m.bytes, readFileSync(outs[1]).length);
  assert.is(m.output, outs[1]);
  assert.is(m.layout, "tl2");
  assert.is(m.embed_type, "q8_0");
  assert.equal(m.options, { embed_type: "q8_0", layout: "tl2", target: "auto" });
  assert.is(m.provenance.repo, "someone/tiny");
  assert.is(m.provenance.commit, "0123456789abcdef0123456789abcdef01234567");
  for (const f of m.provenance.files) assert.is(f.sha256, createHash("sha256").update(readFileSync(join(FIX.bf16, f.path))).digest("hex"));
  assert.equal(m.tensors.map((t: { name: string }) => t.name), a.tensors.map((t) => t.name));
  assert.equal(m.tensors.map((t: { offset: number }) => t.offset), a.tensors.map((t) => t.offset));
  assert.equal(m.tensors.find((t: { name: string }) => t.name === "token_embd.weight").type, "q8_0");
});

test("Ctrl-C mid-way leaves neither the target nor a temp file", async () => {
  const dir = join(tmp, "big");
  await writeSyntheticCheckpoint(dir, { family: "bitnet-b1.58", layers: 6, hidden: 1024, ffn: 2816, heads: 8, kvHeads: 2, vocab: 32768, dtype: "BF16", seed: 4 });
  const outDir = join(tmp, "sigint");
  mkdirSync(outDir);
  const out = join(outDir, "big.gguf");
  const child = spawn(process.execPath, [CLI, "convert", dir, "--layout", "tl2", "--embed-type", "q8_0", "--threads", "1", "-o", out], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  // wait until the temp file exists (conversion under way), then interrupt
  const started = Date.now();
  let sawTemp = false;
  while (Date.now() - started < 20000) {
    if (readdirSync(outDir).some((f) => f.endsWith(".tmp"))) {
      sawTemp = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(sawTemp, "temp file appeared");
  child.kill("SIGINT");
  const code = await exited;
  assert.is(code, 130, stderr);
  assert.equal(readdirSync(outDir), [], "no target and no temp file");
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
