// The hostile-input suite (docs/security.md): file-system oddities (FIFOs, device nodes, directories,
// symlink loops, unreadable files), hostile GGUF and safetensors files (truncated, impossible counts,
// bad offsets, control characters and 91 KB names, NaN / zero / negative scales), hostile outputs, stale
// temp files and kills during convert. Every bad input must end in exit 2 with exactly one clean line
// on stderr naming the file, within a time limit, and leave the target as it was.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type SpawnSyncOptions } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync,
  symlinkSync, writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { readGguf } from "../src/gguf/reader.js";
import { buildGguf, VT, FIXTURE_PACKED } from "./helpers/inspect-gguf.js";
import { rawSafetensors } from "./helpers/safetensorsWriter.js";

const ROOT = resolve(new URL("../..", import.meta.url).pathname);
const CLI = join(ROOT, "dist/src/cli.js");
const RT = join(ROOT, "kernels-c/build/bitconv-rt");
const FIXTURE = join(ROOT, FIXTURE_PACKED);
const TIME_LIMIT_MS = 60_000; // the tiny fixture converts in about a second; a hang is what this catches
const tmp = mkdtempSync(join(tmpdir(), "bitconv-hostile-"));
chmodSync(tmp, 0o755); // the unreadable-file case runs as another user, who must reach the files
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
let serial = 0;
const fresh = (name: string) => join(tmp, `${serial++}-${name}`);

// ---------------------------------------------------------------- running and judging

interface Run { status: number | null; stdout: string; stderr: string; timedOut: boolean; ms: number }
let runs = 0;
function run(bin: "bitconv" | "rt", args: string[], opts: SpawnSyncOptions = {}): Run {
  runs++;
  const t0 = Date.now();
  const [cmd, argv] = bin === "bitconv" ? [process.execPath, [CLI, ...args]] : [RT, args];
  const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: TIME_LIMIT_MS, killSignal: "SIGKILL", maxBuffer: 64 << 20, cwd: tmp, ...opts });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT";
  return { status: r.status, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), timedOut, ms: Date.now() - t0 };
}

/** No byte below 0x20 but the final newline, no DEL, no C1 control, no ESC anywhere. */
function assertNoControl(text: string, what: string): void {
  const bad = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.exec(text);
  assert.not.ok(bad, `${what}: raw control character U+${bad?.[0].charCodeAt(0).toString(16).padStart(4, "0")} in ${JSON.stringify(text.slice(0, 300))}`);
}

/** Exit 2, within the time limit, exactly one line on stderr that names `file` and holds no raw control byte. */
function assertRefused(r: Run, file: string, what: string, pattern?: RegExp): string {
  assert.not.ok(r.timedOut, `${what}: still running after ${TIME_LIMIT_MS} ms (killed)`);
  assert.is(r.status, 2, `${what}: exit ${r.status}, stderr ${JSON.stringify(r.stderr.slice(0, 500))}`);
  assert.ok(r.stderr.endsWith("\n") && r.stderr.indexOf("\n") === r.stderr.length - 1, `${what}: not exactly one line: ${JSON.stringify(r.stderr.slice(0, 500))}`);
  assertNoControl(r.stderr.slice(0, -1), what);
  assert.ok(r.stderr.length < 3000, `${what}: a ${r.stderr.length}-character line`);
  assert.ok(r.stderr.includes(basename(file)), `${what}: the message does not name ${basename(file)}: ${r.stderr}`);
  if (pattern) assert.match(r.stderr, pattern, `${what}: ${r.stderr}`);
  return r.stderr;
}

/** What a path is, to compare before and after (inode, type, device numbers, size, content hash). */
function snapshot(p: string): string {
  const st = lstatSync(p);
  const content = st.isFile() ? createHash("sha256").update(readFileSync(p)).digest("hex") : st.isDirectory() ? readdirSync(p).join("/") : "";
  return `${st.ino} ${st.mode} ${st.rdev} ${st.size} ${content}`;
}

function mknod(p: string, kind: "c" | "p", major = 1, minor = 3): boolean {
  const r = kind === "p" ? spawnSync("mkfifo", [p]) : spawnSync("mknod", [p, "c", String(major), String(minor)]);
  if (r.status !== 0) console.log(`  (cannot create ${kind === "p" ? "a FIFO" : "a device node"} ${p}: ${String(r.stderr).trim() || r.error?.message}; that case is not run)`);
  return r.status === 0;
}

