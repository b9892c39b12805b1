import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  LAYOUTS,
  LAYOUT_NAMES,
  codesOfTernary,
  getLayout,
  packHfPacked,
  unpackHfPacked,
  packTq1_0,
  packTq2_0,
  unpackTq1_0,
  unpackTq2_0,
  packI2_s,
  packTl1,
  packTl2,
  unpackTl1,
  unpackTl2,
  tl1Params,
  tl2Params,
  tl1ParamsError,
  tl2ParamsError,
  type LayoutName,
  type TlParams,
} from "../src/layouts/index.js";
import { BitconvError } from "../src/util/errors.js";
import { f16ToF32 as f16BitsToF32, f32ToF16Bits } from "../src/quant/float.js";
import { uniform } from "./helpers/prng.js";
import { exampleMatrix, loadExamples } from "./helpers/formats.js";


// ---------- helpers ----------


/** Random ternary matrix; zeroFrac of the values are 0, the rest ±1 evenly. */
function randomTernary(n: number, seed: number, zeroFrac = 1 / 3): Int8Array {
  const r = uniform(seed);
  const T = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    T[i] = u < zeroFrac ? 0 : u < zeroFrac + (1 - zeroFrac) / 2 ? 1 : -1;
  }
  return T;
}

const filled = (n: number, v: number): Int8Array => new Int8Array(n).fill(v);

