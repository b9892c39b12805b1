// The benchmark harness at tiny scale: synthesized GGUFs parse with @huggingface/gguf (an independent
// reader), hold what the contract says, load and run in bitconv-rt and in llama.cpp (node-llama-cpp);
// the bandwidth probe builds and reports; results are normalized and rendered honestly. No timing
// assertions: figures are only checked to be present and finite.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gguf } from "@huggingface/gguf";
import { getLayout, LAYOUT_NAMES, type LayoutName } from "../src/layouts/index.js";
import { readGguf } from "../src/gguf/reader.js";
import {
  ensureSynthGgufs, FLOAT_REFERENCE, synthPath, synthPlan, SHAPE_TINY, SHAPE_2B4T, ternaryBytes, type SynthSpec,
} from "../scripts/synth-gguf.js";
import {
  conversionRows, decodeBytesPerToken, floatRefRow, measureBandwidth, renderFloatRef, renderMarkdown, renderTable, REFERENCES, TARGETS,
  type BenchReport,
} from "../scripts/bench.js";
import {
  bandwidthShare, ikQuantizeArgs, interleave, llamaBenchArgs, locatePeers, parseLlamaBenchJson, peerRatios, runPeers, summarize,
  PEERS_ENV, type PeerCell, type Spread,
} from "../scripts/bench-peers.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const RT = join(ROOT, "kernels-c/build/bitconv-rt");
const tmp = mkdtempSync(join(tmpdir(), "bitconv-bench-"));
const GGML_TYPE: Record<LayoutName, number> = { tq1_0: 34, tq2_0: 35, i2_s: 36, tl1: 38, tl2: 39 };
const isTq = (l: LayoutName) => l === "tq1_0" || l === "tq2_0";

const specs: SynthSpec[] = [
  ...LAYOUT_NAMES.map((layout): SynthSpec => ({ shape: SHAPE_TINY, layout, embed: "f16" })),
  { shape: SHAPE_TINY, layout: "i2_s", embed: "q8_0" },
];
let paths: string[] = [];

test.before(async () => {
  paths = await ensureSynthGgufs(tmp, specs);
});
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("2B-4T plan: ternary bytes match the sizes of formats/<layout>.md", () => {
  // formats/<layout>.md "Sizes for BitNet-b1.58-2B-4T": TQ2_0 537,292,800; TQ1_0 439,603,200; I2_S 521,011,200 + 210 x 32 (+ 4 B .scale per tq tensor)
  assert.is(ternaryBytes({ shape: SHAPE_2B4T, layout: "tq2_0", embed: "f16" }), 537_292_800 + 210 * 4);
  assert.is(ternaryBytes({ shape: SHAPE_2B4T, layout: "tq1_0", embed: "f16" }), 439_603_200 + 210 * 4);
  assert.is(ternaryBytes({ shape: SHAPE_2B4T, layout: "i2_s", embed: "f16" }), 521_011_200 + 210 * 32);
  const plan = synthPlan({ shape: SHAPE_2B4T, layout: "i2_s", embed: "f16" });
  assert.is(plan.length, 2 + 30 * 11);
  assert.equal(plan[0].info.ne, [2560, 128256]);
});

test("synthesized GGUFs parse with @huggingface/gguf and hold the contract's tensors", async () => {
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    const r = await gguf(paths[i], { allowLocalFile: true });
    const md = r.metadata as Record<string, unknown>;
    assert.is(md["general.architecture"], "bitnet");
    assert.is(md["bitconv.layout"], s.layout);
    assert.is(md["bitconv.embed_type"], s.embed);
    assert.is(md["bitnet.hidden_activation"], "relu2");
    assert.is(Number(md["bitnet.block_count"]), SHAPE_TINY.layers);
    assert.is((md["tokenizer.ggml.tokens"] as string[]).length, SHAPE_TINY.vocab);
    const names = r.tensorInfos.map((t) => t.name);
    const expected = synthPlan(s).map((t) => t.info.name);
    assert.equal(names, expected);
    assert.is(names[0], "token_embd.weight");
    assert.is(r.tensorInfos[0].dtype as number, s.embed === "f16" ? 1 : 8);
    const q = r.tensorInfos.find((t) => t.name === "blk.0.attn_q.weight")!;
    assert.is(q.dtype as number, GGML_TYPE[s.layout as LayoutName]);
    assert.equal(q.shape.map(Number), [SHAPE_TINY.hidden, SHAPE_TINY.heads * SHAPE_TINY.headDim]);
    assert.is(names.includes("blk.0.attn_q.scale"), isTq(s.layout as LayoutName));
    // the strict reader agrees on sizes and the file ends where the last tensor does
    const f = await readGguf(paths[i]);
    assert.is(f.fileSize, statSync(paths[i]).size);
    assert.equal(f.warnings, []);
  }
});

