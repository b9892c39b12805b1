// Builds a SentencePiece precompiled_charsmap for tests, with its own double-array builder (the layout of
// darts-clone units that sentencepiece's normalizer and llama.cpp's UGM tokenizer read): a uint32 trie
// size, the units, then the NUL-terminated replacements. Shares no code with src/tokenizer/charsmap.ts.
interface TrieNode { children: Map<number, TrieNode>; value?: number }

export function buildCharsmap(rules: Record<string, string>): Uint8Array {
  const root: TrieNode = { children: new Map() };
  const strings: number[] = [];
  for (const [from, to] of Object.entries(rules)) {
    let node = root;
    for (const b of Buffer.from(from, "utf8")) {
      if (!node.children.has(b)) node.children.set(b, { children: new Map() });
      node = node.children.get(b)!;
    }
    node.value = strings.length;
    strings.push(...Buffer.from(to, "utf8"), 0);
  }
  const units: number[] = [];
  const used = new Set<number>([0]);
  // each base serves one node: a walk checks only a child's label, so two nodes sharing a base would
  // see each other's children (darts-clone keeps the same rule)
  const bases = new Set<number>();
  const place = (node: TrieNode, at: number, label: number) => {
    const labels = [...node.children.keys()];
    if (node.value !== undefined) labels.push(0);
    let base = 1;
    while (bases.has(base) || labels.some((c) => used.has(base ^ c))) base++;
    bases.add(base);
    for (const c of labels) used.add(base ^ c);
    const offset = at ^ base;
    if (offset >= 1 << 21) throw new Error("charsmap test table too large");
    units[at] = ((offset << 10) | (node.value !== undefined ? 1 << 8 : 0) | label) >>> 0;
    if (node.value !== undefined) units[base] = (0x80000000 | node.value) >>> 0;
    for (const [c, child] of node.children) place(child, base ^ c, c);
  };
  place(root, 0, 0);
  // units for every label of every base (darts-clone allocates blocks of 256; llama.cpp bounds-checks each step)
  const n = Math.max(...[...bases].map((b) => (b | 0xff) + 1), units.length);
  const out = new Uint8Array(4 + 4 * n + strings.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 4 * n, true);
  for (let i = 0; i < n; i++) dv.setUint32(4 + 4 * i, units[i] ?? 0, true);
  out.set(strings, 4 + 4 * n);
  return out;
}
