// Training from token shards (data.shards), with the real commands: the same weights as training
// from the file in memory (language model carrying its state, and a classifier); resume from
// shards bit-exact; prepare + train + eval on a generated file of tens of MB; and a file too
// large for memory refused before it is read, with the prepare command, exit 2, no lock left.
// Needs `npm run build`.

import t from 'tap';
import { closeSync, existsSync, openSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, TRAIN, exit0, finalState, train, trainAsync } from './fixtures/train/helpers.js';

const PREPARE = join(ROOT, 'dist', 'prepare.js');
const EVAL = join(ROOT, 'dist', 'eval.js');

t.before(() => {
  if (!existsSync(TRAIN) || !existsSync(PREPARE)) throw new Error('dist/ is missing: run `npm run build` first');
});

function run(file: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [file, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const WORDS = ['call', 'me', 'ishmael', 'the', 'whale', 'sea', 'ship', 'naïve', 'café', 'o\'er', 'ahab', 'white', 'and', 'of'];
const sentence = (r: () => number, n: number) => Array.from({ length: n }, () => WORDS[Math.floor(r() * WORDS.length)]).join(' ');

/** A text of paragraphs, and a JSON Lines file of labelled rows. */
function corpus(dir: string): void {
  const r = rng(3);
  writeFileSync(join(dir, 'lm.txt'), Array.from({ length: 260 }, () => Array.from({ length: 1 + Math.floor(r() * 3) }, () => sentence(r, 3 + Math.floor(r() * 12))).join('\n')).join('\n\n') + '\n');
  writeFileSync(join(dir, 'cl.jsonl'), Array.from({ length: 500 }, (_, i) => JSON.stringify({ text: sentence(r, 2 + Math.floor(r() * 15)), label: ['x', 'y', 'z'][i % 3] })).join('\n') + '\n');
  const common = { out: 'runs', seed: 4, checkpoint: { every: 4, keepLast: 10 } };
  writeFileSync(join(dir, 'lm.json'), JSON.stringify({ ...common, name: 'lm', data: { source: 'files', file: 'lm.txt', seqLength: 12, eos: true },
    model: { task: 'many-to-many', cell: 'lstm', hidden: 16, input: { embedding: 8 } }, train: { epochs: 2, batchSize: 8, carryState: true, optimizer: 'adam', lr: 0.01, logEvery: 5 } }));
  writeFileSync(join(dir, 'cl.json'), JSON.stringify({ ...common, name: 'cl', data: { source: 'files', file: 'cl.jsonl', tokenizer: 'word', maxLength: 10 },
    model: { task: 'many-to-one', cell: 'gru', hidden: 16, input: { embedding: 8 } }, train: { epochs: 1, batchSize: 16, optimizer: 'adam', lr: 0.01, logEvery: 5 } }));
}

t.test('shards train the same weights as the file in memory; resume from shards is bit-exact', async (t) => {
  const dir = t.testdir({});
  corpus(dir);
  for (const name of ['lm', 'cl']) {
    const cfg = join(dir, `${name}.json`);
    const p = run(PREPARE, '--config', cfg, '--out', join(dir, `${name}-shards`), '--workers', '2', '--quiet');
    exit0(t, p, `${name}: prepare`);
    t.match(p.stdout, /set "shards": "\S+-shards" in the data section/, 'prepare says how to train from the shards');
    // The train command it prints runs from any folder: the script and the config by absolute paths.
    t.match(p.stdout, new RegExp(`then node /\\S+/train\\.js --config ${cfg.replace(/[.\\/]/g, '\\$&')}\\n`), 'prepare prints a train command with absolute paths');
    const steps = ['--max-steps', '12'];
    const shards = ['--set', `data.shards=${name}-shards`];
    const common = ['--config', cfg, '--workers', '2', '--quiet', ...steps];
    const [mem, sh, part] = await Promise.all([
      trainAsync(...common, '--out', join(dir, 'mem')),
      trainAsync(...common, ...shards, '--out', join(dir, 'sh')),
      trainAsync('--config', cfg, '--workers', '2', '--quiet', ...shards, '--out', join(dir, 'part'), '--max-steps', '7'),
    ]);
    exit0(t, mem, `${name}: in memory`);
    exit0(t, sh, `${name}: from shards`);
    exit0(t, part, `${name}: from shards, stopped at step 7`);
    const want = finalState(join(dir, 'mem', name));
    t.same(finalState(join(dir, 'sh', name)), want, `${name}: the weights, moments and counters are those of the in-memory run, bit for bit`);
    t.equal(sh.stdout.match(/test +loss [\d.]+/)?.[0], mem.stdout.match(/test +loss [\d.]+/)?.[0], `${name}: the same test loss`);
    const resumed = train('--config', cfg, '--workers', '2', '--quiet', ...shards, ...steps, '--out', join(dir, 'part'), '--resume', 'latest');
    exit0(t, resumed, `${name}: resumed from shards at step 7`);
    t.same(finalState(join(dir, 'part', name)), want, `${name}: resumed from shards, the uninterrupted run's state bit for bit`);
    if (name !== 'cl') continue;
    // eval.js on a checkpoint of a shard-trained run reads the shards too.
    const ck = readdirSync(join(dir, 'sh', name, 'checkpoints')).sort().at(-1)!;
    const ev = run(EVAL, '--checkpoint', join(dir, 'sh', name, 'checkpoints', ck), '--data-root', dir, '--workers', '2');
    exit0(t, ev, `${name}: eval.js on a shard-trained checkpoint`);
    const lost = run(EVAL, '--checkpoint', join(dir, 'sh', name, 'checkpoints', ck), '--workers', '2');
    t.equal(lost.status, 2, `${name}: eval.js where the shard folder is not: exit 2`);
    t.match(lost.stderr, /names the data shard folder \(data\.shards\) "cl-shards", relative to the folder of the config file .*--data-root DIR/, `${name}: names the shard folder and the fix`);
    const evMem = run(EVAL, '--checkpoint', join(dir, 'mem', name, 'checkpoints', ck), '--data-root', dir, '--workers', '2');
    t.equal(JSON.parse(ev.stdout).loss, JSON.parse(evMem.stdout).loss, `${name}: eval.js gives the in-memory loss`);
  }
});

t.test('prepare + train + eval on a generated text of 16 MB', async (t) => {
  const dir = t.testdir({});
  const r = rng(9);
  const fd = openSync(join(dir, 'big.txt'), 'w');
  let bytes = 0;
  while (bytes < 16e6) {
    const para = Array.from({ length: 1 + Math.floor(r() * 4) }, () => sentence(r, 4 + Math.floor(r() * 16))).join('\n') + '\n\n';
    bytes += writeSync(fd, para.repeat(4));
  }
  closeSync(fd);
  writeFileSync(join(dir, 'big.json'), JSON.stringify({ name: 'big', out: 'runs', data: { source: 'files', file: 'big.txt', split: { val: 0.005, test: 0.005 }, shards: 'big-shards' },
    model: { task: 'many-to-many', hidden: 8, input: { embedding: 4 } }, train: { epochs: 1, batchSize: 16, logEvery: 1 } }));
  const p = run(PREPARE, '--config', join(dir, 'big.json'), '--out', join(dir, 'big-shards'), '--workers', '2');
  exit0(t, p, 'prepare');
  t.match(p.stderr, /prepare: pass 2\/2 \(encode\) 100\.0% of 1\d\.\d MiB, [\d.]+ MB\/s, ETA/, 'a progress line with MB/s and the ETA');
  const tr = train('--config', join(dir, 'big.json'), '--workers', '2', '--max-steps', '3', '--quiet');
  exit0(t, tr, 'train from the shards');
  t.match(tr.stdout, /test +loss [\d.]+/, 'validated and tested from the shards');
  const ck = join(dir, 'runs', 'big', 'checkpoints', 'step-000000003.ckpt');
  const ev = run(EVAL, '--checkpoint', ck, '--data-root', dir, '--split', 'val', '--workers', '2');
  exit0(t, ev, 'eval.js --split val');
});

t.test('a char-level text too large for memory is refused before it is read: the prepare command, exit 2, no lock', async (t) => {
  const dir = t.testdir({});
  const fd = openSync(join(dir, 'huge.txt'), 'w');
  const block = Buffer.from(('abcdefghij klmnopqrst uvwxyz\n'.repeat(34) + '\n').repeat(1000)); // ~1 MB of paragraphs
  for (let i = 0; i < 120; i++) writeSync(fd, block);
  closeSync(fd);
  writeFileSync(join(dir, 'huge.json'), JSON.stringify({ name: 'huge', out: 'runs', data: { source: 'files', file: 'huge.txt' }, model: { task: 'many-to-many', hidden: 8 }, train: { epochs: 1 } }));
  const r = train('--config', join(dir, 'huge.json'), '--workers', '1');
  t.equal(r.status, 2, 'exit 2', { stderr: r.stderr.slice(-2000) });
  const err = r.stderr.trim().split('\n');
  t.equal(err.length, 1, 'one line');
  t.match(err[0], /^error: data: "huge\.txt" holds 1\d\d(\.\d)? MiB, more than the 64 MiB read into memory with the char tokenizer\. Prepare token shards/, 'says why');
  t.match(err[0], /node dist\/prepare\.js --config \S*huge\.json --out \S*huge-shards ; then set data\.shards to "huge-shards"/, 'gives the exact prepare command');
  t.notOk(existsSync(join(dir, 'runs', 'huge', 'train.lock')), 'no train.lock left behind');
});

t.test('prepare on 2 threads stopped by the data (an empty split): its error, exit 2, no stack from the threads it left', async (t) => {
  // The counting tasks still queued when the error is thrown are rejected as the pool closes; that
  // rejection was unhandled and ended prepare with piscina's "Terminating worker thread" trace.
  const dir = t.testdir({
    'few.txt': 'call me ishmael.\n\nthe whale.\n\nthe sea.\n',
    'few.json': JSON.stringify({ name: 'few', data: { source: 'files', file: 'few.txt' }, model: { task: 'many-to-many', hidden: 8 }, train: { epochs: 1 } }),
  });
  const r = run(PREPARE, '--config', join(dir, 'few.json'), '--out', join(dir, 'few-shards'), '--workers', '2', '--quiet');
  t.equal(r.status, 2, 'exit 2', { stderr: r.stderr.slice(-2000) });
  t.match(r.stderr, /^error: data: the (val|test) split is empty \(3 rows in all\)\. Use more data/m, 'the data error');
  t.notMatch(r.stderr, /Terminating worker thread|\n\s+at /, 'no stack trace');
  // A blank file: no documents at all, said as such (not as an empty split).
  writeFileSync(join(dir, 'few.txt'), '\n\n   \n');
  const blank = run(PREPARE, '--config', join(dir, 'few.json'), '--out', join(dir, 'few-shards'), '--workers', '2', '--quiet');
  t.equal(blank.status, 2, 'a blank file: exit 2');
  t.match(blank.stderr, /^error: data: \S*few\.txt holds no documents: the text is empty or blank lines only/m, 'a blank file: says so, naming it');
});
