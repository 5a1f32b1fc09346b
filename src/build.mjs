// Build: generate protobuf code from proto/, compile TypeScript to dist/, and write the
// command entry points (dist/train.js, ...) that the README and package.json `bin` name.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

// 1. protobuf static code, with TypeScript declarations, into src/checkpoint/pb/ (generated, not committed)
const protoDir = join(root, 'proto');
const pbDir = join(root, 'src', 'checkpoint', 'pb');
const protos = existsSync(protoDir) ? readdirSync(protoDir).filter((f) => f.endsWith('.proto')) : [];
if (protos.length > 0) {
  mkdirSync(pbDir, { recursive: true });
  for (const p of protos) {
    const base = p.replace(/\.proto$/, '');
    const js = join(pbDir, `${base}.js`);
    // No --force-number: with protobufjs 8 it only changes the declared types, while the generated
    // decoders still return Long objects for 64-bit fields; `number | Long` is the honest type.
    run(bin('pbjs'), ['-t', 'static-module', '-w', 'es6', '--no-beautify', '-o', js, join(protoDir, p)]);
    run(bin('pbts'), ['--no-comments', '-o', join(pbDir, `${base}.d.ts`), js]);
  }
}

run(process.execPath, [join(root, 'src', 'build-schema.mjs')]); // configs/config.schema.json from src/config/types.ts
// 2. TypeScript
run(bin('tsc'), ['-p', join(root, 'tsconfig.json')]);

// 3. entry points: dist/<name>.js for every src/cli/<name>.ts that is a command
const commands = ['train', 'eval', 'predict', 'inspect'];
for (const name of commands) {
  if (!existsSync(join(root, 'dist', 'src', 'cli', `${name}.js`))) continue;
  const file = join(root, 'dist', `${name}.js`);
  writeFileSync(file, `#!/usr/bin/env node\nimport './src/cli/${name}.js';\n`);
  chmodSync(file, 0o755);
}
