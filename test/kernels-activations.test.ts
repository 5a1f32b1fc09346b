// exp, tanh and σ of the compiled kernels (native/vmath.h; vmathWat in wasm-gen.mjs). First the
// algorithm, through its float32 emulation (test/helpers/activations.ts), against float64 over a
// dense grid of float32 inputs (every 1021st float32 from 1e-30 to 110, both signs): exp ≤ 1 ulp, tanh
// and σ ≤ 3 ulp (≤ 2e-7 relative) wherever the result is a normal float. Then every compiled
// backend and level here gives exactly the emulation's bits: the tanh kernel, and σ and tanh as
// lstmForward applies them to its gates (so native = wasm, bit for bit).

import t from 'tap';
import { exp32, tanh32, sigmoid32 } from './helpers/activations.js';
import { nativeFactory, nativeIsas } from '../src/model/backend/native.js';
import { wasmFactory, relaxedSimdSupported } from '../src/model/backend/wasm.js';
import type { RawKernels } from '../src/model/backend/raw.js';
import { VMATH } from '../src/model/backend/wasm-gen.mjs';

const f = Math.fround;
const F = new Float32Array(1), U = new Uint32Array(F.buffer);
const FLT_MIN = 2 ** -126;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
/** The gap between |y| (rounded to float32) and the next float32 up. */
function ulp(y: number): number {
  F[0] = Math.abs(y);
  const a = F[0];
  U[0]++;
  return F[0] - a;
}

/** Every `stride`-th float32 of magnitude lo..hi, with both signs. */
function grid(lo: number, hi: number, stride: number): Float32Array {
  F[0] = lo;
  const b0 = U[0];
  F[0] = hi;
  const n = Math.floor((U[0] - b0) / stride) + 1;
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    U[0] = b0 + i * stride;
    out[2 * i] = F[0];
    out[2 * i + 1] = -F[0];
  }
  return out;
}
const xs = grid(1e-30, 110, 1021);

/** The worst error in ulp and relative (over normal results) and absolute (over subnormal ones). */
function worst(fn: (x: number) => number, ref: (x: number) => number, keep: (x: number) => boolean = () => true) {
  let ulps = 0, rel = 0, abs = 0, at = 0;
  for (const x of xs) {
    if (!keep(x)) continue;
    const y = fn(x), r = ref(x);
    if (Math.abs(r) < FLT_MIN) { abs = Math.max(abs, Math.abs(y - r)); continue; }
    const e = Math.abs(y - r) / ulp(r);
    if (e > ulps) { ulps = e; at = x; }
    rel = Math.max(rel, Math.abs(y - r) / Math.abs(r));
  }
  return { ulps, rel, abs, at };
}

t.test(`the algorithm in float32 against float64, ${xs.length} inputs`, async (t) => {
  const e = worst(exp32, Math.exp, (x) => x <= VMATH.EXP_MAX);
  t.ok(e.ulps <= 1, `exp: max ${e.ulps.toFixed(2)} ulp (at ${e.at}) up to ${VMATH.EXP_MAX}`);
  t.ok(e.abs <= FLT_MIN, `exp: ≤ FLT_MIN where e^x is subnormal or 0 (${e.abs.toExponential(2)})`);
  t.equal(exp32(100), exp32(VMATH.EXP_MAX), 'exp saturates above EXP_MAX');
  const th = worst(tanh32, Math.tanh);
  t.ok(th.ulps <= 3 && th.rel <= 2e-7, `tanh: max ${th.ulps.toFixed(2)} ulp (at ${th.at}), relative ${th.rel.toExponential(2)}`);
  const s = worst(sigmoid32, sigmoid);
  t.ok(s.ulps <= 3 && s.rel <= 2e-7, `σ: max ${s.ulps.toFixed(2)} ulp (at ${s.at}), relative ${s.rel.toExponential(2)} (down to σ = FLT_MIN, x ≈ −87.3)`);
  t.ok(s.abs <= FLT_MIN, `σ: ≤ FLT_MIN below (${s.abs.toExponential(2)})`);
  let odd = true, bounded = true;
  for (const x of xs) {
    odd &&= Object.is(tanh32(-x), -tanh32(x));
    bounded &&= Math.abs(tanh32(x)) <= 1 && sigmoid32(x) >= 0 && sigmoid32(x) <= 1;
  }
  t.ok(odd, 'tanh is odd, bit for bit');
  t.ok(bounded, '|tanh| ≤ 1, 0 ≤ σ ≤ 1');
  t.same([tanh32(0), tanh32(-0), tanh32(Infinity), tanh32(-Infinity)], [0, -0, 1, -1], 'tanh(±0) = ±0, tanh(±∞) = ±1');
  t.same([sigmoid32(0), sigmoid32(Infinity), sigmoid32(-Infinity), exp32(-Infinity), exp32(0)], [0.5, 1, 0, 0, 1], 'σ(0), σ(±∞), e^−∞, e^0');
  t.ok([tanh32(NaN), sigmoid32(NaN), exp32(NaN)].every(Number.isNaN), 'NaN → NaN');
});

