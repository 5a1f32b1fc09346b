// train.precision: "f32" (the default) or "bf16", mixed precision where the hardware pays for it.
// bf16 runs the products over all B·T rows (the full softmax head's logits, dL/dh and dWya, the
// input projections, dW_ih and dW_hh: rnn.ts rowsGemm) with bf16 inputs and float32 accumulation on AVX512-BF16 (native/bf16.h, vdpbf16ps); weights, optimizer state,
// gradient sums and checkpoints stay float32. It is resolved once per run, with the kernels
// (withPrecision), and travels in ResolvedKernels to every thread; a CPU where it is not faster
// than float32 is refused, not run slowly.

import { cpus } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { nativeAddonPath, nativeBf16 } from './native.js';
import type { ResolvedKernels } from './types.js';
import { ConfigError } from '../../util/errors.js';
import { ENV } from './env.js';

export type Precision = 'f32' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['f32', 'bf16'];

/** vdpbf16ps must reach this multiple of the f32 FMA rate (GFLOP/s, one core) for bf16 to run. */
export const BF16_MIN_SPEEDUP = 1.5;

/** Tests: "none" (a CPU without AVX512-BF16) or "BF16/F32" (the probe's GFLOP/s) instead of the probe. */
export const BF16_PROBE_ENV = 'RNN_TRAINER_BF16_PROBE';

/** The startup probe: GFLOP/s of vdpbf16ps and of f32 FMAs on one core (native/peak.cc), or null without AVX512-BF16. */
export interface Bf16Rates { bf16: number; f32: number }

function probe(): Bf16Rates | null {
  const fake = process.env[BF16_PROBE_ENV];
  if (fake) {
    if (fake === 'none') return null;
    const [bf16, f32] = fake.split('/').map(Number);
    return { bf16, f32 };
  }
  if (!nativeBf16()) return null;
  const path = nativeAddonPath()?.replace(/rnn_kernels\.node$/, 'rnn_peak.node');
  if (!path || !existsSync(path)) return null;
  const addon = createRequire(import.meta.url)(path) as { bf16Peak?(seconds: number): Bf16Rates | null };
  return addon.bf16Peak ? addon.bf16Peak(0.1) : null;
}

/** Whether /proc/cpuinfo lists AMX (amx_bf16): Linux only, false elsewhere. */
function hasAmx(): boolean {
  try {
    return /\bamx_bf16\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

const cpuName = (): string => cpus()[0]?.model?.trim() || 'this CPU';

/**
 * The kernels with the precision in force: f32 returns them as they are; bf16 needs the native
 * backend at its avx512 level on a CPU with AVX512-BF16 whose vdpbf16ps runs at least
 * BF16_MIN_SPEEDUP× its f32 FMAs, else a ConfigError (exit 2) naming the CPU and what it lacks.
 */
export function withPrecision(k: ResolvedKernels, precision: Precision | undefined, from = 'train.precision'): ResolvedKernels {
  if (precision === undefined || precision === 'f32') return k;
  if (precision !== 'bf16') throw new ConfigError(`${from} "${String(precision)}" is not one of ${PRECISIONS.join(', ')}`);
  const cpu = cpuName();
  const f32 = `${from} "f32" (the default)`;
  if (k.name !== 'native') throw new ConfigError(`${from} "bf16" runs on the native kernels only, and this run uses ${k.name}${k.note ? ` (${k.note})` : ''}: use --kernels native, or ${f32}`);
  const rates = probe();
  const amx = hasAmx() ? ' It has AMX (tdpbf16ps), for which this build has no bf16 path yet.' : '';
  if (!rates) throw new ConfigError(`${from} "bf16" needs AVX512-BF16 (vdpbf16ps), which ${cpu} lacks.${amx} Use ${f32}`);
  if (k.isa !== 'avx512') throw new ConfigError(`${from} "bf16" runs at the native avx512 level, and this run uses ${k.isa} (is ${ENV.nativeIsa} set?): unset it, or use ${f32}`);
  if (!(rates.bf16 >= BF16_MIN_SPEEDUP * rates.f32)) {
    throw new ConfigError(`${from} "bf16": on ${cpu} vdpbf16ps measures ${rates.bf16.toFixed(0)} GFLOP/s per core against ${rates.f32.toFixed(0)} for float32 FMAs, `
      + `less than the ${BF16_MIN_SPEEDUP}x that pays for rounding to bf16 (Intel cores run it at half rate).${amx} Use ${f32}`);
  }
  return { ...k, precision: 'bf16', precisionNote: `bf16 on AVX512-BF16 (vdpbf16ps ${rates.bf16.toFixed(0)} GFLOP/s per core, float32 FMAs ${rates.f32.toFixed(0)})` };
}