/** The fixture checkpoint copied, with `name` replaced by what `make` puts there. */
function checkpointWith(name: string, make: (p: string) => boolean | void): string | undefined {
  const dir = fresh("ckpt");
  cpSync(FIXTURE, dir, { recursive: true });
  rmSync(join(dir, name), { force: true });
  return make(join(dir, name)) === false ? undefined : dir;
}

const artifact = (layout: string) => {
  const out = fresh(`${layout}.gguf`);
  const r = run("bitconv", ["convert", FIXTURE, "--layout", layout, "-o", out, "--threads", "1", "-q"]);
  assert.is(r.status, 0, r.stderr);
  return out;
};
const TQ2 = artifact("tq2_0");
const I2S = artifact("i2_s");

// ---------------------------------------------------------------- the file system

const kinds: [string, (p: string) => boolean | void][] = [
  ["a FIFO", (p) => mknod(p, "p")],
  ["a device node (like /dev/zero)", (p) => mknod(p, "c", 1, 5)],
  ["a directory", (p) => void mkdirSync(p)],
  ["a symlink loop", (p) => void symlinkSync(basename(p), p)],
];
const kindPattern: Record<string, RegExp> = {
  "a FIFO": /FIFO/, "a device node (like /dev/zero)": /character device/, "a directory": /directory/, "a symlink loop": /symbolic link loop/,
};

test("checkpoint files that are FIFOs, devices, directories or symlink loops: convert and inspect refuse them by name", () => {
  for (const [kind, make] of kinds) {
    for (const name of ["model.safetensors", "config.json", "tokenizer.json"]) {
      const dir = checkpointWith(name, make);
      if (!dir) continue;
      const target = join(dir, name);
      assertRefused(run("bitconv", ["convert", dir, "--layout", "tq2_0", "-o", fresh("out.gguf"), "-q"]), target, `convert: ${name} is ${kind}`, kindPattern[kind]);
      if (name !== "tokenizer.json") assertRefused(run("bitconv", ["inspect", dir, "--no-stats"]), target, `inspect: ${name} is ${kind}`, kindPattern[kind]);
    }
  }
});

test("checkpoint files that are dangling symlinks are named as such, not skipped as missing", () => {
  for (const name of ["model.safetensors", "config.json", "tokenizer.json"]) {
    const dir = checkpointWith(name, (p) => void symlinkSync("nowhere", p))!;
    assertRefused(run("bitconv", ["convert", dir, "--layout", "tq2_0", "-o", fresh("out.gguf"), "-q"]), join(dir, name), `convert: ${name} dangling`, /dangling link/);
  }
});

test("a .gguf that is a FIFO, a device, a directory or a symlink loop: inspect, verify and bitconv-rt refuse it", () => {
  for (const [kind, make] of kinds) {
    const p = fresh("model.gguf");
    if (make(p) === false) continue;
    const pattern = kindPattern[kind];
    // inspect reads a directory as a checkpoint folder: an empty one is refused as "not a model folder"
    assertRefused(run("bitconv", ["inspect", p]), p, `inspect: ${kind}`, kind === "a directory" ? /not a model folder/ : pattern);
    assertRefused(run("bitconv", ["verify", p]), p, `verify: ${kind}`, kind === "a directory" ? /directory/ : pattern);
    assertRefused(run("rt", ["info", "-m", p]), p, `bitconv-rt info: ${kind}`, pattern);
  }
});

test("token and text files that are FIFOs or devices: bitconv-rt perplexity and verify --text refuse them", () => {
  for (const [kind, make] of kinds) {
    const p = fresh("tokens.bin");
    if (make(p) === false) continue;
    assertRefused(run("rt", ["perplexity", "-m", TQ2, "--tokens", p]), p, `perplexity --tokens: ${kind}`, kindPattern[kind]);
    assertRefused(run("bitconv", ["verify", TQ2, "--text", p]), p, `verify --text: ${kind}`, kind === "a directory" ? /directory/ : kind === "a symlink loop" ? /symbolic links/ : kindPattern[kind]);
  }
});

