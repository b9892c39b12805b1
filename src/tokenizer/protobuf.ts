// The protocol buffers wire format, read-only and just enough for SentencePiece's ModelProto
// (formats/tokenizer-spm.md): varints, length-delimited fields, fixed32/fixed64. Every read is bounds
// checked so a truncated or corrupt file is an input error, never an exception from deep inside.
import { inputError } from "../util/errors.js";

export const Wire = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

export interface ProtoField {
  field: number;
  wire: number;
  /** VARINT: the low 32 bits (signed, as int32/enum/bool fields read them); I32: the raw bits */
  int: number;
  /** LEN: the field's bytes */
  bytes: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** The fields of one message, in file order. `what` names the message in errors. */
export function readMessage(buf: Uint8Array, file: string, what: string): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const fail = (problem: string) => inputError(file, `${what}: ${problem} at byte ${pos} (truncated or not a SentencePiece model?)`);
  const varint = (): number => {
    let lo = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw fail("varint runs past the end");
      const b = buf[pos++];
      if (i < 5) lo |= (b & 0x7f) << (7 * i); // bits past 32 only matter for negative int32s, which repeat the sign
      if ((b & 0x80) === 0) return lo;
    }
    throw fail("varint longer than 10 bytes");
  };
  while (pos < buf.length) {
    const key = varint() >>> 0;
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) throw fail("field number 0");
    if (wire === Wire.VARINT) out.push({ field, wire, int: varint(), bytes: EMPTY });
    else if (wire === Wire.LEN) {
      const n = varint();
      if (n < 0 || pos + n > buf.length) throw fail(`field ${field} of ${n >>> 0} bytes runs past the end`);
      out.push({ field, wire, int: 0, bytes: buf.subarray(pos, pos + n) });
      pos += n;
    } else if (wire === Wire.I32 || wire === Wire.I64) {
      const n = wire === Wire.I32 ? 4 : 8;
      if (pos + n > buf.length) throw fail(`field ${field} runs past the end`);
      const dv = new DataView(buf.buffer, buf.byteOffset + pos, n);
      out.push({ field, wire, int: dv.getUint32(0, true) | 0, bytes: buf.subarray(pos, pos + n) });
      pos += n;
    } else throw fail(`unknown wire type ${wire} (field ${field})`);
  }
  return out;
}

/** A fixed32 field as the float it holds. */
export function fieldFloat(f: ProtoField): number {
  return new DataView(f.bytes.buffer, f.bytes.byteOffset, 4).getFloat32(0, true);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A string field; invalid UTF-8 is an input error. */
export function fieldString(f: ProtoField, file: string, what: string): string {
  try {
    return utf8.decode(f.bytes);
  } catch {
    throw inputError(file, `${what} is not valid UTF-8`);
  }
}
