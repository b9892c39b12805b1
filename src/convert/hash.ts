// sha256 of whole input files for the artifact's provenance, streamed in large reads.

import { closeSync, openSync, readSync } from "node:fs";
import { createHash } from "node:crypto";
import type { HashJob, JobResult } from "./jobs.js";

export function runHash(job: HashJob): JobResult {
  const hashes: string[] = [];
  const buf = new Uint8Array(16 << 20);
  for (const file of job.files) {
    const h = createHash("sha256");
    const fd = openSync(file, "r");
    try {
      let pos = 0;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
    hashes.push(h.digest("hex"));
  }
  return { hashes };
}
