#!/usr/bin/env node
// Runs every compiled uvu test file (dist/test/**/*.test.js) in its own process, so one crash cannot
// hide the others, and ends with the one line CI reads: "N passed, N failed".
// Usage: node scripts/run-tests.mjs [substring ...]   (only files whose path contains one of them)
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const testDir = join(root, "dist", "test");
const filters = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const strip = (s) => s.replace(/\u001b\[[0-9;]*m/g, "");
let passed = 0, failed = 0;
const files = findTests(testDir).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
for (const file of files) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [file], {
    cwd: root, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0" }, maxBuffer: 256 * 1024 * 1024,
  });
  const out = strip((r.stdout ?? "") + (r.stderr ?? ""));
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const name = relative(testDir, file);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    failed += 1;
    process.stdout.write(`FAIL ${name}: no uvu summary (exit ${r.status ?? r.signal}) [${secs}s]\n${out}\n`);
    continue;
  }
  passed += ok;
  failed += total - ok - skipped;
  const bad = total - ok - skipped > 0 || r.status !== 0;
  if (bad && total - ok - skipped === 0) failed += 1; // non-zero exit with all tests green still fails
  process.stdout.write(`${bad ? "FAIL" : "ok  "} ${name}: ${ok}/${total} [${secs}s]\n`);
  if (bad) process.stdout.write(out + "\n");
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
