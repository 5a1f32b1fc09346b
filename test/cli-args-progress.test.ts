import t from 'tap';
import { Progress, formatDuration, formatNumber, formatRate, formatSummary, printSummary, stripControl } from '../src/cli/progress.js';

function sink(isTTY: boolean) {
  const s = { isTTY, columns: 120, text: '', write(x: string) { s.text += x; } };
  return s;
}
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/; // anything but \n and \t, incl. ESC (\x1b) and \r

t.test('not a terminal: periodic plain lines, no control characters', async (t) => {
  const out = sink(false);
  let now = 0;
  const p = new Progress({ stream: out, totalSteps: 100, epochs: 2, logEverySteps: 10, logEverySeconds: 1000, now: () => now });
  for (let step = 1; step <= 100; step++) {
    now += 50;
    p.update({ step, epoch: step <= 50 ? 1 : 2, loss: 2 / step, accuracy: step / 100, tokensPerSec: 12345 });
    if (step === 50) p.log('\x1b[32mval\x1b[0m loss 0.5\r');
  }
  p.done();
  printSummary('test', [['loss', 0.41234], ['accuracy', '83.1%']], out);
  t.notOk(CONTROL.test(out.text), 'no \\x1b, no \\r');
  const lines = out.text.trimEnd().split('\n');
  t.equal(lines[0], 'epoch 1/2  step 1/100  loss 2.0000  acc 1.0%  12.3k tok/s  elapsed 0s', 'first step');
  t.match(lines[1], /^epoch 1\/2  step 11\/100  loss 0\.1818  acc 11\.0%  12\.3k tok\/s  elapsed 1s  eta 4s$/);
  t.ok(lines.includes('val loss 0.5'), 'log lines stripped of control characters');
  t.match(lines.filter((l) => l.startsWith('epoch')).at(-1), /^epoch 2\/2  step 100\/100 .* eta 0s$/, 'the last step is always printed');
  t.equal(lines.filter((l) => l.startsWith('epoch')).length, 11);
  t.match(out.text, /test\n  loss      0\.4123\n  accuracy  83\.1%\n$/);
});

t.test('not a terminal: a line every N seconds when steps are slow', async (t) => {
  const out = sink(false);
  let now = 0;
  const p = new Progress({ stream: out, logEverySteps: 1000, logEverySeconds: 30, now: () => now });
  for (let step = 1; step <= 10; step++) { now += 10_000; p.update({ step, epoch: 1, loss: NaN }); }
  t.same(out.text.trim().split('\n').map((l) => l.split('  ')[1]), ['step 1', 'step 4', 'step 7', 'step 10']);
  t.match(out.text, /loss nan/);
});

