// Where export.js --out and Model.save() write (issue 21, item 4): a device node, a FIFO or a
// symbolic link at the target was replaced by a regular file (as root, `--out /dev/null` replaced
// the system's); a killed export left its temporary file behind. Now a target that exists and is
// not a regular file is refused (exit 2), saying what it is and the fix, and nothing is written;
// the write is temp + fsync + rename (the checkpoint writer's); and a temporary file whose writer
// is dead is removed by the next write of the same target. Needs `npm run build`.

import t from 'tap';
import { existsSync, lstatSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { train, type Example } from '../src/index.js';
import { ROOT } from './fixtures/train/helpers.js';

const examples = (n: number, seed: number): Example[] =>
  Array.from({ length: n }, (_, i) => { const x = (i * 7 + seed) % 5; return { text: 'ab'.repeat(1 + x), label: x % 2 ? 'odd' : 'even' }; });

const exportTo = (ckpt: string, out: string) =>
  spawnSync(process.execPath, [join(ROOT, 'dist', 'export.js'), '--checkpoint', ckpt, '--out', out], { cwd: ROOT, encoding: 'utf8' });

/** A pid that is certainly not running: a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

t.test('export.js --out and Model.save() refuse a FIFO, a symbolic link or a device; clean a dead export\'s temporary file', async (t) => {
  const dir = t.testdir({ 'real.onnx': 'keep me' });
  const r = await train({
    config: { name: 'c', seed: 1, model: { task: 'many-to-one', hidden: 4 }, train: { epochs: 1, batchSize: 8, workers: 1, kernels: 'js' } },
    data: { train: examples(16, 1), val: examples(4, 2), test: examples(4, 3) }, baseDir: dir,
  });
  const ckpt = r.lastCheckpoint!;
  const fifo = join(dir, 'pipe.onnx');
  if (spawnSync('mkfifo', [fifo]).status !== 0) return t.skip('mkfifo failed');
  const link = join(dir, 'link.onnx');
  symlinkSync(join(dir, 'real.onnx'), link);
  const targets: Array<[string, string, RegExp]> = [
    ['a FIFO', fifo, /it is a FIFO \(named pipe\), not a regular file/],
    ['a symbolic link', link, /it is a symbolic link \(to \S+real\.onnx\), not a regular file/],
  ];
  // A device node, made here (root only): what `--out /dev/null` is, without touching the system's.
  const dev = join(dir, 'null.onnx');
  if (spawnSync('mknod', [dev, 'c', '1', '3']).status === 0) targets.push(['a character device', dev, /it is a character device, not a regular file/]);
  else t.comment('mknod not permitted: the device case is not run');
  for (const [what, target, kind] of targets) {
    const e = exportTo(ckpt, target);
    t.equal(e.status, 2, `export to ${what}: exit 2`);
    t.match(e.stderr, new RegExp(`^error: --out \\S+: ${kind.source}, and writing would replace it with one; give the path of a regular file \\(or remove \\S+ first\\)\\n$`), `export to ${what}: says what it is and the fix`);
    t.notOk(lstatSync(target).isFile(), `export to ${what}: still not a regular file`);
    t.throws(() => r.model.save(target), { name: 'CheckpointError', exitCode: 2, message: kind }, `Model.save to ${what}: refused`);
    t.notOk(lstatSync(target).isFile(), `Model.save to ${what}: still not a regular file`);
  }
  t.equal(readFileSync(join(dir, 'real.onnx'), 'utf8'), 'keep me', 'the symbolic link\'s target is untouched');

  // A killed export's temporary file (this writer's name, and the older one) with a dead pid is
  // removed by the next export of the same file; a live writer's is left alone.
  const out = join(dir, 'model.onnx');
  const dead = deadPid();
  const stale = [`.model.onnx.tmp-${dead}`, `model.onnx.tmp-${dead}`], live = `.model.onnx.tmp-${process.pid}`;
  for (const f of [...stale, live]) writeFileSync(join(dir, f), 'half an export');
  const e = exportTo(ckpt, out);
  t.equal(e.status, 0, e.stderr);
  t.ok(lstatSync(out).isFile() && readFileSync(out).length > 100, 'the ONNX file is written');
  t.same(readdirSync(dir).filter((f) => f.includes('.tmp-')), [live], 'the dead writers\' temporary files are gone, a live one\'s is kept');
  t.ok(existsSync(join(dir, live)));
});
