import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gguf } from "@huggingface/gguf";
import { readGguf, readTensorData, type GgufFile } from "../src/gguf/reader.js";
import { BitconvError } from "../src/util/errors.js";
import { getLayout, LAYOUT_NAMES, type LayoutName } from "../src/layouts/index.js";
import { convert } from "../src/convert/index.js";
import { buildGguf, buildFixtureArtifact, FIXTURE_PACKED, VT, type KvSpec, type TensorSpec, type ArtifactTensorTruth } from "./helpers/inspect-gguf.js";

const dir = mkdtempSync(join(tmpdir(), "bitconv-gguf-reader-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const put = (bytes: Uint8Array): string => {
  const p = join(dir, `f${n++}.gguf`);
  writeFileSync(p, bytes);
  return p;
};

async function rejects(p: string, re: RegExp, opts?: Parameters<typeof readGguf>[1]): Promise<void> {
  try {
    await readGguf(p, opts);
  } catch (e) {
    assert.ok(e instanceof BitconvError, `expected BitconvError, got ${String(e)}`);
    assert.is((e as BitconvError).exitCode, 2);
    assert.ok((e as Error).message.startsWith(`${p}: `), (e as Error).message);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`${p} was accepted, expected ${re}`);
}

const f32Bytes = (xs: number[]) => {
  const b = Buffer.alloc(4 * xs.length);
  xs.forEach((x, i) => b.writeFloatLE(x, 4 * i));
  return new Uint8Array(b);
};

// ---- the worked example of formats/gguf.md 1.3 ----
const exampleKvs: KvSpec[] = [
  { key: "general.architecture", type: VT.STRING, value: "bitnet" },
  { key: "bitnet.block_count", type: VT.UINT32, value: 1 },
];
const exampleTensors = (): TensorSpec[] => [
  { name: "a", ne: [3], type: 0, data: f32Bytes([1, 2, 3]) },
  { name: "b", ne: [256, 2], type: 35, data: new Uint8Array(132).fill(0x55) },
];

test("formats/gguf.md worked example: offsets, data start, sizes", async () => {
  const bytes = buildGguf(exampleKvs, exampleTensors());
  assert.is(bytes.length, 384); // the size the reference derives
  const f = await readGguf(put(bytes));
  assert.is(f.version, 3);
  assert.is(f.alignment, 32);
  assert.is(f.dataStart, 0xc0);
  assert.is(f.fileSize, 384);
  assert.equal(f.kv.get("general.architecture"), { type: VT.STRING, value: "bitnet" });
  assert.equal(f.kv.get("bitnet.block_count"), { type: VT.UINT32, value: 1 });
  assert.equal(f.tensors.map((t) => [t.name, t.ne, t.type, t.typeName, t.offset, t.dataOffset, t.nbytes]), [
    ["a", [3], 0, "F32", 0, 0xc0, 12],
    ["b", [256, 2], 35, "TQ2_0", 32, 0xe0, 132],
  ]);
  assert.equal(f.warnings, []);
  const a = await readTensorData(f, f.tensors[0]);
  assert.equal(Array.from(new Float32Array(a.slice().buffer)), [1, 2, 3]);
  const part = await readTensorData(f, f.tensors[0], 4, 4);
  assert.equal(Array.from(new Float32Array(part.slice().buffer)), [2]);
});

test("every value type round-trips; 64-bit values are numbers when safe, else bigint", async () => {
  const kvs: KvSpec[] = [
    { key: "u8", type: VT.UINT8, value: 250 },
    { key: "i8", type: VT.INT8, value: -7 },
    { key: "u16", type: VT.UINT16, value: 65000 },
    { key: "i16", type: VT.INT16, value: -30000 },
    { key: "u32", type: VT.UINT32, value: 4000000000 },
    { key: "i32", type: VT.INT32, value: -2000000000 },
    { key: "f32", type: VT.FLOAT32, value: 0.5 },
    { key: "bool", type: VT.BOOL, value: true },
    { key: "str", type: VT.STRING, value: "héllo ✓" },
    { key: "u64small", type: VT.UINT64, value: 123456789012n },
    { key: "u64big", type: VT.UINT64, value: 18446744073709551615n },
    { key: "i64neg", type: VT.INT64, value: -5n },
    { key: "i64big", type: VT.INT64, value: -9223372036854775808n },
    { key: "f64", type: VT.FLOAT64, value: 1e-300 },
    { key: "arr.str", type: VT.ARRAY, subType: VT.STRING, value: ["a", "", "ccc"] },
    { key: "arr.i32", type: VT.ARRAY, subType: VT.INT32, value: [1, -2, 3] },
    { key: "arr.u64", type: VT.ARRAY, subType: VT.UINT64, value: [1n, 2n ** 60n] },
    { key: "arr.bool", type: VT.ARRAY, subType: VT.BOOL, value: [true, false] },
    { key: "arr.empty", type: VT.ARRAY, subType: VT.FLOAT32, value: [] },
  ];
  const f = await readGguf(put(buildGguf(kvs, [])));
  const v = (k: string) => f.kv.get(k)?.value;
  assert.is(v("u8"), 250);
  assert.is(v("i8"), -7);
  assert.is(v("u16"), 65000);
  assert.is(v("i16"), -30000);
  assert.is(v("u32"), 4000000000);
  assert.is(v("i32"), -2000000000);
  assert.is(v("f32"), 0.5);
  assert.is(v("bool"), true);
  assert.is(v("str"), "héllo ✓");
  assert.is(v("u64small"), 123456789012);
  assert.is(v("u64big"), 18446744073709551615n);
  assert.is(v("i64neg"), -5);
  assert.is(v("i64big"), -9223372036854775808n);
  assert.is(v("f64"), 1e-300);
  assert.equal(v("arr.str"), ["a", "", "ccc"]);
  assert.equal(f.kv.get("arr.i32"), { type: VT.ARRAY, subType: VT.INT32, value: [1, -2, 3] });
  assert.equal(v("arr.u64"), [1, 2n ** 60n]);
  assert.equal(v("arr.bool"), [true, false]);
  assert.equal(v("arr.empty"), []);
  assert.is(f.tensors.length, 0);
});

// ---- artifacts of every layout, against @huggingface/gguf ----
const artifacts = new Map<LayoutName, { path: string; truth: ArtifactTensorTruth[] }>();
for (const l of LAYOUT_NAMES) {
  const path = join(dir, `fixture-${l}.gguf`);
  artifacts.set(l, { path, truth: buildFixtureArtifact(l, path) });
}

function jsonable(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonable);
  return v;
}