test("an unreadable file (EACCES) is bad input naming the file, exit 2", () => {
  // root ignores permission bits, so the run drops to uid/gid 65534 (nobody), for whom mode 000 counts
  const dir = checkpointWith("model.safetensors", (p) => {
    copyFileSync(join(FIXTURE, "model.safetensors"), p);
    chmodSync(p, 0o000);
  })!;
  const gguf = fresh("unreadable.gguf");
  copyFileSync(TQ2, gguf);
  chmodSync(gguf, 0o000);
  const asNobody: SpawnSyncOptions = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  if (!asNobody.uid && process.getuid?.() !== 0) console.log("  (not root: mode 000 is enough)");
  const probe = run("bitconv", ["--version"], asNobody);
  if (probe.status !== 0) {
    console.log(`  (uid 65534 cannot run node on ${CLI}: ${probe.stderr.trim()}; the EACCES case is not run)`);
    return;
  }
  const out = join(tmp, `${serial++}-nobody-out.gguf`);
  assertRefused(run("bitconv", ["convert", dir, "--layout", "tq2_0", "-o", out, "-q"], asNobody), join(dir, "model.safetensors"), "convert: unreadable model.safetensors", /permission denied/);
  assertRefused(run("bitconv", ["inspect", gguf], asNobody), gguf, "inspect: unreadable .gguf", /permission denied/);
  assertRefused(run("rt", ["info", "-m", gguf], asNobody), gguf, "bitconv-rt info: unreadable .gguf", /Permission denied/);
});

test("outputs that exist and are not regular files are refused and left untouched", () => {
  const targets: [string, (p: string) => boolean | void][] = [
    ["a device node (like /dev/null)", (p) => mknod(p, "c", 1, 3)],
    ["a FIFO", (p) => mknod(p, "p")],
    ["a directory", (p) => void mkdirSync(p)],
    ["a symlink to a FIFO", (p) => mknod(`${p}.fifo`, "p") && void symlinkSync(`${p}.fifo`, p)],
  ];
  for (const [kind, make] of targets) {
    for (const flag of ["-o", "--manifest", "--html"]) {
      const p = fresh("target");
      if (make(p) === false) continue;
      const before = snapshot(p);
      const args = flag === "--html"
        ? ["inspect", TQ2, "--no-stats", "--html", p]
        : ["convert", FIXTURE, "--layout", "tq2_0", "-q", ...(flag === "-o" ? ["-o", p] : ["-o", fresh("ok.gguf"), "--manifest", p])];
      assertRefused(run("bitconv", args), p, `${flag} ${kind}`, /refusing to replace/);
      assert.is(snapshot(p), before, `${flag} ${kind}: the target changed`);
      if (flag === "--manifest") assert.not.ok(existsSync(args[args.indexOf("-o") + 1]), "--manifest refused after the artifact was written");
    }
  }
});

test("a symlink to a regular file is a valid output (the link is replaced, its target kept)", () => {
  const real = fresh("real.gguf");
  writeFileSync(real, "old");
  const link = fresh("link.gguf");
  symlinkSync(real, link);
  const r = run("bitconv", ["convert", FIXTURE, "--layout", "tq2_0", "-o", link, "-q"]);
  assert.is(r.status, 0, r.stderr);
  assert.ok(lstatSync(link).isFile() && readFileSync(real, "utf8") === "old");
});

// ---------------------------------------------------------------- hostile GGUF files

const ESC_NAME = "evil\u001b[2J\u001b]0;pwned\u0007name";
const BIG_NAME = "k".repeat(91_000);
const f32 = (v: number) => Buffer.from(new Float32Array([v]).buffer);
const kv = (key: string, value: unknown = 1) => ({ key, type: VT.UINT32, value });
/** Every "QQ" in the bytes replaced by ff fe, which no UTF-8 text holds. */
function invalidUtf8(b: Uint8Array): Uint8Array {
  const out = Buffer.from(b);
  for (let i = out.indexOf("QQ"); i >= 0; i = out.indexOf("QQ", i + 2)) out.set([0xff, 0xfe], i);
  return out;
}

