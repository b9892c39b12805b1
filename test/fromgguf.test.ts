// `bitconv convert <file.gguf>`: ternary GGUFs as input. A file converted from the checkpoint straight
// into layout B must equal, tensor for tensor and byte for byte, the same checkpoint converted into
// layout A and then from that GGUF into B (ternary values and scales carried over, never quantized
// again; float tensors copied). Also: bitnet.cpp-shaped I2_S (arch bitnet-b1.58), llama.cpp's llama arch
// TQ with d in the blocks and no .scale, --embed-type q8_0, llama.cpp loading the result, bad inputs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { getLlama } from "node-llama-cpp";
import { convert } from "../src/convert/index.js";
import { convertFromGguf } from "../src/convert/fromGguf.js";
import { readGguf, readTensorData } from "../src/gguf/reader.js";
import { LAYOUT_NAMES, type LayoutName } from "../src/layouts/index.js";
import { buildGguf, VT } from "./helpers/inspect-gguf.js";
import { llamaCppLogits } from "./helpers/llamacpp.js";
import { writeSyntheticCheckpoint } from "./helpers/synth.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const FIX = join(ROOT, "fixtures/tiny-bitnet-b1.58");
const CLI = join(ROOT, "dist/src/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "bitconv-fromgguf-"));
const direct: Record<string, string> = {};

/** name -> sha256 of the tensor's bytes, and the tensor types. */
async function tensorDigest(path: string): Promise<Map<string, string>> {
  const g = await readGguf(path);
  const out = new Map<string, string>();
  for (const t of g.tensors) out.set(t.name, `${t.type} ${t.ne.join("x")} ${createHash("sha256").update(await readTensorData(g, t)).digest("hex")}`);
  return out;
}

function assertSameTensors(a: Map<string, string>, b: Map<string, string>, what: string): void {
  assert.equal([...a.keys()], [...b.keys()], `${what}: tensor names and order`);
  for (const [name, d] of a) assert.is(b.get(name), d, `${what}: ${name}`);
}

test.before(async () => {
  for (const l of LAYOUT_NAMES) {
    direct[l] = join(tmp, `direct-${l}.gguf`);
    await convert({ modelDir: FIX, layout: l, output: direct[l], threads: 2, quiet: true });
  }
});

test("every pair of layouts: checkpoint -> A -> B equals checkpoint -> B, tensor for tensor", async () => {
  const want = new Map<string, Map<string, string>>();
  for (const l of LAYOUT_NAMES) want.set(l, await tensorDigest(direct[l]));
  for (const a of LAYOUT_NAMES) {
    for (const b of LAYOUT_NAMES) {
      const out = join(tmp, `via-${a}-${b}.gguf`);
      const r = await convertFromGguf({ input: direct[a], output: out, layout: b });
      assert.is(r.layout, b);
      assertSameTensors(await tensorDigest(out), want.get(b)!, `${a} -> ${b}`);
      const g = await readGguf(out);
      assert.is(g.kv.get("bitconv.layout")?.value, b);
      const sha = createHash("sha256").update(readFileSync(direct[a])).digest("hex");
      assert.equal(g.kv.get("bitconv.source.files")?.value, [`direct-${a}.gguf ${sha}`], "the input's sha256 is the provenance");
      for (const k of ["bitnet.block_count", "bitnet.hidden_activation", "tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.pre", "general.name"]) {
        assert.equal(g.kv.get(k)?.value, (await readGguf(direct[b])).kv.get(k)?.value, `${a} -> ${b}: ${k} carried over`);
      }
      if (b !== a) rmSync(out);
    }
  }
});

test("bitnet.cpp's I2_S shape (arch bitnet-b1.58, F16 embeddings) in, TQ2_0 for bitconv out, and back for bitnet.cpp", async () => {
  const ms = join(tmp, "ms-i2_s.gguf");
  await convert({ modelDir: FIX, layout: "i2_s", target: "bitnet.cpp", output: ms, threads: 2, quiet: true });
  assert.is((await readGguf(ms)).kv.get("general.architecture")?.value, "bitnet-b1.58");
  const tq = join(tmp, "ms-tq2_0.gguf");
  await convertFromGguf({ input: ms, output: tq, layout: "tq2_0" });
  const want = await tensorDigest(direct.tq2_0);
  assertSameTensors(await tensorDigest(tq), want, "bitnet.cpp i2_s -> tq2_0");
  const back = join(tmp, "ms-back.gguf");
  await convertFromGguf({ input: tq, output: back, layout: "i2_s", target: "bitnet.cpp" });
  assertSameTensors(await tensorDigest(back), await tensorDigest(ms), "tq2_0 -> bitnet.cpp i2_s");
  // the relu² model is refused for llama.cpp
  const r = spawnSync(process.execPath, [CLI, "convert", ms, "--layout", "tq2_0", "--target", "llama.cpp", "-o", join(tmp, "no.gguf")], { encoding: "utf8" });
  assert.is(r.status, 2);
  assert.match(r.stderr, /ms-i2_s\.gguf: arch bitnet-b1\.58 with relu²: llama\.cpp computes the FFN/);
  assert.not.ok(existsSync(join(tmp, "no.gguf")));
});

test("llama.cpp's llama arch (d = f16(w) in the TQ blocks, no .scale) -> i2_s -> back: the same file's tensors; llama.cpp loads a converted TQ1_0", async () => {
  const dir = join(tmp, "llama");
  await writeSyntheticCheckpoint(dir, { family: "llama-bitnet", layers: 2, hidden: 256, ffn: 512, heads: 4, kvHeads: 2, vocab: 4096, dtype: "BF16", seed: 12 });
  const tq = join(tmp, "llama-tq2_0.gguf");
  await convert({ modelDir: dir, layout: "tq2_0", target: "llama.cpp", output: tq, threads: 2, quiet: true });
  const t0 = await tensorDigest(tq);
  assert.not.ok([...t0.keys()].some((n) => n.endsWith(".scale")));
  const i2 = join(tmp, "llama-i2_s.gguf");
  await convertFromGguf({ input: tq, output: i2, layout: "i2_s" });
  const again = join(tmp, "llama-again.gguf");
  await convertFromGguf({ input: i2, output: again, layout: "tq2_0", target: "llama.cpp" });
  assertSameTensors(await tensorDigest(again), t0, "llama tq2_0 -> i2_s -> tq2_0");
  const tq1 = join(tmp, "llama-tq1_0.gguf");
  await convertFromGguf({ input: i2, output: tq1, layout: "tq1_0", target: "llama.cpp" });
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  try {
    const ids = [4094, 100, 2000, 37, 911];
    const a = await llamaCppLogits(llama, tq, ids), b = await llamaCppLogits(llama, tq1, ids);
    for (let p = 0; p < ids.length; p++) assert.equal(b[p], a[p], `position ${p}: the converted TQ1_0 computes what the TQ2_0 does`);
  } finally {
    await llama.dispose();
  }
});

test("--embed-type q8_0 on an existing file shrinks its head to what a direct q8_0 conversion writes", async () => {
  const q8 = join(tmp, "q8-from-gguf.gguf");
  const r = await convertFromGguf({ input: direct.tq2_0, output: q8, layout: "tq2_0", embedType: "q8_0" });
  assert.ok(r.notes.some((n) => /token_embd\.weight: F16 -> q8_0/.test(n)), r.notes.join("; "));
  assert.ok(statSync(q8).size < statSync(direct.tq2_0).size, "smaller file");
  const ref = join(tmp, "q8-direct.gguf");
  await convert({ modelDir: FIX, layout: "tq2_0", embedType: "q8_0", output: ref, threads: 2, quiet: true });
  assertSameTensors(await tensorDigest(q8), await tensorDigest(ref), "q8_0 head");
});

test("bad input GGUFs: one line naming the file, exit 2, nothing at the output path", () => {
  const notGguf = join(tmp, "text.gguf");
  writeFileSync(notGguf, "this is not a GGUF file\n");
  const truncated = join(tmp, "truncated.gguf");
  writeFileSync(truncated, readFileSync(direct.i2_s).subarray(0, 3000));
  const gpt2 = join(tmp, "gpt2.gguf");
  writeFileSync(gpt2, buildGguf([{ key: "general.architecture", type: VT.STRING, value: "gpt2" }], [{ name: "x.weight", ne: [4], type: 0, data: new Uint8Array(16) }]));
  const floats = join(tmp, "floats.gguf");
  writeFileSync(floats, buildGguf([{ key: "general.architecture", type: VT.STRING, value: "bitnet" }], [{ name: "x.weight", ne: [4], type: 0, data: new Uint8Array(16) }]));
  const cases: [string, string[], RegExp][] = [
    [notGguf, [], /text\.gguf: /],
    [truncated, [], /truncated\.gguf: /],
    [gpt2, [], /gpt2\.gguf: general\.architecture "gpt2" is not a BitNet b1\.58 model/],
    [floats, [], /floats\.gguf: has no ternary tensors/],
    [direct.tq2_0, ["--target", "llama.cpp", "--layout", "i2_s"], /--target llama\.cpp cannot read layout i2_s/],
  ];
  for (const [input, extra, re] of cases) {
    const out = join(tmp, "bad-out.gguf");
    const args = extra.includes("--layout") ? extra : ["--layout", "tq2_0", ...extra];
    const r = spawnSync(process.execPath, [CLI, "convert", input, ...args, "-o", out], { encoding: "utf8" });
    assert.is(r.status, 2, `${input}: ${r.stderr}`);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.not.ok(existsSync(out), "nothing written");
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
