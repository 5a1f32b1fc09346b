// node dist/prepare.js --config FILE --out DIR: a config's data, of any size, into token shards
// that a config with data.shards trains from (see --help and docs/shards.md).

import { resolve, relative } from 'node:path';
import { parseArgs, runMain } from './args.js';
import { command, quote } from './command.js';
import { loadConfig } from '../config/load.js';
import { prepareData, type PrepareProgress } from '../data/prepare.js';
import { formatDuration } from '../util/format.js';
import { formatBytes } from '../util/files.js';

runMain(async () => {
  const args = parseArgs(process.argv.slice(2), {
    name: 'prepare.js',
    summary: 'Read the data a config names (files of any size, streamed; or a built-in corpus), build the vocabulary from its '
      + 'training split, and write token shards and their index into a folder. A config with data.shards set to that folder '
      + '(relative to the config) then trains, validates and tests from it, reading a batch at a time. Progress goes to stderr; '
      + 'a summary to stdout.',
    flags: {
      config: { type: 'string', required: true, value: 'FILE', help: 'The run configuration whose data section says what to read and how to tokenize it.' },
      out: { type: 'string', required: true, value: 'DIR', help: 'The folder to write (created if missing; earlier shards in it are replaced).' },
      workers: { type: 'number', integer: true, min: 1, value: 'N', help: 'Worker threads that tokenize (default: all cores).' },
      set: { type: 'string', repeat: true, value: 'PATH=VALUE', help: 'Override a config field, e.g. --set data.tokenizer=word (repeatable).' },
      quiet: { type: 'boolean', help: 'No progress line.' },
    },
    examples: [
      ['node dist/prepare.js --config big.json --out big-shards', 'then add "shards": "big-shards" to the data section of big.json'],
    ],
  });
  const loaded = loadConfig(args.config, args.set ?? []);
  const cfg = loaded.config;
  const out = resolve(args.out);
  const tty = process.stderr.isTTY === true;
  let last = 0, finished = 0;
  const progress = (p: PrepareProgress) => {
    const now = performance.now();
    const done = p.bytes >= p.totalBytes;
    if (args.quiet || (done ? finished >= p.pass : now - last < (tty ? 200 : 10_000))) return;
    last = now;
    if (done) finished = p.pass;
    const rate = p.seconds > 0 ? p.bytes / p.seconds : 0;
    const eta = rate > 0 ? (p.totalBytes - p.bytes) / rate : 0;
    const pct = p.totalBytes > 0 ? (100 * p.bytes) / p.totalBytes : 100;
    const line = `prepare: pass ${p.pass}/2 (${p.pass === 1 ? 'vocabulary' : 'encode'}) ${pct.toFixed(1)}% of ${formatBytes(p.totalBytes)}, ${(rate / 1e6).toFixed(1)} MB/s, ETA ${formatDuration(eta)}`;
    process.stderr.write(tty ? `\r${line}\x1b[K${done ? '\n' : ''}` : `${line}\n`);
  };
  const t0 = performance.now();
  const r = await prepareData(cfg.data, { configDir: loaded.configDir, task: cfg.model.task, out, workers: args.workers, onProgress: progress });
  const s = (performance.now() - t0) / 1000;
  const rel = relative(loaded.configDir, out) || '.';
  const sp = r.meta.report.splits;
  process.stdout.write(`prepared ${relative(process.cwd(), out) || '.'}: ${r.shards} shard file${r.shards === 1 ? '' : 's'}, vocabulary ${r.meta.vocab.length} tokens (uint${r.meta.vocab.length <= 65536 ? 16 : 32}); `
    + `${r.meta.task === 'many-to-one' ? 'sequences' : 'documents'} train ${r.records.train}, val ${r.records.val}, test ${r.records.test}; `
    + `tokens train ${sp.train.tokens}, val ${sp.val.tokens}, test ${sp.test.tokens}; `
    + `${r.inputBytes > 0 ? `${formatBytes(r.inputBytes)} read twice, ${((2 * r.inputBytes) / 1e6 / s).toFixed(1)} MB/s, ` : ''}${formatDuration(s)}\n`
    + `train from it: set "shards": ${JSON.stringify(rel)} in the data section of ${args.config}, then ${[command('train'), '--config', quote(resolve(args.config)), ...(args.set ?? []).flatMap((x) => ['--set', quote(x)])].join(' ')}\n`);
});
