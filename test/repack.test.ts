// `bitconv-rt --repack` (kernels-c/src/repack.c): TQ1_0 and TL1 weights run as TQ2_0. The repacked
// bytes are checked against an independent packer, the TS converter's own TQ2_0 artifact of the same
// checkpoint, tensor by tensor on every x86 path this CPU runs (the repack decodes TQ1_0 with that
// path's SIMD decoder); the logits with and without the repack must be bit-identical, through the
// decode GEMV (-b 1) and the prefill GEMM; and --repack auto must follow its documented rule (TQ1_0
// and TL1 on the avx2 path only).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readGguf, readTensorData } from "../src/gguf/reader.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const RT = join(ROOT, "kernels-c/build/bitconv-rt");
const CLI = join(ROOT, "dist/src/cli.js");
const SOURCE = join(ROOT, "fixtures/tiny-bitnet-b1.58");
const tmp = mkdtempSync(join(tmpdir(), "bitconv-repack-"));
const tq1 = join(tmp, "tq1_0.gguf");
const tl1 = join(tmp, "tl1.gguf");
const tq2 = join(tmp, "tq2_0.gguf");
/** the layouts --repack rewrites, their artifacts and GGML type ids */
const SOURCES = [{ layout: "tq1_0", file: tq1, type: 34 }, { layout: "tl1", file: tl1, type: 38 }];
const tokens = join(tmp, "tokens.bin");

function rt(args: string[]) {
  return spawnSync(RT, args, { encoding: "utf8", maxBuffer: 64 << 20 });
}
function ok(args: string[]): string {
  const r = rt(args);
  assert.is(r.status, 0, `bitconv-rt ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
function lastJson(out: string): Record<string, unknown> {
  return JSON.parse(out.trim().split("\n").filter((l) => l.startsWith("{")).pop() as string) as Record<string, unknown>;
}

const cpuFlags = new Set((/^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "").trim().split(/\s+/));
const x86 = process.arch === "x64";
/** the x86 paths this CPU runs, by its own flags (the runtime's detection is what is under test) */
const ISAS = x86 ? ["scalar", ...(cpuFlags.has("avx2") ? ["avx2"] : []),
  ...(["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"].every((f) => cpuFlags.has(f)) ? ["avx512"] : [])] : ["scalar"];

test.before(() => {
  for (const [layout, out] of [["tq1_0", tq1], ["tl1", tl1], ["tq2_0", tq2]]) {
    const r = spawnSync(process.execPath, [CLI, "convert", SOURCE, "--layout", layout, "-o", out, "--quiet"], { encoding: "utf8" });
    assert.is(r.status, 0, `convert ${layout}: ${r.stderr}`);
  }
  writeFileSync(tokens, Buffer.from(Int32Array.from({ length: 48 }, (_, i) => (i * 37 + 11) % 1000).buffer));
  console.log(`repack.test.ts: x86 paths tested: ${ISAS.join(", ")}`);
});
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("unpack --as-tq2_0: the repacked bytes of every TQ1_0 and TL1 tensor equal the TS converter's TQ2_0 tensor, on every path", async () => {
  const f2 = await readGguf(tq2);
  const out = join(tmp, "repacked.bin");
  for (const src of SOURCES) {
    const f1 = await readGguf(src.file);
    const ternary = f1.tensors.filter((t) => t.type === src.type);
    assert.is(ternary.length, 28, src.layout);
    for (const isa of ISAS) for (const t of ternary) {
      const info = lastJson(ok(["unpack", "-m", src.file, "--tensor", t.name, "--as-tq2_0", "-o", out, "--isa", isa]));
      assert.is(info.isa, isa);
      const want = await readTensorData(f2, f2.tensors.find((x) => x.name === t.name)!);
      const got = readFileSync(out);
      assert.is(got.length, want.length, `${t.name}: ${got.length} bytes, TQ2_0 has ${want.length}`);
      assert.ok(Buffer.compare(got, Buffer.from(want.buffer, want.byteOffset, want.byteLength)) === 0, `${src.layout} ${t.name} --isa ${isa}: bytes differ from the TS packer's`);
    }
  }
});

test("logits with --repack on are bit-identical to --repack off and to the TQ2_0 artifact, decode and prefill, every path", () => {
  const logits = (model: string, isa: string, extra: string[]) => {
    const out = join(tmp, "logits.bin");
    ok(["logits", "-m", model, "--tokens", tokens, "-o", out, "-t", "2", "--isa", isa, ...extra]);
    return readFileSync(out);
  };
  for (const isa of ISAS) {
    for (const batch of [["-b", "1"], ["-b", "48"]]) {
      const tq2Logits = logits(tq2, isa, batch);
      for (const src of SOURCES) {
        const off = logits(src.file, isa, ["--repack", "off", ...batch]);
        assert.ok(Buffer.compare(logits(src.file, isa, ["--repack", "on", ...batch]), off) === 0, `${src.layout} --isa ${isa} ${batch.join(" ")}: repack changed the logits`);
        assert.ok(Buffer.compare(tq2Logits, off) === 0, `${src.layout} --isa ${isa} ${batch.join(" ")}: the TQ2_0 artifact differs`);
      }
    }
  }
});

