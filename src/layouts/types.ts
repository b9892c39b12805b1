import type { BlockDecoder } from "./blockDecode.js";
import type { TernaryCodes } from "./codes.js";
import type { PackedCounts } from "./counts.js";

/** The ternary weight layouts bitconv writes (byte layouts in formats/<name>.md). */
export type LayoutName = "tq1_0" | "tq2_0" | "i2_s" | "tl1" | "tl2";

/** TL1/TL2 tile parameters: BM rows x BK columns per tile, bm rows per compute block. */
export interface TlParams {
  BM: number;
  BK: number;
  bm: number;
}

/**
 * Where tq1_0/tq2_0 keep the per-tensor scale w: in a separate F32 `<name>.scale` tensor with d = 1
 * in every block (bitconv's default), or as d = f16(w) in every block (arch `llama` under
 * `--target llama.cpp`, whose loader reads no `.scale` tensors). The other layouts store w in the
 * tensor's own tail and ignore this.
 */
export type TqScale = "scale-tensor" | "block-d";

export interface Layout {
  name: LayoutName;
  /** ggml tensor type id (34, 35, 36, 38, 39) */
  ggmlType: number;
  /** general.file_type (36, 37, 40, 38, 39) */
  fileType: number;
  /** true for tq1_0/tq2_0: w travels in a `<name>.scale` tensor (unless TqScale "block-d"), not in these bytes */
  scaleTensor: boolean;
  /** null when this layout can store an M x K matrix (M rows = out features, K = in features), else why not */
  shapeError(M: number, K: number): string | null;
  /** TL1/TL2: block parameters (bitnet.cpp's preset for that shape when one exists, else the best fit); undefined for others */
  params(M: number, K: number): TlParams | undefined;
  /** exact tensor size as stored in GGUF (the fork's sizes for i2_s/tl1/tl2); throws for shapes this layout cannot pack */
  nbytes(M: number, K: number, params?: TlParams): number;
  /**
   * The size any reader of this ggml type computes for a tensor of ne = [K, M] (ggml_nbytes, the
   * fork's for i2_s/tl1/tl2), also for shapes bitconv would not pack; a string says why there is none.
   */
  fileNbytes(M: number, K: number): number | string;
  /**
   * The packer: codes of a row-major M x K matrix and its per-tensor scale w (W = T * w) -> the
   * complete tensor bytes as stored in the GGUF, written into `out` (every byte rewritten) when given.
   */
  packCodes(src: TernaryCodes, M: number, K: number, w: number, params?: TlParams, tqScale?: TqScale, out?: Uint8Array): Uint8Array;
  /** packCodes for a ternary matrix T (row-major M*K values in {-1, 0, 1}, checked). */
  pack(T: Int8Array, M: number, K: number, w: number, params?: TlParams, tqScale?: TqScale): Uint8Array;
  /**
   * Inverse of pack: T and the per-tensor scale w. For tq1_0/tq2_0, w = (the uniform block d) x
   * `scaleTensor` (the `.scale` tensor's value; 1 when the file has none).
   */
  unpack(bytes: Uint8Array, M: number, K: number, params?: TlParams, scaleTensor?: number): { T: Int8Array; scale: number };
  /**
   * inspect's statistics: counts of -1, 0, +1 and of non-ternary codes in the tensor's bytes (counted,
   * not refused), and where its scale is. params: TL2's block parameters (TL1 counts without them).
   */
  count(bytes: Uint8Array, M: number, K: number, params?: TlParams): PackedCounts;
  /** One block down to its bits, for inspect. */
  blocks: BlockDecoder;
}
