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
