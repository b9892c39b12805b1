// The library API as a user imports it: `import { pull, convert, verify, inspect } from "bitconv"`
// (resolved through package.json "exports", the way a dependent package would).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "bitconv-api-"));
// A variable keeps tsc from resolving the package to its own (not yet built) declarations.
const pkg = "bitconv";
type Api = typeof import("../src/index.js");
const api = (await import(pkg)) as Api;

test("the package exports the four commands and the building blocks", () => {
  for (const name of ["pull", "convert", "verify", "inspect", "generate", "openCheckpoint", "readGguf", "getLayout"] as const) {
    assert.type(api[name], "function", name);
  }
  assert.match(api.VERSION, /^\d+\.\d+\.\d+/);
});

test("convert -> inspect -> verify through the API on the bundled bf16 checkpoint", async () => {
  const output = join(work, "tiny-tq1_0.gguf");
  const converted = await api.convert({ modelDir: join(root, "fixtures/tiny-bitnet-b1.58-bf16"), layout: "tq1_0", output, quiet: true, threads: 1 });
  assert.ok(existsSync(output));
  assert.is(converted.output, output);

  const seen = await api.inspect({ source: output, stats: false });
  assert.is(seen.architecture, "bitnet");
  const q = seen.tensors.find((t) => t.name === "blk.0.attn_q.weight");
  assert.ok(q, "attn_q listed");
  assert.is(q.type, "TQ1_0");

  const checked = await api.verify({ artifact: output, ctx: 128, chunks: 8, bench: false, threads: 1 });
  assert.is(checked.ctx, 128);
  assert.is(checked.chunks, 8);
  assert.is(checked.tokens_scored, 8 * 63);
  assert.ok(checked.perplexity !== null && checked.perplexity > 5 && checked.perplexity < 100, `ppl ${checked.perplexity}`);
  assert.ok(checked.reference && checked.reference.kind === "float-ref");
  assert.ok(checked.passed, checked.failures.join("; "));
});

test("bad input surfaces as BitconvError with exit code 2", async () => {
  try {
    await api.convert({ modelDir: join(work, "no-such-model"), layout: "tq2_0", output: join(work, "x.gguf"), quiet: true });
    assert.unreachable("convert accepted a missing folder");
  } catch (e) {
    assert.instance(e, api.BitconvError);
    assert.is((e as InstanceType<typeof api.BitconvError>).exitCode, 2);
  }
  assert.not.ok(existsSync(join(work, "x.gguf")));
});

test.after(() => rmSync(work, { recursive: true, force: true }));
test.run();
