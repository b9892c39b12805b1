// A short run of the libFuzzer harness of the C GGUF loader (scripts/fuzz.mjs, docs/security.md):
// about 20 s under ASan + UBSan from the seed corpus, no crash, no sanitizer report. The long runs are
// done by hand (`npm run fuzz -- --seconds 600`). Needs clang with libFuzzer; without it the test
// says why it does not run.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const clang = ["clang", "clang-14", "clang-15", "clang-16"].find((c) => spawnSync(c, ["--version"]).status === 0);

test("the GGUF loader survives 20 s of libFuzzer under ASan and UBSan", () => {
  if (!clang) {
    console.log("  (not run: no clang on this host; CI installs it, see .ci/run; Debian: apt-get install clang)");
    return;
  }
  const out = mkdtempSync(join(tmpdir(), "bitconv-fuzz-"));
  try {
    const r = spawnSync(process.execPath, [join(ROOT, "scripts/fuzz.mjs"), "--seconds", "20", "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
    const log = `${r.stdout}${r.stderr}`;
    if (r.status === 3) {
      console.log(`  (not run: ${log.trim().split("\n")[0]})`);
      return;
    }
    assert.is(r.status, 0, log);
    const m = /fuzz: (\d+) executions, (\d+) edges.*, (\d+) crash file/.exec(log);
    assert.ok(m, `no summary line in ${log}`);
    assert.ok(Number(m![1]) > 1000, `only ${m![1]} executions`);
    assert.ok(Number(m![2]) > 200, `only ${m![2]} edges covered: the seeds do not reach the loader`);
    assert.is(Number(m![3]), 0);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test.run();
