/** The ternary weight layouts bitconv writes (byte layouts in formats/<name>.md). */
export type LayoutName = "tq1_0" | "tq2_0" | "i2_s" | "tl1" | "tl2";

export const LAYOUT_NAMES: readonly LayoutName[] = ["tq1_0", "tq2_0", "i2_s", "tl1", "tl2"];

/** TL1/TL2 tile parameters: BM rows x BK columns per tile, bm rows per compute block. */
export interface TlParams {
  BM: number;
  BK: number;
  bm: number;
}

export interface Layout {
  name: LayoutName;
  /** ggml tensor type id (34, 35, 36, 38, 39) */
  ggmlType: number;
  /** general.file_type (36, 37, 40, 38, 39) */
  fileType: number;
  /**
   * false for tq1_0/tq2_0: their bytes hold per-block d (1.0 from pack()), and the per-tensor
   * scale goes into a separate `.scale` tensor; true when pack() stores `scale` in the tensor bytes.
   */
  scaleInTensor: boolean;
  /** null when this layout can store an M x K matrix (M rows = out features, K = in features), else why not */
  blockError(M: number, K: number): string | null;
  /** TL1/TL2: block parameters (bitnet.cpp's preset for that shape when one exists, else the best fit); undefined for others */
  params(M: number, K: number): TlParams | undefined;
  /** exact tensor size as stored in GGUF (the fork's sizes for i2_s/tl1/tl2) */
  nbytes(M: number, K: number, params?: TlParams): number;
  /**
   * T: row-major M*K values in {-1,0,1}; scale: per-tensor f32 w (W = T*w). Returns the complete tensor
   * bytes as stored in the GGUF. tq1_0/tq2_0 ignore `scale` and write d = 1 in every block (use
   * packTq1_0/packTq2_0 with a block scale to store f16(w) in the blocks instead).
   */
  pack(T: Int8Array, M: number, K: number, scale: number, params?: TlParams): Uint8Array;
  /** Inverse of pack. For tq1_0/tq2_0 `scale` is the uniform block d. */
  unpack(bytes: Uint8Array, M: number, K: number, params?: TlParams): { T: Int8Array; scale: number };
}
