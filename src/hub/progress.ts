// Download progress on stderr: one bar per file in flight plus a total with rate and ETA. Silent when
// stderr is not a terminal or with --quiet.
import cliProgress from "cli-progress";
import { formatBytes } from "../util/progress.js";

export interface PullProgress {
  /** A file starts (or restarts) downloading; `have` bytes are already in its partial file. */
  fileStart(path: string, size: number, have: number): void;
  /** The partial file was found useless and restarts from `value` (0). */
  fileReset(path: string, value: number): void;
  fileAdvance(path: string, delta: number): void;
  fileDone(path: string): void;
  /** Prints a line above the bars (or on stderr when there are none). */
  log(line: string): void;
  stop(): void;
}

export function silentProgress(log: (line: string) => void = () => {}): PullProgress {
  return { fileStart() {}, fileReset() {}, fileAdvance() {}, fileDone() {}, log, stop() {} };
}

function shorten(s: string, n: number): string {
  return s.length <= n ? s.padEnd(n) : `…${s.slice(s.length - n + 1)}`;
}

/** `totalBytes`: the bytes this pull expects to fetch (files not yet in the cache). */
export function pullProgress(totalBytes: number, opts: { quiet?: boolean }): PullProgress {
  const stderrLog = (line: string) => process.stderr.write(line.endsWith("\n") ? line : `${line}\n`);
  if (opts.quiet) return silentProgress();
  if (!process.stderr.isTTY) return silentProgress(stderrLog);
  const multi = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: "{label} [{bar}] {percentage}% | {done}/{size} | {rate} | ETA {eta_formatted}",
      hideCursor: true,
      clearOnComplete: true,
      stopOnComplete: false,
      etaBuffer: 40,
      fps: 8,
      barsize: 24,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let doneBytes = 0;
  const totalPayload = () => {
    const secs = Math.max((Date.now() - started) / 1000, 1e-3);
    return {
      label: shorten("total", 28),
      done: formatBytes(doneBytes),
      size: formatBytes(totalBytes),
      rate: `${formatBytes(doneBytes / secs)}/s`,
    };
  };
  const total = multi.create(Math.max(totalBytes, 1), 0, totalPayload());
  interface FileBar {
    bar: cliProgress.SingleBar;
    value: number;
    size: number;
    started: number;
    base: number;
  }
  const files = new Map<string, FileBar>();
  const filePayload = (path: string, f: FileBar) => {
    const secs = Math.max((Date.now() - f.started) / 1000, 1e-3);
    return {
      label: shorten(path, 28),
      done: formatBytes(f.value),
      size: formatBytes(f.size),
      rate: `${formatBytes((f.value - f.base) / secs)}/s`,
    };
  };
  return {
    fileStart(path, size, have) {
      const old = files.get(path);
      if (old) multi.remove(old.bar);
      const f: FileBar = { bar: undefined as unknown as cliProgress.SingleBar, value: have, size, started: Date.now(), base: have };
      f.bar = multi.create(Math.max(size, 1), have, filePayload(path, f));
      files.set(path, f);
    },
    fileReset(path, value) {
      const f = files.get(path);
      if (!f) return;
      f.value = value;
      f.base = value;
      f.started = Date.now();
      f.bar.update(value, filePayload(path, f));
    },
    fileAdvance(path, delta) {
      doneBytes += delta;
      total.update(Math.min(doneBytes, Math.max(totalBytes, 1)), totalPayload());
      const f = files.get(path);
      if (!f) return;
      f.value += delta;
      f.bar.update(f.value, filePayload(path, f));
    },
    fileDone(path) {
      const f = files.get(path);
      if (!f) return;
      files.delete(path);
      multi.remove(f.bar);
    },
    log(line) {
      multi.log(line.endsWith("\n") ? line : `${line}\n`);
    },
    stop() {
      multi.stop();
    },
  };
}