/** Hostile GGUFs: each must be refused by both readers with one clean line. */
function hostileGgufs(): [string, Uint8Array][] {
  const good = readFileSync(TQ2);
  const patch64 = (at: number, v: bigint) => { const b = Buffer.from(good); b.writeBigUInt64LE(v, at); return b; };
  const tensor = (name: string, offset?: number) => ({ name, ne: [8], type: 0, data: new Uint8Array(32), offset });
  return [
    ...[3, 23, 24, 100, 1000, good.length >> 1, good.length - 1].map((n): [string, Uint8Array] => [`truncated to ${n} bytes`, good.subarray(0, n)]),
    ["tensor count 2^60", patch64(8, 1n << 60n)],
    ["key count 2^63 - 1", patch64(16, (1n << 63n) - 1n)],
    ["version 1", (() => { const b = Buffer.from(good); b.writeUInt32LE(1, 4); return b; })()],
    ["big-endian version", (() => { const b = Buffer.from(good); b.writeUInt32BE(3, 4); return b; })()],
    ["a duplicate key holding ESC[2J and an OSC title", buildGguf([kv(ESC_NAME), kv(ESC_NAME)], [])],
    ["a duplicate 91 KB key", buildGguf([kv(BIG_NAME), kv(BIG_NAME)], [])],
    ["a duplicate key of invalid UTF-8", invalidUtf8(buildGguf([kv("badQQ"), kv("badQQ")], []))],
    ["a duplicate tensor name with control characters", buildGguf([], [tensor("t\u001b[31m\u009b\u0008"), tensor("t\u001b[31m\u009b\u0008")])],
    ["a tensor offset past the end", buildGguf([], [tensor("a", 1 << 30)])],
    ["a misaligned tensor offset", buildGguf([], [tensor("a", 3)])],
    ["an array of 2^62 elements", (() => {
      const b = Buffer.from(buildGguf([{ key: "arr", type: VT.ARRAY, subType: VT.UINT8, value: [1, 2, 3] }], []));
      b.writeBigUInt64LE(1n << 62n, 24 + 8 + 3 + 4 + 4);
      return b;
    })()],
  ];
}