/** KVs (types, element types, values, order), tensor infos and the data start agree with @huggingface/gguf. */
async function agreesWithHfGguf(path: string): Promise<GgufFile> {
  const f = await readGguf(path);
  const ref = await gguf(path, { allowLocalFile: true, typedMetadata: true });
  assert.is(f.version, Number(ref.metadata.version));
  assert.is(f.dataStart, Number(ref.tensorDataOffset));
  const refKeys = Object.keys(ref.typedMetadata).filter((k) => !["version", "tensor_count", "kv_count"].includes(k));
  assert.equal([...f.kv.keys()], refKeys);
  for (const k of refKeys) {
    const r = (ref.typedMetadata as Record<string, { value: unknown; type: number; subType?: number }>)[k];
    const mine = f.kv.get(k)!;
    assert.is(mine.type, r.type, k);
    assert.is(mine.subType, r.subType, k);
    assert.equal(jsonable(mine.value), jsonable(r.value), k);
  }
  assert.is(f.tensors.length, ref.tensorInfos.length);
  f.tensors.forEach((t, i) => {
    const r = ref.tensorInfos[i];
    assert.is(t.name, r.name);
    assert.equal(t.ne, r.shape.map(Number));
    assert.is(t.type, r.dtype);
    assert.is(t.offset, Number(r.offset));
    assert.is(t.dataOffset, f.dataStart + Number(r.offset));
  });
  return f;
}

