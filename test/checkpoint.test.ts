import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, copyFileSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { unpackHfPacked } from "../src/layouts/hfPacked.js";
import { rawSafetensors } from "./helpers/safetensorsWriter.js";
import { synthTokenizerJson, writeSyntheticCheckpoint, writeSyntheticModel2B4T } from "./helpers/synth.js";
import { BitconvError } from "../src/util/errors.js";
import { decodeFloatElement, modelNameFromDir, openCheckpoint, readSafetensorsHeader, readTensorBytes, readWeightScale, type Checkpoint } from "../src/checkpoint/index.js";

const FIX = "fixtures";
const PACKED = join(FIX, "tiny-bitnet-b1.58");
const BF16 = join(FIX, "tiny-bitnet-b1.58-bf16");
const BITLINEAR = join(FIX, "tiny-bitnet-b1.58-bitlinear");

/** The GGUF names of one layer of a bitnet-arch model, in the order docs/architecture.md fixes. */
const BITNET_LAYER = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_sub_norm", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "ffn_sub_norm"];

/** Runs `fn`, which must fail with a one-line BitconvError (exit 2) whose message matches every pattern. */
async function failsWith(fn: () => Promise<unknown>, ...patterns: (RegExp | string)[]): Promise<string> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof BitconvError, `expected a BitconvError, got ${String(err)}`);
  const e = err as BitconvError;
  assert.is(e.exitCode, 2);
  assert.not.match(e.message, /\n/);
  for (const p of patterns) {
    if (typeof p === "string") assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} should include ${JSON.stringify(p)}`);
    else assert.match(e.message, p);
  }
  return e.message;
}

function expectedOrder(layers: number, perLayer: string[], untied: boolean): string[] {
  const names = ["token_embd.weight", ...(untied ? ["output.weight"] : []), "output_norm.weight"];
  for (let i = 0; i < layers; i++) for (const n of perLayer) names.push(`blk.${i}.${n}.weight`);
  return names;
}

function planEntry(c: Checkpoint, gguf: string) {
  const p = c.tensorMap.find((x) => x.ggufName === gguf);
  assert.ok(p, `plan has ${gguf}`);
  return p!;
}

// Shapes of the fixture from fixtures/README.md: 4 layers, hidden 256, 8/2 heads (head_dim 32), FFN 512.
function checkFixtureShapes(c: Checkpoint, packed: boolean) {
  assert.equal(c.tensorMap.map((p) => p.ggufName), expectedOrder(4, BITNET_LAYER, false));
  const want: Record<string, [number, number]> = {
    attn_q: [256, 256], attn_k: [64, 256], attn_v: [64, 256], attn_output: [256, 256],
    ffn_gate: [512, 256], ffn_up: [512, 256], ffn_down: [256, 512],
  };
  for (let i = 0; i < 4; i++) {
    for (const [n, [M, K]] of Object.entries(want)) {
      const p = planEntry(c, `blk.${i}.${n}.weight`);
      assert.is(p.role, "ternary");
      assert.equal([p.M, p.K], [M, K], `${p.ggufName} M, K`);
      assert.is(p.packed, packed);
      assert.equal(p.weight.shape, packed ? [M / 4, K] : [M, K]);
      assert.is(p.weight.dtype, packed ? "U8" : "BF16");
      assert.is(p.permuteHeads, undefined);
      if (packed) {
        assert.is(p.weightScale?.name, p.hfName.replace(/weight$/, "weight_scale"));
        assert.equal(p.weightScale?.shape, [1]);
      } else assert.is(p.weightScale, undefined);
    }
    assert.is(planEntry(c, `blk.${i}.attn_sub_norm.weight`).hfName, `model.layers.${i}.self_attn.attn_sub_norm.weight`);
    assert.equal([planEntry(c, `blk.${i}.ffn_sub_norm.weight`).M, planEntry(c, `blk.${i}.ffn_sub_norm.weight`).K], [1, 512]);
    assert.is(planEntry(c, `blk.${i}.ffn_norm.weight`).hfName, `model.layers.${i}.post_attention_layernorm.weight`);
  }
  const embd = planEntry(c, "token_embd.weight");
  assert.equal([embd.role, embd.M, embd.K, embd.hfName], ["embed", 4096, 256, "model.embed_tokens.weight"]);
  const norm = planEntry(c, "output_norm.weight");
  assert.equal([norm.role, norm.M, norm.K], ["norm", 1, 256]);
}

function checkFixtureConfig(c: Checkpoint) {
  const k = c.config;
  assert.is(k.family, "bitnet-b1.58");
  assert.is(k.architecture, "BitNetForCausalLM");
  assert.is(k.hiddenAct, "relu2");
  assert.is(k.subNorms, true);
  assert.equal(
    [k.nLayers, k.hidden, k.ffn, k.nHeads, k.nKvHeads, k.headDim, k.vocab, k.ctx, k.eps, k.ropeTheta, k.tied],
    [4, 256, 512, 8, 2, 32, 4096, 256, 1e-5, 10000, true],
  );
  assert.is(k.bosTokenId, 4094);
  assert.is(k.eosTokenId, 4095);
  assert.ok(c.tokenizerJson?.includes("<|begin_of_text|>"));
  assert.ok(c.tokenizerConfig?.includes("PreTrainedTokenizerFast"));
  assert.ok(c.generationConfig?.includes("bos_token_id"));
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]) {
    assert.ok(c.files.includes(join(c.dir, f)), `files lists ${f}`);
  }
}

test("fixture, packed autobitlinear: family, config, plan", async () => {
  const c = await openCheckpoint(PACKED);
  checkFixtureConfig(c);
  assert.is(c.config.linearClass, "autobitlinear");
  assert.is(c.config.quantMode, "offline");
  checkFixtureShapes(c, true);
  assert.is(c.tensors.size, 2 + 4 * 18);
});

test("fixture, bf16 masters: family, config, plan", async () => {
  const c = await openCheckpoint(BF16);
  checkFixtureConfig(c);
  assert.is(c.config.linearClass, "autobitlinear");
  assert.is(c.config.quantMode, "online");
  checkFixtureShapes(c, false);
  assert.is(c.tensors.size, 2 + 4 * 11);
});

test("fixture, packed bitlinear: family, config, plan", async () => {
  const c = await openCheckpoint(BITLINEAR);
  checkFixtureConfig(c);
  assert.is(c.config.linearClass, "bitlinear");
  assert.is(c.config.quantMode, "offline");
  checkFixtureShapes(c, true);
});

test("readTensorBytes: slices agree with an independent read of the file", async () => {
  const file = join(PACKED, "model.safetensors");
  const whole = readFileSync(file);
  const n = Number(whole.readBigUInt64LE(0));
  const header = JSON.parse(whole.subarray(8, 8 + n).toString("utf8"));
  const h = await readSafetensorsHeader(file);
  assert.is(h.headerLength, n);
  assert.is(h.fileSize, whole.length);
  assert.equal(h.metadata, { format: "pt" });
  for (const name of ["model.layers.2.mlp.down_proj.weight", "model.layers.3.self_attn.q_proj.weight_scale", "model.embed_tokens.weight"]) {
    const t = h.tensors.find((x) => x.name === name)!;
    const [b, e] = header[name].data_offsets;
    const ref = whole.subarray(8 + n + b, 8 + n + e);
    assert.equal(Buffer.from(await readTensorBytes(t)), ref, `${name} whole`);
    const start = Math.floor(t.nbytes / 3), len = Math.min(777, t.nbytes - start);
    assert.equal(Buffer.from(await readTensorBytes(t, start, len)), ref.subarray(start, start + len), `${name} slice`);
  }
  const t = h.tensors[0];
  await failsWith(() => readTensorBytes(t, t.nbytes - 1, 2), `${file}: tensor ${t.name}: slice`, "outside");
});

// ---------------------------------------------------------------- synthesized checkpoints

const TMP = mkdtempSync(join(tmpdir(), "bitconv-ckpt-"));
test.after(() => rmSync(TMP, { recursive: true, force: true }));
let tmpCount = 0;
const tmpDir = (tag: string) => join(TMP, `${tag}-${tmpCount++}`);

const LLAMA_LAYER = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"];

/** Bytes of a tensor read straight from the file with the header parsed here, not by the reader. */
function independentRead(file: string, name: string): Buffer {
  const whole = readFileSync(file);
  const n = Number(whole.readBigUInt64LE(0));
  const [b, e] = JSON.parse(whole.subarray(8, 8 + n).toString("utf8"))[name].data_offsets;
  return whole.subarray(8 + n + b, 8 + n + e);
}

test("1bitLLM-style checkpoint: BitnetForCausalLM, SiLU, inner_attn_ln / ffn_layernorm, F32, inv_freq skipped", async () => {
  const dir = tmpDir("1bitllm");
  await writeSyntheticCheckpoint(dir, { family: "1bitllm", layers: 2, hidden: 128, ffn: 256, heads: 4, kvHeads: 4, vocab: 4096, dtype: "F32", seed: 7 });
  const c = await openCheckpoint(dir);
  const k = c.config;
  assert.equal([k.family, k.architecture, k.hiddenAct, k.subNorms, k.tied], ["1bitllm", "BitnetForCausalLM", "silu", true, true]);
  assert.equal([k.nLayers, k.hidden, k.ffn, k.nHeads, k.nKvHeads, k.headDim, k.ropeTheta, k.eps, k.ctx], [2, 128, 256, 4, 4, 32, 10000, 1e-5, 2048]);
  assert.is(k.quantMode, "online");
  assert.equal(c.tensorMap.map((p) => p.ggufName), expectedOrder(2, BITNET_LAYER, false));
  assert.is(planEntry(c, "blk.1.attn_sub_norm.weight").hfName, "model.layers.1.self_attn.inner_attn_ln.weight");
  assert.is(planEntry(c, "blk.1.ffn_sub_norm.weight").hfName, "model.layers.1.mlp.ffn_layernorm.weight");
  assert.equal([planEntry(c, "blk.1.ffn_sub_norm.weight").K, planEntry(c, "blk.0.attn_sub_norm.weight").K], [256, 128]);
  for (const p of c.tensorMap.filter((x) => x.role === "ternary")) {
    assert.is(p.packed, false);
    assert.is(p.weight.dtype, "F32");
    assert.equal(p.weight.shape, [p.M, p.K]);
  }
  assert.ok(c.tensors.has("model.layers.0.self_attn.rotary_emb.inv_freq"));
  assert.not.ok(c.tensorMap.some((p) => p.hfName.includes("inv_freq")));
});

test("Llama-style checkpoint: quant_method bitnet, head_dim given (q out = heads x head_dim), packed, untied, q/k permutation heads", async () => {
  const dir = tmpDir("llama");
  await writeSyntheticCheckpoint(dir, { family: "llama-bitnet", layers: 2, hidden: 128, ffn: 384, heads: 4, kvHeads: 2, headDim: 64, vocab: 600, dtype: "BF16", seed: 3 });
  const c = await openCheckpoint(dir);
  const k = c.config;
  assert.equal([k.family, k.architecture, k.hiddenAct, k.subNorms, k.tied, k.linearClass, k.quantMode], ["llama-bitnet", "LlamaForCausalLM", "silu", false, false, "bitlinear", "offline"]);
  assert.equal([k.headDim, k.nHeads, k.nKvHeads, k.vocab, k.bosTokenId, k.eosTokenId], [64, 4, 2, 600, 598, 599]);
  assert.equal(c.tensorMap.map((p) => p.ggufName), expectedOrder(2, LLAMA_LAYER, true));
  const out = planEntry(c, "output.weight");
  assert.equal([out.role, out.hfName, out.M, out.K, out.packed], ["output", "lm_head.weight", 600, 128, false]);
  const shapes: Record<string, [number, number, number | undefined]> = {
    attn_q: [256, 128, 4], attn_k: [128, 128, 2], attn_v: [128, 128, undefined], attn_output: [128, 256, undefined],
    ffn_gate: [384, 128, undefined], ffn_up: [384, 128, undefined], ffn_down: [128, 384, undefined],
  };
  for (const [n, [M, K, heads]] of Object.entries(shapes)) {
    const p = planEntry(c, `blk.1.${n}.weight`);
    assert.equal([p.M, p.K, p.permuteHeads, p.packed, p.weight.dtype], [M, K, heads, true, "U8"], n);
    assert.equal(p.weight.shape, [M / 4, K]);
    assert.is(p.weightScale?.dtype, "BF16");
  }
});

test("sharded checkpoint (3 shards): index followed, every tensor read from the shard it is in", async () => {
  const dir = tmpDir("sharded");
  await writeSyntheticCheckpoint(dir, { family: "bitnet-b1.58", layers: 3, hidden: 128, ffn: 256, heads: 4, kvHeads: 1, vocab: 4096, dtype: "BF16", shards: 3, seed: 11 });
  const c = await openCheckpoint(dir);
  const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8")).weight_map as Record<string, string>;
  const shards = [...new Set(Object.values(index))].sort();
  assert.is(shards.length, 3);
  for (const s of shards) assert.ok(c.files.includes(join(dir, s)), `files lists ${s}`);
  assert.ok(c.files.includes(join(dir, "model.safetensors.index.json")));
  assert.equal(c.tensorMap.map((p) => p.ggufName), expectedOrder(3, BITNET_LAYER, false));
  for (const p of c.tensorMap) assert.is(p.weight.file, join(dir, index[p.hfName]), p.hfName);
  assert.is(new Set(c.tensorMap.map((p) => p.weight.file)).size, 3);
  for (const p of [c.tensorMap[0], c.tensorMap[c.tensorMap.length - 2], c.tensorMap[17]]) {
    assert.equal(Buffer.from(await readTensorBytes(p.weight)), independentRead(p.weight.file, p.hfName), p.hfName);
  }
});

test("untied bitnet checkpoint: lm_head.weight becomes output.weight, second in the plan", async () => {
  const dir = tmpDir("untied");
  await writeSyntheticCheckpoint(dir, { family: "bitnet-b1.58", layers: 1, hidden: 64, ffn: 128, heads: 2, kvHeads: 1, vocab: 300, dtype: "F16", tied: false, packed: true, seed: 5 });
  const c = await openCheckpoint(dir);
  assert.is(c.config.tied, false);
  assert.equal(c.tensorMap.map((p) => p.ggufName), expectedOrder(1, BITNET_LAYER, true));
  const out = c.tensorMap[1];
  assert.equal([out.ggufName, out.role, out.hfName, out.M, out.K, out.weight.dtype], ["output.weight", "output", "lm_head.weight", 300, 64, "F16"]);
  assert.is(c.tensorMap[0].weight.dtype, "F16");
});

test("2B-4T-shaped synthetic model (1 layer): shapes of microsoft/bitnet-b1.58-2B-4T-bf16", async () => {
  const dir = tmpDir("2b4t");
  await writeSyntheticModel2B4T(dir, { layers: 1, vocab: 512 });
  const c = await openCheckpoint(dir);
  const shape = (n: string) => planEntry(c, `blk.0.${n}.weight`).weight.shape;
  assert.equal([shape("attn_q"), shape("attn_k"), shape("attn_v"), shape("attn_output")], [[2560, 2560], [640, 2560], [640, 2560], [2560, 2560]]);
  assert.equal([shape("ffn_gate"), shape("ffn_up"), shape("ffn_down"), shape("ffn_sub_norm")], [[6912, 2560], [6912, 2560], [2560, 6912], [6912]]);
  assert.equal([c.config.headDim, c.config.ropeTheta, c.config.quantMode, c.config.tied], [128, 500000, "online", true]);
  rmSync(dir, { recursive: true, force: true });
});

test("synthetic weights: normal-like masters (absmean gives about a third zeros) and packed codes with a per-class scale", async () => {
  const dir = tmpDir("dist");
  await writeSyntheticCheckpoint(dir, { family: "bitnet-b1.58", layers: 1, hidden: 128, ffn: 256, heads: 4, kvHeads: 2, vocab: 4096, dtype: "F32", seed: 9 });
  const q = (await openCheckpoint(dir)).tensorMap.find((p) => p.ggufName === "blk.0.attn_q.weight")!;
  const b = await readTensorBytes(q.weight);
  const W = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  let mean = 0;
  for (const w of W) mean += Math.abs(w) / W.length;
  let zeros = 0;
  for (const w of W) if (Math.abs(w) < mean / 2) zeros++;
  assert.ok(mean > 0.01 && mean < 0.03, `mean|W| ${mean}`);
  assert.ok(zeros / W.length > 0.25 && zeros / W.length < 0.4, `zero share ${zeros / W.length}`);
  for (const linearClass of ["autobitlinear", "bitlinear"] as const) {
    const d = tmpDir("packed");
    await writeSyntheticCheckpoint(d, { family: "bitnet-b1.58", layers: 1, hidden: 128, ffn: 256, heads: 4, kvHeads: 2, vocab: 4096, dtype: "F32", packed: true, linearClass, seed: 9 });
    const c = await openCheckpoint(d);
    assert.is(c.config.linearClass, linearClass);
    const p = c.tensorMap.find((x) => x.ggufName === "blk.0.ffn_down.weight")!;
    const T = unpackHfPacked(await readTensorBytes(p.weight), p.M / 4, p.K);
    const counts = [0, 0, 0];
    for (const t of T) counts[t + 1]++;
    assert.ok(counts.every((n) => n > T.length / 5), `codes -1/0/+1: ${counts}`);
    const s = new DataView((await readTensorBytes(p.weightScale!)).buffer).getFloat32(0, true);
    if (linearClass === "autobitlinear") assert.ok(s > 0.005 && s < 0.03, `multiplier ${s}`);
    else assert.ok(s > 30 && s < 200, `divisor ${s}`);
  }
});

test("synthesized tokenizer: exactly `vocab` unique tokens, loads in @huggingface/tokenizers, BOS/EOS last", () => {
  for (const vocab of [300, 5000]) {
    const json = JSON.parse(synthTokenizerJson(vocab));
    const ids = Object.values(json.model.vocab as Record<string, number>);
    assert.is(ids.length + json.added_tokens.length, vocab);
    assert.equal([...ids].sort((a, b) => a - b), Array.from({ length: vocab - 2 }, (_, i) => i));
    assert.is(json.model.merges.length, vocab - 258);
    assert.equal(json.added_tokens.map((t: { id: number; content: string }) => [t.id, t.content]), [[vocab - 2, "<|begin_of_text|>"], [vocab - 1, "<|end_of_text|>"]]);
    const tok = new Tokenizer(json, {});
    const enc = tok.encode("In the beginning God created the heaven and the earth.").ids;
    assert.is(enc[0], vocab - 2);
    assert.ok(enc.slice(1).every((id: number) => id >= 0 && id < vocab - 2));
    assert.is(tok.decode(enc, { skip_special_tokens: true }), "In the beginning God created the heaven and the earth.");
  }
});

// ---------------------------------------------------------------- refusals

/** A copy of a fixture form in a fresh temp dir. */
function copyFixture(src: string): string {
  const dir = tmpDir(basename(src));
  mkdirSync(dir);
  for (const f of ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(src, f), join(dir, f));
  return dir;
}

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;

/** Rewrites model.safetensors in `dir` with its header changed by `edit`, data unchanged (+ `extra` appended). */
function editHeader(dir: string, edit: (h: Header, dataLen: number) => void, extra = new Uint8Array(0)): string {
  const file = join(dir, "model.safetensors");
  const whole = readFileSync(file);
  const n = Number(whole.readBigUInt64LE(0));
  const header = JSON.parse(whole.subarray(8, 8 + n).toString("utf8")) as Header;
  const data = whole.subarray(8 + n);
  edit(header, data.length);
  writeFileSync(file, rawSafetensors(header, Buffer.concat([data, extra])));
  return file;
}

function editConfig(dir: string, edit: (c: Record<string, any>) => void): string { // eslint-disable-line @typescript-eslint/no-explicit-any
  const file = join(dir, "config.json");
  const c = JSON.parse(readFileSync(file, "utf8"));
  edit(c);
  writeFileSync(file, JSON.stringify(c));
  return file;
}

test("refuses a folder without config.json, and config.json that is not JSON", async () => {
  const dir = copyFixture(PACKED);
  writeFileSync(join(dir, "config.json"), "{\"architectures\": [\"BitNetForCausalLM\"],");
  await failsWith(() => openCheckpoint(dir), `${join(dir, "config.json")}: not valid JSON`);
  rmSync(join(dir, "config.json"));
  await failsWith(() => openCheckpoint(dir), `${join(dir, "config.json")}: missing config.json`);
});

test("refuses unknown architectures (listing the supported ones) and Llama without quant_method bitnet", async () => {
  const dir = copyFixture(PACKED);
  const cfg = editConfig(dir, (c) => (c.architectures = ["MistralForCausalLM"]));
  await failsWith(() => openCheckpoint(dir), `${cfg}: unsupported architecture "MistralForCausalLM"`, "BitNetForCausalLM", "BitnetForCausalLM", "LlamaForCausalLM");
  editConfig(dir, (c) => {
    c.architectures = ["LlamaForCausalLM"];
    delete c.quantization_config;
  });
  await failsWith(() => openCheckpoint(dir), `${cfg}: LlamaForCausalLM without quantization_config.quant_method "bitnet"`);
});

test("refuses unknown quantization_config values and keys", async () => {
  const cases: [(q: Record<string, unknown>) => void, string][] = [
    [(q) => (q.linear_class = "fancylinear"), 'quantization_config.linear_class is "fancylinear"'],
    [(q) => (q.quantization_mode = "qat"), 'quantization_config.quantization_mode is "qat"'],
    [(q) => (q.use_rms_norm = true), "quantization_config.use_rms_norm is true"],
    [(q) => (q.group_size = 128), 'unknown quantization_config key "group_size"'],
    [(q) => (q.quant_method = "gptq"), 'quantization_config.quant_method is "gptq"'],
  ];
  const dir = copyFixture(PACKED);
  for (const [edit, msg] of cases) {
    const cfg = editConfig(dir, (c) => {
      c.quantization_config = { quant_method: "bitnet", linear_class: "autobitlinear", quantization_mode: "offline" };
      edit(c.quantization_config);
    });
    await failsWith(() => openCheckpoint(dir), `${cfg}: ${msg}`);
  }
});

test("refuses hidden_act other than relu2/silu and inconsistent head dimensions", async () => {
  const dir = copyFixture(BF16);
  const cfg = editConfig(dir, (c) => (c.hidden_act = "gelu"));
  await failsWith(() => openCheckpoint(dir), `${cfg}: hidden_act "gelu" is not supported`);
  editConfig(dir, (c) => {
    c.hidden_act = "relu2";
    c.head_dim = 64;
  });
  await failsWith(() => openCheckpoint(dir), `${cfg}: head_dim 64 x num_attention_heads 8 = 512 != hidden_size 256`);
  editConfig(dir, (c) => {
    delete c.head_dim;
    c.num_attention_heads = 7;
    c.num_key_value_heads = 7;
  });
  await failsWith(() => openCheckpoint(dir), `${cfg}: hidden_size 256 is not divisible by num_attention_heads 7`);
  editConfig(dir, (c) => {
    c.num_attention_heads = 8;
    c.num_key_value_heads = 3;
  });
  await failsWith(() => openCheckpoint(dir), `${cfg}: num_attention_heads 8 is not a multiple of num_key_value_heads 3`);
});

test("refuses corrupt safetensors headers: truncated, length 2^60, past the file, JSON garbage, tiny file", async () => {
  const dir = copyFixture(PACKED);
  const file = join(dir, "model.safetensors");
  const whole = readFileSync(file);
  const n = Number(whole.readBigUInt64LE(0));
  writeFileSync(file, whole.subarray(0, 8 + n - 100));
  await failsWith(() => openCheckpoint(dir), `${file}: safetensors header length ${n} runs past the end of the ${8 + n - 100}-byte file`);
  writeFileSync(file, rawSafetensors("{}", new Uint8Array(16), 1n << 60n));
  await failsWith(() => openCheckpoint(dir), `${file}: safetensors header length ${1n << 60n} exceeds`, "sanity limit");
  writeFileSync(file, rawSafetensors('{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}', new Uint8Array(4)));
  await failsWith(() => openCheckpoint(dir), `${file}: safetensors header is not valid JSON`);
  writeFileSync(file, rawSafetensors("[1, 2, 3]", new Uint8Array(4)));
  await failsWith(() => openCheckpoint(dir), `${file}: safetensors header is not a JSON object`);
  writeFileSync(file, new Uint8Array(5));
  await failsWith(() => openCheckpoint(dir), `${file}: not a safetensors file: 5 bytes`);
});

test("refuses bad tensor entries: unknown dtype, offsets past the end, overlap, size that disagrees with shape x dtype", async () => {
  const dir = copyFixture(PACKED);
  const fresh = () => writeFileSync(join(dir, "model.safetensors"), readFileSync(join(PACKED, "model.safetensors")));
  const q = "model.layers.0.self_attn.q_proj.weight";
  let file = editHeader(dir, (h) => (h[q].dtype = "Q4"));
  await failsWith(() => openCheckpoint(dir), `${file}: tensor ${q}: unknown dtype "Q4"`);
  fresh();
  editHeader(dir, (h, len) => (h[q].data_offsets = [len - 100, len - 100 + 16384]));
  await failsWith(() => openCheckpoint(dir), `${file}: tensor ${q}: data_offsets`, "run past the end of the data");
  fresh();
  editHeader(dir, (h) => (h[q].data_offsets = [h[q].data_offsets[0] - 10, h[q].data_offsets[1] - 10]));
  await failsWith(() => openCheckpoint(dir), `${file}: tensors`, q, "overlap");
  fresh();
  editHeader(dir, (h) => (h[q].dtype = "BF16"));
  await failsWith(() => openCheckpoint(dir), `${file}: tensor ${q}: data_offsets`, "span 16384 bytes, but shape [64, 256] x BF16 needs 32768");
  fresh();
  file = editHeader(dir, (h) => (h[q].shape = [64, -256]));
  await failsWith(() => openCheckpoint(dir), `${file}: tensor ${q}: shape [64,-256] is not a list of non-negative integers`);
});

test("refuses missing tensors, wrong shapes and wrong dtypes, naming tensor, expected and actual shape", async () => {
  const dir = copyFixture(PACKED);
  const fresh = () => writeFileSync(join(dir, "model.safetensors"), readFileSync(join(PACKED, "model.safetensors")));
  const file = editHeader(dir, (h) => delete h["model.layers.3.mlp.ffn_sub_norm.weight"]);
  await failsWith(() => openCheckpoint(dir), `${file}: tensor model.layers.3.mlp.ffn_sub_norm.weight is missing`);
  fresh();
  editHeader(dir, (h) => (h["model.layers.1.mlp.up_proj.weight"].shape = [256, 128]));
  await failsWith(() => openCheckpoint(dir), `${file}: tensor model.layers.1.mlp.up_proj.weight has shape [256, 128], expected [128, 256]`);
  fresh();
  editHeader(dir, (h) => (h["model.layers.0.input_layernorm.weight"].dtype = "I16"));
  await failsWith(() => openCheckpoint(dir), `${file}: tensor model.layers.0.input_layernorm.weight has dtype I16, expected one of BF16, F16, F32`);
  editConfig(dir, (c) => (c.intermediate_size = 1024));
  fresh();
  await failsWith(() => openCheckpoint(dir), `${file}: tensor model.layers.0.mlp.gate_proj.weight has shape [128, 256], expected [256, 256]`);
  editConfig(dir, (c) => {
    c.intermediate_size = 512;
    c.tie_word_embeddings = false;
  });
  await failsWith(() => openCheckpoint(dir), `${file}: tensor lm_head.weight is missing`);
  const bf = copyFixture(BF16);
  const bfFile = editHeader(bf, (h) => (h["model.layers.2.mlp.ffn_sub_norm.weight"].shape = [2, 256]));
  await failsWith(() => openCheckpoint(bf), `${bfFile}: tensor model.layers.2.mlp.ffn_sub_norm.weight has shape [2, 256], expected [512]`);
});

test("refuses packed tensors without weight_scale, with M % 4 != 0, or with a multi-element weight_scale", async () => {
  const dir = copyFixture(PACKED);
  const fresh = () => writeFileSync(join(dir, "model.safetensors"), readFileSync(join(PACKED, "model.safetensors")));
  const k = "model.layers.2.self_attn.k_proj";
  const file = editHeader(dir, (h) => delete h[`${k}.weight_scale`]);
  await failsWith(() => openCheckpoint(dir), `${file}: packed tensor ${k}.weight (U8) has no ${k}.weight_scale`);
  fresh();
  // the scale moves to 4 fresh bytes at the end of the data, so only its element count is wrong
  editHeader(dir, (h, len) => {
    h[`${k}.weight_scale`].shape = [2];
    h[`${k}.weight_scale`].data_offsets = [len, len + 4];
  }, new Uint8Array([0x80, 0x3f, 0x80, 0x3f]));
  await failsWith(() => openCheckpoint(dir), `${file}: tensor ${k}.weight_scale has shape [2], expected a single element ([1])`);
  fresh();
  editConfig(dir, (c) => (c.intermediate_size = 510));
  await failsWith(() => openCheckpoint(dir), `${file}: packed tensor model.layers.0.mlp.gate_proj.weight: 510 output rows is not a multiple of 4`);
  editConfig(dir, (c) => {
    c.intermediate_size = 512;
    c.quantization_config.quantization_mode = "online";
  });
  await failsWith(() => openCheckpoint(dir), `${file}: tensor model.layers.0.self_attn.q_proj.weight is packed U8, but quantization_mode "online"`);
});

test("refuses tensors the model does not have", async () => {
  const dir = copyFixture(BF16);
  const file = editHeader(dir, (h, len) => (h["model.layers.0.self_attn.q_proj.bias"] = { dtype: "BF16", shape: [256], data_offsets: [len, len + 512] }), new Uint8Array(512));
  await failsWith(() => openCheckpoint(dir), `${file}: unexpected tensor model.layers.0.self_attn.q_proj.bias`);
});

test("refuses broken shard indexes: missing shard, tensor not where the index says, tensor in no shard", async () => {
  const dir = tmpDir("badshards");
  await writeSyntheticCheckpoint(dir, { family: "bitnet-b1.58", layers: 2, hidden: 64, ffn: 128, heads: 2, kvHeads: 1, vocab: 4096, dtype: "BF16", shards: 2, seed: 1 });
  const indexFile = join(dir, "model.safetensors.index.json");
  const good = readFileSync(indexFile, "utf8");
  const edit = (f: (wm: Record<string, string>) => void) => {
    const j = JSON.parse(good);
    f(j.weight_map);
    writeFileSync(indexFile, JSON.stringify(j));
  };
  edit((wm) => (wm["model.norm.weight"] = "model-00009-of-00009.safetensors"));
  await failsWith(() => openCheckpoint(dir), `${indexFile}: weight_map refers to shard model-00009-of-00009.safetensors, which does not exist`);
  const name = "model.norm.weight"; // sorts last, so it is in the last shard
  assert.is(JSON.parse(good).weight_map[name], "model-00002-of-00002.safetensors");
  edit((wm) => (wm[name] = "model-00001-of-00002.safetensors"));
  await failsWith(() => openCheckpoint(dir), `${indexFile}: weight_map puts tensor ${name} in model-00001-of-00002.safetensors, but it is in model-00002-of-00002.safetensors`);
  edit((wm) => (wm["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors"));
  await failsWith(() => openCheckpoint(dir), `${indexFile}: weight_map puts tensor model.layers.9.mlp.up_proj.weight in model-00001-of-00002.safetensors, but no shard listed in weight_map contains it`);
  edit((wm) => delete wm["model.layers.1.mlp.up_proj.weight"]);
  await failsWith(() => openCheckpoint(dir), `${indexFile}: tensor model.layers.1.mlp.up_proj.weight in`, "is not listed in weight_map");
  writeFileSync(indexFile, good);
  assert.ok(await openCheckpoint(dir));
});

test("a folder that does not exist, or a file instead of a folder, is named in the error", async () => {
  const missing = join(TMP, "no-such-model");
  await failsWith(() => openCheckpoint(missing), `${missing}: cannot open the model folder: no such file (ENOENT)`);
  const file = join(PACKED, "config.json");
  await failsWith(() => openCheckpoint(file), `${file}: not a folder`);
});

test("no weights at all: names the folder", async () => {
  const dir = copyFixture(PACKED);
  rmSync(join(dir, "model.safetensors"));
  await failsWith(() => openCheckpoint(dir), `${dir}: no model.safetensors or model.safetensors.index.json`);
});

// ---------------------------------------------------------------- scales, names, module lists

/** f32 values of a BF16 tensor, decoded here (bf16 = the top 16 bits of an f32). */
function bf16Values(bytes: Buffer): Float32Array {
  const u32 = new Uint32Array(bytes.length / 2);
  for (let i = 0; i < u32.length; i++) u32[i] = bytes.readUInt16LE(2 * i) << 16;
  return new Float32Array(u32.buffer);
}

test("readWeightScale: the fixture's scales are mean|W| (autobitlinear) and 1/mean|W| (bitlinear) of the bf16 masters", async () => {
  const packed = await openCheckpoint(PACKED);
  const bitlinear = await openCheckpoint(BITLINEAR);
  for (const gguf of ["blk.0.attn_q.weight", "blk.2.ffn_down.weight", "blk.3.attn_v.weight"]) {
    const master = planEntry(await openCheckpoint(BF16), gguf);
    const W = bf16Values(independentRead(master.weight.file, master.hfName));
    let mean = 0;
    for (const w of W) mean += Math.abs(w);
    mean /= W.length;
    const mult = await readWeightScale(planEntry(packed, gguf).weightScale!);
    const div = await readWeightScale(planEntry(bitlinear, gguf).weightScale!);
    // bf16 keeps 8 significant bits: within 0.4% plus the f64-vs-f32 mean difference
    assert.ok(Math.abs(mult / mean - 1) < 0.005, `${gguf}: multiplier ${mult} vs mean|W| ${mean}`);
    assert.ok(Math.abs(div * mean - 1) < 0.005, `${gguf}: divisor ${div} vs 1/mean|W| ${1 / mean}`);
  }
});

test("decodeFloatElement: exact bf16 / f16 / f32 values", () => {
  assert.is(decodeFloatElement("BF16", Uint8Array.of(0x80, 0x3f)), 1);
  assert.is(decodeFloatElement("BF16", Uint8Array.of(0xab, 0x3e)), 0.333984375);
  assert.is(decodeFloatElement("BF16", Uint8Array.of(0x40, 0xc0)), -3);
  assert.is(decodeFloatElement("F16", Uint8Array.of(0x00, 0x3c)), 1);
  assert.is(decodeFloatElement("F16", Uint8Array.of(0x01, 0x00)), 2 ** -24);
  assert.is(decodeFloatElement("F16", Uint8Array.of(0x55, 0xb5)), -0.333251953125);
  assert.is(decodeFloatElement("F16", Uint8Array.of(0x00, 0x7c)), Infinity);
  assert.is(decodeFloatElement("F32", Uint8Array.of(0x00, 0x00, 0x40, 0x40)), 3);
});

test("readWeightScale refuses a zero scale, naming file and tensor", async () => {
  const dir = copyFixture(PACKED);
  const s = "model.layers.1.mlp.up_proj.weight_scale";
  const file = editHeader(dir, (h, len) => (h[s].data_offsets = [len, len + 2]), new Uint8Array(2));
  const c = await openCheckpoint(dir);
  await failsWith(() => readWeightScale(c.tensors.get(s)!), `${file}: tensor ${s} holds 0, not a finite positive scale`);
});

test("refuses modules_to_not_convert naming a projection (it would be ternarized)", async () => {
  const dir = tmpDir("notconv");
  await writeSyntheticCheckpoint(dir, { family: "llama-bitnet", layers: 1, hidden: 64, ffn: 128, heads: 2, kvHeads: 1, vocab: 4096, dtype: "BF16", seed: 2 });
  assert.ok(await openCheckpoint(dir)); // lm_head alone is fine
  const cfg = editConfig(dir, (c) => (c.quantization_config.modules_to_not_convert = ["lm_head", "mlp.down_proj"]));
  await failsWith(() => openCheckpoint(dir), `${cfg}: quantization_config.modules_to_not_convert lists "mlp.down_proj"`, "model.layers.0.mlp.down_proj.weight");
});

test("a packed-looking projection that is not U8 is refused", async () => {
  const dir = copyFixture(BF16);
  const q = "model.layers.0.self_attn.q_proj";
  const file = editHeader(dir, (h, len) => (h[`${q}.weight_scale`] = { dtype: "BF16", shape: [1], data_offsets: [len, len + 2] }), Uint8Array.of(0x80, 0x3f));
  await failsWith(() => openCheckpoint(dir), `${file}: tensor ${q}.weight has a weight_scale, so it should be packed U8, but its dtype is BF16`);
});

test("model names: the repo name inside a Hub cache snapshot, else the folder name", () => {
  assert.is(modelNameFromDir("/x/hub/models--microsoft--bitnet-b1.58-2B-4T/snapshots/04c3b9ad"), "bitnet-b1.58-2B-4T");
  assert.is(modelNameFromDir("fixtures/tiny-bitnet-b1.58-bf16/"), "tiny-bitnet-b1.58-bf16");
});

// ---------------------------------------------------------------- > 4 GiB

test("addresses tensors beyond 4 GiB with positional reads (sparse file, nothing allocated)", async () => {
  const file = join(TMP, "sparse.safetensors");
  const FAR = 4_300_000_000;
  const header = {
    __metadata__: { format: "pt" },
    filler: { dtype: "U8", shape: [FAR], data_offsets: [0, FAR] },
    far: { dtype: "BF16", shape: [8, 4], data_offsets: [FAR, FAR + 64] },
  };
  const start = rawSafetensors(header, new Uint8Array(0));
  const dataStart = start.length;
  const payload = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
  const fd = openSync(file, "w");
  try {
    writeSync(fd, start, 0, start.length, 0);
    ftruncateSync(fd, dataStart + FAR + 64);
    writeSync(fd, payload, 0, 64, dataStart + FAR);
  } finally {
    closeSync(fd);
  }
  const h = await readSafetensorsHeader(file);
  assert.is(h.fileSize, dataStart + FAR + 64);
  const far = h.tensors.find((t) => t.name === "far")!;
  assert.is(far.dataOffset, dataStart + FAR);
  assert.equal(await readTensorBytes(far), payload);
  assert.equal(await readTensorBytes(far, 40, 10), payload.subarray(40, 50));
  const filler = h.tensors.find((t) => t.name === "filler")!;
  // the last bytes of the filler sit above 2^32 and read as the sparse zeros
  assert.equal(await readTensorBytes(filler, FAR - 8, 8), new Uint8Array(8));
  const check = Buffer.alloc(4);
  const fd2 = openSync(file, "r");
  readSync(fd2, check, 0, 4, dataStart + FAR + 20);
  closeSync(fd2);
  assert.equal(new Uint8Array(check), payload.subarray(20, 24));
  rmSync(file);
});

test.run();
