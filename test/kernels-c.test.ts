// Drives the C tests: builds them (`make -C kernels-c tests asan`) and runs every build/test_* and
// build-asan/test_* binary (the ASan/UBSan builds with BITCONV_TEST_QUICK=1, which trims the largest
// shapes and the random-corruption rounds). Each binary exits non-zero on any failed check. test_kernels
// takes its weights, packed by the TS layout modules, from a file scripts/kernel-weights.ts writes here.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { writeKernelWeights } from "../scripts/kernel-weights.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const KDIR = join(ROOT, "kernels-c");
const tmp = mkdtempSync(join(tmpdir(), "bitconv-kernels-c-"));
const WEIGHTS = join(tmp, "kernel-weights.gguf");
test.before(() => writeKernelWeights(WEIGHTS).then(() => undefined));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function make(...targets: string[]): void {
  const r = spawnSync("make", ["-s", "-C", KDIR, ...targets], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.is(r.status, 0, `make ${targets.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
}

function binaries(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.startsWith("test_"))
    .sort()
    .map((n) => join(dir, n));
}

test("make builds the runtime, the C tests and their ASan/UBSan builds", () => {
  make("all", "tests", "asan");
  assert.ok(existsSync(join(KDIR, "build/bitconv-rt")), "build/bitconv-rt");
  assert.ok(existsSync(join(KDIR, "build-asan/bitconv-rt")), "build-asan/bitconv-rt");
  assert.ok(binaries(join(KDIR, "build")).length >= 2, "at least test_gguf and test_kernels");
  assert.equal(
    binaries(join(KDIR, "build")).map((p) => p.split("/").pop()),
    binaries(join(KDIR, "build-asan")).map((p) => p.split("/").pop()),
    "every C test also has an ASan build",
  );
});

test("test_kernels without its weights file exits 2 and says how to write one", () => {
  for (const args of [[], [join(tmp, "absent.gguf")]]) {
    const r = spawnSync(join(KDIR, "build/test_kernels"), args, { encoding: "utf8" });
    assert.is(r.status, 2, `test_kernels ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^[^\n]*node dist\/scripts\/kernel-weights\.js [^\n]*\n$/);
    assert.not.match(r.stdout, /checks/, "no checks ran");
  }
});

for (const [dir, quick] of [["build", false], ["build-asan", true]] as const) {
  test(`every ${dir}/test_* binary passes`, () => {
    const bins = binaries(join(KDIR, dir));
    assert.ok(bins.length > 0, `no test binaries in ${dir}`);
    for (const bin of bins) {
      const env: NodeJS.ProcessEnv = { ...process.env, ASAN_OPTIONS: "detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS: "print_stacktrace=1" };
      if (quick) env.BITCONV_TEST_QUICK = "1";
      const args = bin.endsWith("/test_kernels") ? [WEIGHTS] : [];
      const r = spawnSync(bin, args, { encoding: "utf8", env, maxBuffer: 64 << 20, timeout: 20 * 60 * 1000 });
      const out = `${r.stdout}\n${r.stderr}`;
      assert.is(r.status, 0, `${dir}/${bin.split("/").pop()} exited ${r.status ?? r.signal}:\n${out.slice(-4000)}`);
      assert.not.match(out, /runtime error:|AddressSanitizer|LeakSanitizer/, `${bin}: sanitizer report:\n${out.slice(-4000)}`);
    }
  });
}

test.run();
