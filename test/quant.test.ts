import { test } from "uvu";
import * as assert from "uvu/assert";
import { absmeanScale, roundHalfEven, ternaryCode, ternarizeAbsmean, ternarizeAbsmean16, NonFiniteWeight } from "../src/quant/absmean.js";
import {
  bf16ToF32, f32ToBf16Bits, f16ToF32, f32ToF16Bits, bf16ArrayToF32, bf16ToF16Lut, f16ToBf16Lut,
} from "../src/quant/float.js";
import { quantizeQ8_0, roundHalfAway } from "../src/quant/q8_0.js";
import { permuteRowsForNormRope, unpermuteRowsForNormRope } from "../src/quant/permute.js";
import { anyNonFinite16, map16Checked } from "../src/quant/scan16.js";
import { absmeanCodes16, absSum16 } from "../src/quant/absmean.js";
import { uniform } from "./helpers/prng.js";
import { LAYOUTS, ternaryOfCodes, type TlParams } from "../src/layouts/index.js";

const fround = Math.fround;

// ---- independent references (field arithmetic, no bit tricks shared with the implementation) ----

function refBf16Value(b: number): number {
  const sign = b & 0x8000 ? -1 : 1;
  const e = (b >> 7) & 0xff;
  const m = b & 0x7f;
  if (e === 0xff) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -133; // 2^-126 * m/128
  return sign * (1 + m / 128) * 2 ** (e - 127);
}

function refF16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * (m / 1024) * 2 ** -14;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

// every positive finite f16 value in increasing order (index = bits), plus 65536 standing for +inf
const F16_POS: number[] = [];
for (let h = 0; h < 0x7c00; h++) F16_POS.push(refF16Value(h));
F16_POS.push(65536);

/** Nearest f16 by search over the value table; ties to the even bit pattern; 65536 -> infinity. */
function refF32ToF16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  let lo = 0;
  let hi = F16_POS.length - 1;
  if (a >= F16_POS[hi]) return sign | 0x7c00;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (F16_POS[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - F16_POS[lo];
  const dh = F16_POS[hi] - a;
  const pick = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
  return sign | (pick === F16_POS.length - 1 ? 0x7c00 : pick);
}

/** Random f32 with a uniformly random exponent in [emin, emax]. */
function randomF32(rng: () => number, emin: number, emax: number): number {
  const e = emin + Math.floor(rng() * (emax - emin + 1));
  return fround((rng() < 0.5 ? -1 : 1) * (1 + rng()) * 2 ** e);
}


const sameValue = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || a === b;

// ---- absmean ----

test("absmean worked example of formats/checkpoint-bitnet-2b4t.md", () => {
  const W = Float32Array.from([0.3, -0.05, 0.9, -0.6, 0.02, -0.45, 0.25, 0.1]);
  const r = ternarizeAbsmean(W);
  assert.equal(Array.from(r.T), [1, 0, 1, -1, 0, -1, 1, 0]);
  assert.ok(Math.abs(r.meanAbs - 0.33375) < 1e-7);
  const { s } = absmeanScale(r.meanAbs);
  assert.ok(Math.abs(s - 2.9962547) < 1e-6, `s = ${s}`);
  assert.ok(Math.abs(r.scale - 0.33375) < 1e-7, `w = ${r.scale}`);
  assert.is(r.scale, fround(r.scale));
});

test("absmean: half-to-even ties and clamping", () => {
  assert.equal([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.4999, 3.5].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 0, 4]);
  // mean|W| = 1 -> s = 1: products are exactly 0.5, -0.5, 1.5, 1.5
  const r = ternarizeAbsmean(Float32Array.from([0.5, -0.5, 1.5, 1.5]));
  assert.equal(Array.from(r.T), [0, 0, 1, 1]);
  assert.is(r.scale, 1);
});

