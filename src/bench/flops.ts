// Work counts and the peak they are compared with, for the bench's GFLOP/s columns.

import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { nativeAddonPath } from '../model/backend/native.js';
import { adaptiveShape, type ModelSpec } from '../model/spec.js';

/**
 * A bench workload (bench/workloads.json). task "classify" (the default): many-to-one with C
 * classes; "lm": a language model predicting the next token at every step over all V tokens
 * (C = V, a full softmax).
 */
export interface Workload {
  V: number; E: number; H: number; C: number; B: number; T: number; task?: 'classify' | 'lm';
  /** A language model's adaptive softmax for `--head adaptive` (head bias off, as PyTorch's default). */
  adaptive?: { cutoffs: number[]; divValue: number };
}

/** A language model's output layer in the bench: the full softmax, tied weights, or the adaptive softmax. */
export type BenchHead = 'full' | 'tied' | 'adaptive';

/** The bench's model spec of a language model with `head` (cell and input aside: the output layer's shapes). */
export function lmHeadSpec(w: Workload, head: BenchHead): Pick<ModelSpec, 'tieWeights' | 'adaptive'> {
  if (head === 'tied') return { tieWeights: true };
  if (head === 'adaptive') return { adaptive: { cutoffs: w.adaptive!.cutoffs, divValue: w.adaptive!.divValue, headBias: false } };
  return {};
}

/**
 * Training FLOPs per real token of the output layer actually computed (three products of 2·M·N per
 * weight: forward, its weight gradient, the gradient sent back): full 6·V·H; tied 6·V·E, plus
 * 6·E·H for the projection when E ≠ H; adaptive 6·H·(shortlist + clusters) for the head plus, for
 * the share s_i of targets in cluster i (`shares`, measured on the batches), s_i·6·(H·hsz_i +
 * hsz_i·size_i) for its tail (only those rows go through it).
 */
export function headFlopsPerToken(w: Workload, head: BenchHead, input: 'embedding' | 'onehot', shares: number[] = []): number {
  if (head === 'tied' && input === 'embedding') return 6 * w.V * w.E + (w.E !== w.H ? 6 * w.E * w.H : 0);
  if (head !== 'adaptive') return 6 * w.V * w.H;
  const a = adaptiveShape({ cell: 'rnn', task: 'many-to-many', V: w.V, C: w.V, E: w.E, H: w.H, ...lmHeadSpec(w, head) });
  return 6 * w.H * a.headSize + a.clusters.reduce((sum, c, i) => sum + (shares[i] ?? 0) * 6 * (w.H * c.hsz + c.hsz * c.size), 0);
}

/** Gates per cell: the recurrent products are G·H wide. */
export const GATES: Record<string, number> = { rnn: 1, gru: 3, lstm: 4 };

/**
 * The workloads.json count of training FLOPs per (real) token: 6·G·(E·H + H·H), forward and backward
 * of the recurrent part (with one-hot input the E·H product is a gather and is not counted); a
 * language model adds its output layer, 6·V·H for the full softmax (logits, dWya and dh: three
 * products of 2·V·H), else the head's own count (headFlopsPerToken).
 */
export function flopsPerToken(w: Workload, input: 'embedding' | 'onehot', cell = 'rnn', head: BenchHead = 'full', shares: number[] = []): number {
  const G = GATES[cell] ?? 1;
  return 6 * G * ((input === 'onehot' ? 0 : w.E * w.H) + w.H * w.H) + (w.task === 'lm' ? headFlopsPerToken(w, head, input, shares) : 0);
}

/** FLOP per cycle per core assumed: Zen 5 AVX-512, 2 FMA pipes × 16 float32 lanes × 2 FLOP per FMA. */
export const FLOP_PER_CYCLE = 2 * 16 * 2;

export interface Peak {
  mhz: number;
  gflopsPerCore: number;
  /** One line saying what is assumed and where the clock comes from. */
  assumption: string;
  /** The CPU's model name (os.cpus()). */
  cpu?: string;
  /** Measured: each FMA loop native/peak.cc ran (vector level, independent accumulators, GFLOP/s). */
  runs?: PeakRun[];
}

export interface PeakRun { isa: string; accumulators: number; gflops: number }

interface PeakAddon { fmaPeak(seconds: number): { gflops: number; isa: string; accumulators: number; runs: PeakRun[] } }

/** The CPU model name, as Node reports it. */
export function cpuModel(): string {
  return cpus()[0]?.model?.trim() || 'unknown CPU';
}

/** The peak addon (native/peak.cc, built beside the kernels), or null where it was not built. */
export function peakAddon(): PeakAddon | null {
  const addon = nativeAddonPath()?.replace(/rnn_kernels\.node$/, 'rnn_peak.node');
  if (!addon || !existsSync(addon)) return null;
  try {
    return createRequire(import.meta.url)(addon) as PeakAddon;
  } catch {
    return null;
  }
}

/**
 * The float32 peak of one core, measured where the native addon was built (native/peak.cc:
 * register-only FMA loops at each vector level with 1 to 16 independent accumulators, in thread
 * CPU time, so it holds on a shared host; the best of them); else assumed from the datasheet
 * (assumedPeak). `seconds`: the measurement's budget, spread over the loops.
 */
export function corePeak(seconds = 0.5): Peak {
  const cpu = cpuModel();
  const addon = peakAddon();
  if (addon) {
    try {
      const r = addon.fmaPeak(seconds);
      if (r.gflops > 0) {
        const by = (isa: string) => r.runs.filter((x) => x.isa === isa).map((x) => `${x.accumulators}: ${x.gflops.toFixed(0)}`).join(', ');
        const levels = [...new Set(r.runs.map((x) => x.isa))].map((isa) => `${isa} ${by(isa)}`).join('; ');
        return {
          mhz: NaN, gflopsPerCore: r.gflops, cpu, runs: r.runs,
          assumption: `peak per core: ${r.gflops.toFixed(1)} GFLOP/s, measured on ${cpu} (register-only ${r.isa} FMA loop, ${r.accumulators} independent accumulators, native/peak.cc; `
            + `GFLOP/s by accumulators: ${levels}; the datasheet's ${FLOP_PER_CYCLE} FLOP/cycle x clock would be ${assumedPeak().gflopsPerCore.toFixed(0)})`,
        };
      }
    } catch { /* fall back to the assumption */ }
  }
  return { ...assumedPeak(), cpu };
}

/** The float32 peak of one core: 64 FLOP/cycle × the clock /proc/cpuinfo reports ("cpu MHz", mean over cores). */
export function assumedPeak(cpuinfo?: string): Peak {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = '';
    }
  }
  const mhzs = [...text.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1])).filter((x) => x > 0);
  const model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim();
  if (mhzs.length === 0) {
    return { mhz: NaN, gflopsPerCore: NaN, assumption: 'peak: unknown (no "cpu MHz" in /proc/cpuinfo); share of peak not shown' };
  }
  const mhz = mhzs.reduce((a, b) => a + b, 0) / mhzs.length;
  const gflopsPerCore = (FLOP_PER_CYCLE * mhz) / 1000;
  return {
    mhz,
    gflopsPerCore,
    assumption: `peak assumed per core: Zen 5 AVX-512, 2 FMA pipes x 16 float32 lanes x 2 = ${FLOP_PER_CYCLE} FLOP/cycle`
      + ` x ${mhz.toFixed(0)} MHz ("cpu MHz" in /proc/cpuinfo${model ? `, ${model}` : ''}) = ${gflopsPerCore.toFixed(1)} GFLOP/s`,
  };
}