test("synthesized weights: realistic ternary mix, scale where the layout keeps it", async () => {
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    const f = await readGguf(paths[i]);
    const bytes = readFileSync(paths[i]);
    const t = f.tensors.find((x) => x.name === "blk.1.ffn_down.weight")!;
    const [K, M] = t.ne;
    const layout = getLayout(s.layout as LayoutName);
    const u = layout.unpack(new Uint8Array(bytes.buffer, bytes.byteOffset + t.dataOffset, t.nbytes), M, K, layout.params(M, K));
    let zeros = 0, plus = 0;
    for (const v of u.T) {
      if (v === 0) zeros++;
      else if (v === 1) plus++;
    }
    const n = u.T.length;
    assert.ok(Math.abs(zeros / n - 0.31) < 0.02, `${s.layout}: zero share ${zeros / n}`);
    assert.ok(Math.abs(plus / (n - zeros) - 0.5) < 0.02, `${s.layout}: +1 share of non-zeros ${plus / (n - zeros)}`);
    let w = u.scale;
    if (isTq(s.layout as LayoutName)) {
      assert.is(u.scale, 1);
      const st = f.tensors.find((x) => x.name === "blk.1.ffn_down.scale")!;
      w = bytes.readFloatLE(st.dataOffset);
    }
    assert.ok(w > 0.005 && w < 0.03, `${s.layout}: scale ${w}`);
  }
});

test("the cache reuses complete files and keys on layout and embed type", async () => {
  const before = statSync(paths[0]).mtimeMs;
  const again = await ensureSynthGgufs(tmp, [specs[0]]);
  assert.is(again[0], paths[0]);
  assert.is(statSync(paths[0]).mtimeMs, before);
  const names = new Set(specs.map((s) => synthPath(tmp, s)));
  assert.is(names.size, specs.length);
});

test("bitconv-rt loads every synthesized layout and its bench prints pp and tg", () => {
  for (let i = 0; i < specs.length; i++) {
    const info = JSON.parse(execFileSync(RT, ["info", "-m", paths[i], "--json"], { encoding: "utf8" })) as Record<string, unknown>;
    assert.is(info.layout, specs[i].layout);
    assert.is(info.embed_type, specs[i].embed);
    assert.is(info.layers, SHAPE_TINY.layers);
    const out = execFileSync(RT, ["bench", "-m", paths[i], "-p", "8", "-n", "4", "-r", "1", "-t", "1", "--no-warmup", "--json"], { encoding: "utf8" });
    const ev = out.trim().split("\n").map((l) => JSON.parse(l) as { test: string; avg_ts: number });
    assert.equal(ev.map((e) => e.test), ["pp8", "tg4"]);
    for (const e of ev) assert.ok(Number.isFinite(e.avg_ts));
  }
});

test("llama.cpp (node-llama-cpp) loads the synthesized tq layouts and the harness reports both APIs", () => {
  const script = join(ROOT, "dist/scripts/bench-llamacpp.js");
  for (const layout of ["tq1_0", "tq2_0"] as const) {
    const p = paths[specs.findIndex((s) => s.layout === layout && s.embed === "f16")];
    const r = spawnSync(process.execPath, [script, "-m", p, "-t", "1", "-p", "8", "-n", "2", "-r", "1", "--no-warmup", "--json"], { encoding: "utf8" });
    const lines = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    const errors = lines.filter((l) => l.event === "error");
    assert.equal(errors, [], JSON.stringify(errors));
    const bench = lines.filter((l) => l.event === "bench");
    assert.equal(bench.map((l) => `${String(l.api)} ${String(l.test)}`), ["controlled pp8", "controlled tg2", "addon pp8", "addon tg2"]);
    for (const b of bench) assert.ok(Number.isFinite(b.avg_ts as number));
    assert.ok(lines.some((l) => l.event === "done"));
    assert.is(r.status, 0, r.stderr);
  }
});