for (const l of LAYOUT_NAMES) {
  test(`${l} artifact written by convert: reader agrees with @huggingface/gguf; sequential offsets; no warnings`, async () => {
    const path = join(dir, `convert-${l}.gguf`);
    await convert({ modelDir: FIXTURE_PACKED, layout: l, output: path, threads: 1, quiet: true });
    const f = await agreesWithHfGguf(path);
    assert.equal(f.warnings, []);
    assert.is(f.typeContext, l === "i2_s" || l === "tl1" || l === "tl2" ? "fork" : "upstream");
    let expected = 0;
    for (const t of f.tensors) {
      assert.is(t.offset, expected, t.name);
      expected += Math.ceil(t.nbytes / 32) * 32;
    }
    assert.is(f.fileSize, f.dataStart + expected);
    const ternary = f.tensors.filter((t) => t.type === getLayout(l).ggmlType);
    assert.is(ternary.length, 28);
    for (const t of ternary) {
      assert.is(t.typeName, l.toUpperCase());
      // tl params do not change the size (formats/tl2.md), so the layout's default params give the same nbytes
      assert.is(t.nbytes, getLayout(l).nbytes(t.ne[1], t.ne[0]), t.name);
    }
  });

  test(`${l} artifact: KVs and tensor infos agree with @huggingface/gguf; sizes are the layout's`, async () => {
    const { path, truth } = artifacts.get(l)!;
    const f = await agreesWithHfGguf(path);
    const ref = await gguf(path, { allowLocalFile: true, typedMetadata: true });
    assert.is(ref.tensorInfos.length, f.tensors.length);
    const layout = getLayout(l);
    assert.is(f.typeContext, l === "i2_s" || l === "tl1" || l === "tl2" ? "fork" : "upstream");
    for (const tr of truth) {
      const t = f.tensors.find((x) => x.name === tr.name)!;
      assert.is(t.typeName, l.toUpperCase(), tr.name);
      assert.is(t.nbytes, layout.nbytes(tr.M, tr.K, tr.params), tr.name);
    }
    // the last tensor's padded end is the file end, and the reader saw nothing odd
    const last = f.tensors[f.tensors.length - 1];
    assert.is(f.fileSize, f.dataStart + Math.ceil((last.offset + last.nbytes) / 32) * 32);
    assert.equal(f.warnings, []);
    // data: the first projection unpacks to the values it was packed from
    const tr = truth[0];
    const t = f.tensors.find((x) => x.name === tr.name)!;
    const { T } = layout.unpack(await readTensorData(f, t), tr.M, tr.K, tr.params);
    assert.ok(Buffer.from(T.buffer).equals(Buffer.from(tr.T.buffer)), "unpacked values differ");
  });
}

test("fork sizes: I2_S/TL1 are n/4 + 32 and TL2 roundup32(P) + 32 (formats/tl2.md worked example 1, M=32, K=320)", async () => {
  const kv = (layout: string): KvSpec[] => [
    { key: "general.architecture", type: VT.STRING, value: "bitnet" },
    { key: "bitconv.layout", type: VT.STRING, value: layout },
  ];
  const f = await readGguf(put(buildGguf(kv("tl2"), [
    { name: "i2", ne: [128, 2], type: 36, data: new Uint8Array(96) },
    { name: "tl1", ne: [16, 32], type: 38, data: new Uint8Array(160) },
    { name: "tl2", ne: [320, 32], type: 39, data: new Uint8Array(2528) },
  ])));
  assert.equal(f.tensors.map((t) => [t.typeName, t.nbytes]), [["I2_S", 96], ["TL1", 160], ["TL2", 2528]]);
  assert.is(f.typeContext, "fork");
});

test("type 39 means TL2 only in fork context, else MXFP4", async () => {
  const tensor = (size: number): TensorSpec[] => [{ name: "w", ne: [320, 32], type: 39, data: new Uint8Array(size) }];
  const mx = await readGguf(put(buildGguf([{ key: "general.architecture", type: VT.STRING, value: "bitnet" }], tensor((320 / 32) * 17 * 32))));
  assert.is(mx.typeContext, "upstream");
  assert.is(mx.tensors[0].typeName, "MXFP4");
  assert.is(mx.tensors[0].nbytes, 320 / 32 * 17 * 32);
  const fork = await readGguf(put(buildGguf([{ key: "general.architecture", type: VT.STRING, value: "bitnet-b1.58" }], tensor(2528))));
  assert.is(fork.typeContext, "fork");
  assert.match(fork.typeContextReason, /bitnet-b1\.58/);
  assert.is(fork.tensors[0].typeName, "TL2");
  assert.is(fork.tensors[0].nbytes, 2528);
  // a type-36 tensor can only be the fork's I2_S, which switches 39 to TL2 as well
  const mixed = await readGguf(put(buildGguf([{ key: "general.architecture", type: VT.STRING, value: "bitnet" }], [
    { name: "a", ne: [128, 2], type: 36, data: new Uint8Array(96) },
    ...tensor(2528),
  ])));
  assert.is(mixed.typeContext, "fork");
  assert.equal(mixed.tensors.map((t) => t.typeName), ["I2_S", "TL2"]);
});

