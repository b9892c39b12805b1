// Finds, builds and runs the C runtime `kernels-c/build/bitconv-rt` (docs/architecture.md).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { endianness, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BitconvError } from "../util/errors.js";

let rootCache: string | null = null;

/** The bitconv package root (the folder with bitconv's package.json), found from this module's location. */
export function packageRoot(): string {
  if (rootCache) return rootCache;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "bitconv") {
          rootCache = dir;
          return dir;
        }
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new BitconvError("cannot find the bitconv package root (package.json) above " + fileURLToPath(import.meta.url), 1);
    dir = up;
  }
}

const bundledRuntime = (): string => join(packageRoot(), "kernels-c", "build", "bitconv-rt");

/** Path of the runtime binary: $BITCONV_RT when set, else <package root>/kernels-c/build/bitconv-rt. */
export function runtimePath(): string {
  const env = process.env.BITCONV_RT;
  if (env) return resolve(env);
  return bundledRuntime();
}

function haveCommand(cmd: string): boolean {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
  return r.status === 0;
}

/** How to get a C compiler and make on this platform (one clause of an error line). */
function toolchainHint(): string {
  if (process.platform === "darwin") return "install the Xcode command line tools (xcode-select --install)";
  if (process.platform === "win32") return "install a C compiler and make (e.g. MSYS2's gcc and make), or use WSL";
  return "install a C compiler and make (Debian/Ubuntu: apt-get install gcc make; Fedora: dnf install gcc make), or set CC";
}

/**
 * Builds (or brings up to date) the runtime with `make -C kernels-c` and the system cc ($CC when set) and
 * returns its path; the one-line BitconvError says which tool is missing or that the compiler failed.
 * The compiler's output goes to stderr, so stdout stays clean for --json.
 */
export function buildRuntime(): string {
  const bin = bundledRuntime();
  const dir = join(packageRoot(), "kernels-c");
  if (!existsSync(join(dir, "Makefile"))) throw new BitconvError(`the C runtime sources are missing (${dir}/Makefile)`, 1);
  const cc = process.env.CC || "cc";
  const missing = ["make", cc].filter((c) => !haveCommand(c));
  if (missing.length > 0) {
    throw new BitconvError(
      `the C runtime (${bin}) is not built and ${missing.map((c) => `'${c}'`).join(" and ")} ${missing.length > 1 ? "are" : "is"} not on PATH ` +
        `(convert and inspect work without it): ${toolchainHint()}, then run 'make -C ${dir}'`,
      1,
    );
  }
  process.stderr.write(`bitconv: building the C runtime (make -C ${dir}) ...\n`);
  const r = spawnSync("make", ["-s", "-C", dir], { stdio: ["ignore", process.stderr, process.stderr] });
  if (r.status !== 0 || !existsSync(bin)) {
    throw new BitconvError(
      `building the C runtime with ${cc} failed (make -C ${dir} exited ${r.status ?? r.signal}, its output is above; ` +
        `convert and inspect work without it): it needs a C11 compiler with pthreads, e.g. CC=gcc or CC=clang`,
      1,
    );
  }
  return bin;
}

/** Returns the runtime binary ($BITCONV_RT, else the bundled one, built first when it is missing). */
export function ensureRuntime(): string {
  const bin = runtimePath();
  if (existsSync(bin)) return bin;
  if (process.env.BITCONV_RT) throw new BitconvError(`BITCONV_RT=${process.env.BITCONV_RT}: no such file`, 2);
  return buildRuntime();
}

/** One JSON line the runtime printed (`--json`), e.g. {"event":"chunk",...} or {"event":"result",...}. */
export interface RuntimeEvent {
  event?: string;
  [key: string]: unknown;
}

export interface RunOptions {
  /** Called for every JSON object line on stdout, as it arrives. */
  onEvent?: (ev: RuntimeEvent) => void;
  /** Called for every stdout chunk that is not a JSON line (e.g. generated text), as it arrives. */
  onText?: (text: string) => void;
  /** When aborted, SIGINT is sent to the runtime (which finishes the current step and reports). */
  signal?: AbortSignal;
  /** Exit codes other than 0 that are not errors (e.g. after an interrupt). */
  okCodes?: number[];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout lines that were not JSON */
  text: string;
  stderr: string;
  events: RuntimeEvent[];
  /** true when SIGINT was forwarded during this run */
  interrupted: boolean;
}

const children = new Set<ChildProcess>();
let exitHooked = false;
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const c of children) c.kill("SIGKILL");
  });
}

/** The runtime's one-line error without its "bitconv-rt: " prefix. */
function runtimeMessage(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
  const tagged = lines.filter((l) => l.startsWith("bitconv-rt:"));
  const line = tagged.length > 0 ? tagged[tagged.length - 1] : lines[lines.length - 1] ?? "";
  return line.replace(/^bitconv-rt:\s*/, "");
}

