// What the emulated aarch64 tests need (Debian's cross compiler, its sysroot and qemu-user; .ci/run
// installs them), and the rule for when they are missing: a failing test under CI=true, else a loud
// notice, never a silent pass.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const SYSROOT = "/usr/aarch64-linux-gnu";

export function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).status === 0;
}

/** the cross toolchain and qemu pieces missing on this host, each with how to install it */
export function missingAarch64Tools(): string[] {
  return [
    has("aarch64-linux-gnu-gcc") ? "" : "aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)",
    existsSync(join(SYSROOT, "include/stdio.h")) ? "" : `${SYSROOT} headers (apt-get install libc6-dev-arm64-cross)`,
    has("qemu-aarch64") ? "" : "qemu-aarch64 (apt-get install qemu-user)",
  ].filter(Boolean);
}

/** Registers the tests, or, with something missing, one failing test (CI) or a loud NOT RUN notice. */
export function whenAvailable(file: string, what: string, missing: string[], register: () => void): void {
  if (missing.length === 0) return register();
  const why = `${file}: ${what} cannot run on this host: missing ${missing.join(", ")}`;
  if (process.env.CI === "true") test(`the tools for ${what} are installed (CI)`, () => assert.unreachable(why));
  else console.error(`\n${"!".repeat(100)}\n!! NOT RUN: ${why}\n${"!".repeat(100)}\n`);
}

/** where the kernel's binfmt_misc entry for aarch64 programs is (Debian's qemu-user-binfmt names it so) */
export const BINFMT = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

/** whether this kernel runs aarch64 programs through qemu by itself, so an emulated one can start another */
export function aarch64Binfmt(): boolean {
  try {
    return readFileSync(BINFMT, "utf8").startsWith("enabled");
  } catch {
    return false;
  }
}
