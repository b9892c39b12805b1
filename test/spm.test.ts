// SentencePiece tokenizers (fixtures/tokenizer-spm: a LLaMA-2-style BPE tokenizer.model): the protobuf
// reader, bitconv's encoder against the ids the sentencepiece library gave (reference-ids.json), and a
// 1bitLLM-shaped checkpoint carrying it through convert -> llama.cpp (node-llama-cpp: it loads the
// artifact and tokenizes exactly as sentencepiece), verify, and the C runtime's decoding of pieces.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { getLlama, type Llama } from "node-llama-cpp";
import { convert } from "../src/convert/index.js";
import { readGguf } from "../src/gguf/reader.js";
import { loadTokenizer } from "../src/tokenizer/encode.js";
import { verify } from "../src/verify/verify.js";
import { writeTokenFile } from "../src/runtime/runtime.js";
import { llamaCppLogits } from "./helpers/llamacpp.js";
import { encodeSpmModel, llamaTokenizerJson, smallSpmSpec } from "./helpers/spmModelWriter.js";
import { parseSpmModel } from "../src/tokenizer/spmModel.js";
import { tokenizerFromObjects } from "../src/tokenizer/encode.js";
import { writeSyntheticCheckpoint } from "./helpers/synth.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const SPM = join(ROOT, "fixtures/tokenizer-spm");
const REF = JSON.parse(readFileSync(join(SPM, "reference-ids.json"), "utf8")) as { vocab_size: number; samples: { text: string; ids: number[] }[] };
const RT = join(ROOT, "kernels-c/build/bitconv-rt");
const CLI = join(ROOT, "dist/src/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "bitconv-spm-"));
let llama: Llama;

/** A 1bitLLM-shaped checkpoint (SiLU, tied embeddings) whose tokenizer is a tokenizer.model, as in 1bitLLM's repos. */
async function onebitWithSpm(name: string, vocab: number, model: Uint8Array): Promise<string> {
  const dir = join(tmp, name);
  await writeSyntheticCheckpoint(dir, { family: "1bitllm", layers: 2, hidden: 256, ffn: 512, heads: 4, kvHeads: 4, vocab, dtype: "F16", seed: 21 });
  unlinkSync(join(dir, "tokenizer.json"));
  writeFileSync(join(dir, "tokenizer.model"), model);
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ tokenizer_class: "LlamaTokenizer", add_bos_token: true, add_eos_token: false, bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" }));
  for (const f of ["config.json", "generation_config.json"]) {
    const c = JSON.parse(readFileSync(join(dir, f), "utf8"));
    writeFileSync(join(dir, f), JSON.stringify({ ...c, bos_token_id: 1, eos_token_id: 2 }));
  }
  return dir;
}

test.before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
});

test("bitconv's SentencePiece encoder gives the sentencepiece library's ids on every reference text, and decodes them back", async () => {
  const tok = await loadTokenizer({ tokenizerJson: SPM });
  assert.is(tok.source, "tokenizer.model");
  assert.is(tok.vocabSize, REF.vocab_size);
  assert.is(tok.bosId, 1);
  assert.is(tok.eosId, 2);
  for (const s of REF.samples) {
    const ids = Array.from(tok.encode(s.text, { addSpecial: false }));
    assert.equal(ids, s.ids, JSON.stringify(s.text.slice(0, 40)));
    assert.equal(Array.from(tok.encode(s.text)), [1, ...s.ids], "BOS first by default (LlamaTokenizer)");
    assert.is(tok.decode(ids), s.text);
  }
  assert.equal(Array.from(tok.encode("", { addSpecial: false })), []);
});

