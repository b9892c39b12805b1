// Without a working C compiler: the install finishes, convert and inspect work, and verify / generate
// stop with one line saying why the runtime is unavailable and how to fix it (which compiler is
// missing, or that it failed). Runs on a copy of the package with no runtime built
// (test/helpers/package-copy.ts), so this checkout's runtime is not touched.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { packageCopy } from "./helpers/package-copy.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const FIXTURE = join(ROOT, "fixtures/tiny-bitnet-b1.58");
const tmp = mkdtempSync(join(tmpdir(), "bitconv-nocc-"));
const pkg = packageCopy(join(tmp, "pkg"));
const model = join(tmp, "tiny.gguf");
const builtRuntime = join(pkg.root, "kernels-c/build/bitconv-rt");

function run(args: string[], cc: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, CC: cc };
  delete env.BITCONV_RT;
  return spawnSync(process.execPath, args, { encoding: "utf8", env, maxBuffer: 64 << 20 });
}
const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("no compiler: the install step warns in one line and succeeds", () => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: { prepare: string } }).scripts;
  assert.match(scripts.prepare, /&& node dist\/scripts\/build-runtime\.js$/, "npm ci's prepare builds the runtime through this step");
  const r = run([join(pkg.root, "dist/scripts/build-runtime.js")], "/nonexistent/cc");
  assert.is(r.status, 0, r.stderr);
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /^bitconv: warning: the C runtime \(.*\) is not built and '\/nonexistent\/cc' is not on PATH/);
  assert.not.ok(existsSync(builtRuntime));
});

test("no compiler: convert and inspect work", () => {
  const c = run([pkg.cli, "convert", FIXTURE, "--layout", "i2_s", "-o", model, "-q"], "/nonexistent/cc");
  assert.is(c.status, 0, c.stderr);
  assert.ok(existsSync(model));
  const i = run([pkg.cli, "inspect", model, "--json"], "/nonexistent/cc");
  assert.is(i.status, 0, i.stderr);
  assert.is((JSON.parse(i.stdout) as { format: { layout: string } }).format.layout, "i2_s");
});

for (const [name, args] of [
  ["verify", ["verify", model, "--source", FIXTURE, "--chunks", "2"]],
  ["generate", ["generate", model, "--prompt", "In the beginning", "-n", "4"]],
] as const) {
  test(`no compiler: ${name} says in one line that the runtime is unavailable, which compiler is missing and how to fix it`, () => {
    const r = run([pkg.cli, ...args], "/nonexistent/cc");
    assert.is(r.status, 1, r.stderr);
    const l = lines(r.stderr);
    assert.is(l.length, 1, r.stderr);
    assert.match(l[0], `bitconv: the C runtime (${builtRuntime}) is not built and '/nonexistent/cc' is not on PATH (convert and inspect work without it): `);
    assert.match(l[0], /install a C compiler and make \(Debian\/Ubuntu: apt-get install gcc make; .*\), or set CC, then run 'make -C /);
    assert.not.ok(existsSync(builtRuntime));
  });
}

test("a compiler that fails: verify's last line says the build failed with it and what it needs", () => {
  const r = run([pkg.cli, "verify", model, "--source", FIXTURE, "--chunks", "2"], "false");
  assert.is(r.status, 1, r.stderr);
  const last = lines(r.stderr).at(-1) ?? "";
  assert.match(last, /^bitconv: building the C runtime with false failed \(make -C .* exited 2, its output is above; convert and inspect work without it\): it needs a C11 compiler with pthreads, e\.g\. CC=gcc or CC=clang$/);
  assert.not.ok(existsSync(builtRuntime));
});

test.run();