test("llama.cpp harness reports a file it cannot load as an error, not a figure", () => {
  const script = join(ROOT, "dist/scripts/bench-llamacpp.js");
  const p = paths[specs.findIndex((s) => s.layout === "i2_s" && s.embed === "f16")];
  const r = spawnSync(process.execPath, [script, "-m", p, "-p", "8", "-n", "2", "-r", "1", "--json"], { encoding: "utf8" });
  assert.is.not(r.status, 0);
  assert.ok(!r.stdout.includes("\"event\":\"bench\""));
  assert.ok(r.stdout.includes("\"event\":\"error\""), r.stdout + r.stderr);
});

test("decode bytes per token: every tensor once, one embedding row, KV", async () => {
  const p = paths[specs.findIndex((s) => s.layout === "i2_s" && s.embed === "f16")];
  const f = await readGguf(p);
  const all = f.tensors.reduce((a, t) => a + t.nbytes, 0);
  const row = SHAPE_TINY.hidden * 2;
  const kv = SHAPE_TINY.layers * 2 * SHAPE_TINY.kvHeads * SHAPE_TINY.headDim * ((16 + 1) / 2) * 2;
  assert.is(await decodeBytesPerToken(p, 16), all + row + kv);
});

test("bandwidth probe builds and reports", async () => {
  const cc = spawnSync("sh", ["-c", "command -v cc"], { encoding: "utf8" });
  if (cc.status !== 0) return; // no compiler: the harness reports that as an error row instead
  const bw = await measureBandwidth(tmp, 1, true);
  assert.is(bw.error, undefined, bw.error);
  assert.is(bw.threads, 1);
  assert.ok(Number.isFinite(bw.best_gbs!));
  assert.is(bw.samples_gbs!.length, bw.passes);
});

test("conversion rows: failures keep only their error, unmeasured figures are left out", () => {
  const base = { model: "m", threads: 2, inputBytes: 4.8e9, outputBytes: 1.2e9, internalMbPerSec: 700, rssSource: "/usr/bin/time" as const };
  const rows = conversionRows([
    { ...base, layout: "i2_s", seconds: 7.9, mbPerSec: 612.5, peakRssBytes: 7e8 },
    { ...base, layout: "tl2", seconds: 1, mbPerSec: 0, peakRssBytes: 5e7, error: "no TL2 parameters" },
    { ...base, layout: "tq1_0", seconds: 8, mbPerSec: 600, peakRssBytes: NaN },
  ]);
  assert.equal(rows[0], {
    layout: "i2_s", mb_per_s: 612.5, internal_mb_per_s: 700, peak_rss_bytes: 7e8, seconds: 7.9, input_bytes: 4.8e9, output_bytes: 1.2e9, rss_source: "/usr/bin/time",
  });
  assert.equal(rows[1], { layout: "tl2", error: "no TL2 parameters" });
  assert.is(rows[2].peak_rss_bytes, undefined);
  assert.equal(rows[2].notes, ["peak RSS not measured"]);
});

