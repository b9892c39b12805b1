import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convert } from "../src/convert/index.js";
import { readGguf, readTensorData, type GgufFile } from "../src/gguf/reader.js";
import { inspect } from "../src/inspect/index.js";
import { decodeBlock, blockCount, type BlockTensor, type PackedLayout } from "../src/inspect/blocks.js";
import type { InspectResult } from "../src/inspect/types.js";
import { getLayout, LAYOUT_NAMES, unpackHfPacked, packTq2_0, type LayoutName, type TlParams } from "../src/layouts/index.js";
import { BitconvError } from "../src/util/errors.js";
import { bf16, buildGguf, readSafetensorsSmall, VT, FIXTURE_PACKED, FIXTURE_BF16, FIXTURE_BITLINEAR } from "./helpers/inspect-gguf.js";
import { MockHub, shardSafetensors } from "./helpers/mockHub.js";

const dir = mkdtempSync(join(tmpdir(), "bitconv-inspect-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const CLI = join(process.cwd(), "dist", "src", "cli.js");

// ---- artifacts of every layout, written by convert from the packed fixture ----
const artifact = (l: LayoutName) => join(dir, `tiny-${l}.gguf`);
for (const l of LAYOUT_NAMES) await convert({ modelDir: FIXTURE_PACKED, layout: l, output: artifact(l), threads: 1, quiet: true });

// ---- ground truth from the packed fixture, read independently (the whole file, plain bit arithmetic) ----
const packedSt = readSafetensorsSmall(`${FIXTURE_PACKED}/model.safetensors`);
const HF_TO_GGUF: Record<string, string> = {
  "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
  "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
};
/** -1/0/+1 counts of HF packed bytes: four 2-bit codes c per byte, value c - 1 */
function countPacked(data: Uint8Array): { minus: number; zero: number; plus: number } {
  const counts = { minus: 0, zero: 0, plus: 0 };
  for (const byte of data) {
    for (let s = 0; s < 8; s += 2) {
      const c = (byte >> s) & 3;
      if (c === 0) counts.minus++;
      else if (c === 1) counts.zero++;
      else if (c === 2) counts.plus++;
      else throw new Error("fixture holds code 3");
    }
  }
  return counts;
}
interface Truth { hf: string; gguf: string; counts: { minus: number; zero: number; plus: number }; ws: number; R: number; K: number; raw: Uint8Array }
const truth: Truth[] = [];
for (const [name, e] of packedSt) {
  const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(name);
  if (!m || e.dtype !== "U8") continue;
  const counts = countPacked(e.data);
  const wsb = packedSt.get(name.replace(/\.weight$/, ".weight_scale"))!.data;
  truth.push({ hf: name, gguf: `blk.${m[1]}.${HF_TO_GGUF[m[2]]}.weight`, counts, ws: bf16(wsb[0] | (wsb[1] << 8)), R: e.shape[0], K: e.shape[1], raw: e.data });
}

const cfg = JSON.parse(readFileSync(`${FIXTURE_PACKED}/config.json`, "utf8"));
const tokJson = JSON.parse(readFileSync(`${FIXTURE_PACKED}/tokenizer.json`, "utf8"));

async function rejectsWith(p: Promise<unknown>, re: RegExp): Promise<BitconvError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BitconvError, `expected BitconvError, got ${String((e as Error)?.stack ?? e)}`);
    assert.is((e as BitconvError).exitCode, 2);
    assert.match((e as Error).message, re);
    return e as BitconvError;
  }
  assert.unreachable(`accepted; expected ${re}`);
  throw new Error("unreachable");
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tlParamsOf(f: GgufFile, M: number, K: number): TlParams | undefined {
  const v = f.kv.get("bitconv.tl_params")?.value as number[] | undefined;
  if (!v) return undefined;
  for (let i = 0; i < v.length; i += 5) if (v[i] === M && v[i + 1] === K) return { BM: v[i + 2], BK: v[i + 3], bm: v[i + 4] };
  return undefined;
}

