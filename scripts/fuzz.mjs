#!/usr/bin/env node
// Builds and runs the libFuzzer harness of the C GGUF loader (kernels-c/fuzz/fuzz_gguf.c) under
// ASan + UBSan, seeded with every valid model kernels-c/test/test_gguf.c builds plus
// kernels-c/fuzz/corpus/ (reproducers of past findings). docs/security.md records the figures.
//
//   npm run fuzz -- [--seconds N] [--coverage] [--out DIR]
//
// DIR (default kernels-c/build/fuzz) holds the harness, the growing corpus and crashes/.
// --coverage then rebuilds the harness with clang's source coverage and replays the corpus through it
// (llvm-profdata + llvm-cov), printing line coverage of gguf.c, model.c and util.c.
// Needs clang with libFuzzer (Debian: apt-get install clang; libclang-rt-14-dev where the fuzzer
// runtime is split out). Without it, says so and exits 3.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const kc = join(root, "kernels-c");
const args = process.argv.slice(2);
const optStr = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const opt = (name, def) => (optStr(name) !== undefined ? Number(optStr(name)) : def);
const out = resolve(optStr("--out") ?? join(kc, "build", "fuzz"));
const seconds = opt("--seconds", 60);
const coverage = args.includes("--coverage");
if (!Number.isInteger(seconds) || seconds < 1) {
  console.error("usage: npm run fuzz -- [--seconds N] [--coverage] [--out DIR]");
  process.exit(2);
}

const SOURCES = ["fuzz/fuzz_gguf.c", "src/gguf.c", "src/model.c", "src/util.c"];
const BASE = ["-std=c11", "-Wall", "-Wextra", "-D_GNU_SOURCE", "-pthread", "-g", "-Isrc"];

function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { cwd: kc, encoding: "utf8", ...opts });
  if (r.error) return { status: 127, stdout: "", stderr: r.error.message };
  return r;
}

/** The first of the names that runs (`name ...probe` exits 0), or undefined. */
function tool(probe, ...names) {
  return names.find((n) => sh(n, probe).status === 0);
}

const clang = tool(["--version"], "clang", "clang-14", "clang-15", "clang-16");
if (!clang) {
  console.error("fuzz: clang not found; the fuzzer needs clang with libFuzzer (Debian: apt-get install clang, and libclang-rt-14-dev if -fsanitize=fuzzer does not link)");
  process.exit(3);
}
mkdirSync(join(out, "corpus"), { recursive: true });
mkdirSync(join(out, "crashes"), { recursive: true });

const harness = join(out, "fuzz_gguf");
const build = sh(clang, [...BASE, "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=undefined", "-o", harness, ...SOURCES, "-lm"]);
if (build.status !== 0) {
  const why = /fuzzer|libclang_rt/.test(build.stderr) ? " (libFuzzer runtime missing? Debian: apt-get install libclang-rt-14-dev)" : "";
  console.error(`fuzz: ${clang} could not build the harness${why}:\n${build.stderr}`);
  process.exit(3);
}
const seeds = sh("make", ["-s", "build/test_gguf"]);
if (seeds.status !== 0) {
  console.error(`fuzz: make build/test_gguf failed:\n${seeds.stderr}`);
  process.exit(1);
}
const w = sh(join(kc, "build", "test_gguf"), ["--write-corpus", join(out, "corpus")]);
if (w.status !== 0) {
  console.error(`fuzz: writing the seed corpus failed:\n${w.stderr}`);
  process.exit(1);
}

console.log(`fuzz: ${harness}, ${seconds} s; crashes go to ${join(out, "crashes")}/`);
const run = spawnSync(harness, [
  `-max_total_time=${seconds}`, "-print_final_stats=1", `-artifact_prefix=${join(out, "crashes")}/`, "-rss_limit_mb=2048",
  join(out, "corpus"), join(kc, "fuzz", "corpus"),
], { cwd: out, encoding: "utf8", maxBuffer: 1 << 30 });
const log = `${run.stdout ?? ""}${run.stderr ?? ""}`;
const execs = [...log.matchAll(/stat::number_of_executed_units:\s*(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
const cov = [...log.matchAll(/cov: (\d+) ft: (\d+)/g)].pop();
const crashes = readdirSync(join(out, "crashes"));
console.log(`fuzz: ${execs} executions, ${cov ? `${cov[1]} edges (${cov[2]} features)` : "no coverage line"}, corpus ${readdirSync(join(out, "corpus")).length} files, ${crashes.length} crash file(s)`);
if (run.status !== 0 || crashes.length > 0) {
  console.error(log.split("\n").filter((l) => /ERROR|SUMMARY|runtime error|==\d+==|Test unit written|deadly signal/.test(l)).slice(0, 40).join("\n"));
  console.error(`fuzz: FAILED (exit ${run.status}); reproduce with ${harness} ${join(out, "crashes")}/<file>`);
  process.exit(1);
}

if (coverage) reportCoverage();

function reportCoverage() {
  const profdata = tool(["merge", "--help"], "llvm-profdata", "llvm-profdata-14");
  const llvmCov = tool(["--version"], "llvm-cov", "llvm-cov-14");
  if (!profdata || !llvmCov) {
    console.log("fuzz: --coverage needs llvm-profdata and llvm-cov (Debian: apt-get install llvm); skipped");
    return;
  }
  const covBin = join(out, "fuzz_gguf_cov");
  const b = sh(clang, [...BASE, "-O0", "-fsanitize=fuzzer", "-fprofile-instr-generate", "-fcoverage-mapping", "-o", covBin, ...SOURCES, "-lm"]);
  if (b.status !== 0) {
    console.log(`fuzz: coverage build failed:\n${b.stderr}`);
    return;
  }
  const raw = join(out, "cov.profraw");
  rmSync(raw, { force: true });
  sh(covBin, ["-runs=0", join(out, "corpus"), join(kc, "fuzz", "corpus")], { env: { ...process.env, LLVM_PROFILE_FILE: raw } });
  const merged = join(out, "cov.profdata");
  sh(profdata, ["merge", "-sparse", raw, "-o", merged]);
  const rep = sh(llvmCov, ["report", covBin, `-instr-profile=${merged}`, "src/gguf.c", "src/model.c", "src/util.c"]);
  console.log(rep.stdout || rep.stderr);
}
