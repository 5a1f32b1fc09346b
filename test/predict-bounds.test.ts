// Bounded and streamed outputs of predict (issue 21, items 7 and 8): generation is capped at
// MAX_GENERATE_TOKENS (predict --generate, Model.generate: an error naming the option and the cap,
// exit 2) and printed as it is generated (the pieces make exactly the text, for every tokenizer and
// across documents); stdin is read a line at a time, at most MAX_LINE_BYTES a line (an endless line
// is a one-line error with its line number, exit 2). Needs `npm run build`.

import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Model } from '../src/index.js';
import { generateText, MAX_GENERATE_TOKENS, type TextModel } from '../src/infer/generate.js';
import type { ModelSpec } from '../src/model/spec.js';
import { ConfigError } from '../src/util/errors.js';
import { ROOT, TRAIN, NAMES, LM, hasStack } from './fixtures/train/helpers.js';
import { randomParams } from './helpers/model.js';

const PREDICT = join(ROOT, 'dist', 'predict.js');
const dir = t.testdir({});
let lm = '', classifier = '';

// tap preloads its process-info hook into children (NODE_OPTIONS), whose exit handlers slow a
// signalled child's exit by seconds on a busy machine: the times measured here are the command's own.
delete process.env.NODE_OPTIONS;

t.before(() => {
  if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run \`npm run build\` first`);
  const last = (config: string, name: string) => {
    const r = spawnSync(process.execPath, [TRAIN, '--config', config, '--out', dir, '--max-steps', '1', '--workers', '1', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    const ck = join(dir, name, 'checkpoints');
    return join(ck, readdirSync(ck).sort().pop()!);
  };
  lm = last(LM, 'lm-tiny');
  classifier = last(NAMES, 'names-tiny');
});

t.test('--generate above the cap: a one-line error naming the flag and the cap, exit 2', async (t) => {
  t.equal(MAX_GENERATE_TOKENS, 1_000_000);
  const r = spawnSync(process.execPath, [PREDICT, '--checkpoint', lm, '--generate', '1000000000', '--prompt', 'Call'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2, r.stderr);
  t.match(r.stderr, /--generate.*1000000/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  t.notOk(hasStack(r.stderr));
  t.equal(r.stdout, '');
});

t.test('Model.generate above the cap: a ConfigError naming length and the cap', async (t) => {
  const m = Model.load(lm);
  let error: unknown;
  try { m.generate('Call', { length: 1e9 }); } catch (e) { error = e; }
  t.ok(error instanceof ConfigError, 'a ConfigError (exit 2 in a command)');
  t.match((error as Error).message, /^generate: length 1000000000 is more than one call generates \(at most 1,000,000 tokens\)/);
  t.type(m.generate('Call', { length: 5 }), 'string', 'within the cap: generates');
});

t.test('predict --generate prints the text as it is generated: the first bytes come long before the end', async (t) => {
  const c = spawn(process.execPath, [PREDICT, '--checkpoint', lm, '--generate', String(MAX_GENERATE_TOKENS), '--prompt', 'Call me', '--kernels', 'js'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  c.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => c.on('close', (code, signal) => res({ code, signal })));
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no output after 30 s; stderr: ${err}`)), 30_000);
    c.stdout.setEncoding('utf8').on('data', (s: string) => {
      if (out.length < 200) out += s;
      if (out.length >= 200) { clearTimeout(timer); res(); }
    });
    c.on('close', () => rej(new Error(`the process ended first; stderr: ${err}`)));
  });
  t.ok(out.startsWith('Call me'), 'the prompt, then its continuation');
  t.equal(c.exitCode, null, 'still generating (a million tokens)');
  const t0 = Date.now();
  c.kill('SIGINT');
  const e = await exited;
  t.equal(e.code, 130, 'Ctrl-C ends it, exit 130');
  const ms = Date.now() - t0;
  t.ok(ms < 3000, `at once (${ms} ms; ${out.length} characters printed)`);
});

t.test('the streamed pieces make exactly the text: char and word tokenizers, documents ended by </s>, pieces of every size', async (t) => {
  const spec: ModelSpec = { cell: 'gru', task: 'many-to-many', V: 14, H: 8, C: 14, E: 4 };
  const base = { spec, params: randomParams(spec, 3, 'float32', 3) };
  const models: Array<[string, TextModel]> = [
    ['char', { ...base, vocab: ['<pad>', '<unk>', '<s>', '</s>', 'a', 'b', ' ', '.', '\n', 'é', '😀', 'x', 'y', 'z'], tokenizer: { kind: 'char', lowercase: false, bos: true, eos: true, maxLength: 0, truncate: 'end' } }],
    ['word', { ...base, vocab: ['<pad>', '<unk>', '<s>', '</s>', 'the', 'whale', '.', ',', '(', ')', 'sea', '$', 'ship', '!'], tokenizer: { kind: 'word', lowercase: false, bos: true, eos: true, maxLength: 0, truncate: 'end' } }],
    ['word, no <s>', { ...base, vocab: ['<pad>', '<unk>', '<s>', '</s>', 'the', 'whale', '.', ',', '(', ')', 'sea', '$', 'ship', '!'], tokenizer: { kind: 'word', lowercase: false, bos: false, eos: true, maxLength: 0, truncate: 'end' } }],
  ];
  for (const [what, m] of models) {
    for (const chunk of [1, 2, 3, 64]) {
      for (const seed of [1, 2]) {
        const pieces: string[] = [];
        const g = generateText(m, what === 'char' ? 'ab' : 'the whale', { tokens: 300, temperature: 1.5, seed }, undefined, (s) => pieces.push(s), chunk);
        const plain = generateText(m, what === 'char' ? 'ab' : 'the whale', { tokens: 300, temperature: 1.5, seed });
        t.equal(g.text, plain.text, `${what}, chunk ${chunk}, seed ${seed}: streaming changes nothing`);
        t.equal(pieces.join(''), g.text, `${what}, chunk ${chunk}, seed ${seed}: the pieces make the text (${g.text.split('\n\n').length} documents)`);
        if (chunk === 1 && g.ids.length > 50) t.ok(pieces.length > 10, 'in many pieces');
      }
    }
  }
});

t.test('stdin without a line break: a one-line error naming the line and the cap, exit 2, no stack', async (t) => {
  const c = spawn(process.execPath, [PREDICT, '--checkpoint', classifier], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '', err = '';
  c.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  c.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
  c.stdin.on('error', () => {}); // the process may stop reading before all is written
  const code = new Promise<number | null>((res) => c.on('close', (code) => res(code)));
  c.stdin.write('Maria\nJohn\r\n');
  const block = Buffer.alloc(1 << 20, 'y');
  for (let i = 0; i < 17 && c.exitCode === null; i++) {
    if (!c.stdin.write(block)) await new Promise((r) => c.stdin.once('drain', r).once('close', r));
  }
  c.stdin.end();
  t.equal(await code, 2, err);
  t.match(err, /^error: stdin, line 3: longer than 16 MiB/);
  t.equal(err.trim().split('\n').length, 1, 'one line');
  t.notOk(hasStack(err));
  t.equal(out.trim().split('\n').length, 2, 'the lines before it were classified');
});

t.test('a stdin line that is not UTF-8: refused naming the line and the byte, exit 2, as a training file\'s line is', async (t) => {
  const r = spawnSync(process.execPath, [PREDICT, '--checkpoint', classifier], { input: Buffer.concat([Buffer.from('Maria\nJo'), Buffer.from([0xe9]), Buffer.from('l\n')]), encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 2, r.stderr);
  t.match(r.stderr, /^error: stdin, line 2: invalid UTF-8 \(byte 0xe9 at byte 3 of the line\); give UTF-8 text \(e\.g\. `iconv -f latin1 -t utf-8/);
  t.notOk(hasStack(r.stderr));
  t.equal(r.stdout.trim().split('\n').length, 1, 'the line before it was classified');
});
