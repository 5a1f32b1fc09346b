// Choosing the compute backend, once per command: `auto` takes the fastest that loads here
// (native, then wasm, then js), or one is forced by --kernels, RNN_TRAINER_KERNELS or
// train.kernels (kernelsChoice). resolveKernels turns the choice into { name, isa }, a value the
// command passes on; every thread creates exactly that backend at that ISA (createKernels).

import { JsKernels } from './js.js';
import { AddressedKernels } from './addressed.js';
import type { RawFactory } from './raw.js';
import { KERNELS_CHOICES, type BackendName, type Kernels, type ResolvedKernels } from './types.js';
import { wasmFactory, type WasmIsa } from './wasm.js';
import { nativeFactory, type NativeIsa } from './native.js';
import { ENV, isaFromEnv, kernelsEnv } from './env.js';
import type { SharedArena } from '../../util/shared.js';
import { ConfigError, UserError } from '../../util/errors.js';

export * from './types.js';
export { JsKernels } from './js.js';

/**
 * The factory of a compiled backend at `isa` (default: the one the environment forces, else the
 * best here), or why it is not available on this machine.
 */
export function factoryOf(name: 'wasm' | 'native', isa?: string): RawFactory | { error: string } {
  const env = isa === undefined ? isaFromEnv(name) : undefined;
  try {
    return name === 'wasm' ? wasmFactory((isa ?? env) as WasmIsa | undefined) : nativeFactory((isa ?? env) as NativeIsa | undefined, env ? ENV.nativeIsa : 'requested');
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/** The environment variable that forces a backend (below --kernels, above the config). */
export const KERNELS_ENV = ENV.kernels;

const JS: ResolvedKernels = { name: 'js', isa: 'float32' };
const choices = KERNELS_CHOICES.join(', ');

/** auto → the fastest backend that loads; a forced one that cannot load is an error saying why. */
export function resolveKernels(choice: string): ResolvedKernels {
  if (!(KERNELS_CHOICES as readonly string[]).includes(choice)) throw new ConfigError(`unknown kernels "${choice}": use ${choices}`);
  if (choice === 'js') return JS;
  if (choice === 'wasm' || choice === 'native') {
    const f = factoryOf(choice);
    if ('error' in f) throw new UserError(`the ${choice} kernels are not available here: ${f.error}${choice === 'native' ? f.error.includes('npm ') ? '; or use --kernels wasm' : ' (rebuild: `npm run build` in a clone, `npm rebuild rnn-trainer` in a project that installed it; or use --kernels wasm)' : ''}`);
    return { name: choice, isa: f.isa };
  }
  const native = factoryOf('native');
  if (!('error' in native)) return { name: 'native', isa: native.isa };
  const wasm = factoryOf('wasm');
  if (!('error' in wasm)) return { name: 'wasm', isa: wasm.isa, note: `native kernels unavailable (${native.error}); using wasm` };
  return { ...JS, note: `native (${native.error}) and wasm (${wasm.error}) kernels unavailable; using js` };
}

/** The choice in force: the flag, else the environment, else the config, else auto (the one default). */
export function kernelsChoice(flag?: string, config?: string): string {
  return flag ?? kernelsFromEnv() ?? config ?? 'auto';
}

/** RNN_TRAINER_KERNELS when set (and not overridden by a flag); a value that is no backend is the user's input: ConfigError. */
export function kernelsFromEnv(): string | undefined {
  const v = kernelsEnv();
  if (v !== undefined && !(KERNELS_CHOICES as readonly string[]).includes(v)) throw new ConfigError(`${ENV.kernels}=${v} is not a compute backend: use ${choices} (or unset it)`);
  return v;
}

/** The choice in force resolved: what a command does once, at its start (see kernelsChoice). */
export function kernelsOf(flag?: string, config?: string): ResolvedKernels {
  return resolveKernels(kernelsChoice(flag, config));
}

/** A library entry's `kernels` option: a resolved value as it is, else the choice (absent: the environment, else auto) resolved. */
export function kernelsValue(k?: ResolvedKernels | string): ResolvedKernels {
  return typeof k === 'object' ? k : kernelsOf(k);
}

/**
 * Kernels of a resolved backend for this thread (a bare name: that backend at the best ISA here,
 * for tests). float32 compiled backends address `arena` (the parameters' arena): their workspaces
 * are allocated from it. The js backend needs no arena.
 */
export function createKernels(k: ResolvedKernels | BackendName, arena: SharedArena | null, dtype: 'float32' | 'float64' = 'float32'): Kernels {
  const { name, isa } = typeof k === 'string' ? { name: k, isa: undefined } : k;
  if (name === 'js' || dtype === 'float64') return new JsKernels(dtype);
  if (!arena) throw new Error(`createKernels: the ${name} kernels need the run's SharedArena`);
  const f = factoryOf(name, isa);
  if ('error' in f) throw new UserError(`the ${name} kernels are not available here: ${f.error}`);
  return new AddressedKernels(name, f, arena, typeof k === 'object' && k.precision === 'bf16');
}
