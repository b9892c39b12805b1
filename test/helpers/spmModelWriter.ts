// Writes SentencePiece ModelProto files for tests (field numbers from sentencepiece_model.proto), with
// its own protobuf encoder: bad models (NaN scores, duplicates, ids out of range) are built here.
export interface SpmPiece { piece: string; score: number; type?: number }
export interface SpmModelSpec {
  pieces: SpmPiece[];
  modelType?: number; // 1 unigram, 2 bpe
  byteFallback?: boolean;
  unkId?: number; bosId?: number; eosId?: number; padId?: number;
  addDummyPrefix?: boolean; removeExtraWhitespaces?: boolean;
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
  out.push(...lfield(3, [...lfield(1, Buffer.from("identity")), ...vfield(3, s.addDummyPrefix === false ? 0 : 1), ...vfield(4, s.removeExtraWhitespaces ? 1 : 0)]));
  return Uint8Array.from(out);
}

/** A small valid BPE model: <unk> <s> </s>, the 256 byte pieces, then the given pieces. */
export function smallSpmSpec(extra: SpmPiece[] = [{ piece: "\u2581a", score: -1 }, { piece: "b", score: -2 }, { piece: "a", score: -3 }, { piece: "\u2581", score: -4 }]): SpmModelSpec {
  const pieces: SpmPiece[] = [{ piece: "<unk>", score: 0, type: 2 }, { piece: "<s>", score: 0, type: 3 }, { piece: "</s>", score: 0, type: 3 }];
  for (let b = 0; b < 256; b++) pieces.push({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, score: 0, type: 6 });
  return { pieces: [...pieces, ...extra], byteFallback: true };
}