// ---- GGUF artifacts ----
for (const l of LAYOUT_NAMES) {
  test(`${l} artifact: summary, tokenizer, tensor table, totals`, async () => {
    const r = await inspect({ source: artifact(l) });
    const f = await readGguf(artifact(l));
    assert.is(r.kind, "gguf");
    assert.is(r.architecture, "bitnet");
    assert.is(r.format.layout, l);
    assert.is(r.hyperparameters.block_count, cfg.num_hidden_layers);
    assert.is(r.hyperparameters.embedding_length, cfg.hidden_size);
    assert.is(r.hyperparameters["attention.head_count_kv"], cfg.num_key_value_heads);
    // stored as FLOAT32; shown as the config's decimal, not the f32's exact binary expansion
    assert.is(r.hyperparameters["attention.layer_norm_rms_epsilon"], cfg.rms_norm_eps);
    assert.equal(r.tokenizer, {
      model: "gpt2", pre: "llama-bpe", vocab_size: cfg.vocab_size, bos_token_id: cfg.bos_token_id, eos_token_id: cfg.eos_token_id,
      merges: tokJson.model.merges.length, chat_template: false,
    });
    assert.ok(r.provenance && typeof r.provenance["bitconv.version"] === "string");
    assert.is(r.provenance!["bitconv.layout"], l);
    assert.is(r.tensors.length, f.tensors.length);
    const layout = getLayout(l);
    let ternaryBytes = 0;
    for (const tr of truth) {
      const row = r.tensors.find((t) => t.name === tr.gguf)!;
      const M = 4 * tr.R;
      const nb = layout.nbytes(M, tr.K, tlParamsOf(f, M, tr.K));
      assert.equal(row.shape, [tr.K, M]);
      assert.is(row.layout, l);
      assert.is(row.type, l.toUpperCase());
      assert.is(row.bytes, nb);
      assert.ok(Math.abs(row.bits_per_weight - (nb * 8) / (M * tr.K)) < 1e-4);
      ternaryBytes += nb;
    }
    assert.is(r.totals.ternary_bytes, ternaryBytes);
    assert.is(r.totals.ternary_weights, truth.reduce((s, t) => s + 4 * t.R * t.K, 0));
    const all = f.tensors.reduce((s, t) => s + t.nbytes, 0);
    assert.is(r.totals.bytes, all);
    assert.is(r.totals.non_embedding_bytes, all - f.tensors.find((t) => t.name === "token_embd.weight")!.nbytes);
    assert.is(r.block, undefined);
  });

  test(`${l} artifact: statistics equal an independent count of the fixture's packed bytes; scale = weight_scale`, async () => {
    const r = await inspect({ source: artifact(l) });
    assert.ok(r.stats);
    assert.is(r.stats!.length, truth.length);
    for (const tr of truth) {
      const s = r.stats!.find((x) => x.name === tr.gguf)!;
      assert.ok(s, tr.gguf);
      assert.equal(s.counts, { ...tr.counts, invalid: 0 }, tr.gguf);
      const n = 4 * tr.R * tr.K;
      assert.is(s.weights, n);
      assert.ok(Math.abs(s.minus - tr.counts.minus / n) < 1e-12 && Math.abs(s.plus - tr.counts.plus / n) < 1e-12);
      // autobitlinear: W = T * weight_scale, exact in f32 (and in f16 for the TQ d = 1 * .scale)
      assert.is(s.scale, tr.ws, `${tr.gguf} scale`);
    }
  });

  test(`${l} artifact: every block decodes to the layout's full unpack, each value exactly once`, async () => {
    const f = await readGguf(artifact(l));
    const layout = getLayout(l);
    for (const name of ["blk.0.attn_k.weight", "blk.3.ffn_down.weight"]) {
      const t = f.tensors.find((x) => x.name === name)!;
      const K = t.ne[0];
      const M = t.ne[1];
      const params = tlParamsOf(f, M, K);
      const bytes = await readTensorData(f, t);
      const { T } = layout.unpack(bytes, M, K, params);
      const bt: BlockTensor = { name, layout: l as PackedLayout, M, K, nbytes: t.nbytes, params };
      const read = async (s: number, n: number) => {
        assert.ok(s >= 0 && s + n <= bytes.length, `read [${s}, +${n}) outside the tensor`);
        return bytes.subarray(s, s + n);
      };
      const seen = new Uint8Array(M * K);
      const nBlocks = blockCount(bt);
      for (let b = 0; b < nBlocks; b++) {
        const d = await decodeBlock(bt, read, b);
        for (const v of d.values) {
          assert.is(v.value, T[v.row * K + v.col], `${name} block ${b} (${v.row}, ${v.col})`);
          seen[v.row * K + v.col]++;
          assert.ok(v.byte >= 0 && v.byte < bytes.length);
        }
        // the hex shown is the tensor's bytes at those offsets
        for (const by of d.bytes_detail) assert.is(by.hex, bytes[by.offset].toString(16).padStart(2, "0"));
      }
      assert.ok(seen.every((x) => x === 1), `${name}: some value is missing or shown twice`);
    }
  });
}

