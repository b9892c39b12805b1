// Spec, TypeScript and C agree byte for byte: every worked example of formats/*.md for a GGUF layout is
// written as a one-tensor GGUF (the example's bytes exactly, with the TL parameters in
// bitconv.tl_params); the TS reader + layout unpacker and `bitconv-rt unpack` (the C loader and row
// decoder, once per --isa this CPU has) must both return the example's matrix and scale.
// (hf-packed examples are a checkpoint format, not a GGUF type: test/layouts.test.ts covers them.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readGguf, readTensorData } from "../src/gguf/reader.js";
import { LAYOUTS, layoutOfGgmlType, type LayoutName } from "../src/layouts/index.js";
import { buildGguf, VT, type KvSpec } from "./helpers/inspect-gguf.js";
import { exampleMatrix, loadExamples, type Example } from "./helpers/formats.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const RT = join(ROOT, "kernels-c/build/bitconv-rt");
const TENSOR = "blk.0.ffn_up.weight";
const tmp = mkdtempSync(join(tmpdir(), "bitconv-formats-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));

type GgufExample = Example & { layout: LayoutName };
const EXAMPLES = loadExamples().filter((e): e is GgufExample => e.layout !== "hf-packed");

/** The scale a reader must report: w from the tail, or the block d (no `.scale` tensor in the file). */
const expectedScale = (ex: GgufExample): number => Math.fround(LAYOUTS[ex.layout].scaleTensor ? (ex.d ?? 1) : ex.scale!);

function writeExample(ex: GgufExample, i: number): string {
  const layout = LAYOUTS[ex.layout];
  const kvs: KvSpec[] = [{ key: "bitconv.layout", type: VT.STRING, value: ex.layout }];
  if (ex.params) {
    const { BM, BK, bm } = ex.params;
    kvs.push({ key: "bitconv.tl_params", type: VT.ARRAY, subType: VT.UINT32, value: [ex.M, ex.K, BM, BK, bm] });
  }
  const file = join(tmp, `example-${i}-${ex.layout}.gguf`);
  writeFileSync(file, buildGguf(kvs, [{ name: TENSOR, ne: [ex.K, ex.M], type: layout.ggmlType, data: ex.bytes }]));
  return file;
}

/** The --isa values the runtime accepts, from its own usage text. */
function runtimeIsas(): string[] {
  const r = spawnSync(RT, [], { encoding: "utf8" });
  const m = /--isa ([a-z0-9|]+)/.exec(`${r.stdout}${r.stderr}`);
  if (!m) throw new Error(`bitconv-rt's usage names no --isa values:\n${r.stderr}`);
  return m[1].split("|");
}

function sameMatrix(got: Int8Array, want: Int8Array, K: number, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) assert.unreachable(`${what}: T[${Math.floor(i / K)}][${i % K}] = ${got[i]}, the example says ${want[i]}`);
  }
}

test("make builds bitconv-rt", () => {
  const r = spawnSync("make", ["-s", "-C", join(ROOT, "kernels-c"), "all"], { encoding: "utf8" });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
});

test("formats/*.md hold a worked example for every GGUF layout in the registry", () => {
  for (const name of Object.keys(LAYOUTS)) assert.ok(EXAMPLES.some((e) => e.layout === name), `no example for ${name}`);
});

const ISAS = runtimeIsas();
const ranOn = new Set<string>();
const otherArch = new Set<string>();

EXAMPLES.forEach((ex, i) => {
  test(`${ex.where} (${ex.layout} ${ex.M}x${ex.K}): spec = TS unpack = bitconv-rt unpack (${ISAS.join(", ")})`, async () => {
    const T = exampleMatrix(ex);
    const file = writeExample(ex, i);

    const f = await readGguf(file);
    const t = f.tensors.find((x) => x.name === TENSOR)!;
    const layout = layoutOfGgmlType(t.type);
    assert.is(layout?.name, ex.layout, `${ex.where}: the reader maps type ${t.type} to the layout`);
    assert.is(t.nbytes, ex.bytes.length, `${ex.where}: the reader's size rule`);
    const ts = layout!.unpack(await readTensorData(f, t), ex.M, ex.K, ex.params);
    sameMatrix(ts.T, T, ex.K, `${ex.where} TS`);
    assert.is(ts.scale, expectedScale(ex), `${ex.where} TS scale`);

    for (const isa of ISAS) {
      const out = join(tmp, `example-${i}-${isa}.i8`);
      const r = spawnSync(RT, ["unpack", "-m", file, "--tensor", TENSOR, "-o", out, "--isa", isa, "-t", "1"], { encoding: "utf8" });
      // another architecture's ISA (neon on x86, avx2 on ARM) is refused, as docs/runtime.md says
      if (r.status === 2 && /this CPU is [a-z0-9_]+; its paths are /.test(r.stderr)) {
        otherArch.add(isa);
        continue;
      }
      assert.is(r.status, 0, `${ex.where} C --isa ${isa}: ${r.stderr}`);
      const j = JSON.parse(r.stdout) as { scale: number; M: number; K: number; isa: string };
      if (j.isa !== isa) continue; // the CPU lacks this ISA: the runtime lowered the request (said below)
      ranOn.add(isa);
      assert.equal([j.M, j.K], [ex.M, ex.K], `${ex.where} C --isa ${isa}: shape`);
      assert.is(Math.fround(j.scale), expectedScale(ex), `${ex.where} C --isa ${isa}: scale`);
      sameMatrix(new Int8Array(readFileSync(out)), T, ex.K, `${ex.where} C --isa ${isa}`);
    }
  });
});

test("the C side ran on the scalar path and every ISA this CPU has", () => {
  assert.ok(ranOn.has("scalar"), "scalar never ran");
  const missing = ISAS.filter((x) => !ranOn.has(x) && !otherArch.has(x));
  if (otherArch.size) console.log(`formats.test: ${[...otherArch].join(", ")} belong to another architecture (refused here); test/arm.test.ts runs those under qemu`);
  if (missing.length) console.log(`formats.test: this CPU lacks ${missing.join(", ")}; bitconv-rt lowered those requests, so they were not compared`);
});

test.run();
