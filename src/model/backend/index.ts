// Choosing the compute backend: `auto` takes the fastest that loads here (native, then wasm, then
// js), or one is forced by train.kernels, --kernels or RNN_TRAINER_KERNELS. The choice is made
// once, in the main thread; workers create the same backend on the run's memory.

import { JsKernels } from './js.js';
import { AddressedKernels } from './addressed.js';
import type { RawFactory } from './raw.js';
import { BACKENDS, type BackendName, type KernelsChoice, type Kernels } from './types.js';
import { wasmFactory } from './wasm.js';
import { nativeFactory } from './native.js';
import type { SharedArena } from '../../util/shared.js';
import { ConfigError, UserError } from '../../util/errors.js';

export * from './types.js';
export { JsKernels } from './js.js';

/** The factory of a compiled backend, or why it is not available on this machine. */
export function factoryOf(name: 'wasm' | 'native'): RawFactory | { error: string } {
  try {
    return name === 'wasm' ? wasmFactory() : nativeFactory();
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

export interface Resolved {
  name: BackendName;
  isa: string;
  /** Why a faster backend was skipped (said once, in the run header). */
  note?: string;
}

/** The environment variable that forces a backend (below --kernels, above the config). */
export const KERNELS_ENV = 'RNN_TRAINER_KERNELS';

/** auto → the fastest backend that loads; a forced one that cannot load is an error saying why. */
export function resolveKernels(choice: KernelsChoice | string = 'auto'): Resolved {
  if (choice !== 'auto' && !(BACKENDS as readonly string[]).includes(choice)) {
    throw new ConfigError(`unknown kernels "${choice}": use auto, ${BACKENDS.join(', ')}`);
  }
  if (choice === 'js') return { name: 'js', isa: 'float32' };
  if (choice === 'wasm' || choice === 'native') {
    const f = factoryOf(choice);
    if ('error' in f) throw new UserError(`the ${choice} kernels are not available here: ${f.error}${choice === 'native' ? f.error.includes('npm ') ? '; or use --kernels wasm' : ' (rebuild: `npm run build` in a clone, `npm rebuild rnn-trainer` in a project that installed it; or use --kernels wasm)' : ''}`);
    return { name: choice, isa: f.isa };
  }
  const native = factoryOf('native');
  if (!('error' in native)) return { name: 'native', isa: native.isa };
  const wasm = factoryOf('wasm');
  if (!('error' in wasm)) return { name: 'wasm', isa: wasm.isa, note: `native kernels unavailable (${native.error}); using wasm` };
  return { name: 'js', isa: 'float32', note: `native (${native.error}) and wasm (${wasm.error}) kernels unavailable; using js` };
}

/** The choice in force: the flag, else the environment, else the config, else auto. */
export function kernelsChoice(flag?: string, config?: string): string {
  return flag ?? kernelsFromEnv() ?? config ?? 'auto';
}

/** RNN_TRAINER_KERNELS when set (and not overridden by a flag); a value that is no backend is the user's input: ConfigError. */
export function kernelsFromEnv(): string | undefined {
  const v = process.env[KERNELS_ENV];
  if (!v) return undefined;
  if (v !== 'auto' && !(BACKENDS as readonly string[]).includes(v)) throw new ConfigError(`${KERNELS_ENV}=${v} is not a compute backend: use auto, ${BACKENDS.join(', ')} (or unset it)`);
  return v;
}

/**
 * Kernels of a backend for this thread. float32 compiled backends address `arena` (the parameters'
 * arena): their workspaces are allocated from it. The js backend needs no arena.
 */
export function createKernels(name: BackendName, arena: SharedArena | null, dtype: 'float32' | 'float64' = 'float32'): Kernels {
  if (name === 'js' || dtype === 'float64') return new JsKernels(dtype);
  if (!arena) throw new Error(`createKernels: the ${name} kernels need the run's SharedArena`);
  const f = factoryOf(name);
  if ('error' in f) throw new UserError(`the ${name} kernels are not available here: ${f.error}`);
  return new AddressedKernels(name, f, arena);
}
