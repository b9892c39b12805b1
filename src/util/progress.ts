import cliProgress from "cli-progress";

export interface ProgressOptions {
  quiet?: boolean;
}

/** A progress bar on stderr, silent when stderr is not a TTY or with --quiet. */
export interface Progress {
  start(total: number, label: string): void;
  update(value: number): void;
  increment(delta: number): void;
  stop(): void;
}

const silent: Progress = { start() {}, update() {}, increment() {}, stop() {} };

export function progressBar(opts: ProgressOptions & { unit?: "bytes" | "count" } = {}): Progress {
  if (opts.quiet || !process.stderr.isTTY) return silent;
  const bytes = opts.unit === "bytes";
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: bytes
        ? "{label} [{bar}] {percentage}% | {done}/{size} | {rate} | ETA {eta_formatted}"
        : "{label} [{bar}] {value}/{total} | ETA {eta_formatted}",
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      formatValue: (v, _o, type) => String(v),
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let label = "";
  let total = 0;
  const payload = (value: number) => {
    const secs = Math.max((Date.now() - started) / 1000, 1e-3);
    return { label, done: formatBytes(value), size: formatBytes(total), rate: `${formatBytes(value / secs)}/s` };
  };
  return {
    start(t, l) {
      total = t;
      label = l;
      bar.start(t, 0, payload(0));
    },
    update(v) {
      bar.update(v, payload(v));
    },
    increment(d) {
      const v = (bar as unknown as { value: number }).value + d;
      bar.update(v, payload(v));
    },
    stop() {
      bar.stop();
    },
  };
}

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