test("--block through inspect(): the worked-example view (bit fields, rows, columns, scale) for every layout", async () => {
  for (const l of LAYOUT_NAMES) {
    const name = "blk.1.attn_q.weight";
    const r = await inspect({ source: artifact(l), tensor: name, block: 2, stats: false });
    const b = r.block!;
    assert.is(b.tensor, name);
    assert.is(b.layout, l);
    assert.is(b.block, 2);
    const expectValues = { tq1_0: 256, tq2_0: 256, i2_s: 128, tl1: 64, tl2: 192 }[l];
    assert.is(b.values.length, expectValues, l);
    assert.is(b.bytes.split(" ").length, b.bytes_detail.length);
    // every field names the values it carries, and every value is carried by some field
    const carried = new Set(b.bytes_detail.flatMap((x) => x.fields.flatMap((f) => f.values)));
    for (let i = 0; i < b.values.length; i++) assert.ok(carried.has(i), `${l}: value ${i} has no bit field`);
    const tr = truth.find((t) => t.gguf === name)!;
    assert.is(b.scale.value, tr.ws, l);
    assert.equal(r.tensors.map((t) => t.name), [name]);
    assert.equal(r.stats, undefined);
    if (l === "tq2_0" || l === "tq1_0") {
      // bitconv writes d = 1.0 (f16 0x3C00) in every block, the scale in the .scale tensor
      const d = b.bytes_detail.filter((x) => x.part === "d").map((x) => x.hex);
      assert.equal(d, ["00", "3c"]);
      assert.is(b.scale.block_d, 1);
    }
    if (l === "tl2") {
      assert.ok(b.values.every((v) => v.sign !== undefined));
      assert.is(b.bytes_detail.filter((x) => x.part === "signs").length, 32);
      assert.is(b.params_source, "bitconv.tl_params");
    }
  }
});

test("block errors: out of range, non-ternary tensor, unknown tensor", async () => {
  const p = artifact("i2_s");
  await rejectsWith(inspect({ source: p, tensor: "blk.0.attn_k.weight", block: 128 }), /has 128 i2_s blocks \(0\.\.127\); block 128 does not exist/);
  await rejectsWith(inspect({ source: p, tensor: "blk.0.attn_norm.weight", block: 0 }), /is F32, not a packed ternary layout/);
  await rejectsWith(inspect({ source: p, tensor: "nope.weight" }), /no tensor "nope.weight"/);
  await rejectsWith(inspect({ source: p, block: -1 }), /--block must be a block number/);
});

