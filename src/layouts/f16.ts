// f16 conversions live with the other float formats in src/quant/float.ts; the layouts use the same
// ones (round-to-nearest-even, as ggml's FP32_TO_FP16).
export { f32ToF16Bits, f16ToF32 as f16BitsToF32 } from "../quant/float.js";
