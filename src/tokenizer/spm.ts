// SentencePiece's own encoding, for verify and generate (formats/tokenizer-spm.md): normalize
// (spmNormalize.ts: the normalization table, dummy prefix, optional whitespace clean-up, ' ' -> ▁); a
// Unigram model then takes the best-scoring segmentation (unigram.ts); a BPE model is split into
// characters (user-defined pieces whole), then BPE: repeatedly merge the adjacent pair whose merged
// piece has the highest score (leftmost on ties), and finally spell every piece the vocabulary lacks as
// its UTF-8 bytes <0xXX> (byte fallback) or as unk. Unused pieces are split back into the pair that formed them, as sentencepiece does.
import type { BitconvTokenizer } from "./encode.js";
import { Charsmap } from "./charsmap.js";
import { PieceType, type SpmVocab } from "./spmModel.js";
import { SpmNormalizer } from "./spmNormalize.js";
import { UnigramEncoder } from "./unigram.js";

interface Symbol {
  piece: string;
  prev: number;
  next: number;
  frozen: boolean;
}

interface Pair {
  left: number;
  right: number;
  score: number;
  /** length of the merged piece: a pair whose symbols changed since is stale */
  size: number;
}

/** Max-heap on score, then on the leftmost position. */
class Agenda {
  private h: Pair[] = [];
  private before(a: Pair, b: Pair): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  get size(): number {
    return this.h.length;
  }
  push(p: Pair): void {
    const h = this.h;
    h.push(p);
    for (let i = h.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (!this.before(h[i], h[up])) break;
      [h[i], h[up]] = [h[up], h[i]];
      i = up;
    }
  }
  pop(): Pair {
    const h = this.h;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l], h[m])) m = l;
        if (r < h.length && this.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

export class SpmEncoder {
  /** pieces a merge may produce: NORMAL, USER_DEFINED and UNUSED (sentencepiece's pieces_ map) */
  private readonly mergeable = new Map<string, number>();
  /** every piece, for the final look-up */
  private readonly ids = new Map<string, number>();
  private readonly userDefined: string[];
  private readonly byteIds: number[] = [];
  private readonly normalizer: SpmNormalizer;
  private readonly unigram: UnigramEncoder | null;

  constructor(readonly vocab: SpmVocab, file = "tokenizer") {
    const v = vocab;
    const user: string[] = [];
    v.pieces.forEach((p, i) => {
      const t = v.types[i];
      if (t === PieceType.NORMAL || t === PieceType.USER_DEFINED || t === PieceType.UNUSED) this.mergeable.set(p, i);
      this.ids.set(p, i);
      if (t === PieceType.USER_DEFINED) user.push(p);
    });
    this.userDefined = user.sort((a, b) => b.length - a.length);
    const charsmap = v.charsmap ? Charsmap.parse(v.charsmap, file) : null;
    this.normalizer = new SpmNormalizer({ ...v, charsmap }, user);
    this.unigram = v.modelType === "unigram" ? new UnigramEncoder(v) : null;
    for (let b = 0; b < 256; b++) this.byteIds.push(this.ids.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`) ?? -1);
  }

  normalize(text: string): string {
    return this.normalizer.normalize(text);
  }

  private split(s: string): Symbol[] {
    const out: Symbol[] = [];
    for (let i = 0; i < s.length; ) {
      const user = this.userDefined.find((u) => s.startsWith(u, i));
      const cp = s.codePointAt(i)!;
      const piece = user ?? String.fromCodePoint(cp);
      out.push({ piece, prev: out.length - 1, next: out.length + 1, frozen: user !== undefined });
      i += piece.length;
    }
    if (out.length > 0) out[out.length - 1].next = -1;
    return out;
  }

  /** Token ids of `text`, without BOS/EOS. */
  encodePlain(text: string): number[] {
    if (this.unigram) return this.unigram.encode(this.normalize(text));
    const sym = this.split(this.normalize(text));
    const agenda = new Agenda();
    const formedBy = new Map<string, [string, string]>();
    const consider = (l: number, r: number) => {
      if (l < 0 || r < 0 || sym[l].frozen || sym[r].frozen) return;
      const piece = sym[l].piece + sym[r].piece;
      const id = this.mergeable.get(piece);
      if (id === undefined) return;
      agenda.push({ left: l, right: r, score: this.vocab.scores[id], size: piece.length });
      if (this.vocab.types[id] === PieceType.UNUSED) formedBy.set(piece, [sym[l].piece, sym[r].piece]);
    };
    for (let i = 1; i < sym.length; i++) consider(i - 1, i);
    while (agenda.size > 0) {
      const top = agenda.pop();
      const L = sym[top.left], R = sym[top.right];
      if (L.piece.length === 0 || R.piece.length === 0 || L.piece.length + R.piece.length !== top.size || L.next !== top.right) continue;
      L.piece += R.piece;
      L.next = R.next;
      if (R.next >= 0) sym[R.next].prev = top.left;
      R.piece = "";
      consider(L.prev, top.left);
      consider(top.left, L.next);
    }
    const out: number[] = [];
    const emit = (piece: string): void => {
      const id = this.ids.get(piece);
      const parts = id !== undefined && this.vocab.types[id] === PieceType.UNUSED ? formedBy.get(piece) : undefined;
      if (parts) {
        emit(parts[0]);
        emit(parts[1]);
      } else if (id !== undefined && this.mergeable.has(piece)) out.push(id);
      else if (this.vocab.byteFallback) for (const b of Buffer.from(piece, "utf8")) out.push(this.byteIds[b]);
      else out.push(this.vocab.unkId);
    };
    for (let i = 0; i >= 0 && i < sym.length; i = sym[i].next) emit(sym[i].piece);
    return out;
  }

  /** Text of the ids: ▁ -> ' ', byte pieces joined into UTF-8, control pieces dropped unless keepSpecial. */
  decode(ids: ArrayLike<number>, keepSpecial: boolean): string {
    const bytes: number[] = [];
    const v = this.vocab;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      if (!Number.isInteger(id) || id < 0 || id >= v.pieces.length) continue;
      const t = v.types[id], p = v.pieces[id];
      if (t === PieceType.BYTE) bytes.push(parseInt(p.slice(3, 5), 16));
      else if (t === PieceType.CONTROL) {
        if (keepSpecial) bytes.push(...Buffer.from(p, "utf8"));
      } else if (t === PieceType.UNKNOWN) bytes.push(...Buffer.from(keepSpecial ? p : " \u2047 ", "utf8"));
      else bytes.push(...Buffer.from(p.replace(/\u2581/g, " "), "utf8"));
    }
    let s = Buffer.from(bytes).toString("utf8");
    if (v.addDummyPrefix && !v.treatWhitespaceAsSuffix && s.startsWith(" ")) s = s.slice(1);
    return s;
  }
}

export interface SpmTokenizerOptions {
  source: "tokenizer.json" | "tokenizer.model" | "gguf";
  path: string;
  addBos: boolean;
  addEos: boolean;
}

/** The BitconvTokenizer verify and generate use, over a SentencePiece vocabulary. */
export function spmTokenizer(vocab: SpmVocab, o: SpmTokenizerOptions): BitconvTokenizer {
  const enc = new SpmEncoder(vocab, o.path);
  const bos = vocab.bosId >= 0 ? vocab.bosId : null;
  const eos = vocab.eosId >= 0 ? vocab.eosId : null;
  return {
    source: o.source,
    path: o.path,
    vocabSize: vocab.pieces.length,
    bosId: bos,
    eosId: eos,
    addsBos: o.addBos && bos !== null,
    encode(text, opts = {}) {
      const ids = enc.encodePlain(text);
      const special = opts.addSpecial ?? true;
      if (special && o.addBos && bos !== null) ids.unshift(bos);
      if (special && o.addEos && eos !== null) ids.push(eos);
      return Int32Array.from(ids);
    },
    decode(ids, opts = {}) {
      return enc.decode(ids, !(opts.skipSpecial ?? true));
    },
  };
}
