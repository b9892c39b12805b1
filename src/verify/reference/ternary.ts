// The ternary weights of a checkpoint, computed the shortest way from its own tensors and written fresh
// from formats/hf-packed.md and transformers' BitLinear (integrations/bitnet.py), so the reference
// shares no code with the converter's quantizer, unpacker or packers (src/quant, src/layouts):
//   master weights: s = 1 / clamp(mean(|W|), 1e-5); T = clamp(round_half_even(W * s), -1, 1); W_q = T / s
//   packed U8:      T[i*R + r][k] = ((byte[r][k] >> 2i) & 3) - 1, scale from weight_scale
// Both give the codes T (row-major [M][K]) and the per-tensor multiplier w with W_q = T * w.
const fround = Math.fround;

export interface TernaryWeight {
  T: Int8Array;
  w: number;
}

/** Round half to even (torch.round). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** transformers' weight fake-quantization in float32 of float weights W. */
export function fakeQuantize(W: Float32Array): TernaryWeight {
  let sum = 0;
  for (let i = 0; i < W.length; i++) sum += Math.abs(W[i]);
  const mean = fround(sum / W.length);
  const s = fround(1 / Math.max(mean, fround(1e-5)));
  const T = new Int8Array(W.length);
  for (let i = 0; i < W.length; i++) {
    const v = roundHalfEven(fround(W[i] * s));
    T[i] = v > 1 ? 1 : v < -1 ? -1 : v;
  }
  return { T, w: fround(1 / s) };
}

/**
 * Decodes a Hugging Face packed weight (U8 [R, K], four rows per byte from four row blocks) with its
 * weight_scale: a multiplier under linear_class autobitlinear, a divisor under bitlinear.
 * Throws on code 3 (+2 is not ternary).
 */
export function unpackHf(bytes: Uint8Array, R: number, K: number, weightScale: number, linearClass: "bitlinear" | "autobitlinear"): TernaryWeight {
  const T = new Int8Array(4 * R * K);
  for (let r = 0; r < R; r++)
    for (let k = 0; k < K; k++) {
      const b = bytes[r * K + k];
      for (let i = 0; i < 4; i++) {
        const c = (b >> (2 * i)) & 3;
        if (c === 3) throw new Error(`code 3 (not ternary) at packed row ${r}, column ${k}`);
        T[(i * R + r) * K + k] = c - 1;
      }
    }
  return { T, w: linearClass === "autobitlinear" ? fround(weightScale) : fround(1 / weightScale) };
}

/** Little-endian float tensor bytes of a safetensors dtype as float32. */
export function toFloat32(bytes: Uint8Array, dtype: "F32" | "F16" | "BF16"): Float32Array {
  const n = dtype === "F32" ? bytes.length / 4 : bytes.length / 2;
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  else if (dtype === "BF16") {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
  } else for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** The codes as F16 values (-1, 0, +1 are exact in half precision), little-endian bytes. */
export function codesAsF16(T: Int8Array): Uint8Array {
  const out = new Uint16Array(T.length);
  for (let i = 0; i < T.length; i++) out[i] = T[i] === 1 ? 0x3c00 : T[i] === -1 ? 0xbc00 : 0;
  return new Uint8Array(out.buffer);
}
