// A huge file that starts like a checkpoint (issue 21, item 6): a 3 GiB file whose head is a valid
// checkpoint's was read whole (3 GiB of memory, seconds) before its missing completion marker was
// seen. Now the marker and the top-level fields' length prefixes are checked first, reading a few
// KiB: such a file is refused at once, with what is wrong. The files are sparse (truncate): no disk.

import t from 'tap';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { encodeCheckpoint, readCheckpoint } from '../src/checkpoint/index.js';
import { tinyCheckpoint } from './fixtures/checkpoint/data.js';

const GiB = 1024 ** 3;

/** Bytes read through fs.readSync while `f` runs. */
function bytesRead<T>(f: () => T): { result?: T; error?: unknown; bytes: number } {
  const original = fs.readSync;
  let bytes = 0;
  fs.readSync = ((...a: Parameters<typeof fs.readSync>) => { const n = original(...a); bytes += n; return n; }) as typeof fs.readSync;
  syncBuiltinESMExports();
  try {
    return { result: f(), bytes };
  } catch (error) {
    return { error, bytes };
  } finally {
    fs.readSync = original;
    syncBuiltinESMExports();
  }
}

const good = encodeCheckpoint(tinyCheckpoint());

t.test('a valid checkpoint still reads, and the check reads only a little more', async (t) => {
  const file = join(t.testdir({}), 'good.ckpt');
  fs.writeFileSync(file, good);
  const r = bytesRead(() => readCheckpoint(file));
  t.error(r.error);
  t.ok(r.bytes < 2 * good.length + 64 * 1024, `read ${r.bytes} bytes of a ${good.length}-byte file`);
});

t.test('3 GiB that start like a checkpoint: refused after reading a few KiB', async (t) => {
  const dir = t.testdir({});
  const make = (name: string, trailer: boolean) => {
    const file = join(dir, name);
    fs.writeFileSync(file, good.subarray(0, 300)); // signature, version, spec, the start of a tensor
    fs.truncateSync(file, 3 * GiB);
    if (trailer) { const fd = fs.openSync(file, 'r+'); fs.writeSync(fd, good.subarray(good.length - 12), 0, 12, 3 * GiB - 12); fs.closeSync(fd); }
    return file;
  };
  const cases: Array<[string, boolean, RegExp]> = [
    ['no completion marker', false, /^checkpoint \S+: truncated or incompletely written: the completion marker at the end of the file is missing \(3221225472 bytes\)$/],
    // The marker copied from a real checkpoint: the fields in between do not add up.
    ['a completion marker, zeros before it', true, /^checkpoint \S+: corrupt: no protobuf field starts at byte \d+ \(of 3221225472\)$/],
  ];
  for (const [what, trailer, message] of cases) {
    const file = make(`${what.replace(/\W+/g, '-')}.ckpt`, trailer);
    const r = bytesRead(() => readCheckpoint(file));
    t.match(r.error, { name: 'CheckpointError', message }, `${what}: refused, saying why`);
    t.ok(r.bytes < 1024 * 1024, `${what}: ${r.bytes} bytes read, not 3 GiB`);
  }
});

t.test('a field whose length prefix runs past the end: refused before the read', async (t) => {
  const file = join(t.testdir({}), 'long.ckpt');
  // Cut the middle out of a real checkpoint: its fields' claims no longer fit.
  fs.writeFileSync(file, Buffer.concat([good.subarray(0, good.length / 2), good.subarray(good.length - 12)]));
  const r = bytesRead(() => readCheckpoint(file));
  t.match(r.error, { name: 'CheckpointError', message: /: corrupt: field \d+ claims \d+ bytes, past the end of its data \(\d+ bytes are left before the completion marker\) at byte \d+ \(of \d+\)$/ });
});
