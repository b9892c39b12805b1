// Values read from files (tensor names, keys, strings) are attacker-controlled: printed raw, an ESC
// sequence clears the screen or sets the window title, and a 91 KB name makes a "one-line" error span
// a thousand lines. Everything from a file goes through printable() before it reaches a terminal;
// JSON output keeps the exact value (JSON.stringify escapes what JSON needs).

/** Longest value shown in messages and tables; longer ones are cut with an ellipsis. */
export const MAX_SHOWN = 120;

// C0 controls, DEL, C1 controls (0x9b is CSI on 8-bit terminals), bidi overrides and isolates (they
// reorder what follows on the line), zero-width and line/paragraph separators, BOM, and U+FFFD (where
// a decoder met bytes that are not UTF-8, so the reader sees that something was there).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ufffd]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeOne(ch: string): string {
  const c = ch.charCodeAt(0);
  if (ch === "\n") return "\\n";
  if (ch === "\t") return "\\t";
  if (ch === "\r") return "\\r";
  if (c < 0x100) return `\\x${c.toString(16).padStart(2, "0")}`;
  return `\\u{${c.toString(16)}}`;
}

/**
 * `s` safe for a terminal: unsafe characters as \xNN / \u{NNNN} escapes (a backslash stays as it is:
 * the escapes only need to be visible, not reversible), cut to `max` characters with "…".
 */
export function printable(s: string, max: number = MAX_SHOWN): string {
  let cut = s;
  let cutOff = false;
  if (cut.length > max) {
    cut = cut.slice(0, max);
    // do not leave half a surrogate pair at the cut
    if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
    cutOff = true;
  }
  const safe = cut.replace(UNSAFE, escapeOne);
  return cutOff ? `${safe}… (${s.length} characters)` : safe;
}