test("--repack auto: TQ1_0 and TL1 on avx2; off for scalar, avx512, TQ2_0 files and --float-ref", () => {
  const would = (model: string, args: string[]) => lastJson(ok(["info", "-m", model, "--json", ...args])).repack;
  for (const isa of ISAS) {
    assert.is(would(tq1, ["--isa", isa]), isa === "avx2", `TQ1_0 auto on ${isa}`);
    assert.is(would(tl1, ["--isa", isa]), isa === "avx2", `TL1 auto on ${isa}`);
    assert.is(would(tl1, ["--isa", isa, "--repack", "on"]), true);
    assert.is(would(tq1, ["--isa", isa, "--repack", "on"]), true);
    assert.is(would(tq1, ["--isa", isa, "--repack", "off"]), false);
    assert.is(would(tq2, ["--isa", isa, "--repack", "on"]), false, "nothing to repack in a TQ2_0 file");
    assert.is(would(tq1, ["--isa", isa, "--repack", "on", "--float-ref"]), false, "the float reference reads the file's bytes");
  }
  const bench = (args: string[]) => lastJson(ok(["bench", "-m", tq1, "-p", "0", "-n", "2", "-r", "1", "--json", ...args]));
  assert.is(bench(["--repack", "on"]).repacked_tensors, 28);
  assert.is(bench(["--repack", "off"]).repacked_tensors, 0);
  const ppl = lastJson(ok(["perplexity", "-m", tq1, "--tokens", tokens, "-c", "16", "--json", "--repack", "on"]));
  assert.is(ppl.repacked_tensors, 28);
});

test("--repack with a bad value, and --as-tq2_0 on a tensor that is not TQ1_0, exit 2 with one clear line", () => {
  const bad = rt(["bench", "-m", tq1, "--repack", "sometimes"]);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, "--repack must be auto, on or off (got 'sometimes')");
  const none = rt(["bench", "-m", tq1, "--repack"]);
  assert.is(none.status, 2);
  assert.match(none.stderr, "option --repack needs a value");
  const wrong = rt(["unpack", "-m", tq2, "--tensor", "blk.0.attn_q.weight", "--as-tq2_0", "-o", join(tmp, "x.bin")]);
  assert.is(wrong.status, 2);
  assert.match(wrong.stderr, `${tq2}: tensor blk.0.attn_q.weight is TQ2_0; --as-tq2_0 repacks TQ1_0 tensors and TL1 ones with K a multiple of 256`);
  assert.is(wrong.stderr.trim().split("\n").length, 1);
});

test("a TL1 nibble above 8 (no converter writes one) keeps its tensor TL1: same logits repacked or not; unpack --as-tq2_0 refuses it", async () => {
  const bytes = readFileSync(tl1);
  const t = (await readGguf(tl1)).tensors.find((x) => x.name === "blk.0.attn_v.weight")!;
  // high nibble 15: T = 4 for the reference decoder and every kernel (attn_v: no relu² gate can hide it)
  for (let i = 100; i < t.nbytes - 32; i += 997) bytes[t.dataOffset + i] = 0xf3;
  const bad = join(tmp, "tl1-nibble15.gguf");
  writeFileSync(bad, bytes);
  const out = join(tmp, "bad-logits.bin");
  const run = (repack: string) => {
    ok(["logits", "-m", bad, "--tokens", tokens, "-o", out, "-t", "2", "--isa", "avx2", "--repack", repack]);
    return readFileSync(out);
  };
  const off = run("off");
  assert.ok(Buffer.compare(run("on"), off) === 0, "the bad tensor was repacked");
  const good = join(tmp, "good-logits.bin");
  ok(["logits", "-m", tl1, "--tokens", tokens, "-o", good, "-t", "2", "--isa", "avx2", "--repack", "off"]);
  assert.ok(Buffer.compare(readFileSync(good), off) !== 0, "the mutation changed nothing: the test would not see a repack");
  const r = rt(["unpack", "-m", bad, "--tensor", "blk.0.attn_v.weight", "--as-tq2_0", "-o", join(tmp, "never.bin")]);
  assert.is(r.status, 2);
  assert.match(r.stderr, `${bad}: tensor blk.0.attn_v.weight has a TL1 nibble above 8 (a code TQ2_0 cannot hold); it cannot be repacked`);
  assert.not.ok(existsSync(join(tmp, "never.bin")), "nothing is written on bad input");
});

test.run();
