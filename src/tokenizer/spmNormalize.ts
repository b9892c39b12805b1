// SentencePiece's normalizer (formats/tokenizer-spm.md "Normalization"), on UTF-8 bytes as sentencepiece
// runs it: at each position the longest user-defined piece is kept as it is, else the normalization
// table's longest rule is replaced, else one character is copied; then spaces become ▁, with the
// dummy prefix (or suffix) and, with remove_extra_whitespaces, runs of spaces collapsed and the ends
// stripped (spaces as the table writes them, so a table mapping NBSP or U+3000 to ' ' counts them).
import type { Charsmap } from "./charsmap.js";

const SPACE = 0x20;
const META = Buffer.from("\u2581", "utf8");

export interface NormalizerSettings {
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  treatWhitespaceAsSuffix: boolean;
  charsmap: Charsmap | null;
}

/** The byte length of the UTF-8 character a lead byte starts (1 for a stray continuation byte). */
export function utf8CharLength(lead: number): number {
  return lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

export class SpmNormalizer {
  /** user-defined pieces' bytes by first byte, longest first */
  private readonly user = new Map<number, Buffer[]>();

  constructor(private readonly s: NormalizerSettings, userDefined: readonly string[]) {
    for (const p of userDefined) {
      const b = Buffer.from(p, "utf8");
      const list = this.user.get(b[0]) ?? [];
      list.push(b);
      this.user.set(b[0], list);
    }
    for (const list of this.user.values()) list.sort((a, b) => b.length - a.length);
  }

  /** The normalized form of one position: what it becomes, and how many input bytes it consumes. */
  private prefix(input: Buffer, pos: number): { out: Uint8Array; consumed: number } {
    for (const u of this.user.get(input[pos]) ?? []) {
      if (u.length <= input.length - pos && input.compare(u, 0, u.length, pos, pos + u.length) === 0) return { out: u, consumed: u.length };
    }
    const rule = this.s.charsmap?.longestMatch(input, pos);
    if (rule) return { out: rule.replacement, consumed: rule.length };
    const n = Math.min(utf8CharLength(input[pos]), input.length - pos);
    return { out: input.subarray(pos, pos + n), consumed: n };
  }

  normalize(text: string): string {
    const input = Buffer.from(text, "utf8");
    const s = this.s;
    let pos = 0;
    if (s.removeExtraWhitespaces) {
      for (;;) {
        if (pos >= input.length) break;
        const p = this.prefix(input, pos);
        if (!(p.out.length === 1 && p.out[0] === SPACE)) break;
        pos += p.consumed;
      }
    }
    if (pos >= input.length) return "";
    const out: number[] = [];
    const addMeta = () => out.push(...META);
    if (!s.treatWhitespaceAsSuffix && s.addDummyPrefix) addMeta();
    let prevSpace = s.removeExtraWhitespaces;
    while (pos < input.length) {
      const p = this.prefix(input, pos);
      let i = 0;
      if (prevSpace) while (i < p.out.length && p.out[i] === SPACE) i++;
      if (i < p.out.length) {
        for (; i < p.out.length; i++) {
          if (p.out[i] === SPACE) addMeta();
          else out.push(p.out[i]);
        }
        prevSpace = p.out[p.out.length - 1] === SPACE;
      }
      pos += p.consumed;
      if (!s.removeExtraWhitespaces) prevSpace = false;
    }
    if (s.removeExtraWhitespaces) {
      while (out.length >= 3 && out[out.length - 3] === META[0] && out[out.length - 2] === META[1] && out[out.length - 1] === META[2]) out.length -= 3;
    }
    if (s.treatWhitespaceAsSuffix && s.addDummyPrefix) addMeta();
    return Buffer.from(out).toString("utf8");
  }
}
