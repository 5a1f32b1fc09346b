// The `native` backend: the kernels of native/kernels.cc, a Node-API addon that src/build.mjs
// builds with node-gyp when a C++ compiler is there, behind the RawKernels contract (raw.ts).
// The addon's functions are the kernels' methods themselves (no JavaScript wrapper per call);
// each takes int32 numbers, pointers being byte offsets into the memory attach() was given.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RawFactory, RawKernels } from './raw.js';
import { ENV, nativeAddonEnv } from './env.js';

/** The addon's ISA levels, best first (RNN_TRAINER_NATIVE_ISA forces one: env.ts). */
export type NativeIsa = 'avx512' | 'avx2' | 'generic';
const LEVELS: readonly string[] = ['avx512', 'avx2', 'generic'];

interface Addon {
  /** The levels this CPU runs, best first. */
  readonly isas: NativeIsa[];
  /** Whether this CPU has AVX512-BF16: attach at avx512 then gives gemmBf16 (absent in builds before it). */
  readonly bf16?: boolean;
  /** Whether the generic level emulates FMA in software (x86 without FMA): slower than wasm. */
  readonly slowGeneric: boolean;
  /** The kernels on the memory that `u8` spans from its start, at `isa` (default: the best). */
  attach(u8: Uint8Array, isa?: string): RawKernels;
  /** The orthogonal init's columns j0..j1−1 (native/orthogonal.h). */
  orthogonalColumns(xs: Float64Array, n: number, sg: Float64Array, out: Float32Array | Float64Array, j0: number, j1: number, isa?: string): void;
}

const ADDON = join('native', 'build', 'Release', 'rnn_kernels.node');

/** The built addon's path, found upward from this file (src/model/backend/ or dist/src/model/backend/); null if not built. */
export function nativeAddonPath(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    const p = join(dir, ADDON);
    if (existsSync(p)) return p;
  }
  return null;
}

let addon: Addon | { error: string } | undefined;

function load(): Addon | { error: string } {
  if (addon) return addon;
  // RNN_TRAINER_NATIVE_ADDON names the addon file instead (tests: a missing one is a machine where the build failed).
  const named = nativeAddonEnv();
  const path = named ? (existsSync(named) ? named : null) : nativeAddonPath();
  if (!path) return (addon = { error: `native backend not built (${ADDON} is missing: with a C++ compiler installed, \`npm run build\` in a clone or \`npm rebuild rnn-trainer\` in a project that installed the package compiles it)` });
  try {
    return (addon = createRequire(import.meta.url)(path) as Addon);
  } catch (e) {
    return (addon = { error: `native backend: cannot load ${path}: ${(e as Error).message}` });
  }
}

/** The ISA levels the addon runs on this CPU, best first ([] when it is not built). */
export function nativeIsas(): NativeIsa[] {
  const a = load();
  return 'error' in a ? [] : [...a.isas];
}

/** Whether the addon runs train.precision "bf16" here (built, and the CPU has AVX512-BF16). */
export function nativeBf16(): boolean {
  const a = load();
  return !('error' in a) && a.bf16 === true;
}

/**
 * The native backend at `isa` (avx512|avx2|generic; `from` says who asked, in errors), else at the
 * best level this CPU runs; or why it cannot be had (not built, not loadable, level not supported,
 * or only the generic level on an x86 CPU without FMA, where the wasm kernels are faster).
 * Kernels need no scratch in the memory (scratchBytes 0): each instance packs into its own buffer,
 * allocated once at create().
 */
export function nativeFactory(isa?: NativeIsa, from = 'requested'): RawFactory | { error: string } {
  const a = load();
  if ('error' in a) return a;
  const want: string | undefined = isa;
  if (want !== undefined && !LEVELS.includes(want)) return { error: `native backend: ${from} ISA "${want}" is not one of ${LEVELS.join(', ')}` };
  if (want !== undefined && !(a.isas as string[]).includes(want)) {
    return { error: `native backend: ${from} ISA "${want}" does not run on this CPU (it runs ${a.isas.join(', ')})` };
  }
  const level = want ?? a.isas[0];
  if (!want && level === 'generic' && a.slowGeneric) {
    return { error: `native backend: this CPU has no AVX2+FMA, and the generic kernels emulate FMA in software (slower than wasm); ${ENV.nativeIsa}=generic forces them` };
  }
  return {
    scratchBytes: 0,
    isa: level,
    create(memory: WebAssembly.Memory, _scratch: number): RawKernels {
      // A shared memory reserves its maximum up front, so this base address outlives memory.grow().
      return a.attach(new Uint8Array(memory.buffer), level);
    },
  };
}

/** The addon's part of the orthogonal init (native/orthogonal.cc), at its level. */
export interface NativeOrthogonal {
  readonly isa: NativeIsa;
  /**
   * Columns j0..j1−1 of the n×n orthogonal matrix of Stewart's algorithm (init.ts): xs holds the
   * Householder vectors (n(n+1)/2 doubles), sg each column's sign times the gain; out[t·n + j] is
   * written (row-major n×n, float32 or float64).
   */
  columns(xs: Float64Array, n: number, sg: Float64Array, out: Float32Array | Float64Array, j0: number, j1: number): void;
}

/**
 * The native columns at RNN_TRAINER_NATIVE_ISA (when set and run by this CPU) or at the best
 * level; null when the addon is not built (or is a build from before it had this function). Same
 * bits as init.ts's JavaScript columns at every level.
 */
export function nativeOrthogonal(): NativeOrthogonal | null {
  const a = load();
  if ('error' in a || typeof a.orthogonalColumns !== 'function') return null;
  const env = process.env.RNN_TRAINER_NATIVE_ISA as NativeIsa | undefined;
  const isa = env && a.isas.includes(env) ? env : a.isas[0];
  return { isa, columns: (xs, n, sg, out, j0, j1) => a.orthogonalColumns(xs, n, sg, out, j0, j1, isa) };
}
