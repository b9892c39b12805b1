/** ggml tensor type ids as stored in GGUF (upstream llama.cpp, plus Microsoft's bitnet.cpp fork ids). */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q8_0: 8,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  I2_S: 36, // bitnet.cpp fork only
  TL1: 38, // bitnet.cpp fork only
  TL2: 39, // bitnet.cpp fork only (upstream uses 39 for MXFP4)
} as const;

export const ggmlTypeName: Record<number, string> = Object.fromEntries(
  Object.entries(GgmlType).map(([k, v]) => [v, k]),
);

/** GGUF metadata value types. */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueTypeId = (typeof GgufValueType)[keyof typeof GgufValueType];

/** `general.file_type` values (llama_ftype; the fork's ids for I2_S/TL1/TL2). */
export const FileType = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q8_0: 7,
  MOSTLY_BF16: 32,
  MOSTLY_TQ1_0: 36,
  MOSTLY_TQ2_0: 37,
  MOSTLY_TL1: 38,
  MOSTLY_TL2: 39,
  MOSTLY_I2_S: 40,
} as const;

export const GGUF_ALIGNMENT = 32;