test("absmean: the product is rounded to f32 before rounding to an integer", () => {
  const s = fround(1 + 2 ** -23);
  const x = fround(0.5 - 2 ** -25);
  assert.ok(x * s > 0.5, "in f64 the product is above 0.5");
  assert.is(fround(x * s), 0.5);
  assert.is(ternaryCode(x, s), 0);
  assert.is(ternaryCode(-x, s), 0);
  assert.is(ternaryCode(fround(0.5 + 2 ** -24), 1), 1);
});

test("absmean: tiny tensors clamp the mean at 1e-5", () => {
  const r = ternarizeAbsmean(Float32Array.from([1e-7, -2e-6, 0, 9e-6]));
  assert.is(absmeanScale(1e-9).s, fround(1 / fround(1e-5)));
  assert.is(r.scale, fround(1 / fround(1 / fround(1e-5))));
  assert.equal(Array.from(r.T), [0, 0, 0, 1]); // 9e-6 * 1e5 = 0.9
});

test("absmean: bf16/f16 table path equals the f32 path", () => {
  const rng = uniform(7);
  for (const format of ["bf16", "f16"] as const) {
    const n = 5000;
    const bits = new Uint16Array(n);
    const W = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = (rng() - 0.5) * 0.2 * (1 + 3 * rng() ** 4);
      bits[i] = format === "bf16" ? f32ToBf16Bits(x) : f32ToF16Bits(x);
      W[i] = format === "bf16" ? refBf16Value(bits[i]) : refF16Value(bits[i]);
    }
    const a = ternarizeAbsmean(W);
    const b = ternarizeAbsmean16(bits, format);
    assert.equal(Array.from(b.T), Array.from(a.T), format);
    assert.is(b.scale, a.scale);
    let nz = 0;
    for (const t of a.T) nz += t !== 0 ? 1 : 0;
    assert.ok(nz > n * 0.3 && nz < n * 0.9, `non-zero fraction ${nz / n}`);
  }
});

test("absmean: NaN and Inf are reported with their index", () => {
  assert.throws(() => ternarizeAbsmean(Float32Array.from([1, NaN, 2])), (e: unknown) => e instanceof NonFiniteWeight && e.index === 1);
  const bits = Uint16Array.from([0x3f80, 0x3f80, 0xff80]); // 1, 1, -inf
  assert.throws(() => ternarizeAbsmean16(bits, "bf16"), (e: unknown) => e instanceof NonFiniteWeight && e.index === 2);
  assert.throws(() => ternarizeAbsmean16(Uint16Array.from([0x7e00]), "f16"), (e: unknown) => e instanceof NonFiniteWeight);
});

// ---- float conversions ----

test("bf16 -> f32 is exact for all 65536 bit patterns", () => {
  const all = new Uint16Array(65536);
  for (let b = 0; b < 65536; b++) all[b] = b;
  const arr = bf16ArrayToF32(all);
  for (let b = 0; b < 65536; b++) {
    const ref = refBf16Value(b);
    if (!sameValue(bf16ToF32(b), ref) || !sameValue(arr[b], ref)) assert.unreachable(`bf16 0x${b.toString(16)}: ${bf16ToF32(b)} vs ${ref}`);
    if (ref === 0) assert.is(Object.is(bf16ToF32(b), -0), b === 0x8000);
  }
});

test("f16 -> f32 is exact for all 65536 bit patterns", () => {
  for (let h = 0; h < 65536; h++) {
    if (!sameValue(f16ToF32(h), refF16Value(h))) assert.unreachable(`f16 0x${h.toString(16)}`);
  }
});

