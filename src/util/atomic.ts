import { promises as fsp, openSync, closeSync, fsyncSync, lstatSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { inputError } from "./errors.js";
import { describeFsError, fileKind } from "./files.js";

const pending = new Set<string>();
let hooked = false;

/** Removes every temporary file still pending, so an interrupted run leaves nothing at the target. */
function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  const cleanup = () => {
    for (const p of pending) rmSync(p, { force: true });
    pending.clear();
  };
  process.on("exit", cleanup);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      cleanup();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
}

/**
 * Refuses a target that exists and is not a regular file (or a link to one): renaming over a device
 * node, a FIFO or a folder would destroy it (`-o /dev/null` as root). Nothing is touched.
 */
export function checkTarget(target: string): void {
  let st;
  try {
    st = statSync(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      // nothing there, or a dangling link (the rename replaces the link itself)
      if (lstatOrUndefined(target)?.isSymbolicLink() === false) throw inputError(target, describeFsError(e));
      return;
    }
    throw inputError(target, `cannot write here: ${describeFsError(e)}`);
  }
  if (!st.isFile()) throw inputError(target, `exists and is ${fileKind(st)}: refusing to replace it with the output (name a regular file)`);
}

function lstatOrUndefined(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

// .<target name>.<pid>.<6 random characters>.tmp, beside the target
const TEMP_RE = /^\.(.+)\.(\d+)\.([0-9a-z]{1,8})\.tmp$/;

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Removes the temp files of `target` left by runs that were killed (SIGKILL, power loss): their pid,
 * which the name holds, is no longer running. A live run's temp file is never touched. Returns the
 * paths removed.
 */
export function removeStaleTemps(target: string): string[] {
  const dir = dirname(target);
  const name = basename(target);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const e of entries) {
    const m = TEMP_RE.exec(e);
    if (!m || m[1] !== name) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || !processGone(pid)) continue;
    const p = join(dir, e);
    if (lstatOrUndefined(p)?.isFile() !== true) continue;
    rmSync(p, { force: true });
    removed.push(p);
  }
  return removed;
}

/** A temporary path beside `target` (same filesystem, so the final rename is atomic). */
export function tempPathFor(target: string): string {
  checkTarget(target);
  removeStaleTemps(target);
  hookSignals();
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  pending.add(tmp);
  return tmp;
}

/** fsyncs `tmp`, renames it onto `target` (checked again: it may have become a FIFO meanwhile). */
export function commitTemp(tmp: string, target: string): void {
  const fd = openSync(tmp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  checkTarget(target);
  renameSync(tmp, target);
  pending.delete(tmp);
}

/** Removes `tmp` after a failure. */
export function discardTemp(tmp: string): void {
  rmSync(tmp, { force: true });
  pending.delete(tmp);
}

/** Writes a whole file atomically: temp file, fsync, rename. */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    await fsp.writeFile(tmp, data);
    commitTemp(tmp, target);
  } catch (e) {
    discardTemp(tmp);
    throw e;
  }
}
