// The TS packers, the C runtime's decoders and the source checkpoint agree on every ternary value and
// every scale, for every layout. (Spec <-> TS is proven by test/layouts.test.ts from the worked examples
// in formats/; spec <-> C by test/formats.test.ts and kernels-c/test/test_kernels.c.) Here: a real checkpoint, converted by the
// CLI, decoded independently by both sides.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCheckpoint, readTensorBytes, readWeightScale } from "../src/checkpoint/index.js";
import { readGguf, readTensorData, type GgufFile } from "../src/gguf/reader.js";
import { getLayout, LAYOUT_NAMES, unpackHfPacked, type TlParams } from "../src/layouts/index.js";

const root = new URL("../..", import.meta.url).pathname;
const cli = join(root, "dist/src/cli.js");
const runtime = join(root, "kernels-c/build/bitconv-rt");
const source = join(root, "fixtures/tiny-bitnet-b1.58");
const work = mkdtempSync(join(tmpdir(), "bitconv-agree-"));

function tlParamsOf(file: GgufFile, M: number, K: number): TlParams | undefined {
  const v = file.kv.get("bitconv.tl_params")?.value as number[] | undefined;
  if (!v) return undefined;
  for (let i = 0; i + 5 <= v.length; i += 5) {
    if (Number(v[i]) === M && Number(v[i + 1]) === K) return { BM: Number(v[i + 2]), BK: Number(v[i + 3]), bm: Number(v[i + 4]) };
  }
  throw new Error(`no bitconv.tl_params entry for ${M}x${K}`);
}

async function f32Tensor(file: GgufFile, name: string): Promise<number | undefined> {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) return undefined;
  const b = await readTensorData(file, t);
  return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
}

function runtimeUnpack(gguf: string, tensor: string): { T: Int8Array; scale: number } {
  const out = join(work, "unpacked.bin");
  const info = JSON.parse(
    execFileSync(runtime, ["unpack", "-m", gguf, "--tensor", tensor, "-o", out], { encoding: "utf8" }).trim(),
  ) as { scale: number };
  const bytes = readFileSync(out);
  return { T: new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), scale: info.scale };
}

for (const layout of LAYOUT_NAMES) {
  test(`${layout}: TS unpack, C unpack and the checkpoint give the same ternary matrices and scales`, async () => {
    const gguf = join(work, `${layout}.gguf`);
    execFileSync(process.execPath, [cli, "convert", source, "--layout", layout, "-o", gguf, "--quiet"], { stdio: "pipe" });
    const ckpt = await openCheckpoint(source);
    const file = await readGguf(gguf);
    const codec = getLayout(layout);
    let checked = 0;
    for (const p of ckpt.tensorMap.filter((x) => x.role === "ternary")) {
      const expected = unpackHfPacked(await readTensorBytes(p.weight), p.M / 4, p.K);
      const expectedScale = await readWeightScale(p.weightScale!); // autobitlinear: W = T * weight_scale
      const t = file.tensors.find((x) => x.name === p.ggufName);
      assert.ok(t, `${p.ggufName} missing from the artifact`);
      const ts = codec.unpack(await readTensorData(file, t), p.M, p.K, tlParamsOf(file, p.M, p.K));
      const tsScale = ts.scale * ((await f32Tensor(file, p.ggufName.replace(/\.weight$/, ".scale"))) ?? 1);
      const c = runtimeUnpack(gguf, p.ggufName);
      assert.equal(ts.T.length, expected.length);
      assert.ok(Buffer.compare(Buffer.from(ts.T.buffer, ts.T.byteOffset, ts.T.length), Buffer.from(expected.buffer, expected.byteOffset, expected.length)) === 0, `${p.ggufName}: TS unpack differs from the checkpoint`);
      assert.ok(Buffer.compare(Buffer.from(c.T.buffer, c.T.byteOffset, c.T.length), Buffer.from(expected.buffer, expected.byteOffset, expected.length)) === 0, `${p.ggufName}: C unpack differs from the checkpoint`);
      assert.equal(Math.fround(tsScale), Math.fround(expectedScale), `${p.ggufName}: TS scale`);
      // the runtime prints the f32 scale with 9 significant digits, enough to round-trip a float32
      assert.equal(Math.fround(c.scale), Math.fround(expectedScale), `${p.ggufName}: C scale`);
      checked++;
    }
    assert.equal(checked, 28);
  });
}

test.after(() => rmSync(work, { recursive: true, force: true }));
test.run();
