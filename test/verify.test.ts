import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, openSync, readFileSync, closeSync, readSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { convert } from "../src/convert/index.js";
import { readGguf } from "../src/gguf/reader.js";
import { loadTokenizer } from "../src/tokenizer/encode.js";
import { ensureRuntime, runRuntime, writeTokenFile } from "../src/runtime/runtime.js";
import { BitconvError } from "../src/util/errors.js";
import { firstInvalidUtf8 } from "../src/verify/text.js";
import { formatReport } from "../src/verify/command.js";
import { LAYOUT_NAMES } from "../src/layouts/index.js";

// The fixture model is tiny, but a perplexity pass over the whole dev text is still seconds of CPU:
// every pass here runs single-threaded, and only the runs that need the whole text use it.

const ROOT = resolve(".");
const CLI = join(ROOT, "dist", "src", "cli.js");
const FIX = join(ROOT, "fixtures");
const PACKED = join(FIX, "tiny-bitnet-b1.58");
const BF16 = join(FIX, "tiny-bitnet-b1.58-bf16");
const REF = JSON.parse(readFileSync(join(FIX, "reference-dev.json"), "utf8")) as Record<
  string,
  { tokens: number; ppl_ctx128: number; ppl_ctx256: number; scored_ctx128: number; scored_ctx256: number }
>;
/** every layout of the registry: a new layout is tested here without editing this file */
const LAYOUTS = LAYOUT_NAMES;

const tmp = mkdtempSync(join(tmpdir(), "bitconv-verify-test-"));
const art = (l: string) => join(tmp, `tiny-${l}.gguf`);
const bf16I2s = join(tmp, "tiny-bf16-i2_s.gguf");
const q8I2s = join(tmp, "tiny-i2_s-q8_0.gguf");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, any> | null;
}

function cli(args: string[], cwd = ROOT): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  let json: Record<string, any> | null = null;
  const line = (r.stdout ?? "").trim().split("\n").pop() ?? "";
  if (line.startsWith("{")) json = JSON.parse(line);
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", json };
}

const within = (x: number, ref: number, rel: number) => Math.abs(x - ref) / ref <= rel;

