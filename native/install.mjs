// The package's `install` script: builds the native kernels for someone who installed the
// published package (`npm install rnn-trainer`). Never fails the install: without a compiler it
// warns and the runs use the wasm kernels.
//
// In a clone npm runs this script too, before `prepare`; there src/build.mjs (which the package
// does not ship) builds the addon after TypeScript, so this one does nothing rather than build twice.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(join(root, 'src', 'build.mjs'))) {
  try {
    const { buildNative, buildMpi } = await import('./build.mjs');
    if (buildNative(root)) console.log('rnn-trainer: native kernels built (native/build/Release/rnn_kernels.node)');
    // Where Open MPI is installed (mpicc), the binding of --distributed mpi too.
    if (buildMpi(root)) console.log('rnn-trainer: MPI binding built (native/mpi/build/Release/rnn_mpi.node)');
  } catch (e) {
    console.warn(`warning: native kernels not built (${e instanceof Error ? e.message : e}); runs will use the wasm kernels`);
  }
}
