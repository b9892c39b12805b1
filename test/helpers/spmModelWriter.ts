// Writes SentencePiece ModelProto files for tests (field numbers from sentencepiece_model.proto), with
// its own protobuf encoder: bad models (NaN scores, duplicates, ids out of range) are built here.
export interface SpmPiece { piece: string; score: number; type?: number }
export interface SpmModelSpec {
  pieces: SpmPiece[];
  modelType?: number; // 1 unigram, 2 bpe
  byteFallback?: boolean;
  unkId?: number; bosId?: number; eosId?: number; padId?: number;
  addDummyPrefix?: boolean; removeExtraWhitespaces?: boolean;
  /** NormalizerSpec.precompiled_charsmap (test/helpers/charsmapWriter.ts) */
  charsmap?: Uint8Array;
}

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const key = (field: number, wire: number) => varint((field << 3) | wire);
const vfield = (field: number, n: number) => [...key(field, 0), ...varint(n)];
const lfield = (field: number, bytes: number[] | Uint8Array) => [...key(field, 2), ...varint(bytes.length), ...bytes];
function f32field(field: number, x: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return [...key(field, 5), ...b];
}

export function encodeSpmModel(s: SpmModelSpec): Uint8Array {
  const out: number[] = [];
  for (const p of s.pieces) {
    out.push(...lfield(1, [...lfield(1, Buffer.from(p.piece, "utf8")), ...f32field(2, p.score), ...vfield(3, p.type ?? 1)]));
  }
  const trainer = [...vfield(3, s.modelType ?? 2), ...vfield(35, s.byteFallback ? 1 : 0), ...vfield(40, s.unkId ?? 0), ...vfield(41, s.bosId ?? 1), ...vfield(42, s.eosId ?? 2), ...vfield(43, s.padId ?? -1)];
  out.push(...lfield(2, trainer));
  const table = s.charsmap ? lfield(2, s.charsmap) : [];
  out.push(...lfield(3, [...lfield(1, Buffer.from(s.charsmap ? "test_rules" : "identity")), ...table, ...vfield(3, s.addDummyPrefix === false ? 0 : 1), ...vfield(4, s.removeExtraWhitespaces ? 1 : 0)]));
  return Uint8Array.from(out);
}

/** A small valid BPE model: <unk> <s> </s>, the 256 byte pieces, then the given pieces. */
export function smallSpmSpec(extra: SpmPiece[] = [{ piece: "\u2581a", score: -1 }, { piece: "b", score: -2 }, { piece: "a", score: -3 }, { piece: "\u2581", score: -4 }]): SpmModelSpec {
  const pieces: SpmPiece[] = [{ piece: "<unk>", score: 0, type: 2 }, { piece: "<s>", score: 0, type: 3 }, { piece: "</s>", score: 0, type: 3 }];
  for (let b = 0; b < 256; b++) pieces.push({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, score: 0, type: 6 });
  return { pieces: [...pieces, ...extra], byteFallback: true };
}

/**
 * The tokenizer.json transformers' LlamaConverter writes for a SentencePiece BPE model: the vocabulary,
 * merges from its SentencePieceExtractor (every split of a piece into two pieces, ordered by the
 * merged piece's score, ties in vocabulary order), LLaMA-2's normalizer and decoder, BOS added.
 */
export function llamaTokenizerJson(pieces: { piece: string; score: number; type: number }[]): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  pieces.forEach((p, i) => (vocab[p.piece] = i));
  const merges: { l: string; r: string; score: number; li: number; ri: number; order: number }[] = [];
  pieces.forEach((p) => {
    const local: typeof merges = [];
    const cps = [...p.piece];
    for (let i = 1; i < cps.length; i++) {
      const l = cps.slice(0, i).join(""), r = cps.slice(i).join("");
      if (l in vocab && r in vocab) local.push({ l, r, score: p.score, li: vocab[l], ri: vocab[r], order: 0 });
    }
    local.sort((a, b) => a.li - b.li || a.ri - b.ri);
    merges.push(...local);
  });
  merges.forEach((m, i) => (m.order = i));
  merges.sort((a, b) => b.score - a.score || a.order - b.order);
  const special = pieces.map((p, id) => ({ p, id })).filter(({ p }) => p.type === 2 || p.type === 3);
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: special.map(({ p, id }) => ({ id, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "\u2581" }, { type: "Replace", pattern: { String: " " }, content: "\u2581" }] },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<s>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }] },
    model: { type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: merges.map((m) => [m.l, m.r]) },
  };
}
