// The compiled backends' exp, tanh and σ (native/vmath.h, vmathWat in src/model/backend/wasm-gen.mjs)
// written a third time, in JavaScript, one float32 operation at a time (Math.fround after each): the
// kernels must give these bits exactly, and these functions are measured against float64 over dense
// grids. The constants are imported from the generator, so the three share one source of numbers.

import { VMATH } from '../../src/model/backend/wasm-gen.mjs';

const f = Math.fround;
const buf = new ArrayBuffer(4), F = new Float32Array(buf), U = new Uint32Array(buf);
const bitsOf = (x: number) => { F[0] = x; return U[0]; };
const fromBits = (u: number) => { U[0] = u >>> 0; return F[0]; };
const C = VMATH;

// x86's minps/maxps and wasm's pmin/pmax with the constant first: a NaN x comes through.
const minC = (c: number, x: number) => (c < x ? c : x);
const maxC = (c: number, x: number) => (c > x ? c : x);

/** The shared range reduction: x = n·ln2 + r, |r| ≤ ln2/2; returns 2^n and u = e^r − 1. */
function expCore(x: number): { scale: number; u: number } {
  const xc = minC(C.EXP_MAX, maxC(C.EXP_MIN, x));
  const s = f(f(xc * C.LOG2E) + C.MAGIC);
  const n = f(s - C.MAGIC);
  let r = f(xc - f(n * C.LN2_HI));
  r = f(r - f(n * C.LN2_LO));
  let p = C.EXP_P[0];
  for (let i = 1; i < C.EXP_P.length; i++) p = f(f(p * r) + C.EXP_P[i]);
  const u = f(f(p * f(r * r)) + r);
  return { scale: fromBits((bitsOf(s) << 23) >>> 0), u };
}

/** e^x; 0 below EXP_MIN (where e^x is below the smallest normal float), e^EXP_MAX above EXP_MAX. */
export function exp32(x: number): number {
  const { scale, u } = expCore(x);
  const y = f(f(u + 1) * scale);
  return x < C.EXP_MIN ? 0 : y;
}

/** tanh x = −expm1(−2|x|) / (2 + expm1(−2|x|)), with the sign of x. */
export function tanh32(x: number): number {
  const a = Math.abs(x);
  const { scale, u } = expCore(f(a * -2));
  const em = f(f(u * scale) + f(scale - 1)); // e^{−2|x|} − 1, accurate near 0
  const t = f(em / f(em + 2)); // −tanh|x| (or +0)
  return fromBits((bitsOf(t) & 0x7fffffff) | (bitsOf(x) & 0x80000000));
}

/** σ(x) = 1/(1 + e^{−|x|}) for x ≥ 0, e^{−|x|}/(1 + e^{−|x|}) for x < 0 (the sign bit set). */
export function sigmoid32(x: number): number {
  const e = exp32(-Math.abs(x));
  const num = bitsOf(x) & 0x80000000 ? e : 1;
  return f(num / f(1 + e));
}
