// Refactoring keeps the bits: three training steps of every README config shape on js, wasm and
// native give checkpoints whose tensors hash as the reference build's did
// (test/fixtures/identity/make.mjs wrote hashes.json from it). Needs `npm run build`. npm test runs
// the native backend (24 trainings take minutes); RNN_TRAINER_IDENTITY=all runs js and wasm too.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIST } from './helpers/cli.js';
// @ts-expect-error: a plain .mjs script, shared with the fixture generator
import { CONFIGS, BACKENDS, tensorHashes } from './fixtures/identity/make.mjs';

const ref = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'identity', 'hashes.json'), 'utf8')) as Record<string, Record<string, string>>;

for (const name of Object.keys(CONFIGS)) {
  t.test(name, async (t) => {
    for (const b of process.env.RNN_TRAINER_IDENTITY === 'all' ? BACKENDS as string[] : ['native']) t.same(tensorHashes(DIST, name, b), ref[`${name}/${b}`], `${name} on ${b}: the reference's bits`);
  });
}
