// SentencePiece's precompiled normalization table (NormalizerSpec.precompiled_charsmap; nmt_nfkc and
// friends), formats/tokenizer-spm.md "Normalization table": a uint32 byte count, a darts-clone double
// array over the UTF-8 bytes of the source strings, then the NUL-terminated replacement strings. The
// whole trie is walked once when the table is read, so a broken table is an input error at load time,
// never a wrong answer or an exception later.
import { inputError } from "../util/errors.js";

/** One double-array unit's fields (darts-clone's bit packing). */
const offsetOf = (u: number): number => (u >>> 10) << ((u & (1 << 9)) >>> 6);
const labelOf = (u: number): number => u & ((1 << 31) | 0xff);
const hasLeaf = (u: number): boolean => ((u >>> 8) & 1) === 1;
const valueOf = (u: number): number => u & 0x7fffffff;

export class Charsmap {
  private constructor(
    private readonly units: Uint32Array,
    private readonly strings: Uint8Array,
    /** replacement bytes by their offset in `strings` */
    private readonly replacements: Map<number, Uint8Array>,
  ) {}

  /** Parses and checks a table; `file` names it in errors. */
  static parse(blob: Uint8Array, file: string): Charsmap {
    const bad = (why: string) => inputError(file, `precompiled_charsmap (the normalization table) is broken: ${why}`);
    if (blob.length <= 4) throw bad(`${blob.length} bytes`);
    const trieBytes = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true);
    if (trieBytes >= blob.length - 4 || trieBytes % 4 !== 0 || trieBytes === 0) throw bad(`its trie of ${trieBytes} bytes does not fit the ${blob.length}-byte table`);
    const units = new Uint32Array(trieBytes / 4);
    const dv = new DataView(blob.buffer, blob.byteOffset + 4, trieBytes);
    for (let i = 0; i < units.length; i++) units[i] = dv.getUint32(4 * i, true);
    const strings = blob.subarray(4 + trieBytes);
    const map = new Charsmap(units, strings, new Map());
    map.check(bad);
    return map;
  }

  /** Walks every path of the trie: each node in range, each value a NUL-terminated string. */
  private check(bad: (why: string) => Error): void {
    // every label's slot of every node must exist, as darts-clone's 256-unit blocks guarantee (llama.cpp
    // aborts on a walk past the end, sentencepiece reads past it)
    const root = offsetOf(this.units[0]);
    if ((root | 0xff) >= this.units.length) throw bad(`the root's children run past the ${this.units.length}-unit trie`);
    const seen = new Set<number>();
    const stack = [root];
    while (stack.length > 0) {
      const base = stack.pop()!;
      if (seen.has(base)) continue;
      seen.add(base);
      for (let c = 1; c < 256; c++) {
        const at = base ^ c;
        if (labelOf(this.units[at]) !== c) continue;
        const next = at ^ offsetOf(this.units[at]);
        if ((next | 0xff) >= this.units.length) throw bad(`node ${at}'s children run past the ${this.units.length}-unit trie`);
        if (hasLeaf(this.units[at])) this.replacement(valueOf(this.units[next]), bad);
        stack.push(next);
      }
    }
  }

  private replacement(offset: number, bad: (why: string) => Error): Uint8Array {
    let r = this.replacements.get(offset);
    if (r) return r;
    const end = offset < this.strings.length ? this.strings.indexOf(0, offset) : -1;
    if (end < 0) throw bad(`replacement at ${offset} is outside the strings or not NUL-terminated`);
    r = this.strings.subarray(offset, end);
    this.replacements.set(offset, r);
    return r;
  }

  /** The longest source string at `pos` of `bytes`: its length and replacement, or null. */
  longestMatch(bytes: Uint8Array, pos: number): { length: number; replacement: Uint8Array } | null {
    const u = this.units;
    let node = offsetOf(u[0]);
    let best: { length: number; replacement: Uint8Array } | null = null;
    for (let i = pos; i < bytes.length; i++) {
      const c = bytes[i];
      if (c === 0) break;
      node ^= c;
      if (labelOf(u[node]) !== c) break;
      const leaf = hasLeaf(u[node]);
      node ^= offsetOf(u[node]);
      if (leaf) best = { length: i - pos + 1, replacement: this.replacements.get(valueOf(u[node]))! };
    }
    return best;
  }
}
