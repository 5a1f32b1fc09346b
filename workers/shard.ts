// A worker thread. While training it runs one long LoopTask: it waits on the step counter in
// shared memory (spinning briefly, so that a step following closely on the last finds it awake,
// then sleeping in Atomics.wait until the main thread notifies), reads its part of the command
// from its mailbox, and runs it: forward + BPTT of its shard, a barrier, its part of the slot
// sum, a barrier, its slice of the optimizer step (src/parallel/shard.ts), or the update alone
// (distributed training). Evaluation tasks come through piscina one by one, with the loop stopped.

import { workerData } from 'piscina';
import { performance } from 'node:perf_hooks';
import { readlinkSync } from 'node:fs';
import { parentPort, threadId } from 'node:worker_threads';
import { SYNC_STEP, SYNC_DONE, SYNC_READY, SYNC_ABORT, SYNC_GEN, TID_MESSAGE, readTask, blankTasks, writeResult, type WorkerInit, type EvalTask, type ShardResult, type LoopTask } from '../src/parallel/protocol.js';
import { ShardRunner, Spin, barrier, spinWhile, wakeMain } from '../src/parallel/shard.js';
import { SharedArena } from '../src/util/shared.js';

const init = workerData as WorkerInit;

// This thread's OS thread id, for the coordinator's liveness check: a thread that ends without a
// word (killed from outside, a native crash of that thread alone) sends no 'exit' event.
try {
  parentPort?.postMessage({ [TID_MESSAGE]: Number(readlinkSync('/proc/thread-self').split('/')[2]), threadId });
} catch { /* no /proc (not Linux): the stall timeout alone catches it */ }
const runner = new ShardRunner(init, SharedArena.attach(init.memory), false);
const { sync, box, results } = init;
const [stepTask, updateTask] = blankTasks();

/** How long a waiting loop spins on the step counter before it sleeps, ms: a few small steps' gap. */
const WAKE_SPIN_MS = 1;
const wakeSpin = new Spin(WAKE_SPIN_MS);

/**
 * Wait until the step counter passes `seen`; returns its new value. Throws if the step was
 * aborted. Each wake-up (a command, the main thread's prewake(), or the 1 s timeout) spins again
 * before sleeping: woken ahead of a command (distributed training, during the allreduce), the
 * thread is awake when the command comes.
 */
function nextCommand(seen: number): number {
  const t0 = performance.now();
  for (;;) {
    if (spinWhile(sync, SYNC_STEP, seen, performance.now() + wakeSpin.ms)) {
      wakeSpin.saw(performance.now() - t0);
      return Atomics.load(sync, SYNC_STEP);
    }
    if (Atomics.load(sync, SYNC_ABORT) !== 0) throw new Error('stopped: the step was aborted');
    Atomics.wait(sync, SYNC_STEP, seen, 1000);
  }
}

function loop(task: LoopTask): void {
  const { k } = task;
  Atomics.add(sync, SYNC_READY, 1);
  for (let seen = task.seq; ;) {
    seen = nextCommand(seen);
    const t = readTask(box, k, stepTask, updateTask);
    if (t === null) return;
    try {
      if (t.kind === 'update') writeResult(results, k, { lossSum: 0, count: 0, correct: 0, fwdBwdMs: 0, reduceMs: 0, updateMs: runner.updateOnly(t) });
      else {
        const g = runner.gradient(t);
        barrier(sync, t.W);
        let reduceMs = 0, updateMs = 0;
        if (t.fused) updateMs = runner.fused(t).ms;
        else {
          reduceMs = runner.reduce(t);
          barrier(sync, t.W);
          updateMs = t.gradientOnly ? 0 : runner.update(t).updateMs;
        }
        writeResult(results, k, { lossSum: g.lossSum, count: g.count, correct: g.correct, fwdBwdMs: g.ms, reduceMs, updateMs });
      }
    } catch (e) {
      // Release the others (and the main thread) at once; the error itself reaches the
      // coordinator as this task's rejection.
      Atomics.store(sync, SYNC_ABORT, 1);
      Atomics.notify(sync, SYNC_GEN);
      Atomics.notify(sync, SYNC_DONE);
      wakeMain(sync);
      throw e;
    }
    Atomics.add(sync, SYNC_DONE, 1);
    Atomics.notify(sync, SYNC_DONE);
    wakeMain(sync);
  }
}

export default function run(task: EvalTask | LoopTask): ShardResult | void {
  Atomics.load(init.fence, 0); // acquire: see the coordinator's last writes to shared memory
  if (task.kind === 'loop') return loop(task);
  return runner.evaluate(task);
}