test("hostile GGUF headers: inspect and bitconv-rt info refuse each with one clean line", () => {
  for (const [what, bytes] of hostileGgufs()) {
    const p = fresh("hostile.gguf");
    writeFileSync(p, bytes);
    assertRefused(run("bitconv", ["inspect", p]), p, `inspect: ${what}`);
    const e = assertRefused(run("rt", ["info", "-m", p]), p, `bitconv-rt info: ${what}`);
    if (what.includes("ESC")) assert.match(e, /\\x1b\[2J/, "the escape is shown escaped");
    if (what.includes("invalid UTF-8")) assert.match(e, /\\x(ed|ff)/, `invalid bytes shown as \\xNN: ${e}`);
  }
});

test("overlapping tensors: bitconv-rt refuses them (inspect lists such a file, as other readers do)", () => {
  const p = fresh("overlap.gguf");
  writeFileSync(p, buildGguf([], [{ name: "a", ne: [8], type: 0, data: new Uint8Array(32), offset: 0 }, { name: "b", ne: [8], type: 0, data: new Uint8Array(32), offset: 0 }]));
  assertRefused(run("rt", ["info", "-m", p]), p, "bitconv-rt info: overlapping tensors", /overlap/);
});

test("names with control characters in a valid file: inspect text is escaped, its JSON keeps the exact value", () => {
  const p = fresh("names.gguf");
  writeFileSync(p, buildGguf([{ key: ESC_NAME, type: VT.STRING, value: "v\u001b[2Jalue" }], [{ name: "w\u001b]0;x\u0007", ne: [8], type: 0, data: new Uint8Array(32) }]));
  const text = run("bitconv", ["inspect", p]);
  assert.is(text.status, 0, text.stderr);
  assertNoControl(text.stdout.replace(/\n/g, ""), "inspect text");
  assert.ok(text.stdout.includes("w\\x1b]0;x\\x07"), text.stdout);
  const json = run("bitconv", ["inspect", p, "--json"]);
  const parsed = JSON.parse(json.stdout) as { tensors: { name: string }[]; hyperparameters: Record<string, unknown> };
  assert.is(parsed.tensors[0].name, "w\u001b]0;x\u0007");
});

/** A copy of `src` with the 4 bytes at `tensor`'s data start + `at` replaced. */
async function patched(src: string, tensor: string, at: number, bytes: Uint8Array): Promise<string> {
  const g = await readGguf(src);
  const t = g.tensors.find((x) => x.name === tensor)!;
  const b = Buffer.from(readFileSync(src));
  b.set(bytes, t.dataOffset + at);
  const p = fresh(`patched-${tensor}.gguf`);
  writeFileSync(p, b);
  return p;
}

test("scales that are zero, negative or NaN, and NaN/Inf in embeddings and norms: bitconv-rt refuses them at load, naming the tensor", async () => {
  const g = await readGguf(I2S);
  const q = g.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
  const tail = (q.ne[0] * q.ne[1]) / 4; // I2_S: the f32 scale follows the 2-bit codes
  const cases: [string, string, number, Uint8Array, RegExp][] = [];
  for (const v of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    cases.push([TQ2, "blk.0.attn_q.scale", 0, f32(v), /blk\.0\.attn_q\.scale.*finite and positive/]);
    cases.push([I2S, "blk.0.attn_q.weight", tail, f32(v), /blk\.0\.attn_q\.weight.*finite and positive/]);
  }
  cases.push([TQ2, "token_embd.weight", 2 * (5 * 256 + 7), Uint8Array.from([0x00, 0x7e]), /token_embd\.weight.*non-finite.*row 5/]);
  cases.push([TQ2, "output_norm.weight", 4 * 3, f32(Number.POSITIVE_INFINITY), /output_norm\.weight.*non-finite/]);
  for (const [src, tensor, at, bytes, re] of cases) {
    const p = await patched(src, tensor, at, bytes);
    assertRefused(run("rt", ["info", "-m", p]), p, `${tensor} = ${[...bytes].join(",")}`, re);
  }
  const nan = await patched(TQ2, "blk.1.ffn_down.scale", 0, f32(Number.NaN));
  assertRefused(run("bitconv", ["verify", nan]), nan, "verify: NaN scale", /blk\.1\.ffn_down\.scale/);
});

test("GGUF version 2: inspect and bitconv-rt both read it (one rule, docs/security.md)", () => {
  const b = Buffer.from(readFileSync(TQ2));
  b.writeUInt32LE(2, 4);
  const p = fresh("v2.gguf");
  writeFileSync(p, b);
  const i = run("bitconv", ["inspect", p, "--no-stats"]);
  assert.is(i.status, 0, i.stderr);
  assert.match(i.stdout, /version 2/);
  const r = run("rt", ["info", "-m", p, "--json"]);
  assert.is(r.status, 0, r.stderr);
  assert.is((JSON.parse(r.stdout) as { gguf_version: number }).gguf_version, 2);
});

// ---------------------------------------------------------------- hostile safetensors and config.json

test("hostile safetensors and config.json: convert refuses each with one clean line naming the file", () => {
  const st = (header: unknown, data = new Uint8Array(0), declared?: bigint) => rawSafetensors(header, data, declared);
  const files: [string, string, Uint8Array | string][] = [
    ["header length 2^40", "model.safetensors", st({}, new Uint8Array(0), 1n << 40n)],
    ["header length past the end", "model.safetensors", st({}, new Uint8Array(0), 4096n)],
    ["a 5-byte file", "model.safetensors", new Uint8Array(5)],
    ["header not JSON", "model.safetensors", st("{\"a\":")],
    ["header not UTF-8", "model.safetensors", invalidUtf8(st("{\"QQ\":1}"))],
    ["a tensor name with ESC", "model.safetensors", st({ [ESC_NAME]: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))],
    ["a 91 KB tensor name", "model.safetensors", st({ [BIG_NAME]: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))],
    ["data offsets past the end", "model.safetensors", st({ a: { dtype: "F32", shape: [1 << 20], data_offsets: [0, 4 << 20] } })],
    ["a shape of 2^60 elements", "model.safetensors", st({ a: { dtype: "F32", shape: [1 << 30, 1 << 30], data_offsets: [0, 4] } }, new Uint8Array(4))],
  ];
  const cfg = JSON.parse(readFileSync(join(FIXTURE, "config.json"), "utf8")) as Record<string, unknown>;
  for (const [key, v] of [["max_position_embeddings", 2 ** 40], ["vocab_size", 2 ** 33], ["rope_theta", 1e300], ["hidden_size", -1]] as const) {
    files.push([`config.json ${key} = ${v}`, "config.json", JSON.stringify({ ...cfg, [key]: v })]);
  }
  files.push(["config.json with a control character in the architecture", "config.json", JSON.stringify({ ...cfg, architectures: [ESC_NAME] })]);
  for (const [what, name, bytes] of files) {
    const dir = checkpointWith(name, (p) => writeFileSync(p, bytes))!;
    const out = fresh("out.gguf");
    assertRefused(run("bitconv", ["convert", dir, "--layout", "tq2_0", "-o", out, "-q"]), join(dir, name), `convert: ${what}`);
    assert.not.ok(existsSync(out), `${what}: an output was written`);
    if (what.includes("ESC")) {
      const r = run("bitconv", ["inspect", dir, "--no-stats"]);
      assertNoControl(r.stdout.replace(/\n/g, "") + r.stderr.replace(/\n$/, ""), `inspect: ${what}`);
    }
  }
});

// ---------------------------------------------------------------- temp files and kills

test("a convert removes temp files of the same output left by dead processes, and nothing else", () => {
  const out = fresh("stale.gguf");
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout; // exited: its pid is gone
  const stale = join(tmp, `.${basename(out)}.${dead}.abc123.tmp`);
  const live = join(tmp, `.${basename(out)}.${process.pid}.def456.tmp`); // this test runner is alive
  const other = join(tmp, `.other.gguf.${dead}.abc123.tmp`);
  for (const f of [stale, live, other]) writeFileSync(f, "x".repeat(1000));
  const r = run("bitconv", ["convert", FIXTURE, "--layout", "tq2_0", "-o", out, "-q"]);
  assert.is(r.status, 0, r.stderr);
  assert.not.ok(existsSync(stale), "the dead process's temp file is still there");
  assert.ok(existsSync(live) && existsSync(other), "a live process's temp file, or another output's, was removed");
});

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

test("SIGKILL at any point of a convert: the artifact is old or new, never partial; a manifest present describes the artifact", async () => {
  const out = fresh("killed.gguf");
  const manifest = `${out}.json`;
  assert.is(run("bitconv", ["convert", FIXTURE, "--layout", "i2_s", "-o", out, "--manifest", manifest, "-q"]).status, 0);
  const oldSha = sha(out);
  let newSha = "";
  const outcomes = new Set<string>();
  // kills spread over one whole run's duration, denser near the end (the commit and the manifest)
  const t0 = Date.now();
  assert.is(run("bitconv", ["convert", FIXTURE, "--layout", "tq2_0", "-o", fresh("timing.gguf"), "-q", "--threads", "1"]).status, 0);
  const full = Date.now() - t0;
  for (const f of [0.1, 0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.96, 0.98, 1, 1.03, 1.1, 1.5, 3]) {
    const delay = Math.round(f * full);
    const child = spawn(process.execPath, [CLI, "convert", FIXTURE, "--layout", "tq2_0", "-o", out, "--manifest", manifest, "-q", "--threads", "1"], { stdio: "ignore" });
    const exited = new Promise((res) => child.on("exit", res));
    setTimeout(() => child.kill("SIGKILL"), delay);
    await exited;
    const art = sha(out);
    if (!newSha && art !== oldSha) newSha = art;
    assert.ok(art === oldSha || art === newSha, `after a kill at ${delay} ms the artifact is neither the old nor the new one`);
    const m = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, "utf8")) as { sha256: string }) : undefined;
    if (m) assert.is(m.sha256, art, `after a kill at ${delay} ms the manifest describes another artifact`);
    outcomes.add(`${art === oldSha ? "old" : "new"} artifact, ${m ? "its" : "no"} manifest`);
  }
  console.log(`  kill outcomes: ${[...outcomes].join("; ")}`);
  const left = readdirSync(tmp).filter((f) => f.startsWith(`.${basename(out)}.`));
  const r = run("bitconv", ["convert", FIXTURE, "--layout", "tq2_0", "-o", out, "-q"]);
  assert.is(r.status, 0, r.stderr);
  assert.equal(readdirSync(tmp).filter((f) => f.startsWith(`.${basename(out)}.`)), [], `temp files the kills left (${left.length}) were not removed by the next convert`);
});

test("a reader that closes stdout early: exit 141 (SIGPIPE's status) and no stack trace", () => {
  // `true` exits at once, so the pipe is closed long before bitconv (300 ms to start) writes its result
  const sh = spawnSync("bash", ["-c", `"${process.execPath}" "${CLI}" inspect "${FIXTURE}" --json 2>err.txt | true; echo "\${PIPESTATUS[0]}"`], { encoding: "utf8", cwd: tmp });
  assert.is(sh.stdout.trim(), "141", sh.stderr);
  const err = readFileSync(join(tmp, "err.txt"), "utf8");
  assert.is(err, "", "nothing on stderr");
});

test.after(() => console.log(`  hostile suite: ${runs} runs of bitconv and bitconv-rt`));

test.run();