test("f32 -> f16: nearest-even incl. subnormals, ties and overflow (vs table search)", () => {
  const check = (x: number) => {
    x = fround(x);
    const got = f32ToF16Bits(x);
    const want = refF32ToF16(x);
    if (got !== want) assert.unreachable(`f16(${x}) = 0x${got.toString(16)}, expected 0x${want.toString(16)}`);
  };
  // every f16 value, every midpoint between neighbours (exact ties), and one f32 ulp either side
  for (let h = 0; h < 0x7c00; h++) {
    const v = F16_POS[h];
    const next = F16_POS[h + 1];
    for (const s of [1, -1]) {
      check(s * v);
      const mid = (v + next) / 2;
      check(s * mid);
      const ulp = 2 ** (Math.floor(Math.log2(mid)) - 23);
      check(s * (mid + ulp));
      check(s * (mid - ulp));
    }
  }
  const rng = uniform(11);
  for (let i = 0; i < 200000; i++) check(randomF32(rng, -30, 17));
  for (const x of [65504, 65519, 65519.99, 65520, 65536, 1e10, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0001, 2 ** -26, 1e-10, 0]) {
    check(x);
    check(-x);
  }
  assert.is(f32ToF16Bits(65520), 0x7c00);
  assert.is(f32ToF16Bits(fround(65519.99)), 0x7bff);
  assert.is(f32ToF16Bits(2 ** -25), 0); // tie between 0 and the smallest subnormal -> even (0)
  assert.is(f32ToF16Bits(3 * 2 ** -25), 2); // tie between subnormals 1 and 2 -> even
  assert.is(f32ToF16Bits(Infinity), 0x7c00);
  assert.is(f32ToF16Bits(-Infinity), 0xfc00);
  assert.ok(Number.isNaN(f16ToF32(f32ToF16Bits(NaN))));
});

test("f32 -> bf16: nearest-even (vs neighbour distances)", () => {
  const rng = uniform(3);
  for (let i = 0; i < 200000; i++) {
    const x = randomF32(rng, -140, 127);
    const got = f32ToBf16Bits(x);
    // neighbours: truncation toward zero and the next bf16 away from zero
    const f = new Float32Array([x]);
    const trunc = new Uint32Array(f.buffer)[0] >>> 16;
    const lo = refBf16Value(trunc);
    // the pattern after the largest finite bf16 is infinity; for rounding it stands for 2^128
    const hi = ((trunc + 1) & 0x7fff) === 0x7f80 ? Math.sign(x) * 2 ** 128 : refBf16Value(trunc + 1);
    const dl = Math.abs(x - lo);
    const dh = Math.abs(hi - x);
    const want = dl < dh ? trunc : dh < dl ? trunc + 1 : trunc % 2 === 0 ? trunc : trunc + 1;
    if (got !== want) assert.unreachable(`bf16(${x}) = 0x${got.toString(16)}, expected 0x${want.toString(16)}`);
  }
  assert.is(f32ToBf16Bits(fround(1 + 2 ** -8)), 0x3f80); // tie -> even
  assert.is(f32ToBf16Bits(fround(1 + 3 * 2 ** -8)), 0x3f82); // tie -> even (up)
  assert.is(f32ToBf16Bits(3.4e38), 0x7f80); // overflow -> inf
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16Bits(NaN))));
});

test("bf16 <-> f16 tables agree with the scalar paths", () => {
  const b2h = bf16ToF16Lut();
  const h2b = f16ToBf16Lut();
  for (let b = 0; b < 65536; b++) {
    const v = refBf16Value(b);
    if (!Number.isNaN(v) && b2h[b] !== refF32ToF16(v)) assert.unreachable(`bf16 0x${b.toString(16)} -> f16`);
  }
  for (let h = 0; h < 65536; h++) {
    const v = refF16Value(h);
    if (!Number.isNaN(v) && h2b[h] !== f32ToBf16Bits(v)) assert.unreachable(`f16 0x${h.toString(16)} -> bf16`);
  }
});

// ---- q8_0 ----

test("q8_0: amax 127 block (d = 1) rounds halves away from zero", () => {
  const x = new Float32Array(32);
  x.set([127, 2.5, -2.5, 0.5, -0.5, 126.4, -126.6, 1.49, 0]);
  const out = quantizeQ8_0(x);
  assert.is(out.length, 34);
  assert.is(out[0] | (out[1] << 8), 0x3c00);
  const q = Array.from(new Int8Array(out.buffer, 2, 9));
  assert.equal(q, [127, 3, -3, 1, -1, 126, -127, 1, 0]);
});

