// A SentencePiece vocabulary, from tokenizer.model (the ModelProto, formats/tokenizer-spm.md) or from a
// SentencePiece-style tokenizer.json (BPE with byte_fallback and the ▁ metaspace). One shape for
// both, which the GGUF writer (spmGguf.ts) and the encoder (spm.ts) read.
import { inputError } from "../util/errors.js";
import { Charsmap } from "./charsmap.js";
import { fieldFloat, fieldString, readMessage, Wire, type ProtoField } from "./protobuf.js";

/** SentencePiece's piece types; llama.cpp's token_type uses the same numbers. */
export const PieceType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface SpmVocab {
  pieces: string[];
  scores: number[];
  types: number[];
  modelType: "bpe" | "unigram";
  byteFallback: boolean;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  /** the precompiled normalization table (nmt_nfkc and friends; charsmap.ts), null for none (identity) */
  charsmap: Uint8Array | null;
  /** tokenizer.json normalizer steps with no sentencepiece meaning (neither bitconv nor llama.cpp applies them) */
  unapplied?: string[];
  treatWhitespaceAsSuffix: boolean;
  /** -1 where the model has none */
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
}

const MODEL_TYPES: Record<number, SpmVocab["modelType"] | string> = { 1: "unigram", 2: "bpe", 3: "word", 4: "char" };

function lastInt(fields: ProtoField[], n: number, dflt: number): number {
  let v = dflt;
  for (const f of fields) if (f.field === n && f.wire === Wire.VARINT) v = f.int;
  return v;
}

/** Parses tokenizer.model (a serialized sentencepiece ModelProto). */
export function parseSpmModel(buf: Uint8Array, file: string): SpmVocab {
  const top = readMessage(buf, file, "ModelProto");
  const pieces: string[] = [], scores: number[] = [], types: number[] = [];
  let trainer: ProtoField[] = [], normalizer: ProtoField[] = [];
  for (const f of top) {
    if (f.wire !== Wire.LEN) continue;
    if (f.field === 1) {
      const i = pieces.length;
      const sp = readMessage(f.bytes, file, `piece ${i}`);
      const text = sp.find((x) => x.field === 1 && x.wire === Wire.LEN);
      const score = sp.find((x) => x.field === 2 && x.wire === Wire.I32);
      pieces.push(text ? fieldString(text, file, `piece ${i}`) : "");
      scores.push(score ? fieldFloat(score) : 0);
      types.push(lastInt(sp, 3, PieceType.NORMAL));
    } else if (f.field === 2) trainer = readMessage(f.bytes, file, "trainer_spec");
    else if (f.field === 3) normalizer = readMessage(f.bytes, file, "normalizer_spec");
  }
  if (pieces.length === 0) throw inputError(file, "no pieces (not a SentencePiece model?)");
  const modelType = MODEL_TYPES[lastInt(trainer, 3, 1)] ?? `type ${lastInt(trainer, 3, 1)}`;
  if (modelType !== "bpe" && modelType !== "unigram") throw inputError(file, `SentencePiece model_type ${modelType} is not supported (bpe or unigram)`);
  const charsmap = normalizer.find((x) => x.field === 2 && x.wire === Wire.LEN);
  const vocab: SpmVocab = {
    pieces, scores, types,
    modelType,
    byteFallback: lastInt(trainer, 35, 0) !== 0,
    treatWhitespaceAsSuffix: lastInt(trainer, 24, 0) !== 0,
    addDummyPrefix: lastInt(normalizer, 3, 1) !== 0,
    removeExtraWhitespaces: lastInt(normalizer, 4, 1) !== 0,
    charsmap: charsmap !== undefined && charsmap.bytes.length > 0 ? charsmap.bytes.slice() : null,
    unkId: lastInt(trainer, 40, 0),
    bosId: lastInt(trainer, 41, 1),
    eosId: lastInt(trainer, 42, 2),
    padId: lastInt(trainer, 43, -1),
  };
  if (lastInt(normalizer, 5, 1) === 0) throw inputError(file, "normalizer_spec.escape_whitespaces is false: spaces would not become ▁, which neither bitconv nor llama.cpp implements");
  checkSpmVocab(vocab, file);
  return vocab;
}

/** What both readers must hold: finite scores, known types, unique pieces, special ids in range. */
export function checkSpmVocab(v: SpmVocab, file: string): void {
  const n = v.pieces.length;
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const p = v.pieces[i];
    if (p.length === 0) throw inputError(file, `piece ${i} is empty`);
    if (!Number.isFinite(v.scores[i])) throw inputError(file, `piece ${i} ${JSON.stringify(p)} has score ${v.scores[i]}`);
    if (!Number.isInteger(v.types[i]) || v.types[i] < 1 || v.types[i] > 6) throw inputError(file, `piece ${i} ${JSON.stringify(p)} has unknown type ${v.types[i]}`);
    const dup = seen.get(p);
    if (dup !== undefined) throw inputError(file, `piece ${JSON.stringify(p)} appears twice (ids ${dup} and ${i})`);
    seen.set(p, i);
    if (v.types[i] === PieceType.BYTE && !/^<0x[0-9A-F]{2}>$/.test(p)) throw inputError(file, `byte piece ${i} is ${JSON.stringify(p)}, not <0xXX>`);
  }
  for (const [name, id] of [["unk", v.unkId], ["bos", v.bosId], ["eos", v.eosId], ["pad", v.padId]] as const) {
    if (id === -1 && name !== "unk") continue;
    if (!Number.isInteger(id) || id < 0 || id >= n) throw inputError(file, `${name} id ${id} is outside the vocabulary (0..${n - 1})`);
  }
  if (v.types[v.unkId] !== PieceType.UNKNOWN) throw inputError(file, `unk id ${v.unkId} (${JSON.stringify(v.pieces[v.unkId])}) is not of type UNKNOWN`);
  if (v.charsmap) Charsmap.parse(v.charsmap, file);
  if (v.byteFallback) {
    for (let b = 0; b < 256; b++) {
      const name = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
      const id = seen.get(name);
      if (id === undefined || v.types[id] !== PieceType.BYTE) throw inputError(file, `byte_fallback is on but byte piece ${name} is missing`);
    }
  }
}