// ---- the worked examples of formats/*.md, decoded block by block ----
function parseBytesBlock(text: string): Uint8Array {
  const out: number[] = [];
  for (const line of text.split("\n")) {
    for (const tok of line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean)) {
      if (tok.startsWith("@")) {
        assert.is(out.length, Number(tok.slice(1)), `offset marker ${tok}`);
        continue;
      }
      const [hex, times] = tok.split("*");
      for (let i = 0; i < Number(times ?? 1); i++) out.push(parseInt(hex, 16));
    }
  }
  return Uint8Array.from(out);
}

test("decodeBlock reproduces every worked example of formats/*.md (values, rows, columns, scale)", async () => {
  let examples = 0;
  for (const file of ["tq2_0", "tq1_0", "i2_s", "tl1", "tl2", "hf-packed"]) {
    const md = readFileSync(`formats/${file}.md`, "utf8");
    const re = /```json\n([\s\S]*?)```\s*```bytes\n([\s\S]*?)```/g;
    for (let m = re.exec(md); m; m = re.exec(md)) {
      const ex = JSON.parse(m[1]) as { layout: PackedLayout; M: number; K: number; scale?: number; d?: number; params?: TlParams; nonzero: [number, number, number][] };
      const bytes = parseBytesBlock(m[2]);
      const expected = new Map(ex.nonzero.map(([r, c, v]) => [r * ex.K + c, v]));
      const bt: BlockTensor = { name: `${file} example`, layout: ex.layout, M: ex.M, K: ex.K, nbytes: bytes.length, params: ex.params };
      const read = async (st: number, n: number) => bytes.subarray(st, st + n);
      const seen = new Set<number>();
      for (let b = 0; b < blockCount(bt); b++) {
        const d = await decodeBlock(bt, read, b);
        for (const v of d.values) {
          assert.is(v.value, expected.get(v.row * ex.K + v.col) ?? 0, `${file} (${v.row}, ${v.col})`);
          seen.add(v.row * ex.K + v.col);
        }
        if (ex.layout === "tq1_0" || ex.layout === "tq2_0") assert.is(d.scale.block_d, ex.d ?? 1);
        else if (ex.layout !== "hf-packed") assert.is(d.scale.value, ex.scale);
      }
      assert.is(seen.size, ex.M * ex.K, `${file}: every value shown`);
      examples++;
    }
  }
  assert.ok(examples >= 10, `only ${examples} worked examples found`);
});

// ---- foreign GGUFs ----
test("foreign files: bitnet.cpp-style I2_S without bitconv keys; llama.cpp-style TQ2_0 with per-block d", async () => {
  const tr = truth.find((t) => t.gguf === "blk.0.attn_q.weight")!;
  const M = 4 * tr.R;
  const K = tr.K;
  const T = unpackHfPacked(tr.raw, tr.R, K);
  const i2 = getLayout("i2_s").pack(T, M, K, 0.25);
  const p1 = join(dir, "official-like.gguf");
  writeFileSync(p1, buildGguf([{ key: "general.architecture", type: VT.STRING, value: "bitnet-b1.58" }], [{ name: "blk.0.attn_q.weight", ne: [K, M], type: 36, data: i2 }]));
  const r1 = await inspect({ source: p1, block: 0 });
  assert.is(r1.format.type_context, "fork");
  assert.is(r1.tensors[0].type, "I2_S");
  assert.equal(r1.stats![0].counts, { ...tr.counts, invalid: 0 });
  assert.is(r1.stats![0].scale, 0.25);
  assert.is(r1.provenance, null);
  assert.match(r1.warnings.join("\n"), /bitnet-b1\.58/);

  // llama-quantize style: a different f16 d in each block (absmax per block), no .scale tensor
  const tq = packTq2_0(T, M, K, 1);
  const nBlocks = (M * K) / 256;
  for (let g = 0; g < nBlocks; g++) {
    const bits = 0x3c00 + (g % 3); // 1.0, 1.0009765625, 1.001953125
    tq[g * 66 + 64] = bits & 255;
    tq[g * 66 + 65] = bits >> 8;
  }
  const p2 = join(dir, "llamacpp-like.gguf");
  writeFileSync(p2, buildGguf([{ key: "general.architecture", type: VT.STRING, value: "bitnet" }], [{ name: "blk.0.attn_q.weight", ne: [K, M], type: 35, data: tq }]));
  const r2 = await inspect({ source: p2, block: 1 });
  assert.is(r2.format.type_context, "upstream");
  assert.equal(r2.stats![0].counts, { ...tr.counts, invalid: 0 });
  assert.is(r2.stats![0].scale, null);
  assert.equal(r2.stats![0].block_d, { min: 1, max: 1.001953125, uniform: false });
  assert.is(r2.block!.scale.block_d, 1.0009765625);
  assert.is(r2.block!.scale.value, 1.0009765625);
});