test("1bitLLM-shaped checkpoint with tokenizer.model: llama keys, llama.cpp loads it (arch bitnet) and tokenizes as sentencepiece; so does the rebuilt tokenizer", async () => {
  const dir = await onebitWithSpm("onebit", 3002, readFileSync(join(SPM, "tokenizer.model")));
  const out = join(tmp, "onebit-tq2_0.gguf");
  await convert({ modelDir: dir, layout: "tq2_0", output: out, target: "llama.cpp", threads: 2, quiet: true });
  const g = await readGguf(out);
  const get = (k: string) => g.kv.get(k)?.value;
  assert.is(get("general.architecture"), "bitnet");
  assert.is(get("tokenizer.ggml.model"), "llama");
  assert.is(get("tokenizer.ggml.pre"), "default");
  const tokens = get("tokenizer.ggml.tokens") as string[];
  const types = Array.from(get("tokenizer.ggml.token_type") as ArrayLike<number>);
  assert.is(tokens.length, 3002);
  assert.equal(tokens.slice(0, 4), ["<unk>", "<s>", "</s>", "<0x00>"]);
  assert.equal(tokens.slice(3000), ["[PAD3000]", "[PAD3001]"]);
  assert.equal(types.slice(0, 4), [2, 3, 3, 6]);
  assert.ok(types.slice(3, 259).every((t) => t === 6), "pieces 3..258 are BYTE");
  assert.equal(types.slice(3000), [5, 5]);
  assert.is((get("tokenizer.ggml.scores") as ArrayLike<number>).length, 3002);
  assert.is(get("tokenizer.ggml.bos_token_id"), 1);
  assert.is(get("tokenizer.ggml.eos_token_id"), 2);
  assert.is(get("tokenizer.ggml.unknown_token_id"), 0);
  assert.is(get("tokenizer.ggml.add_bos_token"), true);
  assert.is(get("tokenizer.ggml.add_space_prefix"), true);
  const files = get("bitconv.source.files") as string[];
  assert.ok(files.some((f) => f.startsWith("tokenizer.model ")), "tokenizer.model is in the provenance");

  const model = await llama.loadModel({ modelPath: out, gpuLayers: 0 });
  try {
    for (const s of REF.samples) assert.equal(Array.from(model.tokenize(s.text, false), Number), s.ids, `llama.cpp: ${JSON.stringify(s.text.slice(0, 40))}`);
  } finally {
    await model.dispose();
  }
  const rows = await llamaCppLogits(llama, out, [1, ...REF.samples[0].ids], 3002);
  assert.ok(rows.every((r) => r.every(Number.isFinite)), "llama.cpp evaluates it to finite logits");

  const rebuilt = await loadTokenizer({ gguf: out });
  for (const s of REF.samples) {
    assert.equal(Array.from(rebuilt.encode(s.text)), [1, ...s.ids]);
    assert.is(rebuilt.decode(s.ids), s.text);
  }
});

test("verify runs on the SentencePiece artifact with the rebuilt tokenizer", async () => {
  const r = await verify({ artifact: join(tmp, "onebit-tq2_0.gguf"), reference: "float", ctx: 128, chunks: 2, bench: false, threads: 2 });
  assert.match(r.tokenizer, /rebuilt from the artifact/);
  assert.ok(r.tokens > 256);
  assert.ok(r.perplexity !== null && Number.isFinite(r.perplexity));
  assert.ok(r.reference?.top1_agreement !== null);
});

