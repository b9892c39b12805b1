// The shapes `inspect` returns (and prints with --json). Field meanings: docs/inspect.md.
import type { HubOptions } from "../hub/options.js";
import type { BlockByte, BlockScale, BlockValue } from "../layouts/blockDecode.js";

export interface InspectOptions {
  /** a .gguf file, a model folder, a .safetensors file, or a Hub repo id `org/name` */
  source: string;
  /** restrict the tensor table and statistics to this tensor; the tensor --block decodes */
  tensor?: string;
  /** decode this block (0-based) of --tensor (default: the first ternary tensor) */
  block?: number;
  /** per-tensor ternary statistics (default true for local inputs; remote inputs have no data) */
  stats?: boolean;
  /** write a self-contained HTML report here */
  html?: string;
  /** for `org/name`: the Hub options (endpoint, token, ...; defaults from the environment) and a revision */
  hub?: Partial<HubOptions> & { revision?: string };
  /** one line per tensor while statistics run */
  onProgress?: (done: number, total: number, name: string) => void;
}

export type SourceKind = "gguf" | "safetensors" | "hub";

export interface TensorRow {
  name: string;
  /** as stored: GGML order (ne, row length first) for GGUF, PyTorch order for safetensors */
  shape: number[];
  /** GGUF type name (F32, TQ2_0, I2_S, TL2, MXFP4, ...) or safetensors dtype (BF16, U8, ...) */
  type: string;
  /** the ternary layout when the tensor holds ternary weights (tq1_0 ... tl2, hf-packed), or "master" */
  layout: string | null;
  bytes: number;
  /** bytes * 8 / number of weights (for hf-packed, 4 weights per stored byte) */
  bits_per_weight: number;
  /** layer index from blk.N. / layers.N., or null */
  layer: number | null;
  /** the ternary matrix M (rows, out-features) x K (columns, in-features), for ternary tensors */
  M?: number;
  K?: number;
}

export interface Totals {
  tensors: number;
  bytes: number;
  /** bytes of tensors holding ternary weights (packed, or their float masters) */
  ternary_bytes: number;
  other_bytes: number;
  /** token embedding and output (LM head) matrices */
  embedding_bytes: number;
  /** everything but the embedding and output matrices */
  non_embedding_bytes: number;
  /** number of ternary weights */
  ternary_weights: number;
  /** number of elements over all tensors (packed bytes count 4 weights each) */
  parameters: number;
  /** size per category, for the report: ternary, embedding, norm, scale, other */
  breakdown: Record<string, number>;
}

export interface TensorStats {
  name: string;
  layer: number | null;
  layout: string;
  weights: number;
  /** fractions of -1, 0, +1 (sum 1 when no invalid codes) */
  minus: number;
  zero: number;
  plus: number;
  counts: { minus: number; zero: number; plus: number; invalid: number };
  /** effective per-tensor scale w, W = T * w (null when it cannot be given as one number) */
  scale: number | null;
  /** where the scale came from, in words */
  scale_source: string;
  /** masters only: absmean details */
  master?: {
    /** mean |W| over the tensor */
    mean_abs: number;
    /** the multiplier s = f32(1 / max(mean|W|, 1e-5)) */
    s: number;
    /** share of weights with | |W*s| - 0.5 | < boundary_eps: a rounding flip away from another code */
    boundary_share: number;
    boundary_eps: number;
  };
  /** TQ layouts: the per-block d values when they are not uniform */
  block_d?: { min: number; max: number; uniform: boolean };
  error?: string;
}

export type { BitField, BlockByte, BlockValue, BlockScale } from "../layouts/blockDecode.js";

export interface BlockDecode {
  tensor: string;
  layout: string;
  block: number;
  blocks: number;
  /** what a block is for this layout */
  definition: string;
  M: number;
  K: number;
  params?: { BM: number; BK: number; bm: number };
  params_source?: string;
  /** hex of every byte shown, in order of `bytes_detail` */
  bytes: string;
  bytes_detail: BlockByte[];
  values: BlockValue[];
  /** the scale(s) that apply to this block */
  scale: BlockScale;
}

export interface InspectResult {
  source: string;
  kind: SourceKind;
  /** GGUF: version, alignment, data start, type context; safetensors: files */
  format: Record<string, unknown>;
  architecture: string | null;
  /** checkpoints: bitnet-b1.58, 1bitllm, llama-bitnet (config.json), or null */
  family: string | null;
  /** checkpoints: "packed (autobitlinear)", "packed (bitlinear)", "master weights" */
  form: string | null;
  hyperparameters: Record<string, unknown>;
  tokenizer: {
    model: string | null;
    pre: string | null;
    vocab_size: number | null;
    bos_token_id: number | null;
    eos_token_id: number | null;
    merges: number | null;
    chat_template: boolean;
  } | null;
  /** every GGUF key (long arrays summarized) or config.json + safetensors __metadata__ */
  metadata: Record<string, unknown>;
  tensors: TensorRow[];
  totals: Totals;
  provenance: Record<string, unknown> | null;
  stats?: TensorStats[];
  block?: BlockDecode;
  warnings: string[];
}
