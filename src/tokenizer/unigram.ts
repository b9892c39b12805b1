// SentencePiece's Unigram encoding (formats/tokenizer-spm.md "Encoding: Unigram"): the segmentation of
// the normalized text whose pieces' scores (log probabilities) sum highest, found by Viterbi over UTF-8
// byte positions as sentencepiece's optimized encoder does, keeping float32 sums as it does. A character
// no piece starts with costs the unk score (lowest NORMAL score - 10); user-defined pieces score
// length * max score - 0.1 so they always win; unused pieces are never chosen. Unknown characters come
// out as their UTF-8 bytes (<0xXX>) with byte fallback, else one unk id per run of them.
import { PieceType, type SpmVocab } from "./spmModel.js";
import { utf8CharLength } from "./spmNormalize.js";

const UNK_PENALTY = 10;
/** C's FLT_MIN: sentencepiece starts its max score there, so with all scores negative it stays there. */
const FLT_MIN = 1.1754943508222875e-38;

export class UnigramEncoder {
  /** a byte trie of the pieces Viterbi may use: child maps and the piece id ending at each node (-1: none) */
  private readonly next: Map<number, number>[] = [new Map()];
  private readonly idAt: number[] = [-1];
  private readonly unkScore: number;
  private readonly maxScore: number;
  private readonly byteIds: number[] = [];

  constructor(private readonly v: SpmVocab) {
    let min = Infinity, max = FLT_MIN;
    const ids = new Map<string, number>();
    v.pieces.forEach((p, id) => {
      ids.set(p, id);
      const t = v.types[id];
      if (t === PieceType.NORMAL) (min = Math.min(min, v.scores[id])), (max = Math.max(max, v.scores[id]));
      if (t === PieceType.NORMAL || t === PieceType.USER_DEFINED) this.insert(Buffer.from(p, "utf8"), id);
    });
    this.unkScore = Math.fround((Number.isFinite(min) ? min : 0) - UNK_PENALTY);
    this.maxScore = Math.fround(max);
    for (let b = 0; b < 256; b++) this.byteIds.push(ids.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`) ?? -1);
  }

  private insert(bytes: Uint8Array, id: number): void {
    let node = 0;
    for (const b of bytes) {
      let child = this.next[node].get(b);
      if (child === undefined) {
        child = this.next.length;
        this.next.push(new Map());
        this.idAt.push(-1);
        this.next[node].set(b, child);
      }
      node = child;
    }
    if (this.idAt[node] < 0) this.idAt[node] = id; // a duplicate piece is refused earlier; keep the first
  }

  /** Ids of an already normalized text. */
  encode(normalized: string): number[] {
    const s = Buffer.from(normalized, "utf8");
    const n = s.length;
    if (n === 0) return [];
    const score = new Float32Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const idAt = new Int32Array(n + 1).fill(-1);
    const v = this.v;
    const offer = (start: number, end: number, id: number, candidate: number) => {
      if (from[end] === -1 || candidate > score[end]) {
        score[end] = candidate;
        from[end] = start;
        idAt[end] = id;
      }
    };
    for (let start = 0; start < n; ) {
      const here = score[start];
      const len = Math.min(utf8CharLength(s[start]), n - start);
      let whole = false;
      for (let node = 0, pos = start; pos < n; ) {
        const child = this.next[node].get(s[pos++]);
        if (child === undefined) break;
        node = child;
        const id = this.idAt[node];
        if (id < 0) continue;
        const length = pos - start;
        // as sentencepiece: the candidate is a double (its user-defined bonus is), rounded to float when kept
        const c = (v.types[id] === PieceType.USER_DEFINED ? Math.fround(length * this.maxScore) - 0.1 : v.scores[id]) + here;
        offer(start, pos, id, c);
        if (length === len) whole = true;
      }
      if (!whole) offer(start, start + len, v.unkId, Math.fround(this.unkScore + here));
      start += len;
    }
    const pieces: [number, number, number][] = [];
    for (let end = n; end > 0; end = from[end]) pieces.push([from[end], end, idAt[end]]);
    pieces.reverse();
    const out: number[] = [];
    for (const [a, b, id] of pieces) {
      if (id !== v.unkId) out.push(id);
      else if (v.byteFallback) for (let i = a; i < b; i++) out.push(this.byteIds[s[i]]);
      else if (out.length === 0 || out[out.length - 1] !== v.unkId) out.push(id); // a run of unknowns is one unk
    }
    return out;
  }
}