test.before(async () => {
  ensureRuntime();
  for (const layout of LAYOUTS) await convert({ modelDir: PACKED, output: art(layout), layout, quiet: true, threads: 1 });
  await convert({ modelDir: BF16, output: bf16I2s, layout: "i2_s", quiet: true, threads: 1 });
  await convert({ modelDir: PACKED, output: q8I2s, layout: "i2_s", embedType: "q8_0", quiet: true, threads: 1 });
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

const pplByLayout: Record<string, number> = {};

test("every layout: perplexity over the dev text at ctx 256 within 0.5% of the float reference, exit 0", () => {
  const ref = REF["tiny-bitnet-b1.58"];
  for (const layout of LAYOUTS) {
    // i2_s gets the full run (the source checkpoint as reference on 16 chunks, speed); the others perplexity only.
    // Run from another cwd: the default text is found relative to the package, not the cwd.
    const extra = layout === "i2_s" ? ["--source", PACKED] : ["--reference", "none", "--no-bench"];
    const r = cli(["verify", art(layout), "--ctx", "256", "--threads", "1", "--json", ...extra], tmp);
    assert.is(r.code, 0, `${layout}: exit ${r.code}\n${r.stderr}`);
    const j = r.json!;
    assert.ok(j, `${layout}: no JSON on stdout`);
    assert.is(j.layout, layout);
    assert.is(j.tokens, ref.tokens);
    assert.is(j.ctx, 256);
    assert.is(j.chunks, Math.floor(ref.tokens / 256));
    assert.is(j.tokens_scored, ref.scored_ctx256);
    assert.ok(within(j.perplexity, ref.ppl_ctx256, 0.005), `${layout}: ppl ${j.perplexity} vs reference ${ref.ppl_ctx256}`);
    assert.ok(j.perplexity_error > 0 && j.perplexity_error < j.perplexity * 0.1, `${layout}: error ${j.perplexity_error}`);
    assert.is(j.passed, true);
    assert.is(j.partial, false);
    assert.equal(j.failures, []);
    pplByLayout[layout] = j.perplexity;
    if (layout === "i2_s") {
      assert.is(j.reference.kind, "checkpoint");
      assert.is(j.conversion_checked, true);
      assert.is(j.reference.chunks, 16);
      assert.is(j.reference.tokens_scored, 16 * 127);
      assert.ok(within(j.reference.perplexity, j.reference.artifact_perplexity, 0.001), `reference ppl ${j.reference.perplexity}`);
      // the external float perplexity of the bundled model, beside the artifact's whole-text figure
      assert.equal(j.external_reference, { model: "tiny-bitnet-b1.58", perplexity: ref.ppl_ctx256, file: "fixtures/reference-dev.json" });
      assert.ok(Math.abs(j.reference.ppl_drift_pct) < 0.1, `drift ${j.reference.ppl_drift_pct}`);
      assert.ok(j.reference.kl_mean >= 0 && j.reference.kl_mean < 1e-3, `kl ${j.reference.kl_mean}`);
      assert.ok(j.reference.kl_p99 >= j.reference.kl_mean, `p99 ${j.reference.kl_p99}`);
      assert.ok(j.reference.top1_agreement > 0.98 && j.reference.top1_agreement <= 1, `top1 ${j.reference.top1_agreement}`);
      assert.ok(j.prefill_tokens_per_s > 0 && j.decode_tokens_per_s > 0, "speed measured");
    } else {
      assert.is(j.reference, undefined);
      assert.is(j.prefill_tokens_per_s, null);
    }
  }
  const v = Object.values(pplByLayout);
  assert.is(v.length, LAYOUTS.length);
  const spread = (Math.max(...v) - Math.min(...v)) / Math.min(...v);
  assert.ok(spread <= 1e-4, `layouts disagree: ${JSON.stringify(pplByLayout)}`);
});

test("bf16 masters at ctx 128 against the checkpoint itself: within 0.5% of the float reference, exit 0", () => {
  const ref = REF["tiny-bitnet-b1.58-bf16"];
  const r = cli(["verify", bf16I2s, "--ctx", "128", "--reference", BF16, "--reference-chunks", "all", "--threads", "1", "--no-bench", "--json"]);
  assert.is(r.code, 0, r.stderr);
  const j = r.json!;
  assert.is(j.tokens_scored, ref.scored_ctx128);
  assert.is(j.chunks, Math.floor(ref.tokens / 128));
  assert.ok(within(j.perplexity, ref.ppl_ctx128, 0.005), `ppl ${j.perplexity} vs ${ref.ppl_ctx128}`);
  assert.is(j.reference.kind, "checkpoint");
  assert.ok(within(j.reference.perplexity, ref.ppl_ctx128, 0.005), `reference ppl ${j.reference.perplexity}`);
  assert.ok(j.reference.kl_mean < 1e-3, `kl ${j.reference.kl_mean}`);
  assert.ok(j.tokenizer.endsWith("tokenizer.json"), `tokenized with the checkpoint's tokenizer.json: ${j.tokenizer}`);
});

/** Negates every ternary weight of the named i2_s tensors in place (code c -> 2 - c in each bit pair). */
async function negateI2s(file: string, names: string[]): Promise<void> {
  const g = await readGguf(file);
  const fd = openSync(file, "r+");
  try {
    for (const name of names) {
      const t = g.tensors.find((x) => x.name === name);
      assert.ok(t, `tensor ${name}`);
      const packed = (t!.ne[0] * t!.ne[1]) / 4;
      const b = Buffer.alloc(packed);
      readSync(fd, b, 0, packed, t!.dataOffset);
      for (let i = 0; i < packed; i++) {
        let out = 0;
        for (let s = 0; s < 8; s += 2) out |= (2 - ((b[i] >> s) & 3)) << s;
        b[i] = out;
      }
      writeSync(fd, b, 0, packed, t!.dataOffset);
    }
  } finally {
    closeSync(fd);
  }
}

test("a damaged artifact fails (exit 1) against the float reference of its undamaged source", async () => {
  const damaged = join(tmp, "damaged-i2_s.gguf");
  copyFileSync(art("i2_s"), damaged);
  await negateI2s(damaged, ["blk.1.ffn_down.weight", "blk.2.attn_v.weight"]);
  const r = cli(["verify", damaged, "--reference", PACKED, "--chunks", "12", "--threads", "1", "--no-bench", "--json"]);
  assert.is(r.code, 1, r.stderr);
  const j = r.json!;
  assert.is(j.passed, false);
  assert.is(j.partial, false);
  assert.ok(j.failures.length >= 1, JSON.stringify(j.failures));
  assert.ok(j.reference.kl_mean > 0.01, `kl ${j.reference.kl_mean}`);
  assert.ok(Math.abs(j.reference.ppl_drift_pct) > 1, `drift ${j.reference.ppl_drift_pct}`);
  // the same run on the undamaged artifact passes: the failure is the damage, not the settings
  const ok = cli(["verify", art("i2_s"), "--reference", PACKED, "--chunks", "12", "--threads", "1", "--no-bench", "--json"]);
  assert.is(ok.code, 0, ok.stderr);
  // the text report names the failure
  const txt = cli(["verify", damaged, "--reference", PACKED, "--chunks", "4", "--threads", "1", "--no-bench"]);
  assert.is(txt.code, 1, txt.stdout + txt.stderr);
  assert.ok(/result\s+FAIL/.test(txt.stdout), `stdout:\n${txt.stdout}\nstderr:\n${txt.stderr}`);
  assert.match(txt.stdout, /failed\s+/);
});

test("reference = another artifact or a saved llama.cpp logits file", () => {
  // tq2_0 and i2_s hold the same ternary weights: identical integer logits. What KL remains is the
  // floor of the 16-bit log-prob records of the logits format (codes clamped at max - 16 nats).
  const r = cli(["verify", art("i2_s"), "--reference", art("tq2_0"), "--chunks", "8", "--threads", "1", "--no-bench", "--json"]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json!.reference.kind, "artifact");
  assert.ok(r.json!.reference.kl_mean < 2e-4, `kl ${r.json!.reference.kl_mean}`);
  assert.is(r.json!.reference.top1_agreement, 1);
  assert.ok(Math.abs(r.json!.reference.ppl_drift_pct) < 0.01);

  const bin = ensureRuntime();
  const kl = join(tmp, "base.kl");
  const toks = join(tmp, "toks.bin");
  return (async () => {
    const tok = await loadTokenizer({ tokenizerJson: PACKED });
    writeTokenFile(toks, tok.encode(readFileSync(join(FIX, "text", "kjv-dev.txt"), "utf8")));
    // the reference artifact's own perplexity is what verify reports as the reference: a Q8_0-embedding
    // artifact differs slightly from the F16 one, and the reference column must be the Q8_0 one
    const own = (f: string) => {
      const o = spawnSync(bin, ["perplexity", "-m", f, "--tokens", toks, "-c", "256", "--chunks", "8", "--json", "-t", "1"], { encoding: "utf8" });
      assert.is(o.status, 0, o.stderr);
      return JSON.parse(o.stdout.trim().split("\n").pop()!).perplexity as number;
    };
    const q8Ppl = own(q8I2s);
    const f16Ppl = own(art("i2_s"));
    assert.ok(Math.abs(q8Ppl - f16Ppl) / f16Ppl > 2e-4, `q8_0 ${q8Ppl} vs f16 ${f16Ppl}`);
    const rq = cli(["verify", art("i2_s"), "--reference", q8I2s, "--chunks", "8", "--threads", "1", "--no-bench", "--json"]);
    assert.is(rq.code, 0, rq.stderr);
    assert.ok(within(rq.json!.reference.perplexity, q8Ppl, 5e-5), `reference ${rq.json!.reference.perplexity} vs q8_0 ${q8Ppl}`);
    assert.ok(within(rq.json!.perplexity, f16Ppl, 1e-6), `artifact ${rq.json!.perplexity} vs f16 ${f16Ppl}`);
    assert.ok(rq.json!.reference.kl_mean > r.json!.reference.kl_mean, "embedding quantization adds KL");

    // a _logits_ file written by the runtime's float reference path (llama.cpp's kl-divergence-base format)
    const base = spawnSync(bin, ["perplexity", "-m", art("tq2_0"), "--tokens", toks, "-c", "128", "--chunks", "6", "--float-ref", "--kl-base", kl, "--json", "-t", "1"], { encoding: "utf8" });
    assert.is(base.status, 0, base.stderr);
    const basePpl = JSON.parse(base.stdout.trim().split("\n").pop()!).perplexity as number;
    const head = readFileSync(kl).subarray(0, 20);
    assert.is(head.toString("latin1", 0, 8), "_logits_");
    const r2 = cli(["verify", art("i2_s"), "--reference", kl, "--threads", "1", "--no-bench", "--json"]);
    assert.is(r2.code, 0, r2.stderr);
    const j = r2.json!;
    assert.is(j.reference.kind, "logits");
    assert.is(j.ctx, 128); // taken from the file
    assert.is(j.chunks, 6);
    assert.is(j.tokens_scored, 6 * 63);
    assert.ok(within(j.reference.perplexity, basePpl, 1e-3), `${j.reference.perplexity} vs ${basePpl}`);
    assert.ok(j.reference.kl_mean < 1e-3);
  })();
});

test("bad input exits 2 with a one-line message", () => {
  const bad = join(tmp, "latin1.txt");
  writeFileSync(bad, Buffer.concat([Buffer.from("And God said, Let there be light: and there was light. "), Buffer.from([0xe9, 0x20, 0x41])]));
  const short = join(tmp, "short.txt");
  writeFileSync(short, "In the beginning God created the heaven and the earth.\n");
  const cases: [string[], RegExp][] = [
    [["verify", join(tmp, "missing.gguf")], /missing\.gguf: no such file/],
    [["verify", join(PACKED, "config.json")], /not a GGUF file/],
    [["verify", art("tq2_0"), "--ctx", "512"], /--ctx 512 exceeds the model's context length 256/],
    [["verify", art("tq2_0"), "--text", bad], /latin1\.txt: not valid UTF-8 text \(byte offset 55/],
    [["verify", art("tq2_0"), "--text", short, "--ctx", "128"], /short\.txt: has \d+ tokens; perplexity with ctx 128 needs at least 256/],
    [["verify", art("tq2_0"), "--reference", join(tmp, "nothing-here")], /nothing-here: no such file or directory/],
    [["verify", art("tq2_0"), "--reference", short], /not a GGUF file, a llama\.cpp logits file/],
    [["verify", art("tq2_0"), "--ctx", "7"], /--ctx must be an even integer/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args);
    assert.is(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.is(r.stdout, "");
  }
});

test("SIGINT after the first chunk: the runtime finishes the chunk, verify prints a PARTIAL result, exit 130", async () => {
  // a long text (the dev text three times) so the run cannot finish before the signal lands
  const long = join(tmp, "long.txt");
  const dev = readFileSync(join(FIX, "text", "kjv-dev.txt"), "utf8");
  writeFileSync(long, dev + dev + dev);
  const child = spawn(process.execPath, [CLI, "verify", art("i2_s"), "--text", long, "--reference", "none", "--threads", "1", "--json"], { cwd: ROOT });
  let stdout = "";
  let stderr = "";
  let sent = false;
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => {
    stderr += d;
    if (!sent && /"event":"chunk"/.test(stderr)) {
      sent = true;
      child.kill("SIGINT");
    }
  });
  const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
  assert.ok(sent, `no chunk event seen:\n${stderr}`);
  assert.is(code, 130, stderr);
  const j = JSON.parse(stdout.trim());
  assert.is(j.partial, true);
  assert.is(j.passed, false);
  assert.is(j.chunks_total, Math.floor(j.tokens / 256));
  assert.ok(j.chunks >= 1 && j.chunks < j.chunks_total, `chunks ${j.chunks} of ${j.chunks_total}`);
  assert.is(j.tokens_scored, j.chunks * 127);
  assert.ok(j.perplexity > 1 && j.perplexity < 1000, `partial ppl ${j.perplexity}`);
  assert.is(j.prefill_tokens_per_s, null); // no speed run after an interrupt
  // the human report of the same result says PARTIAL, not PASS or FAIL
  const report = formatReport(j);
  assert.match(report, /result\s+PARTIAL/);
  assert.match(report, /perplexity \(PARTIAL\)/);
  assert.not.match(report, /PASS|FAIL/);
});

test("runtime wrapper: exit 2 from bitconv-rt becomes a BitconvError(2) with its one-line message", async () => {
  let err: unknown;
  try {
    await runRuntime(["info", "-m", join(PACKED, "config.json")]);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof BitconvError, String(err));
  assert.is((err as BitconvError).exitCode, 2);
  assert.ok((err as BitconvError).message.startsWith(join(PACKED, "config.json")), (err as BitconvError).message);
  assert.not.match((err as BitconvError).message, /bitconv-rt:|\n/);
  // token files are raw little-endian int32
  const f = join(tmp, "ids.bin");
  writeTokenFile(f, Int32Array.of(4094, 1, -2, 0x01020304));
  assert.equal(Array.from(readFileSync(f)), [0xfe, 0x0f, 0, 0, 1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 4, 3, 2, 1]);
});

test("generate: greedy continuation of the bundled model (fixtures/README.md)", () => {
  const r = cli(["generate", art("i2_s"), "--prompt", "And God said", "-n", "12", "--threads", "1", "--json"]);
  assert.is(r.code, 0, r.stderr);
  const j = r.json!;
  assert.equal(j.prompt_ids.slice(0, 1), [4094]);
  assert.is(j.ids.length, 12);
  assert.ok(j.text.startsWith(", I pray thee, I pray thee, and thy servants"), JSON.stringify(j.text));
  const plain = cli(["generate", art("tq2_0"), "--prompt", "And God said", "-n", "12", "--threads", "1"]);
  assert.is(plain.code, 0, plain.stderr);
  assert.is(plain.stdout, "And God said" + j.text + "\n");
  const tooLong = cli(["generate", art("tq2_0"), "--prompt", "And God said", "-n", "300"]);
  assert.is(tooLong.code, 2);
  assert.match(tooLong.stderr, /exceeds the model's context length 256/);
  assert.is(tooLong.stdout, "");
});

test("firstInvalidUtf8 agrees with a fatal TextDecoder", () => {
  const dec = new TextDecoder("utf-8", { fatal: true });
  const cases = [
    [0x41, 0x42],
    [0xc3, 0xa9],
    [0xe2, 0x82, 0xac, 0x41],
    [0xf0, 0x9f, 0x99, 0x82],
    [0x41, 0xe9, 0x41],
    [0xc0, 0x80], // overlong
    [0xe0, 0x80, 0x80], // overlong
    [0xed, 0xa0, 0x80], // surrogate
    [0xf4, 0x90, 0x80, 0x80], // > U+10FFFF
    [0x41, 0xe2, 0x82], // truncated
    [0x80],
    [0xf8, 0x88, 0x80, 0x80, 0x80],
  ];
  for (const c of cases) {
    const b = Uint8Array.from(c);
    let valid = true;
    try {
      dec.decode(b);
    } catch {
      valid = false;
    }
    assert.is(firstInvalidUtf8(b) === -1, valid, JSON.stringify(c));
  }
  assert.is(firstInvalidUtf8(Uint8Array.from([0x41, 0x42, 0xe9, 0x41])), 2);
});

test.run();