// The compiled kernels on the grid (and specials), in chunks of one lstmForward row.
const specials = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, VMATH.EXP_MIN, -VMATH.EXP_MIN, 9.01, -9.01, 87.5, -87.5, 0.34657359, -0.17328679];
const inputs = Float32Array.from([...specials, ...xs]);
const H = 4099; // a vector body and a tail at every width

function check(t: { equal(a: unknown, b: unknown, msg: string): unknown }, name: string, memory: WebAssembly.Memory, k: RawKernels) {
  const f32 = new Float32Array(memory.buffer as unknown as ArrayBuffer);
  const base = 1 << 20; // bytes: clear of the scratch
  const g = base, c = g + 16 * H, h = c + 4 * H, cp = h + 4 * H, tx = cp + 4 * H;
  let tanhBad = 0, sigBad = 0, gateTanhBad = 0, first = '';
  for (let s = 0; s < inputs.length; s += H) {
    const n = Math.min(H, inputs.length - s), x = inputs.subarray(s, s + n);
    f32.fill(0, g / 4, tx / 4 + H);
    f32.set(x, tx / 4);
    k.tanh(tx, n);
    for (let i = 0; i < 4; i++) f32.set(x, g / 4 + i * H); // gates i, f, g, o all = x
    k.lstmForward(g, cp, c, h, 1, H);
    for (let j = 0; j < n; j++) {
      const want = tanh32(x[j]), sw = sigmoid32(x[j]);
      if (!Object.is(f32[tx / 4 + j], want)) { tanhBad++; first ||= `tanh(${x[j]}) = ${f32[tx / 4 + j]}, want ${want}`; }
      if (!Object.is(f32[g / 4 + j], sw) || !Object.is(f32[g / 4 + H + j], sw) || !Object.is(f32[g / 4 + 3 * H + j], sw)) {
        sigBad++; first ||= `σ(${x[j]}) = ${f32[g / 4 + j]}, want ${sw}`;
      }
      if (!Object.is(f32[g / 4 + 2 * H + j], want)) gateTanhBad++;
    }
  }
  t.equal(tanhBad, 0, `${name}: tanh kernel = the emulation on ${inputs.length} inputs${first ? ` (${first})` : ''}`);
  t.equal(sigBad, 0, `${name}: σ of lstmForward = the emulation`);
  t.equal(gateTanhBad, 0, `${name}: tanh of lstmForward = the emulation`);
}

for (const isa of nativeIsas()) {
  t.test(`native/${isa}: the emulation's bits`, async (t) => {
    const fct = nativeFactory(isa);
    if ('error' in fct) { t.pass(`not available here: ${fct.error}`); return; }
    const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
    check(t, `native/${isa}`, memory, fct.create(memory, 0));
  });
}
for (const isa of ['simd128', 'relaxed-simd128'] as const) {
  t.test(`wasm/${isa}: the emulation's bits`, { skip: isa === 'relaxed-simd128' && !relaxedSimdSupported() ? 'relaxed SIMD does not validate on this engine' : false }, async (t) => {
    const fct = wasmFactory(isa);
    const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
    check(t, `wasm/${isa}`, memory, fct.create(memory, 64));
  });
}
