// tokenizer.ggml.pre as llama.cpp names it: the check hash of convert_hf_to_gguf.py (reproduced here with
// GPT-2's real vocabulary, whose hash is in llama.cpp's table), the regex fallback, and llama.cpp itself
// (node-llama-cpp) loading each written name and tokenizing text exactly as the source tokenizer does.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { getLlama, type Llama } from "node-llama-cpp";
import { convert } from "../src/convert/index.js";
import { readGguf } from "../src/gguf/reader.js";
import { CHECK_TEXT, PRE_HASHES, preNameForHash } from "../src/tokenizer/pre.js";
import { tokenizerFromObjects } from "../src/tokenizer/encode.js";
import { gpt2TokenizerJson, GPT2_TOKENIZER_CONFIG } from "./helpers/gpt2.js";
import { writeSyntheticCheckpoint } from "./helpers/synth.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const tmp = mkdtempSync(join(tmpdir(), "bitconv-pre-"));
let llama: Llama;

const SAMPLES = [
  CHECK_TEXT,
  "And God said, Let there be light: and there was light.",
  "  two  spaces\tand tabs\r\n\nnumbers 1234567 3.14 it's I'LL",
  "Ünïcödé naïve café — 日本語 🙂",
];

/** The hash convert_hf_to_gguf.py computes: sha256 of Python's str(list of ints). */
function pythonHash(ids: number[]): string {
  return createHash("sha256").update("[" + ids.map(String).join(", ") + "]").digest("hex");
}

async function llamaTokenize(path: string, text: string): Promise<number[]> {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  try {
    return Array.from(model.tokenize(text, false), Number);
  } finally {
    await model.dispose();
  }
}

async function preOf(path: string): Promise<unknown> {
  return (await readGguf(path)).kv.get("tokenizer.ggml.pre")?.value;
}

/** A 1bitLLM-shaped (SiLU, tied) checkpoint whose tokenizer files are replaced by the given ones. */
async function checkpointWith(name: string, vocab: number, tokenizer: unknown, config: unknown): Promise<string> {
  const dir = join(tmp, name);
  await writeSyntheticCheckpoint(dir, { family: "1bitllm", layers: 1, hidden: 256, ffn: 256, heads: 2, kvHeads: 2, vocab, dtype: "F16", seed: 5 });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(config));
  return dir;
}

test.before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
});

test("the check text and hash reproduce llama.cpp's table: GPT-2's real tokenizer hashes to its gpt-2 row", () => {
  const ids = Array.from(tokenizerFromObjects(gpt2TokenizerJson(), GPT2_TOKENIZER_CONFIG).encode(CHECK_TEXT));
  assert.is(ids.length > 100, true);
  assert.is(pythonHash(ids), "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454");
  assert.is(preNameForHash("3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454"), "gpt-2");
  assert.is(preNameForHash("0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5"), "llama-bpe");
  assert.is(preNameForHash("9d032fcbd5501f4a38150912590928bfb36091efb5df11b8e2124b0390e3fb1e"), "falcon3");
  // rows sharing a hash: the later wins, as the converter's chain of ifs does
  assert.is(preNameForHash("b6dc8df998e1cfbdc4eac8243701a65afe638679230920b50d6f17d81c098166"), "olmo");
  assert.is(preNameForHash("00".repeat(32)), null);
  for (const [h] of PRE_HASHES) assert.match(h, /^[0-9a-f]{64}$/);
});

test("GPT-2 tokenizer: written as gpt-2, llama.cpp loads it and tokenizes like the tokenizer itself", async () => {
  const tj = gpt2TokenizerJson();
  const dir = await checkpointWith("gpt2", 50257, tj, GPT2_TOKENIZER_CONFIG);
  const out = join(tmp, "gpt2.gguf");
  await convert({ modelDir: dir, layout: "tq2_0", output: out, target: "llama.cpp", threads: 2, quiet: true });
  assert.is(await preOf(out), "gpt-2");
  const ref = tokenizerFromObjects(tj, GPT2_TOKENIZER_CONFIG);
  for (const s of SAMPLES) assert.equal(await llamaTokenize(out, s), Array.from(ref.encode(s, { addSpecial: false })), JSON.stringify(s.slice(0, 30)));
});

test("LLaMA-3 split regex, unknown vocabulary: the regex fallback writes llama-bpe; llama.cpp agrees on the ids", async () => {
  const fix = join(ROOT, "fixtures/tiny-bitnet-b1.58");
  const tj = JSON.parse(readFileSync(join(fix, "tokenizer.json"), "utf8"));
  const cfg = JSON.parse(readFileSync(join(fix, "tokenizer_config.json"), "utf8"));
  const dir = await checkpointWith("llama3", 4096, tj, cfg);
  const out = join(tmp, "llama3.gguf");
  await convert({ modelDir: dir, layout: "tq2_0", output: out, target: "llama.cpp", threads: 2, quiet: true });
  assert.is(await preOf(out), "llama-bpe");
  const ref = tokenizerFromObjects(tj, cfg);
  for (const s of SAMPLES) assert.equal(await llamaTokenize(out, s), Array.from(ref.encode(s, { addSpecial: false })), JSON.stringify(s.slice(0, 30)));
});

test("an unknown split: --target llama.cpp refuses (one line, exit 2, no file); auto warns and writes default, which llama.cpp loads", async () => {
  const tj = gpt2TokenizerJson();
  tj.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: "\\s+" }, behavior: "Isolated", invert: false }, { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] };
  const dir = await checkpointWith("odd", 50257, tj, GPT2_TOKENIZER_CONFIG);
  const refused = join(tmp, "odd-llamacpp.gguf");
  const r = spawnSync(process.execPath, [join(ROOT, "dist/src/cli.js"), "convert", dir, "--layout", "tq2_0", "--target", "llama.cpp", "-o", refused], { encoding: "utf8" });
  assert.is(r.status, 2);
  const lines = r.stderr.trim().split("\n");
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0], /tokenizer\.json: its pre-tokenizer is neither in llama\.cpp's check-hash table nor LLaMA-3's or GPT-2's split/);
  assert.not.ok(existsSync(refused));
  const cli = spawnSync(process.execPath, [join(ROOT, "dist/src/cli.js"), "convert", dir, "--layout", "tq2_0", "-q", "-o", join(tmp, "odd-cli.gguf")], { encoding: "utf8" });
  assert.is(cli.status, 0, cli.stderr);
  assert.match(cli.stderr, /^bitconv: warning: tokenizer: its pre-tokenizer is neither/m, "auto warns on stderr");
  const out = join(tmp, "odd-auto.gguf");
  const res = await convert({ modelDir: dir, layout: "tq2_0", output: out, threads: 2, quiet: true });
  assert.ok(res.notes.some((n) => /^warning: tokenizer: .*wrote tokenizer\.ggml\.pre = "default"/.test(n)));
  assert.is(await preOf(out), "default");
  assert.ok((await llamaTokenize(out, "And God said")).length > 0, "llama.cpp loads a \"default\" pre-tokenizer");
});

test.after(async () => {
  await llama?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});
test.run();
