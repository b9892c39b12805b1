// A lock per blob, so that two pulls of the same repo (two processes, or two files with the same
// content in one pull) never write the same partial file at once.
//
// The lock is a file created with O_EXCL holding {pid, host, nonce}. Its holder touches it every
// `heartbeatMs`; a lock is stale when its holder is a dead process on this host, or when it has not
// been touched for `staleMs` (a holder on another host, or a frozen one). A stale lock is broken by
// renaming it to a unique name first and checking it is still the one judged stale, so two waiters
// can never both remove a live lock.
import { promises as fsp, readFileSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { randomBytes } from "node:crypto";
import { sleep } from "../util/sleep.js";

export interface LockOptions {
  /** A lock untouched for this long is stale (default 30 s). */
  staleMs?: number;
  /** How often a waiter looks again (default 200 ms). */
  pollMs?: number;
  /** How often the holder touches its lock (default 5 s). */
  heartbeatMs?: number;
  signal?: AbortSignal;
  /** Called once when we have to wait for another holder. */
  onWait?: () => void;
}

export interface HeldLock {
  path: string;
  release(): Promise<void>;
}

const held = new Map<string, string>(); // path -> content
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const [path, content] of held) {
      try {
        if (readFileSync(path, "utf8") === content) unlinkSync(path);
      } catch {
        /* already gone */
      }
    }
    held.clear();
  });
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

interface LockInfo {
  pid: number;
  host: string;
  nonce: string;
}

function parseInfo(raw: string): LockInfo | undefined {
  try {
    const v = JSON.parse(raw) as Partial<LockInfo>;
    if (typeof v.pid === "number" && typeof v.host === "string" && typeof v.nonce === "string") return v as LockInfo;
  } catch {
    /* being written, or foreign */
  }
  return undefined;
}

function isStale(raw: string, mtimeMs: number, staleMs: number): boolean {
  const info = parseInfo(raw);
  if (info && info.host === hostname() && info.pid !== process.pid && !pidAlive(info.pid)) return true;
  return Date.now() - mtimeMs > staleMs;
}

async function breakStale(path: string, observed: string): Promise<void> {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString("hex")}`;
  try {
    await fsp.rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  let now = "";
  try {
    now = await fsp.readFile(aside, "utf8");
  } catch {
    /* vanished */
  }
  if (now !== observed) {
    // We took a fresh lock that replaced the stale one in between: put it back unless a third party
    // already holds the name.
    await fsp.link(aside, path).catch(() => {});
  }
  await fsp.rm(aside, { force: true });
}


/** Waits until the lock at `path` is ours. */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<HeldLock> {
  const staleMs = opts.staleMs ?? 30_000;
  const pollMs = opts.pollMs ?? 200;
  const heartbeatMs = opts.heartbeatMs ?? 5_000;
  await fsp.mkdir(dirname(path), { recursive: true });
  const content = JSON.stringify({ pid: process.pid, host: hostname(), nonce: randomBytes(8).toString("hex") });
  let waited = false;
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(path, "wx");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (fh) {
      try {
        await fh.writeFile(content);
      } finally {
        await fh.close();
      }
      hookExit();
      held.set(path, content);
      const beat = setInterval(() => {
        const t = new Date();
        fsp.utimes(path, t, t).catch(() => {});
      }, heartbeatMs);
      beat.unref();
      let released = false;
      return {
        path,
        async release() {
          if (released) return;
          released = true;
          clearInterval(beat);
          held.delete(path);
          try {
            if ((await fsp.readFile(path, "utf8")) === content) await fsp.rm(path, { force: true });
          } catch {
            /* already gone (broken as stale by someone else) */
          }
        },
      };
    }
    let raw: string;
    let mtimeMs: number;
    try {
      [raw, mtimeMs] = await Promise.all([fsp.readFile(path, "utf8"), fsp.stat(path).then((s) => s.mtimeMs)]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue; // released in between: try again at once
      throw e;
    }
    if (isStale(raw, mtimeMs, staleMs)) {
      await breakStale(path, raw);
      continue;
    }
    if (!waited) {
      waited = true;
      opts.onWait?.();
    }
    await sleep(pollMs, opts.signal);
  }
}
