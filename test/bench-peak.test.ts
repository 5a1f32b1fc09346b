// The core peak the bench compares with (native/peak.cc through src/bench/flops.ts): FMA loops at
// each vector level with 1 to 16 independent accumulators. One accumulator is bound by the FMA
// latency, so 8 or more must reach at least twice its rate (and at least the rate of 4); the peak
// is the best of all the loops; the bench's line names the CPU and the loop. Where the addon was
// not built, the datasheet assumption is used instead (and said).

import t from 'tap';
import { corePeak, cpuModel, peakAddon } from '../src/bench/flops.js';

const addon = peakAddon();
if (!addon) {
  t.comment('native/peak.cc not built here: the bench assumes the peak');
  t.match(corePeak().assumption, /peak (assumed|: unknown)/, 'the assumption is said');
} else {
  t.test('more independent accumulators give at least the rate of fewer; the peak is the best loop', async (t) => {
    const r = addon.fmaPeak(0.3);
    t.ok(r.runs.length >= 5, `${r.runs.length} loops ran`);
    for (const isa of new Set(r.runs.map((x) => x.isa))) {
      const at = (n: number) => r.runs.find((x) => x.isa === isa && x.accumulators === n)!.gflops;
      const many = Math.max(...r.runs.filter((x) => x.isa === isa && x.accumulators >= 8).map((x) => x.gflops));
      t.comment(`${isa}: ${r.runs.filter((x) => x.isa === isa).map((x) => `${x.accumulators} accumulators ${x.gflops.toFixed(1)}`).join(', ')} GFLOP/s`);
      t.ok(many >= 2 * at(1), `${isa}: 8+ accumulators ${many.toFixed(1)} ≥ 2 × 1 accumulator ${at(1).toFixed(1)} GFLOP/s`);
      t.ok(many >= at(4), `${isa}: 8+ accumulators ≥ 4 (${at(4).toFixed(1)} GFLOP/s)`);
    }
    t.equal(r.gflops, Math.max(...r.runs.map((x) => x.gflops)), 'the peak is the best of the loops');
    t.ok(r.runs.some((x) => x.isa === r.isa && x.accumulators === r.accumulators && x.gflops === r.gflops), 'and says which loop it was');
  });

  t.test("the bench's peak line: measured, with the CPU model and the loop", async (t) => {
    const p = corePeak(0.2);
    t.ok(p.gflopsPerCore > 0, `${p.gflopsPerCore.toFixed(1)} GFLOP/s`);
    t.equal(p.cpu, cpuModel());
    t.ok(p.assumption.includes(`measured on ${cpuModel()} (`), p.assumption);
    t.match(p.assumption, /\d+ independent accumulators/);
  });
}