test("rendering: failures are printed as failures, the hand-written header is kept", () => {
  const report: BenchReport = {
    command: "npm run bench", date: "2025-01-01T00:00:00.000Z", quick: false, threads: 2, reps: 3, n_prompt: 128, n_gen: 32,
    machine: { cpu: "Test CPU", flags: { avx2: true }, logical_cpus: 2, memory_bytes: 2 ** 34, kernel: "6.0", node: "v20", loadavg_start: [1, 1, 1] },
    bandwidth: { threads: 2, bytes: 2 ** 28, passes: 5, best_gbs: 10, median_gbs: 9, samples_gbs: [9, 9, 10, 9, 8] },
    conversion: { rows: [{ layout: "tl2", error: "boom" }, { layout: "i2_s", mb_per_s: 600, peak_rss_bytes: 5e8, seconds: 8 }] },
    runtime: [
      { engine: "bitconv-rt", layout: "i2_s", embed: "f16", model: "m", file_bytes: 2 ** 30, pp: { test: "pp128", avg_ts: 50, stddev_ts: 1, samples_ts: [] }, tg: { test: "tg32", avg_ts: 5, stddev_ts: 0.1, samples_ts: [] }, tg_bound_ts: 10, decode_bytes_per_token: 1e9 },
      { engine: "llama.cpp", api: "controlled", layout: "tq2_0", embed: "f16", model: "m", error: "could not load" },
    ],
    references: REFERENCES, targets: TARGETS, seconds: 12,
  };
  const table = renderTable(report);
  assert.match(table, "| tl2 | FAILED: boom");
  assert.match(table, "| i2_s | 600.0 | – | 477 MiB | 8.0 | met |");
  assert.match(table, "| 50.00 ± 1.00 | 5.00 ± 0.10 | 10.0 | 50% |");
  assert.match(table, "FAILED: could not load");
  assert.not.match(table, "undefined");
  assert.not.match(table, "NaN");
  const header = "# Benchmarks\n\nHand-written method.\n\n";
  const md = renderMarkdown(report, header);
  assert.ok(md.startsWith(header.trimEnd()));
  assert.match(md, "Test CPU");
  assert.match(md, "`npm run bench`");
  // regenerating from the written file keeps exactly one header and one generated part
  const marker = md.indexOf("<!-- generated");
  assert.ok(marker > 0);
  assert.is(renderMarkdown(report, md.slice(0, marker)), md);
});

test("float reference row: ratio to the i2_s/f16 integer prefill of the same run, its sample range, failures as failures", () => {
  const fig = (avg: number, samples: number[]) => ({ test: "pp512", avg_ts: avg, stddev_ts: 1, samples_ts: samples });
  const ints = [
    { engine: "bitconv-rt" as const, layout: "tq2_0", embed: "f16", model: "m", pp: fig(200, [190, 210]) },
    { engine: "bitconv-rt" as const, layout: "i2_s", embed: "f16", model: "m", pp: fig(150, [140, 160]) },
  ];
  const row = floatRefRow({ engine: "bitconv-rt", layout: "float", embed: "f16", model: "ref", file_bytes: 2 ** 30, pp: fig(60, [55, 65]) }, ints);
  assert.equal(row.integer, { layout: "i2_s", embed: "f16", pp: ints[1].pp });
  assert.is(row.ratio, 60 / 150);
  assert.is(row.ratio_min, 55 / 160);
  assert.is(row.ratio_max, 65 / 140);
  const L: string[] = [];
  renderFloatRef(row, 512, L, (t) => L.push(t), false);
  assert.match(L.join("\n"), "| 1024 MiB | ref | 60.00 ± 1.00 | 150.00 ± 1.00 (i2_s/f16) | 0.40 (0.34–0.46) |");
  const failed = floatRefRow({ engine: "bitconv-rt", layout: "float", embed: "f16", model: "ref", error: "boom" }, ints);
  assert.is(failed.ratio, undefined);
  const F: string[] = [];
  renderFloatRef(failed, 512, F, (t) => F.push(t), false);
  assert.match(F.join("\n"), "FAILED: boom");
  assert.is(floatRefRow({ engine: "bitconv-rt", layout: "float", embed: "f16", model: "ref", pp: fig(60, []) }, []).error,
    "no integer prefill figure in this run to compare with");
});

