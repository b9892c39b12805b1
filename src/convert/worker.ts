// worker_threads entry: runs jobs posted by the pool and posts back results, transferring the
// output buffers (no copy). Errors travel as {message, exitCode}, so BitconvError exit codes survive.
import { parentPort } from "node:worker_threads";
import { BitconvError } from "../util/errors.js";
import { recycle, runJob } from "./work.js";
import type { Job } from "./jobs.js";

const port = parentPort;
if (!port) throw new Error("convert worker started outside worker_threads");

port.on("message", (msg: { id: number; job: Job } | { recycle: ArrayBuffer[] }) => {
  if ("recycle" in msg) {
    recycle(msg.recycle);
    return;
  }
  try {
    const result = runJob(msg.job);
    const transfer: ArrayBuffer[] = [];
    if (result.bytes && result.bytes.byteOffset === 0 && result.bytes.byteLength === result.bytes.buffer.byteLength) {
      transfer.push(result.bytes.buffer as ArrayBuffer);
    }
    port.postMessage({ id: msg.id, result }, transfer);
  } catch (e) {
    const exitCode = e instanceof BitconvError ? e.exitCode : 1;
    const message = e instanceof Error ? e.message : String(e);
    port.postMessage({ id: msg.id, error: { message, exitCode } });
  }
});
