/** An error the user caused (bad input, bad option): printed as one line, exit code 2 by default. */
export class BitconvError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "BitconvError";
    this.exitCode = exitCode;
  }
}

/** `<file>: <problem>`, the shape of every input error. */
export function inputError(file: string, problem: string): BitconvError {
  return new BitconvError(`${file}: ${problem}`, 2);
}

// Failures the file system reports about a named input: bad input, exit 2. Others (ENOSPC, EIO, ...)
// stay exit 1 but still name the file.
const INPUT_CODES = new Set(["ENOENT", "EACCES", "EPERM", "EISDIR", "ENOTDIR", "ELOOP", "ENAMETOOLONG", "ENXIO", "EROFS"]);

/**
 * The error as a BitconvError: itself, or a raw Node file-system error (one that carries a code and a
 * path) turned into `<path>: <code>: <message>`; undefined for anything else (a bug: exit 1).
 */
export function asBitconvError(err: unknown): BitconvError | undefined {
  if (err instanceof BitconvError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  if (!(e instanceof Error) || typeof e.code !== "string" || typeof e.path !== "string") return undefined;
  const text = e.message.replace(/^[A-Z]+: /, "").replace(/, \w+ '.*'$/, "");
  return new BitconvError(`${e.path}: ${text}`, INPUT_CODES.has(e.code) ? 2 : 1);
}