test("q8_0: d = amax/127 in f32, stored as f16; zero block; multiple blocks", () => {
  const x = new Float32Array(96);
  x[0] = 1; // block 0: d = f32(1/127) -> f16 0x2008 (2^-7 * 1032/1024)
  x[1] = -0.5;
  x[2] = fround(1 / 254); // exactly d/2 in f32? q = roundf(x*id) = 0.5 -> 1 when x*id == 0.5
  // block 1 stays zero: d = 0, id = 0, q = 0
  x[64] = -254; // block 2: d = 2, id = 0.5
  x[65] = 3; // 1.5 -> 2
  x[66] = -5; // -2.5 -> -3
  x[67] = 1; // 0.5 -> 1
  const out = quantizeQ8_0(x);
  assert.is(out.length, 3 * 34);
  assert.is(out[0] | (out[1] << 8), 0x2008);
  assert.is(f16ToF32(0x2008), 0.00787353515625);
  const b0 = new Int8Array(out.buffer, 2, 32);
  assert.is(b0[0], 127);
  assert.is(b0[1], -64); // -0.5 * 127.00000x = -63.5000x -> -64
  assert.ok(b0[2] === 1 || b0[2] === 0);
  assert.equal(Array.from(out.subarray(34, 68)), new Array(34).fill(0));
  assert.is(out[68] | (out[69] << 8), 0x4000);
  assert.equal(Array.from(new Int8Array(out.buffer, 70, 4)), [-127, 2, -3, 1]);
  assert.equal([2.5, -2.5, 0.49, -0.5].map(roundHalfAway), [3, -3, 0, -1]);
  assert.throws(() => quantizeQ8_0(new Float32Array(31)));
});

// ---- rope permutation ----

test("NORM-rope row permutation: interleaves the two halves of each head", () => {
  // 2 heads of 4 rows, K = 1: rows labelled by their index
  const W = Int8Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  const P = permuteRowsForNormRope(W, 8, 1, 2);
  assert.equal(Array.from(P), [0, 2, 1, 3, 4, 6, 5, 7]);
  assert.equal(Array.from(unpermuteRowsForNormRope(P, 8, 1, 2)), Array.from(W));
  const F = Float32Array.from({ length: 12 * 3 }, (_, i) => i);
  assert.equal(Array.from(unpermuteRowsForNormRope(permuteRowsForNormRope(F, 12, 3, 2), 12, 3, 2)), Array.from(F));
  // head size 6: new row 2i = old row i, new row 2i+1 = old row i+3
  const G = permuteRowsForNormRope(Int8Array.from([0, 1, 2, 3, 4, 5]), 6, 1, 1);
  assert.equal(Array.from(G), [0, 3, 1, 4, 2, 5]);
});

// ---- fused 16-bit paths (checked against src/layouts and the plain loops) ----

function randomBf16Weights(n: number, seed: number): Uint16Array {
  const rng = uniform(seed);
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) bits[i] = f32ToBf16Bits((rng() - 0.5) * 0.1 * (1 + 4 * rng() ** 6));
  return bits;
}

test("absmean code tables: bf16 bit patterns -> the same codes and scale as per-weight absmean", () => {
  const M = 64, K = 512;
  const bits = randomBf16Weights(M * K, 21);
  const c = absmeanCodes16(bits, "bf16");
  const T = ternaryOfCodes({ bits, codes: c.codes });
  const ref = ternarizeAbsmean(Float32Array.from(bits, refBf16Value));
  assert.equal(Array.from(T), Array.from(ref.T), "codes table = per-weight absmean");
  assert.is(c.scale, ref.scale);
  const odd = bits.subarray(0, 7); // odd length: the last element is handled outside the word loop
  let sum = 0;
  for (const b of odd) sum += Math.abs(refBf16Value(b));
  assert.ok(Math.abs(absSum16(odd, "bf16") - sum) <= sum * 1e-15);
  assert.equal(Array.from(ternaryOfCodes({ bits: odd, codes: c.codes })), Array.from(T.subarray(0, 7)));
});