t.test('terminal: one redrawn line with a bar', async (t) => {
  const out = sink(true);
  let now = 0;
  const p = new Progress({ stream: out, totalSteps: 10, epochs: 1, redrawMs: 100, now: () => now });
  for (let step = 1; step <= 10; step++) { now += 1000; p.update({ step, epoch: 1, loss: 1, tokensPerSec: 500 }); }
  p.log('checkpoint saved');
  p.done();
  t.match(out.text, /\r\x1b\[2K/, 'redraws in place');
  t.notOk(/\n.*\n.*\n.*\n/.test(out.text), 'a few lines only, not one per step');
  t.match(out.text, /██████████│ 100%  epoch 1\/1  step 10\/10  loss 1\.0000  500 tok\/s  elapsed 10s  eta 0s/);
  t.match(out.text, /\r\x1b\[2Kcheckpoint saved\n/);
  t.ok(out.text.endsWith('\n'));
  const quiet = sink(true);
  const q = new Progress({ stream: quiet, totalSteps: 10, quiet: true });
  q.update({ step: 1, epoch: 1, loss: 1 });
  q.done();
  t.equal(quiet.text, '', 'quiet prints no progress');
});

t.test('terminal of 80 columns: the ETA, tokens/s and elapsed time stay; the bar and epoch go first', async (t) => {
  const out = { isTTY: true, columns: 80, text: '', write(x: string) { out.text += x; } };
  let now = 0;
  const p = new Progress({ stream: out, totalSteps: 25000, epochs: 10, redrawMs: 0, now: () => now });
  for (let step = 1; step <= 1234; step++) { now += 130; p.update({ step, epoch: 1, loss: 0.61234, accuracy: 0.8123, tokensPerSec: 123456 }); }
  const line = out.text.split('\r\x1b[2K').at(-1)!;
  t.ok(line.length <= 79, `fits in 79 columns (${line.length}): ${line}`);
  t.match(line, /step 1234\/25000/);
  t.match(line, /123\.5k tok\/s/);
  t.match(line, /elapsed 2m40s/);
  t.match(line, /eta 51m27s$/, 'the ETA, whole, at the end');
  t.notMatch(line, /epoch|acc|│/, 'the epoch (and the accuracy) went first, after the bar');
  // Wide: everything, bar included.
  const wide = { isTTY: true, columns: 160, text: '', write(x: string) { wide.text += x; } };
  const q = new Progress({ stream: wide, totalSteps: 25000, epochs: 10, redrawMs: 0, now: () => now });
  q.update({ step: 1, epoch: 1, loss: 0.5, accuracy: 0.5, tokensPerSec: 1000 });
  t.match(wide.text, /│   0%  epoch 1\/10  step 1\/25000  loss 0\.5000  acc 50\.0%  1\.00k tok\/s  elapsed 0s/);
});

t.test('formatting', async (t) => {
  t.equal(formatDuration(7), '7s');
  t.equal(formatDuration(185), '3m05s');
  t.equal(formatDuration(7384), '2h03m');
  t.equal(formatRate(950), '950');
  t.equal(formatRate(2.5e6), '2.50M');
  t.equal(formatNumber(1e-5), '1.00e-5');
  t.equal(formatNumber(Infinity), 'inf');
  t.equal(stripControl('a\x1b[2Kb\rc\td\n'), 'abc\td\n');
  t.equal(formatSummary('x', [['a', 1]]), 'x\n  a  1.0000\n');
});

t.test('under mpirun or srun a terminal gets lines, not a redrawn bar (their output is collected into logs)', async (t) => {
  for (const env of [{ OMPI_COMM_WORLD_SIZE: '2' }, { PMIX_RANK: '0' }, { SLURM_PROCID: '0' }]) {
    const out = { isTTY: true, columns: 120, text: '', write(x: string) { out.text += x; } };
    let now = 0;
    const p = new Progress({ stream: out, env, totalSteps: 100, logEverySteps: 10, redrawMs: 0, now: () => now });
    for (let step = 1; step <= 100; step++) { now += 50; p.update({ step, epoch: 1, loss: 0.5, accuracy: 0.5, tokensPerSec: 1000 }); }
    p.log('validation after step 100: loss 0.5');
    p.done();
    t.notMatch(out.text, /[\r\x1b]/, `${Object.keys(env)[0]}: no carriage returns or escapes`);
    t.equal(out.text.split('\n').filter((l) => /^epoch 1\s+step \d+\/100 /.test(l)).length, 11, `${Object.keys(env)[0]}: a line every 10 steps, and the last`);
    t.match(out.text, /\nvalidation after step 100: loss 0\.5\n$/, 'the last line on a line of its own');
  }
  const plain = { isTTY: true, columns: 120, text: '', write(x: string) { plain.text += x; } };
  const p = new Progress({ stream: plain, env: {}, totalSteps: 10, redrawMs: 0 });
  p.update({ step: 1, epoch: 1, loss: 0.5, accuracy: 0.5, tokensPerSec: 1000 });
  t.match(plain.text, /\r/, 'without a launcher, a terminal still gets the bar');
});
