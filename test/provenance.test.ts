// Provenance (issue 7): the artifact records where its bytes came from, and verify can check an
// artifact against that record — in a given folder, or at the recorded repo and commit in the Hub cache.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, unlinkSync } from "node:fs";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convert } from "../src/convert/index.js";
import { resolveModelSource } from "../src/hub/pull.js";
import { readGguf, ggufValue } from "../src/gguf/reader.js";
import { checkRecordedSource } from "../src/verify/provenance.js";
import { MockHub } from "./helpers/mockHub.js";

const root = new URL("../..", import.meta.url).pathname;
const fixture = join(root, "fixtures/tiny-bitnet-b1.58");
const work = mkdtempSync(join(tmpdir(), "bitconv-prov-"));
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("the artifact records the sha256 of every input file", async () => {
  const src = join(work, "src");
  cpSync(fixture, src, { recursive: true });
  const out = join(work, "a.gguf");
  await convert({ modelDir: src, layout: "tq2_0", output: out, quiet: true, threads: 1 });
  const recorded = ggufValue(await readGguf(out), "bitconv.source.files") as string[];
  const expected = readdirSync(src).sort().map((f) => `${f} ${sha(readFileSync(join(src, f)))}`);
  assert.equal([...recorded].sort(), expected);
});

test("check-source passes on the same files and names each changed or missing one", async () => {
  const src = join(work, "src");
  const out = join(work, "a.gguf");
  const same = await checkRecordedSource(out, src);
  assert.ok(same.passed);
  assert.is(same.mismatches.length, 0);
  assert.is(same.files.length, readdirSync(src).length);

  const cfg = join(src, "tokenizer_config.json");
  writeFileSync(cfg, readFileSync(cfg, "utf8").replace("256", "257"));
  unlinkSync(join(src, "generation_config.json"));
  const changed = await checkRecordedSource(out, src);
  assert.not.ok(changed.passed);
  assert.equal(changed.mismatches.map((m) => m.path).sort(), ["generation_config.json", "tokenizer_config.json"]);
  assert.is(changed.mismatches.find((m) => m.path === "generation_config.json")!.actual, null);
});

test("a pulled model records repo and commit, and check-source finds the snapshot in the cache", async () => {
  const hub = await MockHub.start();
  try {
    const files: Record<string, Buffer> = {};
    for (const f of readdirSync(fixture)) files[f] = readFileSync(join(fixture, f));
    const repo = hub.addRepo("tiny/bitnet", files);
    const hubOpts = { endpoint: hub.url, cacheDir: join(work, "cache"), offline: false, quiet: true };
    const src = await resolveModelSource("tiny/bitnet", hubOpts);
    assert.is(src.commit, repo.commit);
    const out = join(work, "pulled.gguf");
    await convert({ modelDir: src.dir, layout: "i2_s", output: out, quiet: true, threads: 1, sourceRepo: src.repo, sourceCommit: src.commit });
    const file = await readGguf(out);
    assert.is(ggufValue(file, "bitconv.source.repo"), "tiny/bitnet");
    assert.is(ggufValue(file, "bitconv.source.commit"), repo.commit);
    const check = await checkRecordedSource(out, undefined, { ...hubOpts, offline: true });
    assert.ok(check.passed, JSON.stringify(check.mismatches));
    assert.is(check.dir, src.dir);
  } finally {
    await hub.close();
  }
});

test("verify --check-source: exit 0 on the recorded inputs, 1 naming the changed file", () => {
  const out = join(work, "a.gguf");
  const pristine = join(work, "pristine");
  cpSync(fixture, pristine, { recursive: true });
  const run = (dir: string) =>
    spawnSync(process.execPath, [join(root, "dist/src/cli.js"), "verify", out, "--check-source", dir, "--ctx", "128", "--chunks", "2", "--no-bench", "--json", "--quiet"], { encoding: "utf8" });
  const good = run(pristine);
  assert.is(good.status, 0, good.stderr);
  const goodJson = JSON.parse(good.stdout) as { passed: boolean; source_check: { mismatches: unknown[]; files: unknown[] } };
  assert.ok(goodJson.passed);
  assert.is(goodJson.source_check.mismatches.length, 0);
  assert.is(goodJson.source_check.files.length, 5);
  const bad = run(join(work, "src")); // changed by the test above
  assert.is(bad.status, 1, bad.stderr);
  const badJson = JSON.parse(bad.stdout) as { passed: boolean; failures: string[] };
  assert.not.ok(badJson.passed);
  assert.ok(badJson.failures.some((f) => f.includes("tokenizer_config.json changed since conversion")), badJson.failures.join("; "));
  assert.ok(badJson.failures.some((f) => f.includes("generation_config.json is missing")));
});

test("an artifact without a recorded source is refused with a clear error", async () => {
  const foreign = join(work, "foreign.gguf");
  // a minimal valid GGUF v3 with one key and no tensors
  const key = Buffer.from("general.architecture");
  const val = Buffer.from("bitnet");
  const parts = [Buffer.from("GGUF"), u32(3), u64(0), u64(1), u64(key.length), key, u32(8), u64(val.length), val];
  writeFileSync(foreign, Buffer.concat(parts));
  try {
    await checkRecordedSource(foreign, work);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /records no source files/);
  }
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

test.after(() => rmSync(work, { recursive: true, force: true }));
test.run();
