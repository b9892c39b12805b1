// A fixed pool of worker threads running convert jobs; run() resolves with the job's result.
import { Worker } from "node:worker_threads";
import { BitconvError } from "../util/errors.js";
import type { Job, JobError, JobResult } from "./jobs.js";

interface Pending {
  job: Job;
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
}

const WORKER_URL = new URL("./worker.js", import.meta.url);
const CLOSE_WAIT_MS = 10_000;

export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly queue: { id: number; p: Pending }[] = [];
  private readonly running = new Map<number, Pending>();
  private readonly all: Worker[] = [];
  private nextId = 0;
  private failed: Error | undefined;

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_URL);
      w.on("message", (msg: { id: number; result?: JobResult; error?: JobError }) => this.done(w, msg));
      w.on("error", (e) => this.crash(e));
      w.unref();
      this.all.push(w);
      this.idle.push(w);
    }
  }

  run(job: Job): Promise<JobResult> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, p: { job, resolve, reject } });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const { id, p } = this.queue.shift()!;
      this.running.set(id, p);
      w.ref();
      w.postMessage({ id, job: p.job });
    }
  }

  private done(w: Worker, msg: { id: number; result?: JobResult; error?: JobError }): void {
    const p = this.running.get(msg.id);
    this.running.delete(msg.id);
    w.unref();
    this.idle.push(w);
    if (p) {
      if (msg.error) p.reject(new BitconvError(msg.error.message, msg.error.exitCode));
      else p.resolve(msg.result!);
    }
    this.dispatch();
  }

  private crash(e: Error): void {
    this.failed = e;
    for (const p of this.running.values()) p.reject(e);
    for (const { p } of this.queue) p.reject(e);
    this.running.clear();
    this.queue.length = 0;
  }

  private nextRecycle = 0;

  /** Hands written output buffers back to the workers (round robin) for reuse. */
  recycle(buffers: ArrayBuffer[]): void {
    if (this.failed || buffers.length === 0 || this.all.length === 0) return;
    const w = this.all[this.nextRecycle++ % this.all.length];
    w.postMessage({ recycle: buffers }, buffers);
  }

  async close(): Promise<void> {
    // While terminate() stops a busy thread nothing may hold the event loop open (seen with Node 20:
    // the process then exited 0 before the error that closed the pool was ever reported), so a
    // timer holds it; threads that have not stopped after CLOSE_WAIT_MS are left to process exit.
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    try {
      await Promise.race([Promise.all(this.all.map((w) => w.terminate())), giveUp]);
    } finally {
      clearTimeout(timer);
    }
  }
}