test("version 2 reads with a warning; general.alignment 64 is honoured", async () => {
  const v2 = await readGguf(put(buildGguf(exampleKvs, exampleTensors(), { version: 2 })));
  assert.is(v2.version, 2);
  assert.match(v2.warnings.join("\n"), /version 2/);
  const a64 = await readGguf(put(buildGguf([...exampleKvs, { key: "general.alignment", type: VT.UINT32, value: 64 }], exampleTensors(), { alignment: 64 })));
  assert.is(a64.alignment, 64);
  assert.is(a64.dataStart % 64, 0);
  assert.is(a64.tensors[1].offset, 64);
});

// ---- hostile and broken files ----
test("empty, tiny, garbage and wrong-magic files", async () => {
  await rejects(put(new Uint8Array(0)), /empty file/);
  await rejects(put(Uint8Array.of(0x47, 0x47)), /too short/);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
  await rejects(put(Uint8Array.from({ length: 4096 }, rnd)), /not a GGUF file/);
  const notGguf = Buffer.from("{\"__metadata__\":{}}");
  await rejects(put(notGguf), /not a GGUF file/);
  // GGUF magic followed by random bytes: some clean error, whatever it is
  for (let i = 0; i < 20; i++) {
    const b = Uint8Array.from({ length: 64 + 97 * i }, rnd);
    b.set([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0]);
    await rejects(put(b), /./);
  }
  await rejects(dir, /not a regular file/);
  await rejects(join(dir, "missing.gguf"), /missing\.gguf: no such file \(ENOENT\)/);
});

test("versions: 1, 4, 0 and big-endian are refused", async () => {
  const base = buildGguf(exampleKvs, exampleTensors());
  const withVersion = (v: number) => {
    const b = Buffer.from(base);
    b.writeUInt32LE(v >>> 0, 4);
    return put(b);
  };
  await rejects(withVersion(1), /version 1 is no longer supported/);
  await rejects(withVersion(4), /unsupported GGUF version 4/);
  await rejects(withVersion(0), /unsupported GGUF version 0/);
  await rejects(withVersion(0x03000000), /big-endian/);
});

test("absurd counts and lengths are refused before any allocation", async () => {
  await rejects(put(buildGguf(exampleKvs, exampleTensors(), { nKv: 1n << 62n })), /key-value count \d+ is impossible/);
  await rejects(put(buildGguf(exampleKvs, exampleTensors(), { nKv: 0xffffffffffffffffn })), /key-value count/);
  await rejects(put(buildGguf(exampleKvs, exampleTensors(), { nTensors: 1n << 40n })), /tensor count \d+ is impossible/);
  // a key whose length says 2^62 bytes
  const b = Buffer.from(buildGguf(exampleKvs, exampleTensors()));
  b.writeBigUInt64LE(1n << 62n, 24);
  await rejects(put(b), /key 0 at offset 24 claims \d+ bytes/);
  // an array whose count is absurd
  const arr = Buffer.from(buildGguf([{ key: "k", type: VT.ARRAY, subType: VT.UINT32, value: [1, 2] }], []));
  arr.writeBigUInt64LE(1n << 50n, 24 + 8 + 1 + 4 + 4);
  await rejects(put(arr), /array of \d+ UINT32 does not fit/);
  const sarr = Buffer.from(buildGguf([{ key: "k", type: VT.ARRAY, subType: VT.STRING, value: ["x"] }], []));
  sarr.writeBigUInt64LE(1n << 40n, 24 + 8 + 1 + 4 + 4);
  await rejects(put(sarr), /array of \d+ STRING does not fit/);
  // a tensor with ne that multiply past 2^53
  await rejects(put(buildGguf([], [{ name: "x", ne: [2 ** 30, 2 ** 30, 2 ** 30], type: 0, data: new Uint8Array(4) }])), /absurd element count/);
  // a huge ne whose data is not in the file
  await rejects(put(buildGguf([], [{ name: "x", ne: [1 << 20, 1 << 20], type: 0, data: new Uint8Array(32) }])), /runs past the end of the file/);
});

