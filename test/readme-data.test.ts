// The README's "Your own data": every config in it, as written there, loads with the config loader
// and trains a few steps on small files of the shape it describes (test/fixtures/readme/data/),
// and the run writes the files its table lists. Needs `npm run build`.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.js';

const ROOT = join(import.meta.dirname, '..');
const DATA = join(import.meta.dirname, 'fixtures', 'readme', 'data');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The text of the README section `## title`, up to the next `## `. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README.md has no section "## ${title}"`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

const own = section('Your own data');
const blocks = [...own.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);

t.test('the section has its three example configs, each valid JSON', async (t) => {
  t.equal(blocks.length, 3, 'a CSV classifier, a JSON Lines classifier, a plain-text language model');
  for (const b of blocks) t.doesNotThrow(() => JSON.parse(b));
});

t.test('the data lines the README quotes are in the fixture files', async (t) => {
  for (const [file, quoted] of [['reviews.csv', /`(id,review,sentiment)`/], ['reviews.csv', /`(r001,"The soundtrack[^`]*)`/], ['tickets-train.jsonl', /`(\{"id": "t1-0"[^`]*)\}`/]] as const) {
    const m = quoted.exec(own);
    t.ok(m, `the README quotes ${quoted}`);
    if (m) t.ok(readFileSync(join(DATA, file), 'utf8').includes(m[1]), `${file} holds ${m[1]}`);
  }
});

for (const [i, block] of blocks.entries()) {
  const config = JSON.parse(block) as { name: string; out: string; data: Record<string, unknown>; model: { task: string } };
  t.test(`example ${i + 1} (${config.name}): loads and trains a few steps; the run folder holds the files the README lists`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'readme-data-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(DATA, join(dir, 'data'), { recursive: true });
    const file = join(dir, `${config.name}.json`);
    writeFileSync(file, block);

    const loaded = loadConfig(file);
    t.equal(loaded.config.data.source, 'files');
    for (const k of ['textField', 'labelField', 'labels', 'file', 'train', 'split'] as const) {
      if (config.data[k] !== undefined) t.same(loaded.config.data[k], config.data[k], `data.${k} as written`);
    }
    t.equal(loaded.config.data.format, config.model.task === 'many-to-many' ? 'text' : /\.csv$/.test(String(config.data.file)) ? 'csv' : 'jsonl', 'format from the extension');

    const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'train.js'), '--config', file, '--max-steps', '3', '--workers', '1', '--quiet'], { cwd: dir, encoding: 'utf8' });
    t.equal(r.status, 0, `trains (${r.stderr.trim().split('\n').at(-1)})`);
    const run = join(dir, config.out, config.name);
    for (const f of ['config.resolved.json', 'metrics.jsonl', 'grad-profile.jsonl', 'report.html']) t.ok(existsSync(join(run, f)), `<out>/<name>/${f}`);
    t.same(readdirSync(join(run, 'checkpoints')).filter((f) => /^step-\d{9}\.ckpt$/.test(f)).length > 0, true, 'checkpoints/step-NNNNNNNNN.ckpt');
    t.equal(readdirSync(dir).sort().join(','), ['data', `${config.name}.json`, config.out].sort().join(','), 'nothing written outside <out> (relative to the config file)');
  });
}