test("bench --profile: each part streams its tensors' bytes; a barrier per step (or with --decode-jobs a pool job per BitLinear group)", async () => {
  const p = paths[specs.findIndex((s) => s.layout === "i2_s" && s.embed === "f16")];
  const f = await readGguf(p);
  const bytesOf = (...kinds: string[]) =>
    f.tensors.filter((t) => kinds.some((k) => t.name.endsWith(`.${k}.weight`))).reduce((a, t) => a + t.nbytes, 0);
  const ng = 4, L = SHAPE_TINY.layers;
  const expected: Record<string, number> = {
    attn_qkv: bytesOf("attn_q", "attn_k", "attn_v"), attn_output: bytesOf("attn_output"), ffn_gate_up: bytesOf("ffn_gate", "ffn_up"),
    ffn_down: bytesOf("ffn_down"), head: f.tensors.find((t) => t.name === "token_embd.weight")!.nbytes,
    attention: L * 2 * SHAPE_TINY.kvHeads * SHAPE_TINY.headDim * 4 * ((ng + 1) / 2), norms_quant: 0, other: 0,
  };
  type Part = { part: string; ms_per_token: number; share: number; busy_ms: number; wait_ms: number; jobs_per_token: number; bytes_per_token: number };
  for (const [threads, jobsMode] of [[1, false], [2, false], [2, true]] as const) {
    const extra = jobsMode ? ["--decode-jobs"] : [];
    const out = execFileSync(RT, ["bench", "-m", p, "-p", "0", "-n", String(ng), "-r", "2", "-t", String(threads), "--profile", "--json", ...extra], { encoding: "utf8" });
    const ev = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(ev.map((e) => e.event), ["bench", "profile"]);
    const prof = ev[1] as { tokens: number; threads: number; pool_jobs_per_token: number; parts: Part[] };
    assert.is(prof.tokens, 2 * ng);
    assert.is(prof.threads, threads);
    assert.equal(prof.parts.map((x) => x.part), Object.keys(expected));
    for (const x of prof.parts) {
      assert.is(x.bytes_per_token, expected[x.part], x.part);
      assert.ok(x.share >= 0 && x.busy_ms >= 0 && x.wait_ms >= 0, JSON.stringify(x));
      assert.ok(Math.abs(x.busy_ms + x.wait_ms - x.ms_per_token) < 2e-4, JSON.stringify(x));
    }
    assert.ok(Math.abs(prof.parts.reduce((a, x) => a + x.share, 0) - 1) < 1e-3);
    const jobs = Object.fromEntries(prof.parts.map((x) => [x.part, x.jobs_per_token]));
    if (threads === 1) {
      // one thread never posts a pool job nor meets another at a barrier, so it never waits
      assert.is(prof.pool_jobs_per_token, 0);
      for (const x of prof.parts) assert.is(x.wait_ms, 0);
    } else if (jobsMode) {
      // decode of this tiny model through forward_batch: norms, quantization and attention stay on the calling thread
      assert.equal(jobs, { attn_qkv: L, attn_output: L, ffn_gate_up: L, ffn_down: L, head: 1, attention: 0, norms_quant: 0, other: 0 });
      assert.is(prof.pool_jobs_per_token, 4 * L + 1);
    } else {
      // one pool job per token; a barrier ends each of a layer's five steps, one more before the head
      assert.equal(jobs, { attn_qkv: L, attn_output: L, ffn_gate_up: L, ffn_down: L, head: 0, attention: L, norms_quant: 1, other: 0 });
      assert.is(prof.pool_jobs_per_token, 1);
    }
  }
  const text = execFileSync(RT, ["bench", "-m", p, "-p", "0", "-n", "2", "-r", "1", "-t", "2", "--profile"], { encoding: "utf8" });
  assert.match(text, /\| part +\| ms\/token \| share/);
  assert.match(text, /\| ffn_gate_up +\| +[0-9.]+ \| +[0-9.]+% \|/);
  const r = spawnSync(RT, ["bench", "-m", p, "-n", "0", "--profile"], { encoding: "utf8" });
  assert.is(r.status, 2);
  assert.match(r.stderr, "--profile");
});