// ---- checkpoints ----
function ckptTruth(form: "packed" | "bitlinear") {
  return truth.map((t) =>
    form === "packed"
      ? { ...t, scale: t.ws }
      : { ...t, scale: Math.fround(1 / bf16(packedBitlinearWs(t.hf))), counts: countPacked(bitlinearSt.get(t.hf)!.data) },
  );
}
const bitlinearSt = readSafetensorsSmall(`${FIXTURE_BITLINEAR}/model.safetensors`);
function packedBitlinearWs(hf: string): number {
  const b = bitlinearSt.get(hf.replace(/\.weight$/, ".weight_scale"))!.data;
  return b[0] | (b[1] << 8);
}

test("packed checkpoints (autobitlinear and bitlinear): family, form, counts from raw bytes, scale direction", async () => {
  for (const [path, form, label] of [[FIXTURE_PACKED, "packed", "packed (autobitlinear)"], [FIXTURE_BITLINEAR, "bitlinear", "packed (bitlinear)"]] as const) {
    const r = await inspect({ source: path });
    assert.is(r.kind, "safetensors");
    assert.is(r.architecture, "BitNetForCausalLM");
    assert.is(r.family, "bitnet-b1.58");
    assert.is(r.form, label);
    assert.is(r.tokenizer!.vocab_size, cfg.vocab_size);
    assert.is(r.tokenizer!.merges, tokJson.model.merges.length);
    assert.is(r.hyperparameters.num_hidden_layers, cfg.num_hidden_layers);
    for (const tr of ckptTruth(form)) {
      const row = r.tensors.find((t) => t.name === tr.hf)!;
      assert.is(row.layout, "hf-packed");
      assert.equal(row.shape, [tr.R, tr.K]);
      assert.is(row.bits_per_weight, 2);
      const s = r.stats!.find((x) => x.name === tr.hf)!;
      assert.equal(s.counts, { ...tr.counts, invalid: 0 }, tr.hf);
      assert.is(s.scale, tr.scale, `${tr.hf} (${form})`);
    }
    // 3.28 M parameters, 2.23 M ternary (fixtures/README.md)
    assert.is(Math.round(r.totals.parameters / 1e4) / 100, 3.28);
    assert.is(Math.round(r.totals.ternary_weights / 1e4) / 100, 2.23);
  }
});

