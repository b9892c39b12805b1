// One block of a packed ternary tensor, byte by byte: the numbering and the decoding are the layout
// modules' own (src/layouts/<l>.ts, formats/<l>.md); this file picks the layout and frames the result.

import { BlockBuilder, hfPackedBlocks, LAYOUTS, type BlockContext, type BlockDecoder, type LayoutName, type ReadRange } from "../layouts/index.js";
import { BitconvError } from "../util/errors.js";
import type { BlockDecode } from "./types.js";

export type { ReadRange } from "../layouts/index.js";

export type PackedLayout = LayoutName | "hf-packed";

export interface BlockTensor extends BlockContext {
  layout: PackedLayout;
  nbytes: number;
  params_source?: string;
}

const decoderOf = (layout: PackedLayout): BlockDecoder => (layout === "hf-packed" ? hfPackedBlocks : LAYOUTS[layout].blocks);

/** What a block is, per layout (docs/inspect.md). */
export const BLOCK_DEFINITIONS = Object.fromEntries(
  ([...Object.keys(LAYOUTS), "hf-packed"] as PackedLayout[]).map((l) => [l, decoderOf(l).definition]),
) as Record<PackedLayout, string>;

/** Number of blocks of a tensor in this layout. */
export function blockCount(t: BlockTensor): number {
  return decoderOf(t.layout).count(t);
}

/** Decodes block `n` of tensor `t`. */
export async function decodeBlock(t: BlockTensor, read: ReadRange, n: number): Promise<BlockDecode> {
  const count = blockCount(t);
  if (!Number.isSafeInteger(n) || n < 0 || n >= count) {
    throw new BitconvError(`tensor ${t.name} has ${count} ${t.layout} blocks (0..${count - 1}); block ${n} does not exist`, 2);
  }
  const b = new BlockBuilder();
  const scale = await decoderOf(t.layout).decode(t, read, n, b);
  const out: BlockDecode = {
    tensor: t.name,
    layout: t.layout,
    block: n,
    blocks: count,
    definition: BLOCK_DEFINITIONS[t.layout],
    M: t.M,
    K: t.K,
    bytes: b.bytes.map((x) => x.hex).join(" "),
    bytes_detail: b.bytes,
    values: b.values,
    scale,
  };
  if (t.params) {
    out.params = t.params;
    if (t.params_source) out.params_source = t.params_source;
  }
  return out;
}