test("synth --target bitnet.cpp: arch bitnet-b1.58 keys, its own cache name, loaded by bitconv-rt; tq layouts refused", async () => {
  const spec: SynthSpec = { shape: SHAPE_TINY, layout: "i2_s", embed: "f16", target: "bitnet.cpp" };
  const [p] = await ensureSynthGgufs(tmp, [spec]);
  assert.is.not(p, paths[specs.findIndex((s) => s.layout === "i2_s" && s.embed === "f16")]);
  const md = (await gguf(p, { allowLocalFile: true })).metadata as Record<string, unknown>;
  assert.is(md["general.architecture"], "bitnet-b1.58");
  assert.is(md["bitconv.target"], "bitnet.cpp");
  assert.is(Number(md["bitnet-b1.58.block_count"]), SHAPE_TINY.layers);
  assert.is(md["bitnet.block_count"], undefined);
  const info = JSON.parse(execFileSync(RT, ["info", "-m", p, "--json"], { encoding: "utf8" })) as Record<string, unknown>;
  assert.is(info.architecture, "bitnet-b1.58");
  let refused = false;
  try {
    await ensureSynthGgufs(tmp, [{ ...spec, layout: "tq2_0" }]);
  } catch (e) {
    refused = /bitnet\.cpp reads i2_s/.test((e as Error).message);
  }
  assert.ok(refused);
});

test("synth layout float: verify's reference form of the same model (F16 codes of the i2_s file's codes, its scale), same float-path logits", async () => {
  const [p] = await ensureSynthGgufs(tmp, [{ shape: SHAPE_TINY, layout: FLOAT_REFERENCE, embed: "f16" }]);
  const i2s = paths[specs.findIndex((s) => s.layout === "i2_s" && s.embed === "f16")];
  const r = await gguf(p, { allowLocalFile: true });
  assert.is((r.metadata as Record<string, unknown>)["bitconv.layout"], "float");
  const f = await readGguf(p), g = await readGguf(i2s);
  const bytes = readFileSync(p), ibytes = readFileSync(i2s);
  const name = "blk.1.ffn_down";
  const t = f.tensors.find((x) => x.name === `${name}.weight`)!, it = g.tensors.find((x) => x.name === `${name}.weight`)!;
  assert.is(t.type, 1); // F16
  const [K, M] = it.ne;
  const layout = getLayout("i2_s");
  const u = layout.unpack(new Uint8Array(ibytes.buffer, ibytes.byteOffset + it.dataOffset, it.nbytes), M, K, layout.params(M, K));
  const half = { 0x3c00: 1, 0xbc00: -1, 0: 0 } as Record<number, number>;
  let same = 0;
  for (let i = 0; i < M * K; i++) same += half[bytes.readUInt16LE(t.dataOffset + 2 * i)] === u.T[i] ? 1 : 0;
  assert.is(same, M * K);
  const st = f.tensors.find((x) => x.name === `${name}.scale`)!;
  assert.is(bytes.readFloatLE(st.dataOffset), u.scale);
  // the float path reads the file's F16 rows and the artifact's decoded codes to the same f32 weights
  const tok = join(tmp, "tokens.bin");
  writeFileSync(tok, new Uint8Array(Int32Array.from([1, 17, 300, 42, 5, 99, 7, 256, 3, 11]).buffer));
  const logits = (m: string, out: string) => {
    execFileSync(RT, ["logits", "-m", m, "--tokens", tok, "-o", out, "--float-ref", "-t", "2"]);
    return new Float32Array(new Uint8Array(readFileSync(out)).buffer);
  };
  const a = logits(p, join(tmp, "float.bin")), b = logits(i2s, join(tmp, "i2s.bin"));
  assert.is(a.length, 10 * SHAPE_TINY.vocab);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst <= 1e-5, `max |diff| ${worst}`);
});

test("peers: binaries found where build-anchors.sh puts them, each missing one named", () => {
  const all = locatePeers("/p", () => true);
  assert.equal(all.bench, { "bitnet.cpp": "/p/BitNet/build/bin/llama-bench", "ik_llama.cpp": "/p/ik_llama.cpp/build/bin/llama-bench" });
  assert.is(all.ikQuantize, "/p/ik_llama.cpp/build/bin/llama-quantize");
  assert.equal(all.missing, []);
  // ik_llama.cpp needs both its bench and its quantizer
  const some = locatePeers("/p", (f) => !f.endsWith("llama-quantize"));
  assert.equal(Object.keys(some.bench), ["bitnet.cpp"]);
  assert.equal(some.missing, ["/p/ik_llama.cpp/build/bin/llama-quantize not found"]);
});