test("structural rules: keys, names, dims, types, blocks, alignment", async () => {
  const t1 = exampleTensors();
  await rejects(put(buildGguf([...exampleKvs, { key: "general.architecture", type: VT.STRING, value: "x" }], t1)), /duplicate key "general.architecture"/);
  await rejects(put(buildGguf([{ key: "", type: VT.UINT8, value: 1 }], [])), /key 0 at offset 24 is empty/);
  await rejects(put(buildGguf([{ key: "k", type: 13, value: 0 }], [])), /unknown value type 13/);
  // an array of arrays: element type 9 with zero elements
  await rejects(put(buildGguf([{ key: "k", type: VT.ARRAY, subType: VT.ARRAY, value: [] }], [])), /arrays of arrays/);
  await rejects(put(buildGguf(exampleKvs, [t1[0], { ...t1[0] }])), /duplicate tensor name "a"/);
  await rejects(put(buildGguf(exampleKvs, [{ ...t1[0], name: "n".repeat(64) }])), /64 bytes, the limit is 63/);
  await readGguf(put(buildGguf(exampleKvs, [{ ...t1[0], name: "n".repeat(63) }])));
  await rejects(put(buildGguf(exampleKvs, [{ ...t1[0], ne: [3, 1, 1, 1, 1] }])), /5 dimensions/);
  await rejects(put(buildGguf(exampleKvs, [{ ...t1[0], type: 4 }])), /type 4: Q4_2 \(removed\)/);
  await rejects(put(buildGguf(exampleKvs, [{ ...t1[0], type: 99 }])), /type 99: unknown/);
  await rejects(put(buildGguf([{ key: "general.architecture", type: VT.STRING, value: "bitnet-b1.58" }], [{ ...t1[0], type: 37 }])), /I8_S/);
  await rejects(put(buildGguf(exampleKvs, [{ name: "b", ne: [200, 2], type: 35, data: new Uint8Array(132) }])), /ne\[0\] = 200 is not a multiple of TQ2_0's block size 256/);
  await rejects(put(buildGguf([...exampleKvs, { key: "general.alignment", type: VT.UINT32, value: 48 }], t1)), /general.alignment = 48 is not a non-zero power of two/);
  await rejects(put(buildGguf([...exampleKvs, { key: "general.alignment", type: VT.UINT32, value: 0 }], t1)), /power of two/);
  await rejects(put(buildGguf([...exampleKvs, { key: "general.alignment", type: VT.UINT64, value: 32n }], t1)), /general.alignment has type UINT64, must be UINT32/);
});

test("offset rule: an error for bitconv's files, a warning for foreign ones; overlap and EOF always checked", async () => {
  const bumped = (): TensorSpec[] => {
    const t = exampleTensors();
    t[1].offset = 64;
    return t;
  };
  // foreign: accepted with a warning (the file must still hold the data)
  const foreign = buildGguf(exampleKvs, bumped());
  const grown = new Uint8Array(foreign.length + 64);
  grown.set(foreign);
  const f = await readGguf(put(grown));
  assert.match(f.warnings.join("\n"), /tensor "b" has offset 64, expected 32/);
  assert.is(f.tensors[1].dataOffset, f.dataStart + 64);
  // ours (bitconv.version present): an error
  const ours = buildGguf([...exampleKvs, { key: "bitconv.version", type: VT.STRING, value: "0.1.0" }], bumped());
  const oursGrown = new Uint8Array(ours.length + 64);
  oursGrown.set(ours);
  await rejects(put(oursGrown), /tensor "b" has offset 64, expected 32/);
  // strictOffsets forces the error for a foreign file too
  await rejects(put(grown), /offset 64, expected 32/, { strictOffsets: true });
  // overlapping data is reported
  const over = exampleTensors();
  over.push({ name: "c", ne: [8], type: 0, data: new Uint8Array(32), offset: 0 });
  const o = await readGguf(put(buildGguf(exampleKvs, over)));
  assert.match(o.warnings.join("\n"), /overlap/);
  // an offset that points past the end
  const past = exampleTensors();
  past[1].offset = 1 << 20;
  await rejects(put(buildGguf(exampleKvs, past)), /offset 1048576, past the end of the file/);
});

test("truncation at every offset of a header and at data offsets gives a clean error", async () => {
  const full = readFileSync(artifacts.get("tq2_0")!.path);
  const f = await readGguf(artifacts.get("tq2_0")!.path);
  const p = join(dir, "trunc.gguf");
  const cuts: number[] = [];
  // every byte of the first 600 (magic, counts, first KVs), then a stride through the rest of the header
  for (let i = 0; i < 600; i++) cuts.push(i);
  for (let i = 600; i < f.dataStart; i += 97) cuts.push(i);
  // inside the data: every tensor's first byte and a few bytes before the end
  for (const t of f.tensors) cuts.push(t.dataOffset, t.dataOffset + Math.floor(t.nbytes / 2));
  cuts.push(full.length - 1, full.length - 33);
  let errors = 0;
  for (const c of cuts) {
    writeFileSync(p, full.subarray(0, c));
    try {
      await readGguf(p);
    } catch (e) {
      assert.ok(e instanceof BitconvError, `cut ${c}: ${String(e)}`);
      assert.ok((e as Error).message.startsWith(`${p}: `));
      assert.match((e as Error).message, /truncated|empty file|too short|claims|does not fit|impossible|past the end/, `cut ${c}: ${(e as Error).message}`);
      errors++;
      continue;
    }
    assert.unreachable(`truncated at ${c} of ${full.length} was accepted`);
  }
  assert.is(errors, cuts.length);
});

test("a sparse file over 4 GiB: offsets past 2^32 are exact and tensor data is read positionally", async () => {
  const big = 2 ** 30 + 8; // F32 elements: 4 GiB + 32 bytes
  const header = buildGguf(exampleKvs, [
    { name: "huge", ne: [big], type: 0, data: new Uint8Array(0) },
    { name: "tail", ne: [4], type: 0, data: new Uint8Array(0), offset: 4 * big },
  ]);
  // the builder laid out empty blobs; the header ends at the first data byte
  const p = join(dir, "sparse.gguf");
  const fh = await open(p, "w");
  try {
    const dataStart = header.length;
    await fh.write(header, 0, header.length, 0);
    await fh.write(f32Bytes([1.5, -2, 3.25, 4]), 0, 16, dataStart + 4 * big);
    await fh.truncate(dataStart + 4 * big + 32);
  } finally {
    await fh.close();
  }
  const f = await readGguf(p);
  assert.equal(f.warnings, []);
  assert.is(f.tensors[0].nbytes, 4 * big);
  assert.is(f.tensors[1].offset, 4 * big);
  assert.ok(f.tensors[1].dataOffset > 2 ** 32);
  const tail = await readTensorData(f, f.tensors[1]);
  assert.equal(Array.from(new Float32Array(tail.slice().buffer)), [1.5, -2, 3.25, 4]);
  const mid = await readTensorData(f, f.tensors[0], 2 ** 32 - 8, 16);
  assert.equal(Array.from(mid), new Array(16).fill(0));
  rmSync(p);
});

test("readTensorData refuses ranges outside the tensor", async () => {
  const f: GgufFile = await readGguf(put(buildGguf(exampleKvs, exampleTensors())));
  for (const [s, l] of [[-1, 1], [0, 13], [12, 1], [1.5, 1]]) {
    try {
      await readTensorData(f, f.tensors[0], s, l);
      assert.unreachable(`range ${s},${l} accepted`);
    } catch (e) {
      assert.ok(e instanceof BitconvError, String(e));
      assert.match((e as Error).message, /outside its 12 bytes/);
    }
  }
  assert.is((await readTensorData(f, f.tensors[0], 12, 0)).length, 0);
});

test.run();
