import { promises as fsp, openSync, closeSync, fsyncSync, renameSync, rmSync } from "node:fs";
import { dirname, basename, join } from "node:path";

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

/** A temporary path beside `target` (same filesystem, so the final rename is atomic). */
export function tempPathFor(target: string): string {
  hookSignals();
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  pending.add(tmp);
  return tmp;
}

/** fsyncs `tmp`, renames it onto `target`. */
export function commitTemp(tmp: string, target: string): void {
  const fd = openSync(tmp, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
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