test("the C runtime decodes ▁ and <0xXX> pieces: generate --json text equals the pieces spelled out, and bitconv's decoding", async () => {
  const out = join(tmp, "onebit-tq2_0.gguf");
  const prompt = join(tmp, "prompt.bin");
  writeTokenFile(prompt, [1, ...REF.samples[1].ids]);
  const r = spawnSync(RT, ["generate", "-m", out, "--tokens", prompt, "-n", "48", "--json", "--temp", "1.5", "--seed", "3", "-t", "2"], { encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split("\n").pop()!) as { ids: number[]; text: string };
  assert.is(j.ids.length, 48);
  const g = await readGguf(out);
  const tokens = g.kv.get("tokenizer.ggml.tokens")!.value as string[];
  const types = Array.from(g.kv.get("tokenizer.ggml.token_type")!.value as ArrayLike<number>);
  const spelled = Buffer.concat(j.ids.map((id) => {
    if (types[id] === 3) return Buffer.alloc(0);
    const hex = /^<0x([0-9A-F]{2})>$/.exec(tokens[id]);
    return hex && types[id] === 6 ? Buffer.from([parseInt(hex[1], 16)]) : Buffer.from(tokens[id].replace(/\u2581/g, " "), "utf8");
  })).toString("utf8");
  assert.is(j.text, spelled);
  // bitconv's decoder agrees, but for the dummy-prefix space it strips at the start of a text
  const mine = (await loadTokenizer({ gguf: out })).decode(j.ids);
  assert.is(mine, spelled.startsWith(" ") ? spelled.slice(1) : spelled);
});

test("a SentencePiece-style tokenizer.json (transformers' LLaMA converter): bitconv and llama.cpp give sentencepiece's ids", async () => {
  const v = parseSpmModel(readFileSync(join(SPM, "tokenizer.model")), "tokenizer.model");
  const tj = llamaTokenizerJson(v.pieces.map((piece, i) => ({ piece, score: v.scores[i], type: v.types[i] })));
  // the json is right: Hugging Face tokenizers running it gives sentencepiece's ids (on the texts
  // without a literal "<s>", which it takes as the special token, as transformers' fast tokenizer does)
  const hf = tokenizerFromObjects(tj, {});
  for (const i of [0, 2]) assert.equal(Array.from(hf.encode(REF.samples[i].text, { addSpecial: false })), REF.samples[i].ids, `HF sample ${i}`);
  const dir = await onebitWithSpm("json", 3002, new Uint8Array(0));
  unlinkSync(join(dir, "tokenizer.model"));
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tj));
  const mine = await loadTokenizer({ tokenizerJson: dir });
  assert.is(mine.source, "tokenizer.json");
  for (const s of REF.samples) assert.equal(Array.from(mine.encode(s.text, { addSpecial: false })), s.ids, "bitconv, from tokenizer.json");
  // the newer spelling of the same tokenizer: no normalizer, a Metaspace pre-tokenizer that prefixes ▁
  const meta = { ...tj, normalizer: null, pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false } };
  writeFileSync(join(tmp, "meta.json"), JSON.stringify(meta));
  const metaTok = await loadTokenizer({ tokenizerJson: join(tmp, "meta.json") });
  assert.equal(Array.from(metaTok.encode(REF.samples[1].text, { addSpecial: false })), REF.samples[1].ids, "Metaspace spelling");
  const out = join(tmp, "json-tq1_0.gguf");
  await convert({ modelDir: dir, layout: "tq1_0", output: out, target: "llama.cpp", threads: 2, quiet: true });
  const g = await readGguf(out);
  assert.is(g.kv.get("tokenizer.ggml.model")?.value, "llama");
  assert.equal((g.kv.get("tokenizer.ggml.tokens")?.value as string[]).slice(0, 3000), v.pieces);
  const model = await llama.loadModel({ modelPath: out, gpuLayers: 0 });
  try {
    for (const s of REF.samples) assert.equal(Array.from(model.tokenize(s.text, false), Number), s.ids, `llama.cpp: ${JSON.stringify(s.text.slice(0, 40))}`);
  } finally {
    await model.dispose();
  }
});

test("bad tokenizer files: one line naming the file, exit 2, nothing at the output path", async () => {
  const good = smallSpmSpec();
  const nan = smallSpmSpec();
  nan.pieces[260].score = NaN;
  const dup = smallSpmSpec();
  dup.pieces[262] = { piece: "b", score: -5 };
  const fixture = readFileSync(join(SPM, "tokenizer.model"));
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated", fixture.subarray(0, 1001), /tokenizer\.model: .*runs past the end.*\(truncated or not a SentencePiece model\?\)/],
    ["nan", encodeSpmModel(nan), /tokenizer\.model: piece 260 "b" has score NaN/],
    ["dup", encodeSpmModel(dup), /tokenizer\.model: piece "b" appears twice \(ids 260 and 262\)/],
    ["bos", encodeSpmModel({ ...good, bosId: 9999 }), /tokenizer\.model: bos id 9999 is outside the vocabulary/],
    ["rows", fixture, /tokenizer\.model: the tokenizer has 3000 pieces, more than the model's 512 embedding rows/],
    ["garbage", Buffer.from("this is not a protobuf at all, just text\n"), /tokenizer\.model: /],
  ];
  const dir = await onebitWithSpm("bad", 512, encodeSpmModel(good));
  const ok = join(tmp, "small.gguf");
  await convert({ modelDir: dir, layout: "i2_s", output: ok, threads: 1, quiet: true });
  const small = await loadTokenizer({ gguf: ok });
  assert.equal(Array.from(small.encode("ab a", { addSpecial: false })), [259, 260, 259], "the small model encodes: ▁a b ▁a");
  for (const [name, bytes, re] of cases) {
    writeFileSync(join(dir, "tokenizer.model"), bytes);
    const target = join(tmp, `bad-${name}.gguf`);
    const r = spawnSync(process.execPath, [CLI, "convert", dir, "--layout", "i2_s", "-o", target], { encoding: "utf8" });
    assert.is(r.status, 2, `${name}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.is(lines.length, 1, `${name}: ${r.stderr}`);
    assert.match(lines[0], re, name);
    assert.not.ok(existsSync(target), `${name}: nothing written`);
  }
});

test.after(async () => {
  await llama?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});
test.run();