test("bf16 masters: absmean scale and boundary share equal an independent computation; codes equal the packed form's", async () => {
  const r = await inspect({ source: FIXTURE_BF16 });
  assert.is(r.form, "master weights");
  assert.is(r.family, "bitnet-b1.58");
  const st = readSafetensorsSmall(`${FIXTURE_BF16}/model.safetensors`);
  let checked = 0;
  for (const tr of truth) {
    const e = st.get(tr.hf)!;
    assert.is(e.dtype, "BF16");
    const n = e.data.length / 2;
    const W = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      W[i] = bf16(e.data[2 * i] | (e.data[2 * i + 1] << 8));
      sum += Math.abs(W[i]);
    }
    const mean = sum / n;
    // formats/checkpoint-bitnet-2b4t.md "Absmean": s = 1 / clamp(mean|W|, 1e-5) in f32; W = T / s
    const s = Math.fround(1 / Math.max(Math.fround(mean), Math.fround(1e-5)));
    let near = 0;
    for (let i = 0; i < n; i++) if (Math.abs(Math.abs(Math.fround(W[i] * s)) - 0.5) < 1e-3) near++;
    const x = r.stats!.find((y) => y.name === tr.hf)!;
    assert.ok(Math.abs(x.master!.mean_abs - mean) <= 1e-12 * mean, `${tr.hf} mean`);
    assert.is(x.master!.s, s);
    assert.is(x.scale, Math.fround(1 / s));
    assert.is(x.master!.boundary_share, near / n);
    // trained with quantization in the loop: ternarizing the masters gives the packed checkpoint's codes
    assert.equal(x.counts, { ...tr.counts, invalid: 0 }, tr.hf);
    // and the packed weight_scale is bf16(mean|W|)
    assert.ok(Math.abs(tr.ws - mean) <= mean * 2 ** -8, `${tr.hf} weight_scale vs mean`);
    checked++;
  }
  assert.is(checked, 28);
  await rejectsWith(inspect({ source: FIXTURE_BF16, tensor: truth[0].hf, block: 0 }), /BF16 master weights .* not packed ternary/);
});

test("a single .safetensors file, and --block on a packed checkpoint matches unpackHfPacked", async () => {
  const tr = truth.find((t) => t.hf.includes("layers.2.mlp.up_proj"))!;
  const r = await inspect({ source: `${FIXTURE_PACKED}/model.safetensors`, tensor: tr.hf, block: 5 });
  assert.is(r.family, "bitnet-b1.58");
  const T = unpackHfPacked(tr.raw, tr.R, tr.K);
  assert.is(r.block!.values.length, 128);
  for (const v of r.block!.values) assert.is(v.value, T[v.row * tr.K + v.col]);
  assert.is(r.block!.bytes_detail[0].offset, 5 * 32);
  assert.is(r.block!.bytes_detail[0].hex, tr.raw[160].toString(16).padStart(2, "0"));
  assert.is(r.block!.scale.value, tr.ws);
});

// ---- CLI: --json and errors ----
test("CLI --json: one object with architecture, metadata, tensors, stats, provenance, block", () => {
  const name = "blk.0.ffn_up.weight";
  const out = cli(["inspect", artifact("tl1"), "--json", "--tensor", name, "--block", "7"]);
  assert.is(out.status, 0, out.stderr);
  const j = JSON.parse(out.stdout) as InspectResult;
  assert.is(j.architecture, "bitnet");
  assert.is((j.metadata as Record<string, unknown>)["general.architecture"], "bitnet");
  assert.equal((j.metadata as Record<string, { array_length: number }>)["tokenizer.ggml.tokens"].array_length, cfg.vocab_size);
  assert.equal(Object.keys(j.tensors[0]).slice(0, 5), ["name", "shape", "type", "layout", "bytes"]);
  assert.is(j.tensors[0].name, name);
  assert.is(typeof j.tensors[0].bits_per_weight, "number");
  assert.is(j.stats!.length, 1);
  assert.is(j.provenance!["bitconv.layout"], "tl1");
  assert.is(j.block!.block, 7);
  assert.match(j.block!.bytes, /^([0-9a-f]{2} ){15}[0-9a-f]{2}$/);
  for (const v of j.block!.values) assert.ok(Number.isInteger(v.row) && Number.isInteger(v.col) && [-1, 0, 1].includes(v.value));
  const text = cli(["inspect", FIXTURE_PACKED, "--no-stats"]);
  assert.is(text.status, 0, text.stderr);
  assert.match(text.stdout, /family: bitnet-b1\.58\s+form: packed \(autobitlinear\)/);
  assert.not.match(text.stdout, /ternary statistics/);
});