test("peers: command lines (ik_llama.cpp with flash attention; its requantization keeps the head type)", () => {
  const t = { threads: 2, nPrompt: 512, nGen: 128, reps: 3 };
  assert.equal(llamaBenchArgs("bitnet.cpp", "m.gguf", t), ["-m", "m.gguf", "-t", "2", "-p", "512", "-n", "128", "-r", "3", "-o", "json"]);
  assert.equal(llamaBenchArgs("ik_llama.cpp", "m.gguf", t).slice(-2), ["-fa", "1"]);
  assert.equal(ikQuantizeArgs("in.gguf", "out.gguf", "f16").join(" "),
    "--allow-requantize --output-tensor-type f16 --token-embedding-type f16 in.gguf out.gguf IQ2_BN_R4");
  assert.equal(ikQuantizeArgs("a", "b", "q8_0").slice(1, 5), ["--output-tensor-type", "q8_0", "--token-embedding-type", "q8_0"]);
});

test("peers: llama-bench JSON parsed into pp and tg, noise before the array ignored, bad output refused", () => {
  const stdout = `build: 16da220 (3954)
[
  {
    "build_commit": "16da220", "model_type": "bitnet-b1.58 2B I2_S - 2 bpw ternary", "n_threads": 2, "flash_attn": false,
    "n_prompt": 512, "n_gen": 0, "avg_ts": 97.25, "stddev_ts": 1.5, "samples_ns": [1, 2], "samples_ts": [96.1, 98.4]
  },
  {
    "build_commit": "16da220", "model_type": "bitnet-b1.58 2B I2_S - 2 bpw ternary", "n_threads": 2, "flash_attn": false,
    "n_prompt": 0, "n_gen": 128, "avg_ts": 33.5, "stddev_ts": 0.25, "samples_ns": [1, 2], "samples_ts": [33.3, 33.7]
  }
]
`;
  const t = parseLlamaBenchJson(stdout);
  assert.equal(t.map((x) => [x.test, x.avg_ts, x.stddev_ts]), [["pp", 97.25, 1.5], ["tg", 33.5, 0.25]]);
  assert.equal(t[0].samples_ts, [96.1, 98.4]);
  assert.is(t[0].flash_attn, false);
  assert.is(t[1].n_threads, 2);
  assert.is(t[1].build_commit, "16da220");
  assert.throws(() => parseLlamaBenchJson("error: failed to load model\n"), /no JSON array/);
  assert.throws(() => parseLlamaBenchJson('[{"n_prompt": 0, "n_gen": 0, "avg_ts": 1}]'), /test 0/);
  assert.throws(() => parseLlamaBenchJson('[{"n_prompt": 16, "n_gen": 0}]'), /avg_ts/);
});

test("peers: rounds interleave the engines; spreads skip failed rounds", () => {
  const order = interleave(2, ["f16", "q8_0"], ["bitconv-rt", "bitnet.cpp", "ik_llama.cpp"]).map((s) => `${s.round}:${s.head}:${s.engine}`);
  assert.equal(order.slice(0, 4), ["0:f16:bitconv-rt", "0:f16:bitnet.cpp", "0:f16:ik_llama.cpp", "0:q8_0:bitconv-rt"]);
  assert.is(order.length, 12);
  assert.is(order[6], "1:f16:bitconv-rt");
  const s = summarize([10, NaN, 14])!;
  assert.is(s.avg_ts, 12);
  assert.ok(Math.abs(s.stddev_ts - Math.SQRT2 * 2) < 1e-12);
  assert.equal([s.min_ts, s.max_ts], [10, 14]);
  assert.is(s.rounds_ts.length, 3);
  assert.is(summarize([NaN]), undefined);
});

