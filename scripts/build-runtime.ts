// The install step (package.json "prepare", run by `npm ci`): builds the C runtime with the system cc.
// Without a working compiler the install still finishes, with one warning line saying what is missing:
// convert and inspect need no runtime, and verify / generate print the same line when they are run.
import { buildRuntime } from "../src/runtime/runtime.js";
import { asBitconvError } from "../src/util/errors.js";

try {
  buildRuntime();
} catch (e) {
  const known = asBitconvError(e);
  if (!known) throw e;
  process.stderr.write(`bitconv: warning: ${known.message}\n`);
}
