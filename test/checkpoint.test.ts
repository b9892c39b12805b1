import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BitconvError } from "../src/util/errors.js";
import { openCheckpoint, readSafetensorsHeader, readTensorBytes, type Checkpoint } from "../src/checkpoint/index.js";

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
  const p = c.plan.find((x) => x.ggufName === gguf);
  assert.ok(p, `plan has ${gguf}`);
  return p!;
}

// Shapes of the fixture from fixtures/README.md: 4 layers, hidden 256, 8/2 heads (head_dim 32), FFN 512.
function checkFixtureShapes(c: Checkpoint, packed: boolean) {
  assert.equal(c.plan.map((p) => p.ggufName), expectedOrder(4, BITNET_LAYER, false));
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

test.run();