function sameInt8(actual: Int8Array, expected: Int8Array, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.unreachable(`${what}: value ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      const h = (x: number) => x.toString(16).padStart(2, "0");
      assert.unreachable(`${what}: byte ${i} is 0x${h(actual[i])}, expected 0x${h(expected[i])}`);
    }
  }
}

const f32 = (x: number): number => Math.fround(x);

function throwsBitconv(fn: () => unknown, pattern: RegExp, what: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, BitconvError, `${what}: error type`);
    assert.match((e as Error).message, pattern, `${what}: message`);
    return;
  }
  assert.unreachable(`${what}: did not throw`);
}

// ---------- worked examples from formats/*.md ----------

const EXAMPLES = loadExamples();

test("formats/*.md hold worked examples for every layout and hf-packed", () => {
  const seen = new Set(EXAMPLES.map((e) => e.layout));
  for (const name of [...LAYOUT_NAMES, "hf-packed"]) assert.ok(seen.has(name as LayoutName), `no example for ${name}`);
  assert.ok(EXAMPLES.length >= 10, `only ${EXAMPLES.length} examples`);
});

for (const ex of EXAMPLES) {
  test(`worked example ${ex.where} (${ex.layout} ${ex.M}x${ex.K}) packs to its bytes and back`, () => {
    const T = exampleMatrix(ex);
    if (ex.layout === "hf-packed") {
      sameBytes(packHfPacked(T, ex.M, ex.K), ex.bytes, ex.where);
      sameInt8(unpackHfPacked(ex.bytes, ex.M / 4, ex.K), T, ex.where);
      return;
    }
    const layout = getLayout(ex.layout);
    let packed: Uint8Array;
    let scale: number;
    if (ex.layout === "tq1_0" || ex.layout === "tq2_0") {
      const pack = ex.layout === "tq1_0" ? packTq1_0 : packTq2_0;
      packed = ex.d === undefined ? pack(T, ex.M, ex.K) : pack(T, ex.M, ex.K, ex.d, "block-d");
      scale = ex.d ?? 1;
    } else {
      if (ex.scale === undefined) throw new Error(`${ex.where}: no scale`);
      packed = layout.pack(T, ex.M, ex.K, ex.scale, ex.params);
      scale = f32(ex.scale);
    }
    assert.is(layout.nbytes(ex.M, ex.K, ex.params), ex.bytes.length, `${ex.where}: nbytes`);
    sameBytes(packed, ex.bytes, ex.where);
    const back = layout.unpack(ex.bytes, ex.M, ex.K, ex.params);
    sameInt8(back.T, T, `${ex.where} unpacked`);
    assert.is(back.scale, scale, `${ex.where}: scale`);
  });
}

test("packers write into an output view that starts inside a larger buffer (byteOffset > 0)", () => {
  const M = 64, K = 256;
  const T = randomTernary(M * K, 5);
  for (const layout of Object.values(LAYOUTS)) {
    const params = layout.params(M, K);
    const want = layout.pack(T, M, K, 0.375, params);
    const backing = new Uint8Array(want.length + 40).fill(0xee);
    const view = backing.subarray(8, 8 + want.length);
    const got = layout.packCodes(codesOfTernary(T), M, K, 0.375, params, undefined, view);
    assert.is(got, view, `${layout.name}: wrote into the given view`);
    sameBytes(view, want, `${layout.name} into a view at byte 8`);
    // nothing outside the view is touched (a DataView over the whole buffer would put the scale 8 bytes early)
    assert.ok(backing.subarray(0, 8).every((b) => b === 0xee), `${layout.name}: bytes before the view`);
    assert.ok(backing.subarray(8 + want.length).every((b) => b === 0xee), `${layout.name}: bytes after the view`);
  }
});

// ---------- independent decoders written from the specs ----------

/** formats/tq2_0.md: value e of a block in byte (e/128)*32 + e%32 at shift 2*((e%128)/32). */
function decodeTq2_0BySpec(bytes: Uint8Array, n: number): { T: Int8Array; d: number[] } {
  const T = new Int8Array(n);
  const d: number[] = [];
  for (let g = 0; g < n / 256; g++) {
    const blk = bytes.subarray(g * 66, g * 66 + 66);
    for (let e = 0; e < 256; e++) {
      const q = blk[Math.floor(e / 128) * 32 + (e % 32)];
      T[g * 256 + e] = ((q >> (2 * Math.floor((e % 128) / 32))) & 3) - 1;
    }
    d.push(blk[64] | (blk[65] << 8));
  }
  return { T, d };
}

/** formats/tq1_0.md: digit k of stored byte q is ((q * 3^k) mod 256) * 3 >> 8. */
function decodeTq1_0BySpec(bytes: Uint8Array, n: number): { T: Int8Array; d: number[] } {
  const T = new Int8Array(n);
  const d: number[] = [];
  for (let g = 0; g < n / 256; g++) {
    const blk = bytes.subarray(g * 54, g * 54 + 54);
    for (let e = 0; e < 256; e++) {
      let byte: number;
      let k: number;
      if (e < 160) [byte, k] = [e % 32, Math.floor(e / 32)];
      else if (e < 240) [byte, k] = [32 + ((e - 160) % 16), Math.floor((e - 160) / 16)];
      else [byte, k] = [48 + ((e - 240) % 4), Math.floor((e - 240) / 4)];
      const p = (blk[byte] * 3 ** k) % 256;
      T[g * 256 + e] = ((p * 3) >> 8) - 1;
    }
    d.push(blk[52] | (blk[53] << 8));
  }
  return { T, d };
}

/** formats/i2_s.md: value i in byte 32*(i/128) + i%32 at shift 6 - 2*((i%128)/32). */
function decodeI2_SBySpec(bytes: Uint8Array, n: number): Int8Array {
  const T = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const q = bytes[32 * Math.floor(i / 128) + (i % 32)];
    T[i] = ((q >> (6 - 2 * Math.floor((i % 128) / 32))) & 3) - 1;
  }
  return T;
}

test("TQ2_0 packing agrees with a decoder written from the spec", () => {
  const M = 3, K = 512;
  const T = randomTernary(M * K, 11);
  const spec = decodeTq2_0BySpec(packTq2_0(T, M, K, 0.25, "block-d"), M * K);
  sameInt8(spec.T, T, "tq2_0 spec decode");
  assert.equal(spec.d, Array(6).fill(0x3400), "every block holds f16(0.25) = 0x3400");
});

test("TQ1_0 packing agrees with a decoder written from the spec", () => {
  const M = 3, K = 512;
  for (const [seed, zeroFrac] of [[12, 1 / 3], [13, 0], [14, 0.9]] as const) {
    const T = randomTernary(M * K, seed, zeroFrac);
    const spec = decodeTq1_0BySpec(packTq1_0(T, M, K), M * K);
    sameInt8(spec.T, T, `tq1_0 spec decode, seed ${seed}`);
    assert.equal(spec.d, Array(6).fill(0x3c00), "default d = 1.0 = 0x3C00 in every block");
  }
});

test("TQ1_0 stores every one of the 243 five-digit groups so that the spec's digit rule reads it back", () => {
  // qs[0] of block v covers values 0, 32, 64, 96, 128: give them the base-3 digits of v
  const T = new Int8Array(243 * 256);
  for (let v = 0; v < 243; v++) {
    for (let k = 0; k < 5; k++) T[v * 256 + 32 * k] = Math.floor(v / 3 ** (4 - k)) % 3 - 1;
  }
  const bytes = packTq1_0(T, 243, 256);
  for (let v = 0; v < 243; v++) assert.is(bytes[v * 54], Math.ceil((v * 256) / 243), `qs[0] for v = ${v}`);
  sameInt8(decodeTq1_0BySpec(bytes, T.length).T, T, "all groups");
});

test("I2_S packing agrees with a decoder written from the spec", () => {
  const M = 5, K = 384;
  const T = randomTernary(M * K, 15);
  const bytes = packI2_s(T, M, K, 0.1);
  sameInt8(decodeI2_SBySpec(bytes, M * K), T, "i2_s spec decode");
  const tail = new DataView(bytes.buffer, bytes.byteOffset + (M * K) / 4, 32);
  assert.is(tail.getFloat32(0, true), f32(0.1));
  for (let i = 4; i < 32; i++) assert.is(tail.getUint8(i), 0, `tail byte ${i}`);
});

// ---------- round trips ----------

interface Case {
  M: number;
  K: number;
  params?: TlParams;
}

const CASES: Record<LayoutName, Case[]> = {
  tq2_0: [{ M: 1, K: 256 }, { M: 3, K: 768 }, { M: 64, K: 256 }],
  tq1_0: [{ M: 1, K: 256 }, { M: 3, K: 768 }, { M: 64, K: 256 }],
  i2_s: [{ M: 1, K: 128 }, { M: 3, K: 384 }, { M: 64, K: 256 }],
  tl1: [
    { M: 64, K: 256 },
    { M: 96, K: 24 },
    { M: 128, K: 64, params: { BM: 128, BK: 64, bm: 64 } },
    { M: 64, K: 48, params: { BM: 32, BK: 16, bm: 32 } },
  ],
  tl2: [
    { M: 64, K: 256 },
    { M: 96, K: 280 }, // BK 72, K2 64
    { M: 32, K: 264 }, // BK 24, K2 0
    { M: 64, K: 512, params: { BM: 64, BK: 192, bm: 32 } }, // K2 128: four tail chunks
    { M: 32, K: 520, params: { BM: 32, BK: 264, bm: 32 } }, // K2 256: the stream fills P exactly
  ],
};

for (const name of LAYOUT_NAMES) {
  test(`${name}: random, all -1, all +1 and all 0 matrices round-trip`, () => {
    const layout = getLayout(name);
    let seed = 100;
    for (const { M, K, params } of CASES[name]) {
      assert.is(layout.shapeError(M, K), null, `${M}x${K} is blockable`);
      const inputs: [string, Int8Array][] = [
        ["random", randomTernary(M * K, seed++)],
        ["sparse", randomTernary(M * K, seed++, 0.95)],
        ["all -1", filled(M * K, -1)],
        ["all +1", filled(M * K, 1)],
        ["all 0", filled(M * K, 0)],
      ];
      for (const [what, T] of inputs) {
        const bytes = layout.pack(T, M, K, 0.37, params);
        assert.is(bytes.length, layout.nbytes(M, K, params), `${name} ${M}x${K} ${what}: size`);
        const back = layout.unpack(bytes, M, K, params);
        sameInt8(back.T, T, `${name} ${M}x${K} ${what}`);
        assert.is(back.scale, layout.scaleTensor ? 1 : f32(0.37), `${name} ${M}x${K} ${what}: scale`);
      }
    }
  });
}

test("all-zero, all -1 and all +1 matrices give the byte values the specs state", () => {
  const every = (b: Uint8Array, from: number, to: number, v: number, what: string) => {
    for (let i = from; i < to; i++) if (b[i] !== v) assert.unreachable(`${what}: byte ${i} = ${b[i]}, expected ${v}`);
  };
  const n = 2 * 256;
  for (const [v, qs2] of [[0, 0x55], [-1, 0x00], [1, 0xaa]]) {
    const tq2 = packTq2_0(filled(n, v), 2, 256);
    for (let g = 0; g < 2; g++) every(tq2, g * 66, g * 66 + 64, qs2, `tq2_0 ${v}`);
    const i2 = packI2_s(filled(n, v), 2, 256, 1);
    every(i2, 0, n / 4, qs2, `i2_s ${v}`);
  }
  // TQ1_0: v = 121 -> 0x80, qh 120 -> 0x7F; +1: v = 242 -> 255, qh 240 -> 253; -1: 0
  for (const [v, qs, qh] of [[0, 0x80, 0x7f], [1, 255, 253], [-1, 0, 0]]) {
    const tq1 = packTq1_0(filled(n, v), 2, 256);
    for (let g = 0; g < 2; g++) {
      every(tq1, g * 54, g * 54 + 48, qs, `tq1_0 qs ${v}`);
      every(tq1, g * 54 + 48, g * 54 + 52, qh, `tq1_0 qh ${v}`);
    }
  }
  // TL1: idx 4 / 0 / 8 in both nibbles
  for (const [v, b] of [[0, 0x44], [-1, 0x00], [1, 0x88]]) every(packTl1(filled(n, v), 2 * 32, 8, 1), 0, n / 4, b, `tl1 ${v}`);
  // TL2 64x256 (BK 96): magnitudes 0..2048, signs 2048..2560, tail 2560..3584, padding to 4096
  for (const [v, mag, sign, tail] of [[0, 0x00, 0x00, 0x44], [1, 0xdd, 0x00, 0x88], [-1, 0xdd, 0xff, 0x00]]) {
    const b = packTl2(filled(64 * 256, v), 64, 256, 1);
    every(b, 0, 2048, mag, `tl2 magnitudes ${v}`);
    every(b, 2048, 2560, sign, `tl2 signs ${v}`);
    every(b, 2560, 3584, tail, `tl2 tail ${v}`);
    every(b, 3584, 4096, 0, `tl2 padding ${v}`);
  }
});

// ---------- sizes and parameters for real shapes ----------

const SHAPES_2B4T: [number, number][] = [[2560, 2560], [640, 2560], [6912, 2560], [2560, 6912]];
const SHAPES_FIXTURE: [number, number][] = [[256, 256], [64, 256], [512, 256], [256, 512]];

test("nbytes matches the 2B-4T size tables of formats/<layout>.md (\"Sizes for BitNet-b1.58-2B-4T\")", () => {
  const table: Record<string, Record<LayoutName, number>> = {
    "2560x2560": { i2_s: 1_638_432, tl1: 1_638_432, tl2: 1_392_672, tq2_0: 1_689_600, tq1_0: 1_382_400 },
    "640x2560": { i2_s: 409_632, tl1: 409_632, tl2: 348_192, tq2_0: 422_400, tq1_0: 345_600 },
    "6912x2560": { i2_s: 4_423_712, tl1: 4_423_712, tl2: 3_760_160, tq2_0: 4_561_920, tq1_0: 3_732_480 },
    "2560x6912": { i2_s: 4_423_712, tl1: 4_423_712, tl2: 3_713_760, tq2_0: 4_561_920, tq1_0: 3_732_480 },
  };
  for (const [M, K] of SHAPES_2B4T) {
    for (const name of LAYOUT_NAMES) {
      const layout = getLayout(name);
      assert.is(layout.nbytes(M, K, layout.params(M, K)), table[`${M}x${K}`][name], `${name} ${M}x${K}`);
    }
  }
  // all ternary weights of 2B-4T: 30 layers x (2 q/o + 2 k/v + 2 gate/up + 1 down)
  const perLayer = (name: LayoutName) =>
    SHAPES_2B4T.reduce((s, [M, K], i) => s + getLayout(name).nbytes(M, K) * (i === 3 ? 1 : 2), 0);
  assert.is(30 * perLayer("tq2_0"), 537_292_800);
  assert.is(30 * perLayer("tq1_0"), 439_603_200);
  assert.is(30 * perLayer("i2_s"), 521_011_200 + 210 * 32);
});

test("TL2 sizes follow the fork's bound P for the fixture shapes", () => {
  // P = ((K-256)*M) div 3 * 5 div 8 + 64*M, rounded up to 32, plus 32
  const expected: Record<string, number> = { "256x256": 16_416, "64x256": 4_128, "512x256": 32_800, "256x512": 30_080 };
  for (const [M, K] of SHAPES_FIXTURE) assert.is(getLayout("tl2").nbytes(M, K), expected[`${M}x${K}`], `${M}x${K}`);
});

test("every 2B-4T and fixture shape gets legal TL parameters, by the documented rule", () => {
  for (const [M, K] of [...SHAPES_2B4T, ...SHAPES_FIXTURE]) {
    for (const name of LAYOUT_NAMES) assert.is(getLayout(name).shapeError(M, K), null, `${name} ${M}x${K}`);
    const p1 = tl1Params(M, K);
    const p2 = tl2Params(M, K);
    if (!p1 || !p2) return assert.unreachable(`no TL parameters for ${M}x${K}`);
    assert.is(tl1ParamsError(M, K, p1), null);
    assert.is(tl2ParamsError(M, K, p2), null);
    const BM = M === 640 ? 160 : Math.min(M, 256);
    assert.equal(p1, { BM, BK: 128, bm: 32 }, `tl1 ${M}x${K}`);
    assert.equal(p2, { BM, BK: 96, bm: 32 }, `tl2 ${M}x${K}`);
  }
});

test("TL shapes with a bitnet.cpp preset get the preset", () => {
  assert.equal(tl1Params(3200, 8640), { BM: 160, BK: 64, bm: 32 });
  assert.equal(tl1Params(3200, 3200), { BM: 320, BK: 128, bm: 64 });
  assert.equal(tl1Params(14336, 4096), { BM: 256, BK: 128, bm: 64 });
  assert.equal(tl2Params(1536, 1536), { BM: 128, BK: 192, bm: 32 });
  assert.equal(tl2Params(3200, 3200), { BM: 320, BK: 96, bm: 32 });
  // the large model's TL2 4096x1536 preset has bm = 64, which TL2 cannot pack
  assert.is(tl2Params(4096, 1536)?.bm, 32);
});

test("a 640x2560 (2B-4T attn_k) tensor packs and unpacks in every layout", () => {
  const M = 640, K = 2560;
  const T = randomTernary(M * K, 640);
  for (const name of LAYOUT_NAMES) {
    const layout = getLayout(name);
    const params = layout.params(M, K);
    const bytes = layout.pack(T, M, K, 0.0123, params);
    assert.is(bytes.length, layout.nbytes(M, K, params), `${name} size`);
    const back = layout.unpack(bytes, M, K, params);
    sameInt8(back.T, T, `${name} 640x2560`);
    if (!layout.scaleTensor) assert.is(back.scale, f32(0.0123));
  }
});

test("TL1/TL2 bytes depend on the parameters, and unpacking needs the same ones", () => {
  const M = 64, K = 256;
  const T = randomTernary(M * K, 7);
  const a = packTl1(T, M, K, 1, { BM: 64, BK: 128, bm: 32 });
  const b = packTl1(T, M, K, 1, { BM: 64, BK: 64, bm: 64 });
  assert.not.equal(Array.from(a), Array.from(b));
  sameInt8(unpackTl1(b, M, K, { BM: 64, BK: 64, bm: 64 }).T, T, "tl1 with its own params");
  const c = packTl2(T, M, K, 1, { BM: 64, BK: 96, bm: 32 });
  const d = packTl2(T, M, K, 1, { BM: 32, BK: 192, bm: 32 });
  assert.not.equal(Array.from(c), Array.from(d));
  sameInt8(unpackTl2(d, M, K, { BM: 32, BK: 192, bm: 32 }).T, T, "tl2 with its own params");
});

// ---------- scales ----------

test("TQ layouts: w goes to d only with \"block-d\"; unpack returns the uniform d times the .scale tensor", () => {
  const T = randomTernary(2 * 256, 21);
  for (const name of ["tq1_0", "tq2_0"] as const) {
    const layout = getLayout(name);
    const dAt = name === "tq1_0" ? 52 : 64;
    const viaLayout = layout.pack(T, 2, 256, 0.3);
    assert.equal([viaLayout[dAt], viaLayout[dAt + 1]], [0x00, 0x3c], `${name}: d = 1.0`);
    assert.is(layout.unpack(viaLayout, 2, 256).scale, 1);
    const pack = name === "tq1_0" ? packTq1_0 : packTq2_0;
    assert.is(layout.unpack(viaLayout, 2, 256, undefined, 0.3).scale, f32(0.3), `${name}: w = 1 x .scale`);
    const withD = layout.pack(T, 2, 256, 0.3, undefined, "block-d");
    // f16(0.3) = 0x34CD (0.300048828125)
    assert.equal([withD[dAt], withD[dAt + 1]], [0xcd, 0x34], `${name}: d = f16(0.3)`);
    assert.equal(Buffer.from(pack(T, 2, 256, 0.3, "block-d")), Buffer.from(withD), `${name}: packTqX = Layout.pack`);
    assert.is(layout.unpack(withD, 2, 256).scale, 0.300048828125);
    assert.is(layout.unpack(withD, 2, 256, undefined, 2).scale, f32(0.300048828125 * 2), `${name}: d x .scale`);
  }
});

test("TQ unpack ignores the d of all-zero blocks and refuses differing d values", () => {
  const T = new Int8Array(3 * 256);
  T[5] = 1; // block 0 non-zero
  T[2 * 256 + 9] = -1; // block 2 non-zero, block 1 all zero
  for (const [pack, unpack, size] of [[packTq2_0, unpackTq2_0, 66], [packTq1_0, unpackTq1_0, 54]] as const) {
    const bytes = pack(T, 3, 256, 2, "block-d");
    bytes[size + size - 2] = 0; // block 1: d = 0, as llama.cpp writes for an all-zero block
    bytes[size + size - 1] = 0;
    const back = unpack(bytes, 3, 256);
    assert.is(back.scale, 2);
    sameInt8(back.T, T, "with a zero-d all-zero block");
    const mixed = Uint8Array.from([...pack(T.subarray(0, 256), 1, 256, 2, "block-d"), ...pack(T.subarray(256), 2, 256, 4, "block-d")]);
    throwsBitconv(() => unpack(mixed, 3, 256), /different scales.*block 0.*block 2/, "mixed d");
  }
});

test("TQ block scales that f16 cannot hold are refused", () => {
  const T = filled(256, 1);
  throwsBitconv(() => packTq2_0(T, 1, 256, 1e6, "block-d"), /overflows f16/, "overflow");
  throwsBitconv(() => packTq1_0(T, 1, 256, 1e-9, "block-d"), /underflows f16/, "underflow");
  throwsBitconv(() => packTq2_0(T, 1, 256, -1, "block-d"), /not a positive finite/, "negative");
});

test("f16 conversion rounds to nearest even and decodes exactly", () => {
  assert.is(f32ToF16Bits(1), 0x3c00);
  assert.is(f32ToF16Bits(0.0625), 0x2c00);
  assert.is(f32ToF16Bits(65504), 0x7bff);
  assert.is(f32ToF16Bits(65520), 0x7c00); // halfway to the next binade rounds up to infinity
  assert.is(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie -> even
  assert.is(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie -> even (up)
  assert.is(f32ToF16Bits(2 ** -24), 0x0001); // smallest subnormal
  assert.is(f32ToF16Bits(2 ** -25), 0x0000); // tie -> even (zero)
  assert.is(f32ToF16Bits(-2), 0xc000);
  assert.is(f16BitsToF32(0x34cd), 0.300048828125);
  assert.is(f16BitsToF32(0x0001), 2 ** -24);
  for (let h = 0; h < 0x7c00; h += 7) assert.is(f32ToF16Bits(f16BitsToF32(h)), h, `bits ${h}`);
});

// ---------- refusals ----------

test("shapeError explains shapes a layout cannot store", () => {
  const cases: [LayoutName, number, number, RegExp][] = [
    ["tq2_0", 256, 100, /multiple of 256.*K = 100/],
    ["tq1_0", 256, 384, /multiple of 256.*K = 384/],
    ["i2_s", 2, 64, /multiple of 128.*K = 64/],
    ["tl1", 48, 256, /M .*multiple of 32.*M = 48/],
    ["tl1", 64, 12, /K .*multiple of 8.*K = 12/],
    ["tl2", 48, 256, /M .*multiple of 32.*M = 48/],
    ["tl2", 64, 128, /at least 256.*K = 128/],
    ["tl2", 64, 260, /K mod BK.*K = 260/],
  ];
  for (const [name, M, K, pattern] of cases) {
    const layout = getLayout(name);
    const why = layout.shapeError(M, K);
    assert.type(why, "string", `${name} ${M}x${K}`);
    assert.match(why!, pattern, `${name} ${M}x${K}`);
    assert.is(layout.params(M, K), undefined);
    throwsBitconv(() => layout.nbytes(M, K), pattern, `${name} nbytes`);
    throwsBitconv(() => layout.pack(new Int8Array(M * K), M, K, 1), pattern, `${name} pack`);
  }
  throwsBitconv(() => getLayout("i2_s").shapeError(0, 128), /positive integers/, "zero rows");
});

test("illegal explicit TL parameters are refused", () => {
  const T = new Int8Array(64 * 256);
  throwsBitconv(() => packTl1(T, 64, 256, 1, { BM: 32, BK: 16, bm: 16 }), /bm must be 32 or 64/, "tl1 bm 16");
  throwsBitconv(() => packTl1(T, 64, 256, 1, { BM: 48, BK: 16, bm: 32 }), /BM is not a multiple of bm/, "tl1 BM");
  throwsBitconv(() => packTl1(T, 64, 256, 1, { BM: 64, BK: 12, bm: 64 }), /K is not a multiple of BK/, "tl1 BK");
  throwsBitconv(() => packTl1(T, 64, 256, 1, { BM: 64, BK: 4, bm: 32 }), /multiple of 256\/bm = 8/, "tl1 by");
  throwsBitconv(() => packTl2(T, 64, 256, 1, { BM: 64, BK: 96, bm: 64 }), /bm must be 32/, "tl2 bm 64");
  throwsBitconv(() => packTl2(T, 64, 256, 1, { BM: 64, BK: 72, bm: 32 }), /K mod BK = 40/, "tl2 tail");
  throwsBitconv(() => packTl2(T, 64, 256, 1, { BM: 64, BK: 100, bm: 32 }), /multiple of 24/, "tl2 BK");
});

test("bad matrices and bad bytes are refused with BitconvError", () => {
  for (const name of LAYOUT_NAMES) {
    const layout = getLayout(name);
    throwsBitconv(() => layout.pack(new Int8Array(100), 64, 256, 1), /100 values, expected/, `${name} length`);
    const T = new Int8Array(64 * 256);
    T[300] = 2;
    throwsBitconv(() => layout.pack(T, 64, 256, 1), /value 2 at row 1, column 44/, `${name} value`);
    const bytes = layout.pack(new Int8Array(64 * 256), 64, 256, 1);
    throwsBitconv(() => layout.unpack(bytes.subarray(1), 64, 256), /bytes, expected/, `${name} short`);
  }
  for (const name of ["i2_s", "tl1", "tl2"] as const) {
    throwsBitconv(() => getLayout(name).pack(new Int8Array(64 * 256), 64, 256, NaN), /not a finite/, `${name} scale`);
  }
  const tq2 = packTq2_0(new Int8Array(256), 1, 256);
  tq2[10] = 0x57; // code 3 in the low pair
  throwsBitconv(() => unpackTq2_0(tq2, 1, 256), /code 3/, "tq2_0 code 3");
  const tl1 = packTl1(new Int8Array(64 * 256), 64, 256, 1);
  tl1[5] = 0x49;
  throwsBitconv(() => unpackTl1(tl1, 64, 256), /index above 8/, "tl1 idx 9");
  const tl2 = packTl2(new Int8Array(64 * 256), 64, 256, 1);
  tl2[3] = 0xe0;
  throwsBitconv(() => unpackTl2(tl2, 64, 256), /above 13/, "tl2 magnitude 14");
  throwsBitconv(() => unpackHfPacked(Uint8Array.of(0x55, 0x5f), 1, 2), /\[0, 1\].*code 3/, "hf code 3");
  throwsBitconv(() => packHfPacked(new Int8Array(6 * 2), 6, 2), /multiple of 4/, "hf rows");
});

test("I2_S reads code 3 as 0, like bitnet.cpp's dequantizer", () => {
  const bytes = packI2_s(filled(128, 1), 1, 128, 1);
  bytes[0] = 0xff; // values 0, 32, 64, 96 -> code 3
  const { T } = getLayout("i2_s").unpack(bytes, 1, 128);
  assert.equal([T[0], T[32], T[64], T[96], T[1]], [0, 0, 0, 0, 1]);
});

test("HF packed round-trips a random matrix, one 4-row block per bit pair", () => {
  const M = 64, K = 40;
  const T = randomTernary(M * K, 31);
  const bytes = packHfPacked(T, M, K);
  assert.is(bytes.length, (M / 4) * K);
  // byte [r, k] bit pair i is row i*R + r (spec), checked for one byte directly
  const r = 3, k = 17, R = M / 4;
  for (let i = 0; i < 4; i++) assert.is(((bytes[r * K + k] >> (2 * i)) & 3) - 1, T[(i * R + r) * K + k]);
  sameInt8(unpackHfPacked(bytes, R, K), T, "hf-packed");
});

test("getLayout knows the five layouts with their type ids and refuses others", () => {
  const ids: Record<LayoutName, [number, number]> = {
    tq1_0: [34, 36],
    tq2_0: [35, 37],
    i2_s: [36, 40],
    tl1: [38, 38],
    tl2: [39, 39],
  };
  assert.equal([...LAYOUT_NAMES].sort(), Object.keys(ids).sort());
  for (const name of LAYOUT_NAMES) {
    const l = getLayout(name);
    assert.is(l.name, name);
    assert.equal([l.ggmlType, l.fileType], ids[name], name);
  }
  throwsBitconv(() => getLayout("q4_0"), /unknown layout "q4_0".*tq1_0, tq2_0, i2_s, tl1, tl2/, "q4_0");
  throwsBitconv(() => getLayout("toString"), /unknown layout/, "prototype name");
});

test.run();
