// The human-readable form of an InspectResult (what `bitconv inspect` prints without --json).
import { printable } from "../util/printable.js";
import type { BlockDecode, InspectResult, TensorStats } from "./types.js";

// Names and values come from the file: every table cell is escaped and cut (printable), and so is
// every line of the finished text, so nothing from a file reaches the terminal raw.
const MAX_LINE = 4000;

/** Lines of an already escaped block (its newlines are ours), indented. */
const indent = (block: string): string[] => block.split("\n").map((l) => `  ${l}`);

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function table(raw: string[][], rightAlign: Set<number> = new Set()): string {
  const rows = raw.map((r) => r.map((cell) => printable(cell)));
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows
    .map((r) => r.map((cell, c) => (rightAlign.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ").trimEnd())
    .join("\n");
}

function short(v: unknown): string {
  if (typeof v === "string") return v.length > 60 ? `${JSON.stringify(v.slice(0, 57))}...` : v;
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function renderStats(stats: TensorStats[]): string {
  const rows = [["tensor", "layout", "-1", "0", "+1", "scale", ...(stats.some((s) => s.master) ? ["absmean", "near 0.5"] : [])]];
  for (const s of stats) {
    const row = [
      s.name,
      s.layout,
      pct(s.minus),
      pct(s.zero),
      pct(s.plus),
      s.error ? `error: ${s.error}` : s.scale === null ? "-" : s.scale.toPrecision(6),
    ];
    if (s.master) row.push(s.master.mean_abs.toPrecision(6), pct(s.master.boundary_share));
    else if (rows[0].length > 6) row.push("", "");
    rows.push(row);
  }
  return table(rows, new Set([2, 3, 4]));
}

export function renderBlock(b: BlockDecode): string {
  const out: string[] = [];
  out.push(`Block ${b.block} of ${b.blocks} in ${b.tensor} (${b.layout}, M ${b.M} x K ${b.K})`);
  out.push(`  a block: ${b.definition}`);
  if (b.params) out.push(`  params: BM ${b.params.BM}, BK ${b.params.BK}, bm ${b.params.bm} (${b.params_source ?? ""})`);
  out.push(`  scale: ${b.scale.value ?? "-"} (${b.scale.source})`);
  out.push("");
  out.push("  bytes (offset within the tensor: hex, then each bit field):");
  for (const by of b.bytes_detail) {
    out.push(`  @${by.offset} ${by.hex}  [${by.part}]`);
    for (const f of by.fields) out.push(`      ${(/^\d/.test(f.bits) ? `bits ${f.bits}` : f.bits).padEnd(9)} = ${String(f.raw).padStart(2)}  ${f.meaning}`);
  }
  out.push("");
  out.push("  values (row, column) = value:");
  const line: string[] = [];
  for (const v of b.values) {
    line.push(`(${v.row},${v.col})=${v.value > 0 ? "+1" : v.value < 0 ? "-1" : " 0"}`);
    if (line.length === 8) {
      out.push(`    ${line.join("  ")}`);
      line.length = 0;
    }
  }
  if (line.length) out.push(`    ${line.join("  ")}`);
  return out.map((l) => printable(l, MAX_LINE)).join("\n");
}

export function renderText(r: InspectResult): string {
  const out: string[] = [];
  out.push(`${r.source}  (${r.kind}${r.format.gguf_version ? ` v${String(r.format.gguf_version)}` : ""})`);
  out.push(`architecture: ${r.architecture ?? "unknown"}${r.family ? `   family: ${r.family}` : ""}${r.form ? `   form: ${r.form}` : ""}`);
  if (r.kind === "gguf") {
    out.push(`layout: ${String(r.format.layout ?? "none")}   alignment ${String(r.format.alignment)}   type ids: ${String(r.format.type_context)}`);
  }
  const hp = Object.entries(r.hyperparameters).filter(([, v]) => typeof v !== "object" || v === null);
  if (hp.length) {
    out.push("", "hyperparameters:");
    for (const [k, v] of hp) out.push(`  ${k}: ${short(v)}`);
  }
  if (r.tokenizer) {
    const t = r.tokenizer;
    out.push(
      "",
      `tokenizer: model ${t.model ?? "-"}, pre ${t.pre ?? "-"}, vocab ${t.vocab_size ?? "-"}, bos ${t.bos_token_id ?? "-"}, eos ${t.eos_token_id ?? "-"}, merges ${t.merges ?? "-"}, chat template ${t.chat_template ? "yes" : "no"}`,
    );
  }
  if (r.provenance) {
    out.push("", "provenance:");
    for (const [k, v] of Object.entries(r.provenance)) out.push(`  ${k}: ${short(v)}`);
  }
  out.push("", `tensors (${r.tensors.length}${r.tensors.length !== r.totals.tensors ? ` of ${r.totals.tensors}` : ""}):`);
  const rows = [["name", "shape", "type", "bytes", "bpw"]];
  for (const t of r.tensors) {
    rows.push([t.name, `[${t.shape.join(", ")}]`, t.layout && t.layout !== t.type.toLowerCase() ? `${t.type} (${t.layout})` : t.type, String(t.bytes), t.bits_per_weight.toFixed(4)]);
  }
  out.push(...indent(table(rows, new Set([3, 4]))));
  const tt = r.totals;
  out.push(
    "",
    `totals: ${formatBytes(tt.bytes)} in ${tt.tensors} tensors; ternary ${formatBytes(tt.ternary_bytes)} (${tt.ternary_weights} weights` +
      `${tt.ternary_weights ? `, ${((tt.ternary_bytes * 8) / tt.ternary_weights).toFixed(4)} bits each` : ""}), rest ${formatBytes(tt.other_bytes)}; ` +
      `non-embedding ${formatBytes(tt.non_embedding_bytes)}`,
  );
  if (r.stats) {
    out.push("", "ternary statistics:");
    out.push(...(r.stats.length ? indent(renderStats(r.stats)) : ["  (no ternary tensors)"]));
  }
  if (r.block) out.push("", ...renderBlock(r.block).split("\n"));
  if (r.warnings.length) {
    out.push("", "notes:");
    for (const w of r.warnings) out.push(`  - ${w}`);
  }
  return out.map((l) => printable(l, MAX_LINE)).join("\n") + "\n";
}
