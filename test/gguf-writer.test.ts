import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gguf } from "@huggingface/gguf";
import { encodeGgufHeader, GgufStreamWriter, kv, sha256File, stringElementOffsets } from "../src/gguf/writer.js";

const dir = mkdtempSync(join(tmpdir(), "bitconv-gguf-writer-"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("header bytes match the worked example of formats/gguf.md 1.3", () => {
  const layout = encodeGgufHeader(
    [kv.str("general.architecture", "bitnet"), kv.u32("bitnet.block_count", 1)],
    [
      { name: "a", ne: [3], type: 0, nbytes: 12 },
      { name: "b", ne: [256, 2], type: 35, nbytes: 132 },
    ],
  );
  const h = layout.header;
  assert.is(h.length, 192); // end of infos 178 -> padded to 0xC0
  assert.is(hex(h.subarray(0, 24)), "47475546" + "03000000" + "0200000000000000" + "0200000000000000");
  assert.is(hex(h.subarray(0x18, 0x20)), "1400000000000000");
  assert.is(Buffer.from(h.subarray(0x20, 0x34)).toString(), "general.architecture");
  assert.is(hex(h.subarray(0x34, 0x38)), "08000000");
  assert.is(hex(h.subarray(0x46, 0x4e)), "1200000000000000"); // 18 = "bitnet.block_count"
  assert.is(hex(h.subarray(0x60, 0x68)), "0400000001000000");
  // tensor a: name, n_dims 1, ne0 3, type 0, offset 0
  assert.is(hex(h.subarray(0x68, 0x89)), "0100000000000000" + "61" + "01000000" + "0300000000000000" + "00000000" + "0000000000000000");
  // tensor b: n_dims 2, 256, 2, type 35, offset 32
  assert.is(hex(h.subarray(0x89, 0xb2)), "0100000000000000" + "62" + "02000000" + "0001000000000000" + "0200000000000000" + "23000000" + "2000000000000000");
  assert.ok(h.subarray(0xb2).every((x) => x === 0));
  assert.equal(layout.offsets, [0, 32]);
  assert.is(layout.fileSize, 384);
});

test("streamed file parses with @huggingface/gguf: keys, types, offsets, data", async () => {
  const target = join(dir, "a.gguf");
  const kvs = [
    kv.str("general.architecture", "bitnet"),
    kv.u32("bitnet.block_count", 7),
    kv.f32("bitnet.attention.layer_norm_rms_epsilon", 1e-5),
    kv.bool("tokenizer.ggml.add_bos_token", true),
    kv.strArray("tokenizer.ggml.tokens", ["a", "ü", "<|x|>"]),
    kv.i32Array("tokenizer.ggml.token_type", [1, 1, 3]),
    kv.u32Array("bitconv.tl_params", [256, 512, 128, 64, 32]),
    kv.u64("x.big", 2n ** 40n),
  ];
  const tensors = [
    { name: "t0", ne: [5], type: 0, nbytes: 20 },
    { name: "t1", ne: [256, 3], type: 35, nbytes: 198 },
    { name: "t2", ne: [1], type: 0, nbytes: 4 },
  ];
  const w = await GgufStreamWriter.create(target, kvs, tensors);
  const d0 = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
  const d1 = Uint8Array.from({ length: 198 }, (_, i) => (i * 7) & 255);
  await w.writeTensor(d0);
  await w.write(d1.subarray(0, 100)); // one tensor in two pieces
  await w.write(d1.subarray(100));
  await w.writeTensor(Uint8Array.of(9, 9, 9, 9));
  assert.not.ok(existsSync(target), "nothing at the target before finish()");
  await w.finish();
  const r = await gguf(target, { allowLocalFile: true, typedMetadata: true });
  const tm = r.typedMetadata as Record<string, { value: unknown; type: number; subType?: number }>;
  assert.equal(Object.keys(tm).filter((k) => !["version", "tensor_count", "kv_count"].includes(k)), kvs.map((k) => k.key));
  assert.is(tm["bitnet.block_count"].type, 4);
  assert.is(tm["bitnet.block_count"].value, 7);
  assert.is(tm["bitnet.attention.layer_norm_rms_epsilon"].type, 6);
  assert.is(tm["bitnet.attention.layer_norm_rms_epsilon"].value, Math.fround(1e-5));
  assert.is(tm["tokenizer.ggml.add_bos_token"].type, 7);
  assert.equal(tm["tokenizer.ggml.tokens"].value, ["a", "ü", "<|x|>"]);
  assert.is(tm["tokenizer.ggml.token_type"].subType, 5);
  assert.is(tm["bitconv.tl_params"].subType, 4);
  assert.is(tm["x.big"].value, 2n ** 40n);
  assert.equal(r.tensorInfos.map((t) => Number(t.offset)), [0, 32, 256]);
  assert.equal(r.tensorInfos.map((t) => t.shape.map(Number)), [[5], [256, 3], [1]]);
  const file = readFileSync(target);
  const base = Number(r.tensorDataOffset);
  assert.is(base % 32, 0);
  assert.is(hex(file.subarray(base, base + 20)), hex(d0));
  assert.ok(file.subarray(base + 20, base + 32).every((x) => x === 0), "zero padding");
  assert.is(hex(file.subarray(base + 32, base + 230)), hex(d1));
  assert.is(file.length, base + 256 + 32, "last blob padded too");
  assert.is(await sha256File(target), createHash("sha256").update(file).digest("hex"));
  assert.equal(readdirSync(dir).filter((f) => f.endsWith(".tmp")), []);
});

test("patchHeader rewrites same-length values in place", async () => {
  const target = join(dir, "p.gguf");
  const kvs = (h: string) => [kv.str("general.architecture", "bitnet"), kv.strArray("bitconv.source.files", [`config.json ${h}`])];
  const w = await GgufStreamWriter.create(target, kvs("0".repeat(64)), [{ name: "t", ne: [1], type: 0, nbytes: 4 }]);
  await w.writeTensor(Uint8Array.of(1, 2, 3, 4));
  await w.patchHeader(kvs("ab".repeat(32)));
  let threw = false;
  try {
    await w.patchHeader(kvs("abc"));
  } catch {
    threw = true;
  }
  assert.ok(threw, "a header of another length is refused");
  await w.finish();
  const r = await gguf(target, { allowLocalFile: true });
  assert.equal((r.metadata as Record<string, unknown>)["bitconv.source.files"], [`config.json ${"ab".repeat(32)}`]);
});

test("patchBytes fills placeholders found by stringElementOffsets", async () => {
  const target = join(dir, "q.gguf");
  const values = ["config.json 0000", "sub/ü.safetensors 0000"];
  const w = await GgufStreamWriter.create(target, [kv.str("general.architecture", "bitnet"), kv.strArray("bitconv.source.files", values), kv.u32("z", 1)], [{ name: "t", ne: [1], type: 0, nbytes: 4 }]);
  const at = stringElementOffsets(w.layout, "bitconv.source.files", values);
  await w.writeTensor(Uint8Array.of(1, 2, 3, 4));
  for (let i = 0; i < values.length; i++) await w.patchBytes(at[i] + Buffer.byteLength(values[i]) - 4, Buffer.from(i === 0 ? "abcd" : "ef01"));
  let threw = false;
  try {
    await w.patchBytes(w.layout.header.length - 2, Buffer.from("xyz"));
  } catch {
    threw = true;
  }
  assert.ok(threw, "patches outside the header are refused");
  await w.finish();
  const r = await gguf(target, { allowLocalFile: true });
  const m = r.metadata as Record<string, unknown>;
  assert.equal(m["bitconv.source.files"], ["config.json abcd", "sub/ü.safetensors ef01"]);
  assert.is(m["z"], 1);
});

test("size mismatches are refused; abort leaves neither target nor temp file", async () => {
  const target = join(dir, "bad.gguf");
  const w = await GgufStreamWriter.create(target, [kv.str("general.architecture", "bitnet")], [{ name: "t", ne: [4], type: 0, nbytes: 16 }]);
  let msg = "";
  try {
    await w.write(new Uint8Array(20));
  } catch (e) {
    msg = (e as Error).message;
  }
  assert.match(msg, /tensor t gets 20 bytes, declared 16/);
  let unfinished = "";
  try {
    await w.finish();
  } catch (e) {
    unfinished = (e as Error).message;
  }
  assert.match(unfinished, /not written/);
  await w.abort();
  assert.not.ok(existsSync(target));
  assert.equal(readdirSync(dir).filter((f) => f.startsWith(".bad.gguf")), []);
});

test("invalid headers: duplicate keys/names, long names, bad value ranges", () => {
  const t = { name: "t", ne: [1], type: 0, nbytes: 4 };
  assert.throws(() => encodeGgufHeader([kv.u32("a", 1), kv.u32("a", 2)], []), /duplicate key a/);
  assert.throws(() => encodeGgufHeader([], [t, t]), /duplicate tensor t/);
  assert.throws(() => encodeGgufHeader([], [{ ...t, name: "x".repeat(64) }]), /1\.\.63 bytes/);
  assert.throws(() => encodeGgufHeader([kv.u32("a", -1)], []), /not an integer/);
  assert.throws(() => encodeGgufHeader([kv.u32("a", 2 ** 32)], []), /not an integer/);
  assert.throws(() => encodeGgufHeader([kv.i32Array("a", [1.5])], []), /not an integer/);
  assert.throws(() => encodeGgufHeader([], [{ ...t, ne: [1, 1, 1, 1, 1] }]), /5 dimensions/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
