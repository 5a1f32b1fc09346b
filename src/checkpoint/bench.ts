// Checkpoint benchmark: write (encode + fsync + rename) and read (+ full validation) of the
// W-large model's checkpoint: V=20000, H=256, C=5, one-hot input, Adam (m and v), so about
// 5.19M parameters x 3 = 62 MB of float32.
//
//   node dist/src/checkpoint/bench.js [--dir DIR] [--repeat N] [--V 20000 --H 256 --C 5 --E 0]
//
// DIR defaults to the system temp directory; pass a directory on the disk the runs use.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { paramTable, type ModelSpec } from '../model/spec.js';
import { Rng } from '../util/prng.js';
import { CheckpointDir, CHECKPOINT_FORMAT_VERSION, encodeCheckpoint, readCheckpoint, type CheckpointData, type TensorData } from './index.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    repeat: { type: 'string', default: '5' },
    V: { type: 'string', default: '20000' },
    H: { type: 'string', default: '256' },
    C: { type: 'string', default: '5' },
    E: { type: 'string', default: '0' },
  },
});
const spec: ModelSpec = { cell: 'rnn', task: 'many-to-one', V: +values.V!, H: +values.H!, C: +values.C!, E: +values.E! };
const repeat = +values.repeat!;

// One shared arena per buffer (params, m, v), tensors 16-byte aligned, as the trainer holds them.
function arena(rng: Rng): TensorData[] {
  const table = paramTable(spec);
  const sizes = table.map(([, s]) => s.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, n) => a + Math.ceil(n / 4) * 4, 0);
  const data = new Float32Array(new SharedArrayBuffer(total * 4));
  for (let i = 0; i < total; i++) data[i] = rng.normal() * 0.05;
  let off = 0;
  return table.map(([name, shape], i) => {
    const t = { name, shape, data: data.subarray(off, off + sizes[i]) };
    off += Math.ceil(sizes[i] / 4) * 4;
    return t;
  });
}

const rng = new Rng(1);
const params = arena(rng);
const c: CheckpointData = {
  formatVersion: CHECKPOINT_FORMAT_VERSION,
  spec,
  params,
  optimizer: { kind: 'adam', step: 1000, moments: [{ name: 'm', tensors: arena(rng) }, { name: 'v', tensors: arena(rng) }] },
  training: { globalStep: 1000, epoch: 2, batchInEpoch: 17, rngState: rng.getState(), bestMetric: 0.91, bestStep: 800, seed: 1 },
  vocab: Array.from({ length: spec.V }, (_, i) => (i === 0 ? '<pad>' : `tok${i}`)),
  labelNames: spec.task === 'many-to-one' ? Array.from({ length: spec.C }, (_, i) => `class${i}`) : [],
  tokenizer: JSON.stringify({ kind: 'word', lowercase: true }),
  config: JSON.stringify({ name: 'bench', model: { task: spec.task, hidden: spec.H } }),
};
const rawBytes = [params, ...c.optimizer.moments.map((m) => m.tensors)].flat().reduce((s, t) => s + t.data.byteLength, 0);

const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'ckpt-bench-'));
const ckdir = new CheckpointDir(dir, { keepLast: 2 });
const ms = (t0: number) => performance.now() - t0;
const writes: number[] = [];
const reads: number[] = [];
const encodes: number[] = [];
let file = '';
for (let r = 0; r < repeat; r++) {
  c.training.globalStep = 1000 + r;
  let t0 = performance.now();
  file = ckdir.save(c);
  writes.push(ms(t0));
  t0 = performance.now();
  const back = readCheckpoint(file);
  reads.push(ms(t0));
  if (back.params[0].data[5] !== params[0].data[5]) throw new Error('bench: read back a different value');
  t0 = performance.now();
  encodeCheckpoint(c);
  encodes.push(ms(t0));
}
const size = statSync(file).size;
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1].toFixed(1);
const nParams = params.reduce((s, t) => s + t.data.length, 0);
console.log(`model V=${spec.V} H=${spec.H} C=${spec.C} E=${spec.E}: ${nParams} parameters; with Adam m and v ${(rawBytes / 1e6).toFixed(2)} MB of raw tensor bytes`);
console.log(`write (validate + CRC + write + fsync + rename + fsync dir + prune): median ${med(writes)} ms  [${writes.map((x) => x.toFixed(0)).join(', ')}]`);
console.log(`read  (read file + decode + validate + CRC + copy):                 median ${med(reads)} ms  [${reads.map((x) => x.toFixed(0)).join(', ')}]`);
console.log(`encode to one in-memory buffer (encodeCheckpoint):                  median ${med(encodes)} ms`);
console.log(`file ${size} bytes = raw tensor bytes + ${size - rawBytes} bytes (${((size / rawBytes - 1) * 100).toFixed(3)}% overhead; vocabulary of ${spec.V} tokens included)`);
if (!values.dir) rmSync(dir, { recursive: true, force: true });