test("bad inputs: clean one-line errors with exit code 2, never a crash", async () => {
  const empty = join(dir, "empty.gguf");
  writeFileSync(empty, "");
  const garbage = join(dir, "garbage.bin");
  writeFileSync(garbage, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) & 255)));
  const noModel = join(dir, "empty-folder");
  mkdirSync(noModel, { recursive: true });
  const absurd = join(dir, "absurd.gguf");
  const hdr = Buffer.alloc(64);
  hdr.write("GGUF", 0, "latin1");
  hdr.writeUInt32LE(3, 4);
  hdr.writeBigUInt64LE(1n << 61n, 8);
  hdr.writeBigUInt64LE(1n << 61n, 16);
  writeFileSync(absurd, hdr);
  // through the CLI: exit code 2, one line on stderr, nothing on stdout
  const cases: [string, RegExp][] = [
    [empty, /empty file/],
    [garbage, /neither a GGUF file .* nor a safetensors file/],
    [noModel, /no config\.json and no \.safetensors files/],
  ];
  for (const [p, re] of cases) {
    const out = cli(["inspect", p]);
    assert.is(out.status, 2, `${p}: ${out.stderr}`);
    assert.is(out.stdout, "");
    assert.match(out.stderr, new RegExp(`^bitconv: ${p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `));
    assert.match(out.stderr, re);
    assert.is(out.stderr.trim().split("\n").length, 1, out.stderr);
  }
  // the same errors from the library
  await rejectsWith(inspect({ source: absurd }), /^.*absurd\.gguf: key-value count \d+ is impossible/);
  await rejectsWith(inspect({ source: join(dir, "missing.gguf") }), /missing\.gguf: no such file or folder/);
  await rejectsWith(inspect({ source: noModel }), /empty-folder: no config\.json/);
  // truncated at many offsets (library call, so the loop stays fast)
  const full = readFileSync(artifact("tq1_0"));
  const f = await readGguf(artifact("tq1_0"));
  const cut = join(dir, "cut.gguf");
  const offsets = [1, 4, 7, 8, 15, 16, 23, 24, 30, 100, 1000, 10_000, 30_000, f.dataStart - 1, f.dataStart + 5, full.length - 1];
  for (let o = 50_000; o < f.dataStart; o += 4099) offsets.push(o);
  for (const o of offsets) {
    writeFileSync(cut, full.subarray(0, o));
    await rejectsWith(inspect({ source: cut }), /truncated|too short|claims|does not fit|past the end|impossible/);
  }
  // a checkpoint folder whose safetensors file is cut short
  const badCk = join(dir, "bad-ckpt");
  mkdirSync(badCk, { recursive: true });
  copyFileSync(`${FIXTURE_PACKED}/config.json`, join(badCk, "config.json"));
  writeFileSync(join(badCk, "model.safetensors"), readFileSync(`${FIXTURE_PACKED}/model.safetensors`).subarray(0, 5000));
  await rejectsWith(inspect({ source: badCk }), /bad-ckpt\/model\.safetensors: /);
});

// ---- Hub: headers only ----
test("org/name reads the safetensors header over Range requests, no weights", async () => {
  const hub = await MockHub.start();
  try {
    const files: Record<string, Buffer> = {};
    for (const n of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]) files[n] = readFileSync(join(FIXTURE_PACKED, n));
    hub.addRepo("tiny/bitnet", files);
    const r = await inspect({ source: "tiny/bitnet", hub: { endpoint: hub.url, token: undefined, offline: false } });
    const local = await inspect({ source: FIXTURE_PACKED, stats: false });
    assert.is(r.kind, "hub");
    assert.is(r.family, "bitnet-b1.58");
    assert.is(r.form, "packed (autobitlinear)");
    assert.equal(r.tensors.map((t) => [t.name, t.shape, t.type, t.bytes]), local.tensors.map((t) => [t.name, t.shape, t.type, t.bytes]));
    assert.equal(r.totals, local.totals);
    assert.is(r.stats, undefined);
    const size = files["model.safetensors"].length;
    const served = hub.bytesServed("model.safetensors");
    const headerLen = Number(files["model.safetensors"].readBigUInt64LE(0)) + 8;
    assert.ok(served <= headerLen + 16, `served ${served} bytes of a ${size}-byte file (header ${headerLen})`);
    await rejectsWith(inspect({ source: "tiny/bitnet", block: 0, hub: { endpoint: hub.url, offline: false } }), /headers only/);
  } finally {
    await hub.close();
  }
});