/**
 * Runs `bitconv-rt <args>`. Exit 2 becomes BitconvError(<the runtime's message>, 2); any other
 * failure BitconvError(..., 1). stderr lines that are not errors are passed through to our stderr.
 */
/** A stdout line that is one JSON object, as an event; C's printf writes non-finite numbers as nan / inf, read as null. */
function parseEvent(line: string): RuntimeEvent | null {
  const t = line.trim();
  if (!t.startsWith("{") || !t.endsWith("}")) return null;
  try {
    return JSON.parse(t) as RuntimeEvent;
  } catch {
    try {
      return JSON.parse(t.replace(/(:\s*)[-+]?(nan|inf|infinity)\b/gi, "$1null")) as RuntimeEvent;
    } catch {
      return null; // not JSON: text
    }
  }
}

/** Splits the runtime's stdout into JSON events and text, streaming both to the caller's callbacks. */
class StdoutSplitter {
  events: RuntimeEvent[] = [];
  text = "";
  private pending = "";

  constructor(private readonly opts: RunOptions) {}

  private line(line: string, nl: boolean): void {
    const ev = parseEvent(line);
    if (ev !== null) {
      this.events.push(ev);
      this.opts.onEvent?.(ev);
      return;
    }
    this.emitText(nl ? line + "\n" : line);
  }

  private emitText(s: string): void {
    this.text += s;
    this.opts.onText?.(s);
  }

  data(d: string): void {
    this.pending += d;
    let i: number;
    while ((i = this.pending.indexOf("\n")) >= 0) {
      this.line(this.pending.slice(0, i), true);
      this.pending = this.pending.slice(i + 1);
    }
    // stream plain text (generation) without waiting for a newline
    if (this.opts.onText && this.pending.length > 0 && !this.pending.trimStart().startsWith("{")) {
      this.emitText(this.pending);
      this.pending = "";
    }
  }

  end(): void {
    if (this.pending.length > 0) this.line(this.pending, false);
  }
}

/** A finished run: its result, or the BitconvError its exit says (2: bad input, else 1). */
function settle(args: string[], result: RunResult, opts: RunOptions): RunResult | BitconvError {
  const { code, signal, interrupted, events } = result;
  if (code === 0 || (code !== null && opts.okCodes?.includes(code))) return result;
  if (interrupted && events.some((e) => e.event === "result")) return result;
  if (interrupted && (signal === "SIGINT" || code === 130)) return result;
  const msg = runtimeMessage(result.stderr);
  if (code === 2) return new BitconvError(msg || `bitconv-rt ${args[0]}: bad input`, 2);
  const how = code !== null ? `exited ${code}` : `was killed by ${signal}`;
  return new BitconvError(`bitconv-rt ${args[0]} ${how}${msg ? `: ${msg}` : ""}`, 1);
}

export function runRuntime(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const bin = ensureRuntime();
  hookExit();
  return new Promise((resolvePromise, reject) => {
    // With an abort signal the runtime gets its own process group, so a terminal Ctrl-C reaches only us
    // and we forward exactly one SIGINT.
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], detached: opts.signal !== undefined });
    children.add(child);
    const out = new StdoutSplitter(opts);
    let stderr = "";
    let interrupted = false;
    const onAbort = () => {
      if (!interrupted && child.exitCode === null) {
        interrupted = true;
        child.kill("SIGINT");
      }
    };
    if (opts.signal) {
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener("abort", onAbort, { once: true });
    }
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (d: string) => out.data(d));
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", (e) => {
      children.delete(child);
      reject(new BitconvError(`cannot run ${bin}: ${e.message}`, 1));
    });
    child.on("close", (code, signal) => {
      children.delete(child);
      opts.signal?.removeEventListener("abort", onAbort);
      out.end();
      const r = settle(args, { code, signal, text: out.text, stderr, events: out.events, interrupted }, opts);
      if (r instanceof BitconvError) reject(r);
      else resolvePromise(r);
    });
  });
}

/** Writes token ids as a raw little-endian int32 file (the runtime's token file format). */
export function writeTokenFile(path: string, ids: Int32Array | readonly number[]): void {
  const arr = ids instanceof Int32Array ? ids : Int32Array.from(ids);
  const buf = Buffer.alloc(arr.length * 4);
  if (endianness() === "LE") Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength).copy(buf);
  else for (let i = 0; i < arr.length; i++) buf.writeInt32LE(arr[i], i * 4);
  writeFileSync(path, buf);
}

const tempDirs = new Set<string>();
let tempHooked = false;

/** A private temp directory, removed by dispose() or when the process exits. */
export function makeTempDir(prefix = "bitconv-"): { dir: string; dispose(): void } {
  if (!tempHooked) {
    tempHooked = true;
    process.on("exit", () => {
      for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return {
    dir,
    dispose() {
      rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
}
