// The one way bitconv opens an input file. A plain open() of a FIFO blocks until a writer appears
// (forever), a directory opens and fails only at the first read with an EISDIR that names no file,
// and a device can be endless: so every input is opened O_NONBLOCK (which never waits) and checked
// with fstat on the open descriptor (no race with the path changing) before a byte is read.
import { constants, fstatSync, lstatSync, openSync, closeSync, readFileSync, promises as fsp, type Stats } from "node:fs";
import { inputError, BitconvError } from "./errors.js";

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK; // libuv adds O_CLOEXEC itself

/** What a non-regular file is, for "is a FIFO, not a regular file". */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

/** A file-system error code as the problem a user reads. */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const what = code ? PROBLEMS[code] : undefined;
  if (what) return `${what} (${code})`;
  return code ? `cannot read it (${code})` : `cannot read it (${(e as Error).message})`;
}

const PROBLEMS: Record<string, string> = {
  ENOENT: "no such file",
  ELOOP: "a symbolic link loop (too many levels of links)",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "is a directory, not a file",
  ENOTDIR: "a component of the path is not a directory",
  ENAMETOOLONG: "the path is too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files",
  EIO: "input/output error reading it",
  ENXIO: "no device behind it",
};

function refuseKind(path: string, st: Stats): BitconvError {
  return inputError(path, `is ${fileKind(st)}, not a regular file`);
}

/** The error of a failed open, telling a dangling symlink from a missing file. */
function openError(path: string, e: unknown): BitconvError {
  if ((e as NodeJS.ErrnoException).code === "ENOENT") {
    try {
      if (lstatSync(path).isSymbolicLink()) return inputError(path, "a symbolic link to nothing (dangling link)");
    } catch {
      // nothing there at all
    }
  }
  return inputError(path, describeFsError(e));
}

/** Opens a regular file for reading, or throws a one-line input error naming it (exit 2). */
export async function openInput(path: string): Promise<fsp.FileHandle> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, OPEN_FLAGS);
  } catch (e) {
    throw openError(path, e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw refuseKind(path, st);
    return fh;
  } catch (e) {
    await fh.close();
    throw e instanceof BitconvError ? e : inputError(path, describeFsError(e));
  }
}

/** The synchronous form of openInput: a file descriptor. */
export function openInputSync(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    throw openError(path, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw refuseKind(path, st);
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e instanceof BitconvError ? e : inputError(path, describeFsError(e));
  }
}

/** A whole (small) text input file; undefined when it does not exist and `optional` is set. */
export async function readInputText(path: string, optional = false): Promise<string | undefined> {
  let fh: fsp.FileHandle;
  try {
    fh = await openInput(path);
  } catch (e) {
    if (optional && (await missing(path))) return undefined;
    throw e;
  }
  try {
    return await fh.readFile("utf8");
  } catch (e) {
    throw inputError(path, describeFsError(e));
  } finally {
    await fh.close();
  }
}

/** True when nothing at all is at `path` (a dangling or looping link is something: it is reported). */
async function missing(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT";
  }
}

/** stat() with the errors named; undefined when nothing is there. */
export async function statInput(path: string): Promise<Stats | undefined> {
  try {
    return await fsp.stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && (await missing(path))) return undefined;
    if (code === "ENOENT") throw inputError(path, "a symbolic link to nothing (dangling link)");
    throw inputError(path, describeFsError(e));
  }
}

/** The synchronous form of readInputText (no optional: the caller has checked that it exists). */
export function readInputTextSync(path: string): string {
  return readInputBytesSync(path).toString("utf8");
}

/** A whole (small) binary input file, opened and checked as every input is. */
export function readInputBytesSync(path: string): Buffer {
  const fd = openInputSync(path);
  try {
    return readFileSync(fd);
  } catch (e) {
    throw inputError(path, describeFsError(e));
  } finally {
    closeSync(fd);
  }
}