test("every layout packs bf16 bit patterns straight from the code table; unpack gives per-weight absmean's matrix", () => {
  // shapes and TL parameters that exercise tiles, both TL1 bm values and TL2 two-weight tails (K mod BK = 64, 0)
  const cases: { M: number; K: number; tl1: (TlParams | undefined)[]; tl2: (TlParams | undefined)[] }[] = [
    { M: 64, K: 256, tl1: [undefined, { BM: 64, BK: 64, bm: 64 }, { BM: 32, BK: 256, bm: 32 }], tl2: [undefined, { BM: 64, BK: 96, bm: 32 }] },
    { M: 96, K: 352, tl1: [undefined], tl2: [undefined, { BM: 32, BK: 72, bm: 32 }] },
    { M: 32, K: 288, tl1: [undefined], tl2: [undefined] },
    { M: 64, K: 512, tl1: [undefined], tl2: [undefined] },
  ];
  for (const { M, K, tl1, tl2 } of cases) {
    const bits = randomBf16Weights(M * K, M + K);
    const c = absmeanCodes16(bits, "bf16");
    const ref = ternarizeAbsmean(Float32Array.from(bits, refBf16Value));
    for (const layout of Object.values(LAYOUTS)) {
      if (layout.shapeError(M, K) !== null) continue;
      for (const p of layout.name === "tl1" ? tl1 : layout.name === "tl2" ? tl2 : [undefined]) {
        const what = `${layout.name} ${M}x${K} ${JSON.stringify(p ?? "default")}`;
        const bytes = layout.packCodes({ bits, codes: c.codes }, M, K, c.scale, p);
        const back = layout.unpack(bytes, M, K, p);
        assert.equal(Array.from(back.T), Array.from(ref.T), `${what}: unpacked`);
        assert.is(back.scale, layout.scaleTensor ? 1 : c.scale, `${what}: scale`);
        // recycled output buffers hold stale bytes: every byte must be rewritten
        const stale = new Uint8Array(bytes.length).fill(0xee);
        assert.equal(Buffer.from(layout.packCodes({ bits, codes: c.codes }, M, K, c.scale, p, undefined, stale)), Buffer.from(bytes), `${what}: stale buffer`);
      }
    }
  }
});

test("16-bit maps flag NaN/Inf inputs and f16 overflow, nothing else", () => {
  const lut = bf16ToF16Lut();
  const src = Uint16Array.from([0x3f80, 0xbf80, 0x477f, 0x0001, 0x8000]); // 1, -1, 65280, tiny, -0
  const r = map16Checked(src, lut, 0x7f80, 0x7c00);
  assert.is(r.bad, false);
  assert.equal(Array.from(r.out), [0x3c00, 0xbc00, 0x7bf8, 0, 0x8000]);
  for (const [i, v] of [[0, 0x7fc0], [3, 0xff80], [4, 0x4780]] as const) {
    const x = src.slice();
    x[i] = v; // NaN, -Inf (odd last position too), 65536 (overflows f16)
    assert.is(map16Checked(x, lut, 0x7f80, 0x7c00).bad, true, `0x${v.toString(16)} at ${i}`);
  }
  assert.is(anyNonFinite16(src, 0x7f80), false);
  assert.is(anyNonFinite16(Uint16Array.from([0x3f80, 0x7f80]), 0x7f80), true);
  assert.is(anyNonFinite16(Uint16Array.from([0x3f80, 0x3f80, 0xfc00]), 0x7c00), true);
  assert.is(anyNonFinite16(Uint16Array.from([0x7bff, 0xfbff]), 0x7c00), false);
});

test.run();
