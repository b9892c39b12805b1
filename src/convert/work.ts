// What a worker does with a job: positional reads, then pure conversions (src/quant, src/layouts).
// Kept apart from the worker_threads glue so tests and the single-threaded path can call it directly.

import { runFloat } from "./floats.js";
import { runHash } from "./hash.js";
import { runTernary } from "./ternary.js";
import type { Job, JobResult } from "./jobs.js";

export { recycle } from "./read.js";

export function runJob(job: Job): JobResult {
  switch (job.kind) {
    case "ternary": return runTernary(job);
    case "float": return runFloat(job);
    case "hash": return runHash(job);
  }
}
