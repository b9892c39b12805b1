// kernels-c on aarch64, emulated: cross-builds with the project's Makefile (`make cross-aarch64`) and runs
// the C test binaries under qemu-aarch64 on two CPUs, `-cpu max` (NEON + dotprod + i8mm) and
// `-cpu cortex-a53` (plain ARMv8.0): each binary tests every path the CPU reports against the scalar
// reference, as on x86. Then `bitconv-rt perplexity` of every layout of the bundled model under qemu must
// agree with x86's result as closely as the x86 paths agree among themselves. Needs Debian's
// gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (.ci/run installs them): without them the
// tests fail under CI=true and print a loud notice elsewhere. test_kernels reads its weights, packed by
// the TS layout modules, from a file scripts/kernel-weights.ts writes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { writeKernelWeights } from "../scripts/kernel-weights.js";
import { has, missingAarch64Tools, SYSROOT, whenAvailable } from "./helpers/aarch64.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const KDIR = join(ROOT, "kernels-c");
const ARM = join(KDIR, "build-aarch64");
const RT = join(KDIR, "build/bitconv-rt");
const CLI = join(ROOT, "dist/src/cli.js");
const LAYOUTS = ["tq1_0", "tq2_0", "i2_s", "tl1", "tl2"] as const;
const CPUS = { max: ["scalar", "neon", "dotprod", "i8mm"], "cortex-a53": ["scalar", "neon"] } as const;

whenAvailable("arm.test.ts", "the aarch64 checks", missingAarch64Tools(), registerTests);

function qemu(cpu: string, bin: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync("qemu-aarch64", ["-L", SYSROOT, "-cpu", cpu, bin, ...args], {
    encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, ...env },
  });
}

function pplJson(stdout: string): { perplexity: number; isa: string } {
  const line = stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  assert.ok(line, `no JSON result in: ${stdout}`);
  return JSON.parse(line as string) as { perplexity: number; isa: string };
}

