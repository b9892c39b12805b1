// The self-contained HTML report: one file, inline CSS, SVG drawn by inline JS from the embedded
// result; no network access. When its script has drawn everything it sets data-rendered="ok" and
// data-svg-count on <body>; any script error sets data-error (docs/inspect.md).
import { formatBytes } from "./text.js";
import type { InspectResult } from "./types.js";

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** JSON that is safe inside <script>: no "</script", no U+2028/2029 surprises. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x))
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1180px; color: #1d2330; padding: 0 16px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid #d8dde6; padding-bottom: 4px; }
.sub { color: #5b6475; } .err { color: #b00020; font-weight: 600; }
table { border-collapse: collapse; font-size: 12.5px; } td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
th { color: #5b6475; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 13px; }
.kv div:nth-child(odd) { color: #5b6475; }
.scroll { max-height: 420px; overflow: auto; border: 1px solid #e4e8ef; padding: 6px; }
svg { display: block; margin: 6px 0 12px; } svg text { font: 11px system-ui, sans-serif; fill: #1d2330; }
.legend span { display: inline-block; margin-right: 14px; } .sw { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
`;

const SCRIPT = `
(function () {
  "use strict";
  var body = document.body;
  window.onerror = function (msg, src, line) {
    body.setAttribute("data-error", String(msg) + " @" + line);
    var e = document.getElementById("error");
    if (e) e.textContent = "report script error: " + msg + " (line " + line + ")";
  };
  var R = JSON.parse(document.getElementById("data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var COL = { minus: "#d1495b", zero: "#b8c0cc", plus: "#2e86ab", invalid: "#111" };
  function el(name, attrs, parent, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function svg(host, w, h) { return el("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h }, document.getElementById(host)); }
  function tip(node, text) { el("title", {}, node, text); return node; }
  function note(host, text) { var p = document.createElement("p"); p.className = "sub"; p.textContent = text; document.getElementById(host).appendChild(p); }
  function fmt(x) { return x === null || x === undefined ? "-" : (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toPrecision(5) : x.toExponential(3)); }

  // 1. ternary fractions, one stacked bar per ternary tensor, grouped by layer
  (function fractions() {
    var S = R.stats || [];
    if (!S.length) { note("fractions", R.stats ? "No ternary tensors." : "Statistics were not computed (remote headers or --no-stats)."); return; }
    var rowH = 14, labelW = 300, barW = 560, h = S.length * rowH + 30;
    var s = svg("fractions", labelW + barW + 120, h);
    S.forEach(function (t, i) {
      var y = 10 + i * rowH;
      el("text", { x: labelW - 6, y: y + 10, "text-anchor": "end" }, s, t.name);
      var x = labelW;
      [["minus", t.minus, "-1"], ["zero", t.zero, "0"], ["plus", t.plus, "+1"]].forEach(function (p) {
        var w = Math.max(0, p[1] * barW);
        tip(el("rect", { x: x, y: y, width: w, height: rowH - 3, fill: COL[p[0]], "class": "bar" }, s), t.name + ": " + p[2] + " " + (100 * p[1]).toFixed(2) + "%");
        x += w;
      });
      el("text", { x: labelW + barW + 6, y: y + 10 }, s, (100 * t.zero).toFixed(1) + "% zero");
    });
  })();

  // 2. scale per layer, one line per kind of weight
  (function scales() {
    var S = (R.stats || []).filter(function (t) { return t.layer !== null && typeof t.scale === "number" && isFinite(t.scale); });
    if (!S.length) { note("scales", "No per-layer scales to plot."); return; }
    var kinds = {}, maxL = 0, lo = Infinity, hi = -Infinity;
    S.forEach(function (t) {
      var k = t.name.replace(/^.*?\\.(\\d+)\\./, "").replace(/\\.weight$/, "");
      (kinds[k] = kinds[k] || []).push(t);
      maxL = Math.max(maxL, t.layer); lo = Math.min(lo, t.scale); hi = Math.max(hi, t.scale);
    });
    if (hi === lo) { hi = hi * 1.1 + 1e-9; lo = lo * 0.9; }
    var W = 760, H = 260, L = 60, B = 30, T = 10, Rt = 160;
    var s = svg("scales", W, H);
    var X = function (l) { return L + (maxL ? l / maxL : 0.5) * (W - L - Rt); };
    var Y = function (v) { return T + (1 - (v - lo) / (hi - lo)) * (H - T - B); };
    el("line", { x1: L, y1: H - B, x2: W - Rt, y2: H - B, stroke: "#888" }, s);
    el("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#888" }, s);
    for (var i = 0; i <= 4; i++) { var v = lo + (hi - lo) * i / 4; el("text", { x: L - 4, y: Y(v) + 4, "text-anchor": "end" }, s, fmt(v)); }
    for (var l = 0; l <= maxL; l++) el("text", { x: X(l), y: H - B + 14, "text-anchor": "middle" }, s, String(l));
    el("text", { x: (L + W - Rt) / 2, y: H - 2, "text-anchor": "middle" }, s, "layer");
    var palette = ["#2e86ab", "#d1495b", "#edae49", "#66a182", "#8d6a9f", "#00798c", "#30638e", "#a4036f"];
    Object.keys(kinds).forEach(function (k, j) {
      var pts = kinds[k].sort(function (a, b) { return a.layer - b.layer; });
      var c = palette[j % palette.length];
      el("polyline", { points: pts.map(function (t) { return X(t.layer) + "," + Y(t.scale); }).join(" "), fill: "none", stroke: c, "stroke-width": 1.5 }, s);
      pts.forEach(function (t) { tip(el("circle", { cx: X(t.layer), cy: Y(t.scale), r: 3, fill: c }, s), t.name + ": scale " + t.scale); });
      el("rect", { x: W - Rt + 10, y: T + j * 16, width: 10, height: 10, fill: c }, s);
      el("text", { x: W - Rt + 26, y: T + j * 16 + 9 }, s, k);
    });
  })();

  // 3. size breakdown: one stacked bar by category
  (function sizes() {
    var b = R.totals.breakdown, total = R.totals.bytes || 1;
    var cats = [["ternary", "#2e86ab"], ["embedding", "#edae49"], ["norm", "#66a182"], ["scale", "#8d6a9f"], ["other", "#b8c0cc"]];
    var W = 760, s = svg("sizes", W, 64), x = 0;
    cats.forEach(function (c, i) {
      var w = (b[c[0]] || 0) / total * W;
      if (w > 0) tip(el("rect", { x: x, y: 4, width: w, height: 26, fill: c[1] }, s), c[0] + ": " + b[c[0]] + " bytes");
      x += w;
      el("rect", { x: i * 150, y: 42, width: 10, height: 10, fill: c[1] }, s);
      el("text", { x: i * 150 + 14, y: 51 }, s, c[0] + " " + (100 * (b[c[0]] || 0) / total).toFixed(1) + "%");
    });
  })();

  // 4. the block diagram: every byte with its bit fields, then the values at their (row, column)
  (function block() {
    var B = R.block;
    if (!B) { note("block", "No packed ternary tensor to draw."); return; }
    var valColor = function (v) { return v > 0 ? COL.plus : v < 0 ? COL.minus : COL.zero; };
    var bytes = B.bytes_detail.slice(0, 96);
    var cell = 15, labelW = 150, rowH = 19, fieldW = 8 * cell;
    var s = svg("block", labelW + fieldW + 520, bytes.length * rowH + 24);
    el("text", { x: labelW, y: 12 }, s, "bit 7 ... bit 0");
    bytes.forEach(function (by, i) {
      var y = 18 + i * rowH;
      el("text", { x: labelW - 8, y: y + 12, "text-anchor": "end" }, s, "@" + by.offset + " " + by.hex + " " + by.part);
      var bitsUsed = [];
      by.fields.forEach(function (f, fi) {
        var m = /^(\\d+):(\\d+)$/.exec(f.bits), hiB, loB;
        if (m) { hiB = +m[1]; loB = +m[2]; } else if (/^\\d+$/.test(f.bits)) { hiB = loB = +f.bits; } else { hiB = 7 - fi * 8 / by.fields.length; loB = hiB - 8 / by.fields.length + 1; }
        var x = labelW + (7 - hiB) * cell, w = (hiB - loB + 1) * cell;
        var vals = f.values.map(function (k) { return B.values[k]; });
        var fill = vals.length === 1 ? valColor(vals[0].value) : vals.length ? "#f4f1de" : "#e9ecef";
        tip(el("rect", { x: x + 1, y: y, width: w - 2, height: rowH - 4, fill: fill, stroke: "#fff", "class": "field" }, s),
          "bits " + f.bits + " = " + f.raw + ": " + f.meaning);
        el("text", { x: x + w / 2, y: y + 11, "text-anchor": "middle" }, s, String(f.raw));
        bitsUsed.push(f.bits + "=" + f.raw);
      });
      el("text", { x: labelW + fieldW + 10, y: y + 12 }, s, by.fields.length ? by.fields.map(function (f) { return f.meaning; }).slice(0, 2).join(" | ").slice(0, 90) : "");
    });
    if (B.bytes_detail.length > bytes.length) note("block", "(" + (B.bytes_detail.length - bytes.length) + " more bytes in the text output)");
    // values grid: rows of the matrix down, columns across (only the rows and columns the block touches)
    var rows = [], cols = [], rs = {}, cs = {};
    B.values.forEach(function (v) { if (!(v.row in rs)) { rs[v.row] = 1; rows.push(v.row); } if (!(v.col in cs)) { cs[v.col] = 1; cols.push(v.col); } });
    rows.sort(function (a, b) { return a - b; }); cols.sort(function (a, b) { return a - b; });
    var perLine = Math.min(cols.length, 64), bands = Math.ceil(cols.length / perLine), c2 = 11;
    var g = svg("blockvalues", 70 + perLine * c2 + 10, bands * (rows.length * c2 + 22) + 10);
    var ri = {}; rows.forEach(function (r, i) { ri[r] = i; });
    var ci = {}; cols.forEach(function (c, i) { ci[c] = i; });
    for (var band = 0; band < bands; band++) {
      var top = 8 + band * (rows.length * c2 + 22);
      el("text", { x: 70, y: top + 8 }, g, "columns " + cols[band * perLine] + " .. " + cols[Math.min(cols.length, (band + 1) * perLine) - 1]);
      rows.forEach(function (r, i) { el("text", { x: 64, y: top + 20 + i * c2, "text-anchor": "end" }, g, "row " + r); });
    }
    B.values.forEach(function (v) {
      var k = ci[v.col], band = Math.floor(k / perLine), top = 8 + band * (rows.length * c2 + 22);
      tip(el("rect", { x: 70 + (k % perLine) * c2, y: top + 12 + ri[v.row] * c2, width: c2 - 1, height: c2 - 1, fill: valColor(v.value), "class": "val" }, g),
        "(" + v.row + ", " + v.col + ") = " + v.value + "  byte @" + v.byte + " bits " + v.bits + (v.sign ? ", sign @" + v.sign.byte + " bit " + v.sign.bit : ""));
    });
  })();

  body.setAttribute("data-svg-count", String(document.querySelectorAll("svg").length));
  body.setAttribute("data-rendered", "ok");
})();
`;

export function renderHtml(r: InspectResult): string {
  const kv = (pairs: [string, unknown][]): string =>
    `<div class="kv">${pairs.map(([k, v]) => `<div>${esc(k)}</div><div>${esc(typeof v === "string" ? v : JSON.stringify(v) ?? "-")}</div>`).join("")}</div>`;
  const hp = Object.entries(r.hyperparameters).filter(([, v]) => typeof v !== "object" || v === null);
  const tok = r.tokenizer;
  const tensorRows = r.tensors
    .map((t) => `<tr><td><code>${esc(t.name)}</code></td><td>[${t.shape.join(", ")}]</td><td>${esc(t.type)}${t.layout && t.layout !== t.type.toLowerCase() ? ` (${esc(t.layout)})` : ""}</td><td class="num">${t.bytes}</td><td class="num">${t.bits_per_weight.toFixed(4)}</td></tr>`)
    .join("");
  const tt = r.totals;
  const blockHead = r.block
    ? `<p class="sub">Block ${r.block.block} of ${r.block.blocks} in <code>${esc(r.block.tensor)}</code> (${esc(r.block.layout)}, M ${r.block.M} x K ${r.block.K}). A block: ${esc(r.block.definition)}. Scale: ${esc(String(r.block.scale.value ?? "-"))} (${esc(r.block.scale.source)}).${r.block.params ? ` Params BM ${r.block.params.BM}, BK ${r.block.params.BK}, bm ${r.block.params.bm} (${esc(r.block.params_source ?? "")}).` : ""}</p>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bitconv inspect: ${esc(r.source)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<style>${CSS}</style></head>
<body>
<h1>${esc(r.source)}</h1>
<p class="sub">${esc(r.kind)} &middot; architecture ${esc(r.architecture ?? "unknown")}${r.family ? ` &middot; family ${esc(r.family)}` : ""}${r.form ? ` &middot; ${esc(r.form)}` : ""}${r.format.layout ? ` &middot; layout ${esc(String(r.format.layout))}` : ""}</p>
<p id="error" class="err"></p>
<h2>Hyperparameters</h2>${hp.length ? kv(hp) : '<p class="sub">none</p>'}
<h2>Tokenizer</h2>${tok ? kv([["model", tok.model], ["pre", tok.pre], ["vocab size", tok.vocab_size], ["bos / eos", `${tok.bos_token_id ?? "-"} / ${tok.eos_token_id ?? "-"}`], ["merges", tok.merges], ["chat template", tok.chat_template ? "yes" : "no"]]) : '<p class="sub">none</p>'}
${r.provenance ? `<h2>Provenance</h2>${kv(Object.entries(r.provenance))}` : ""}
<h2>Size</h2>
<p>${formatBytes(tt.bytes)} in ${tt.tensors} tensors: ternary ${formatBytes(tt.ternary_bytes)} (${tt.ternary_weights} weights), rest ${formatBytes(tt.other_bytes)}, non-embedding ${formatBytes(tt.non_embedding_bytes)}.</p>
<div id="sizes"></div>
<h2>Ternary fractions per tensor</h2>
<div class="legend"><span><i class="sw" style="background:#d1495b"></i>-1</span><span><i class="sw" style="background:#b8c0cc"></i>0</span><span><i class="sw" style="background:#2e86ab"></i>+1</span></div>
<div id="fractions"></div>
<h2>Scale per layer</h2><div id="scales"></div>
<h2>Block layout</h2>${blockHead}<div id="block"></div><div id="blockvalues"></div>
<h2>Tensors</h2>
<div class="scroll"><table><tr><th>name</th><th>shape</th><th>type</th><th>bytes</th><th>bits/weight</th></tr>${tensorRows}</table></div>
${r.warnings.length ? `<h2>Notes</h2><ul>${r.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>` : ""}
<script type="application/json" id="data">${scriptJson({ stats: r.stats ?? null, totals: r.totals, block: r.block ?? null })}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