test("sharded checkpoints (index + shards), local and on the Hub, read like the single file", async () => {
  const shards = shardSafetensors(readFileSync(`${FIXTURE_PACKED}/model.safetensors`), 3);
  const sd = join(dir, "sharded");
  mkdirSync(sd, { recursive: true });
  for (const [n, b] of Object.entries(shards)) writeFileSync(join(sd, n), b);
  for (const n of ["config.json", "tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(FIXTURE_PACKED, n), join(sd, n));
  const single = await inspect({ source: FIXTURE_PACKED });
  const sharded = await inspect({ source: sd });
  const key = (r: InspectResult) => r.tensors.map((t) => [t.name, t.shape, t.type, t.bytes]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
  assert.equal(key(sharded), key(single));
  assert.equal((sharded.format.files as string[]).length, 3);
  assert.equal(sharded.totals, single.totals);
  const byName = (r: InspectResult) => Object.fromEntries(r.stats!.map((x) => [x.name, [x.counts, x.scale]]));
  assert.equal(byName(sharded), byName(single));
  const hub = await MockHub.start();
  try {
    hub.addRepo("tiny/sharded", { ...shards, "config.json": readFileSync(join(FIXTURE_PACKED, "config.json")) });
    const r = await inspect({ source: "tiny/sharded", hub: { endpoint: hub.url, offline: false } });
    assert.equal(key(r), key(single));
    assert.is(r.family, "bitnet-b1.58");
  } finally {
    await hub.close();
  }
});

// ---- HTML in headless Chromium ----
function chromiumDom(html: string): string {
  const which = spawnSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" });
  const bin = which.stdout.trim().split("\n")[0];
  if (!bin) assert.unreachable("chromium is not installed: apt-get install -y chromium (the HTML report test needs it)");
  const profile = mkdtempSync(join(tmpdir(), "bitconv-chromium-"));
  try {
    const r = spawnSync(bin, [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", `--user-data-dir=${profile}`, "--virtual-time-budget=5000", "--dump-dom", `file://${html}`,
    ], { encoding: "utf8", timeout: 90_000 });
    assert.is(r.status, 0, `chromium failed: ${r.stderr?.slice(-2000)}`);
    return r.stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

test("--html renders in headless Chromium: every chart drawn, no script error", async () => {
  const cases: [string, Parameters<typeof inspect>[0], number][] = [
    [join(dir, "tl2.html"), { source: artifact("tl2"), tensor: "blk.2.ffn_down.weight", block: 3 }, 192],
    [join(dir, "ckpt.html"), { source: FIXTURE_BITLINEAR }, 128],
  ];
  for (const [html, opts, nValues] of cases) {
    const r = await inspect({ ...opts, html });
    const page = readFileSync(html, "utf8");
    assert.not.match(page, /<(script|link|img)[^>]+(src|href)=["']?https?:/i);
    const dom = chromiumDom(html);
    const body = /<body[^>]*>/.exec(dom)?.[0] ?? "";
    assert.match(body, /data-rendered="ok"/, `page did not finish rendering: ${body}`);
    assert.not.match(body, /data-error/, body);
    assert.is(Number(/data-svg-count="(\d+)"/.exec(body)?.[1]), 5);
    // the block diagram drew one cell per value and the fractions one bar segment per stats entry and value
    assert.is((dom.match(/class="val"/g) ?? []).length, nValues);
    assert.is((dom.match(/class="bar"/g) ?? []).length, 3 * (r.stats?.length ?? 0));
    assert.ok((dom.match(/class="field"/g) ?? []).length > 0);
  }
});

test.run();