function registerTests(): void {
  const tmp = mkdtempSync(join(tmpdir(), "bitconv-arm-"));
  const tokens = join(tmp, "dev.bin");
  const model = (l: string) => join(tmp, `${l}.gguf`);
  const weights = join(tmp, "kernel-weights.gguf");
  const PPL = ["-c", "64", "--chunks", "2", "-t", "2", "--json"];

  test.before(async () => {
    await writeKernelWeights(weights);
    for (const args of [["-s", "-C", KDIR, "all"], ["-s", "-C", KDIR, "cross-aarch64", "CFLAGS=-O2 -Werror"]]) {
      const r = spawnSync("make", args, { encoding: "utf8", maxBuffer: 64 << 20 });
      assert.is(r.status, 0, `make ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
    }
    const fix = join(ROOT, "fixtures/tiny-bitnet-b1.58");
    const tok = new Tokenizer(JSON.parse(readFileSync(join(fix, "tokenizer.json"), "utf8")),
      JSON.parse(readFileSync(join(fix, "tokenizer_config.json"), "utf8")));
    const ids = tok.encode(readFileSync(join(ROOT, "fixtures/text/kjv-dev.txt"), "utf8")).ids.slice(0, 4096);
    writeFileSync(tokens, Buffer.from(Int32Array.from(ids).buffer));
    for (const l of LAYOUTS) {
      const r = spawnSync(process.execPath, [CLI, "convert", fix, "-o", model(l), "-q", "--layout", l], { encoding: "utf8" });
      assert.is(r.status, 0, `convert ${l}: ${r.stderr}`);
    }
  });
  test.after(() => rmSync(tmp, { recursive: true, force: true }));

  test("make cross-aarch64 builds the runtime and every C test warning-free (-Werror)", () => {
    for (const b of ["bitconv-rt", "test_kernels", "test_runtime", "test_gguf", "test_gemm_f32"]) assert.ok(existsSync(join(ARM, b)), b);
    const file = spawnSync("file", [join(ARM, "bitconv-rt")], { encoding: "utf8" }).stdout;
    if (file) assert.match(file, /aarch64|ARM aarch64/);
  });

  for (const [cpu, isas] of Object.entries(CPUS)) {
    // test_gguf exercises parsing, not the ISA paths: once, on one CPU (it is the slowest under qemu)
    const bins = cpu === "max" ? ["test_kernels", "test_runtime", "test_gemm_f32", "test_gguf"] : ["test_kernels", "test_runtime", "test_gemm_f32"];
    test(`qemu -cpu ${cpu}: the C tests pass on every path the CPU reports (${isas.join(", ")})`, () => {
      for (const b of bins) {
        const r = qemu(cpu, join(ARM, b), b === "test_kernels" ? [weights] : [], { BITCONV_TEST_QUICK: "1" });
        assert.is(r.status, 0, `${b} under -cpu ${cpu} exited ${r.status}:\n${r.stdout.slice(-4000)}\n${r.stderr}`);
        if (b === "test_kernels") assert.match(r.stdout, `ISAs tested: ${isas.join(", ")}\n`);
      }
    });
  }

  test("perplexity of every layout under qemu agrees with x86 as the x86 paths agree among themselves", () => {
    const x86isas = ["scalar", "avx2", "avx512"]; // lowered to what this host has
    for (const l of LAYOUTS) {
      const x86 = x86isas.map((isa) => {
        const r = spawnSync(RT, ["perplexity", "-m", model(l), "--tokens", tokens, ...PPL, "--isa", isa], { encoding: "utf8" });
        assert.is(r.status, 0, `x86 ${l} --isa ${isa}: ${r.stderr}`);
        return pplJson(r.stdout).perplexity;
      });
      const ref = x86[0];
      const spread = Math.max(...x86.map((p) => Math.abs(p - ref) / ref));
      const tol = Math.max(1e-4, 2 * spread); // the 1e-4 relative, or twice what x86 itself shows
      const runs: [string, string[]][] = [["max", []], ["cortex-a53", []]];
      if (l === "tq2_0") for (const isa of CPUS.max) runs.push(["max", ["--isa", isa]]);
      for (const [cpu, extra] of runs) {
        const r = qemu(cpu, join(ARM, "bitconv-rt"), ["perplexity", "-m", model(l), "--tokens", tokens, ...PPL, ...extra]);
        assert.is(r.status, 0, `qemu -cpu ${cpu} ${l} ${extra.join(" ")}: ${r.stderr}`);
        const got = pplJson(r.stdout);
        const want = extra.length ? extra[1] : CPUS[cpu as keyof typeof CPUS].at(-1);
        assert.is(got.isa, want, `-cpu ${cpu} ${extra.join(" ")} runs ${want}`);
        assert.ok(Math.abs(got.perplexity - ref) / ref <= tol,
          `${l} -cpu ${cpu} ${got.isa}: ${got.perplexity} vs x86 scalar ${ref} (x86 spread ${spread.toExponential(2)})`);
      }
    }
  });

  test("--repack on under qemu: TQ1_0 and TL1 run as TQ2_0 with bit-identical logits on every ARM path; auto leaves them", () => {
    const few = join(tmp, "few.bin");
    writeFileSync(few, Buffer.from(Int32Array.from({ length: 24 }, (_, i) => (i * 37 + 11) % 1000).buffer));
    for (const l of ["tq1_0", "tl1"]) {
      const logits = (isa: string, repack: string) => {
        const out = join(tmp, `logits-${l}-${isa}-${repack}.bin`);
        const r = qemu("max", join(ARM, "bitconv-rt"), ["logits", "-m", model(l), "--tokens", few, "-o", out, "-t", "2", "--isa", isa, "--repack", repack]);
        assert.is(r.status, 0, `${l} logits --isa ${isa} --repack ${repack}: ${r.stderr}`);
        return readFileSync(out);
      };
      for (const isa of CPUS.max) assert.ok(Buffer.compare(logits(isa, "on"), logits(isa, "off")) === 0, `${l} --isa ${isa}: repack changed the logits`);
      const info = qemu("max", join(ARM, "bitconv-rt"), ["info", "-m", model(l), "--json"]);
      assert.is(info.status, 0, info.stderr);
      assert.is((JSON.parse(info.stdout) as { repack: boolean }).repack, false, `${l}: auto repacks only on x86 (unmeasured on ARM)`);
    }
  });

  test("--isa on aarch64: another architecture's path is refused, a missing extension is lowered", () => {
    const bad = qemu("max", join(ARM, "bitconv-rt"), ["info", "-m", model("i2_s"), "--isa", "avx2"]);
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /--isa avx2: this CPU is aarch64; its paths are scalar, neon, dotprod, i8mm/);
    const env = qemu("max", join(ARM, "bitconv-rt"), ["info", "-m", model("i2_s")], { BITCONV_ISA: "avx512" });
    assert.is(env.status, 2, "BITCONV_ISA is checked the same way");
    const low = qemu("cortex-a53", join(ARM, "bitconv-rt"), ["perplexity", "-m", model("tq1_0"), "--tokens", tokens, "-c", "32", "--chunks", "1", "--json", "--isa", "i8mm"]);
    assert.is(low.status, 0, low.stderr);
    assert.is(pplJson(low.stdout).isa, "neon", "a Cortex-A53 has no i8mm: lowered to neon");
  });

  // macOS arm64 cannot be built here without Apple's SDK: `make check-macos` compiles every source to a
  // Mach-O object with clang (the Linux aarch64 libc headers standing in), so isa.c's sysctl branch and
  // the dotprod / i8mm target attributes are at least compiled and assembled for that target
  test("make check-macos: every source compiles warning-free to a Mach-O arm64 object (isa.c uses sysctlbyname)", () => {
    if (!has("clang")) {
      if (process.env.CI === "true") assert.unreachable("clang is not installed");
      console.error("!! NOT RUN: make check-macos needs clang (apt-get install clang)");
      return;
    }
    const r = spawnSync("make", ["-s", "-C", KDIR, "check-macos"], { encoding: "utf8", maxBuffer: 64 << 20 });
    assert.is(r.status, 0, `make check-macos:\n${r.stdout}\n${r.stderr}`);
    const obj = readFileSync(join(KDIR, "build-macos/isa.o"));
    assert.is(obj.readUInt32LE(0), 0xfeedfacf, "64-bit Mach-O magic");
    assert.is(obj.readUInt32LE(4), 0x0100000c, "CPU type arm64");
    assert.ok(obj.includes("_sysctlbyname"), "the Apple branch of isa.c was compiled");
    assert.ok(!obj.includes("getauxval"), "not the Linux one");
  });
}

test.run();
