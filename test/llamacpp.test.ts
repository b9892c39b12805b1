// llama.cpp (node-llama-cpp 3.22.1, llama.cpp v0.5.0 CPU build) as an independent loader of the
// artifacts convert writes for --target llama.cpp: they must load (llama.cpp checks key types, tensor
// names, shapes, offsets and refuses extra tensors) and evaluate to finite logits.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { getLlama, type Llama } from "node-llama-cpp";
import { convert } from "../src/convert/index.js";
import { llamaCppLogits } from "./helpers/llamacpp.js";
import { writeSyntheticCheckpoint } from "./helpers/synth.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const tmp = mkdtempSync(join(tmpdir(), "bitconv-llamacpp-"));
let llama: Llama;

// "And God said" in the fixture tokenizer is short; any in-vocabulary ids work for a load check
const PROMPT = [4094, 100, 2000, 37, 911, 3000, 7];

/** Logits (full vocabulary, token order) after each prompt position. */
function logitsOf(modelPath: string): Promise<Float32Array[]> {
  return llamaCppLogits(llama, modelPath, PROMPT);
}

function checkFinite(name: string, rows: Float32Array[], vocab: number): void {
  for (const row of rows) {
    assert.is(row.length, vocab, `${name}: one logit per token`);
    for (const v of row) if (!Number.isFinite(v)) assert.unreachable(`${name}: non-finite logit`);
  }
  // the logits depend on the input: successive positions differ
  let diff = 0;
  for (let i = 0; i < vocab; i++) diff = Math.max(diff, Math.abs(rows[0][i] - rows[rows.length - 1][i]));
  assert.ok(diff > 1e-3, `${name}: logits vary with the context`);
}

test.before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
});

test("1bitLLM-style SiLU model: tq2_0 and tq1_0 load in llama.cpp, finite and identical logits", async () => {
  const dir = join(tmp, "onebit");
  await writeSyntheticCheckpoint(dir, { family: "1bitllm", layers: 2, hidden: 256, ffn: 512, heads: 4, kvHeads: 4, vocab: 4096, dtype: "F32", seed: 11 });
  const out: Record<string, Float32Array[]> = {};
  for (const layout of ["tq2_0", "tq1_0"] as const) {
    const path = join(tmp, `onebit-${layout}.gguf`);
    await convert({ modelDir: dir, layout, output: path, target: "llama.cpp", threads: 2, quiet: true });
    out[layout] = await logitsOf(path);
    checkFinite(layout, out[layout], 4096);
  }
  for (let p = 0; p < PROMPT.length; p++) assert.equal(out.tq1_0[p], out.tq2_0[p], `position ${p}: TQ1_0 and TQ2_0 logits identical`);
});

test("q8_0 embeddings load and stay close to f16 ones", async () => {
  const dir = join(tmp, "onebit");
  const f16 = join(tmp, "onebit-tq2_0.gguf");
  const q8 = join(tmp, "onebit-q8.gguf");
  await convert({ modelDir: dir, layout: "tq2_0", output: q8, target: "llama.cpp", embedType: "q8_0", threads: 2, quiet: true });
  const [a, b] = [await logitsOf(f16), await logitsOf(q8)];
  checkFinite("q8_0", b, 4096);
  let worst = 0, scale = 0;
  for (let p = 0; p < a.length; p++) for (let i = 0; i < 4096; i++) {
    worst = Math.max(worst, Math.abs(a[p][i] - b[p][i]));
    scale = Math.max(scale, Math.abs(a[p][i]));
  }
  assert.ok(worst < 0.05 * scale + 1e-3, `q8_0 vs f16 embeddings: max |Δlogit| ${worst} (max |logit| ${scale})`);
});

test("Llama-style packed model: arch llama with d = f16(w) and no .scale tensors loads in llama.cpp", async () => {
  const dir = join(tmp, "llama");
  await writeSyntheticCheckpoint(dir, { family: "llama-bitnet", layers: 2, hidden: 256, ffn: 512, heads: 4, kvHeads: 2, vocab: 4096, dtype: "BF16", seed: 12 });
  const path = join(tmp, "llama-tq1_0.gguf");
  await convert({ modelDir: dir, layout: "tq1_0", output: path, target: "llama.cpp", threads: 2, quiet: true });
  checkFinite("llama tq1_0", await logitsOf(path), 4096);
});

test("--target llama.cpp on the relu² fixture is refused with the explanation", () => {
  const out = join(tmp, "relu2.gguf");
  const r = spawnSync(process.execPath, [join(ROOT, "dist/src/cli.js"), "convert", join(ROOT, "fixtures/tiny-bitnet-b1.58"), "--layout", "tq2_0", "--target", "llama.cpp", "-o", out], { encoding: "utf8" });
  assert.is(r.status, 2);
  assert.match(r.stderr, /hidden_act "relu2": llama\.cpp computes the FFN of arch "bitnet" with SiLU/);
  assert.not.ok(existsSync(out));
});

test.after(async () => {
  await llama?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});
test.run();