test("peers: ratios against the best peer of each figure, with the per-round range", () => {
  const sp = (...r: number[]): Spread => summarize(r)!;
  const cell = (engine: PeerCell["engine"], head: PeerCell["head"], pp: Spread | undefined, tg: Spread | undefined): PeerCell =>
    ({ engine, head, notes: [], ...(pp ? { pp } : {}), ...(tg ? { tg } : {}) });
  const cells: PeerCell[] = [
    cell("bitconv-rt", "f16", sp(300, 240), sp(30, 36)),
    cell("bitnet.cpp", "f16", sp(100, 100), sp(40, 30)),
    cell("ik_llama.cpp", "f16", sp(200, 200), sp(25, 35)),
    cell("bitconv-rt", "q8_0", sp(300, NaN), sp(50, 60)),
    cell("bitnet.cpp", "q8_0", undefined, sp(40, 40)),
  ];
  const r = peerRatios(cells);
  assert.equal(r.map((x) => `${x.head} ${x.test} ${x.best_peer}`), ["f16 pp ik_llama.cpp", "f16 tg bitnet.cpp", "q8_0 tg bitnet.cpp"]);
  assert.is(r[0].ratio, 270 / 200);
  assert.equal([r[0].round_min, r[0].round_max], [240 / 200, 300 / 200]);
  // round by round the best peer changes: round 0 bitnet.cpp 40, round 1 ik_llama.cpp 35
  assert.is(r[1].ratio, 33 / 35);
  assert.equal([r[1].round_min, r[1].round_max], [30 / 40, 36 / 35]);
  assert.is(r[2].ratio, 55 / 40);
  assert.ok(Math.abs(bandwidthShare(30, 1.2e9, 45) - 0.8) < 1e-12);
});

test("rendering peers: figures, ratios and the reason when there are none", () => {
  const base: BenchReport = {
    command: "npm run bench", date: "2025-01-01T00:00:00.000Z", quick: false, threads: 2, reps: 1, n_prompt: 512, n_gen: 128,
    machine: { cpu: "Test CPU", flags: {}, logical_cpus: 2, memory_bytes: 2 ** 34, kernel: "6.0", node: "v20", loadavg_start: [0, 0, 0] },
    runtime: [], references: [], targets: TARGETS, seconds: 1,
  };
  const none = renderTable({ ...base, peers: { status: `not configured (--peers DIR or ${PEERS_ENV})`, cells: [], ratios: [] } });
  assert.match(none, `Peers (bitnet.cpp, ik_llama.cpp): not configured (--peers DIR or ${PEERS_ENV})`);
  const cells: PeerCell[] = [
    { engine: "bitconv-rt", head: "f16", notes: [], pp: summarize([300, 240])!, tg: summarize([30, 36])!, tg_bandwidth_share: 0.874 },
    { engine: "bitnet.cpp", head: "f16", notes: ["llama-bench -t 2"], pp: summarize([100, 100])!, tg: summarize([40, 30])! },
    { engine: "ik_llama.cpp", head: "f16", notes: [], error: "llama-quantize exited 1: boom" },
  ];
  const t = renderTable({
    ...base, peers: { status: "measured", dir: "/p", rounds: 2, size: { threads: 2, nPrompt: 512, nGen: 128, reps: 1 }, cells, ratios: peerRatios(cells) },
  });
  assert.match(t, "| bitconv-rt | f16 | 270.00 ± 42.43 (240.0–300.0) | 33.00 ± 4.24 (30.0–36.0) | 87% |");
  assert.match(t, "| ik_llama.cpp | f16 | FAILED: llama-quantize exited 1: boom | | |");
  assert.match(t, "| f16 | pp512 | 270.00 | bitnet.cpp | 100.00 | 2.70× | 2.40–3.00 |");
  assert.match(t, "bitnet.cpp (f16 head): llama-bench -t 2");
  assert.not.match(t, "NaN");
  assert.not.match(t, "undefined");
});

test("peers: a tiny functional run when the peers are built", async () => {
  const dir = process.env[PEERS_ENV];
  if (!dir) {
    console.log(`  (peers run skipped: ${PEERS_ENV} is not set to a build-anchors.sh output folder)`);
    return;
  }
  const r = await runPeers({ dir, rounds: 1, quick: true, heads: ["f16"], workDir: tmp, log: () => {}, threads: 1, nPrompt: 16, nGen: 4, reps: 1 });
  assert.is(r.status, "measured", JSON.stringify(r));
  for (const c of r.cells) {
    assert.is(c.error, undefined, `${c.engine}: ${c.error}`);
    assert.ok(Number.isFinite(c.pp!.avg_ts) && Number.isFinite(c.tg!.avg_ts), c.engine);
  }
  assert.ok(r.cells.length >= 2);
  assert.ok(r.ratios.length === 2);
});

test.run();
