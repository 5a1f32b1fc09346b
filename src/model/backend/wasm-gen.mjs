// Generator of the `wasm` backend's kernels (the RawKernels contract of raw.ts) as WebAssembly
// text, run by src/build.mjs at build time: the register-blocked sgemm micro-kernel is unrolled
// here rather than by hand. Two binaries come out of one text: `simd128` (f32x4.mul + f32x4.add)
// and `relaxed` (f32x4.relaxed_madd in the micro-kernel only; everything else is the same code).
//
// sgemm is BLIS-style: for each KC block of K, B is packed into NR-column panels and A into
// MR-row panels (k-major, zero-padded tails), and one MR×NR micro-kernel computes every tile.
// Each C element is therefore summed as acc = acc + a·b over k in order from 0 within each KC
// block, then C = (first block and beta = 0 ? 0 : C) + acc, then + bias and tanh after the last
// block: the same operations in the same order wherever the element sits. Edge tiles run the same
// micro-kernel on a scratch tile and copy the valid part back. gemmPacked reads B packed by packB
// (the same panel layout, stride K·NR instead of KC·NR), so it gives gemm's bits.
//
// The micro-kernel is XNNPACK's "loadsplat" design: per k, NR/4 vectors of B and one
// v128.load32_splat of A per row (vbroadcastss from memory on x64: a load, no shuffle port).
// 4×8 because V8's TurboFan (Node 20) issues every load of a loop body at its top: 8
// accumulators + 2 B + 4 splats + 1 product = 15 of x64's 16 xmm registers (V8 keeps xmm15 as
// scratch), and no unrolling (KU = 1), which would hoist the next step's loads too and spill.
// Bigger tiles (6×8, 5×8, 3×16, 4×12) or KU > 1 spill and measured 1.5-3x slower on Node 20.

/** Micro-kernel and blocking parameters (bytes of scratch follow from them). */
export const PARAMS = { MR: 4, NR: 8, KU: 1, KC: 256, MC: 120, NC: 512 };

const round64 = (n) => Math.ceil(n / 64) * 64;

/** Scratch layout of one instance: packed A block, packed B block, an edge tile, a padded bias row. */
export function scratchLayout(p = PARAMS) {
  const packA = 0;
  const packB = packA + round64(p.MC * p.KC * 4);
  const tile = packB + round64(p.KC * p.NC * 4);
  const bias = tile + round64(p.MR * p.NR * 4);
  const bytes = bias + round64(p.NR * 4);
  return { packA, packB, tile, bias, bytes };
}

const f32 = (x) => Math.fround(x);

// exp, tanh and σ of the gate kernels and of the tanh epilogue, the same algorithm, constants and
// operation order as native/vmath.h (so wasm and native give the same bits) and as the float32
// emulation in test/helpers/activations.ts. No fused multiply-add anywhere (one rounding per
// operation, in both binaries). exp: x clamped to [EXP_MIN, EXP_MAX]; n = round(x·log2 e) by the
// magic-number addition (the sum's low bits hold n + 127, so 2^n is those bits shifted left by 23);
// r = x − n·ln2 in two parts (Cody-Waite: n·LN2_HI is exact); e^r − 1 = r + r²·P(r) (Cephes'
// expf polynomial); 0 for x < EXP_MIN, where e^x is below the smallest normal float.
export const VMATH = {
  LOG2E: 1.44269504088896341, MAGIC: 12583039, // 0x1.8000FEp23 = 1.5·2^23 + 127
  LN2_HI: 0.693359375, LN2_LO: -2.12194440e-4,
  EXP_MIN: -87.33654475, EXP_MAX: 88.37, // 2^-126 and just under 2^127.5
  EXP_P: [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1],
};
for (const [k, v] of Object.entries(VMATH)) VMATH[k] = Array.isArray(v) ? v.map(Math.fround) : Math.fround(v);

const vconst = (x) => `(v128.const f32x4 ${f32(x)} ${f32(x)} ${f32(x)} ${f32(x)})`;
const get = (n) => `(local.get $${n})`;

// The WAT of exp, tanh and σ: statements (`pre`) and an expression (`value`) on the v128 expression
// `x`, with the locals VMATH_LOCALS (reused from one call to the next: `x` may not read them).
// Every step is one f32x4 operation of native/vmath.h's, in its order. pmin/pmax (minps/maxps on
// x64) with the constant second are native's min/max with the constant first: a NaN comes through.
const SIGN = '(v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)';
export const VMATH_LOCALS = ['ea', 'ex', 'es', 'en', 'er', 'eu', 'sx', 'em'].map((n) => `(local $${n} v128)`).join(' ');

/** vexpCore: sets $eu = e^r − 1 and $en = 2^n; returns [pre, 2^n]. */
function expCoreWat(x) {
  const { LOG2E, MAGIC, LN2_HI, LN2_LO, EXP_MIN, EXP_MAX, EXP_P } = VMATH;
  const r = get('er');
  let p = vconst(EXP_P[0]);
  for (const c of EXP_P.slice(1)) p = `(f32x4.add (f32x4.mul ${p} ${r}) ${vconst(c)})`;
  const pre = `(local.set $ex (f32x4.pmin (f32x4.pmax ${x} ${vconst(EXP_MIN)}) ${vconst(EXP_MAX)}))
    (local.set $es (f32x4.add (f32x4.mul ${get('ex')} ${vconst(LOG2E)}) ${vconst(MAGIC)}))
    (local.set $en (f32x4.sub ${get('es')} ${vconst(MAGIC)}))
    (local.set $er (f32x4.sub ${get('ex')} (f32x4.mul ${get('en')} ${vconst(LN2_HI)})))
    (local.set $er (f32x4.sub ${r} (f32x4.mul ${get('en')} ${vconst(LN2_LO)})))
    (local.set $eu (f32x4.add (f32x4.mul ${p} (f32x4.mul ${r} ${r})) ${r}))
    (local.set $en (i32x4.shl ${get('es')} (i32.const 23)))\n`;
  return [pre, get('en')];
}

/** e^x (vexp of native/vmath.h): 0 below EXP_MIN, e^EXP_MAX above EXP_MAX. For a softmax too. */
export function expV(x) {
  const [pre, scale] = expCoreWat(get('ea'));
  return {
    pre: `(local.set $ea ${x})\n${pre}`,
    value: `(v128.andnot (f32x4.mul (f32x4.add ${get('eu')} ${vconst(1)}) ${scale}) (f32x4.lt ${get('ea')} ${vconst(VMATH.EXP_MIN)}))`,
  };
}

/** tanh x = −m / (2 + m), m = e^{−2|x|} − 1, with the sign of x (tanh_v of native/vmath.h). */
function tanhV(x) {
  const [pre, scale] = expCoreWat(`(f32x4.mul (f32x4.abs ${get('sx')}) ${vconst(-2)})`);
  return {
    pre: `(local.set $sx ${x})\n${pre}(local.set $em (f32x4.add (f32x4.mul ${get('eu')} ${scale}) (f32x4.sub ${scale} ${vconst(1)})))\n`,
    value: `(v128.bitselect ${get('sx')} (f32x4.div ${get('em')} (f32x4.add ${get('em')} ${vconst(2)})) ${SIGN})`,
  };
}

/** σ(x) = (x < 0 ? e : 1) / (1 + e), e = e^{−|x|} (sigmoid_v of native/vmath.h). */
function sigmoidV(x) {
  const e = expV(`(f32x4.mul (f32x4.abs ${get('sx')}) ${vconst(-1)})`);
  return {
    pre: `(local.set $sx ${x})\n${e.pre}(local.set $em ${e.value})\n`,
    value: `(f32x4.div (v128.bitselect ${get('em')} ${vconst(1)} (i32x4.shr_s ${get('sx')} (i32.const 31))) (f32x4.add ${vconst(1)} ${get('em')}))`,
  };
}

/** A counted loop: `body` runs while the i32 local `i` < `end` (unsigned), stepping by `step`. */
function forLoop(label, i, end, step, body) {
  return `(block $${label}_done (loop $${label}
    (br_if $${label}_done (i32.ge_u ${get(i)} ${end}))
    ${body}
    (local.set $${i} (i32.add ${get(i)} ${step}))
    (br $${label})))`;
}

/** The MR×NR micro-kernel: C tile at c (row stride ldcb bytes) from kc steps of packed A (pa) and B (pb). */
function microKernel(p, relaxed) {
  const { MR, NR, KU } = p;
  const NV = NR / 4;
  const acc = (r, j) => `c${r}_${j}`;
  const locals = [];
  for (let r = 0; r < MR; r++) for (let j = 0; j < NV; j++) locals.push(`(local $${acc(r, j)} v128)`);
  for (let j = 0; j < NV; j++) locals.push(`(local $b${j} v128)`);
  const madd = (a, b, c) => relaxed ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add ${c} (f32x4.mul ${a} ${b}))`;
  // one k step at byte offsets (aOff, bOff) from pa, pb
  const step = (aOff, bOff) => {
    let s = '';
    for (let j = 0; j < NV; j++) s += `(local.set $b${j} (v128.load offset=${bOff + 16 * j} align=4 ${get('pb')}))\n`;
    for (let r = 0; r < MR; r++) {
      s += `(local.set $a (v128.load32_splat offset=${aOff + 4 * r} align=4 ${get('pa')}))\n`;
      for (let j = 0; j < NV; j++) s += `(local.set $${acc(r, j)} ${madd(get('a'), get(`b${j}`), get(acc(r, j)))})\n`;
    }
    return s;
  };
  let unrolled = '';
  for (let u = 0; u < KU; u++) unrolled += step(u * MR * 4, u * NR * 4);
  // epilogue: + C (flags & 1), + bias (flags & 2), store, tanh in place (flags & 4)
  let addC = '', addBias = '', store = '', tanh = '';
  for (let r = 0; r < MR; r++) {
    for (let j = 0; j < NV; j++) {
      addC += `(local.set $${acc(r, j)} (f32x4.add (v128.load offset=${16 * j} align=4 ${get('cr')}) ${get(acc(r, j))}))\n`;
      addBias += `(local.set $${acc(r, j)} (f32x4.add ${get(acc(r, j))} ${get(`b${j}`)}))\n`;
      store += `(v128.store offset=${16 * j} align=4 ${get('cr')} ${get(acc(r, j))})\n`;
      const t = tanhV(`(v128.load offset=${16 * j} align=4 ${get('cr')})`);
      tanh += t.pre + `(v128.store offset=${16 * j} align=4 ${get('cr')} ${t.value})\n`;
    }
    const next = `(local.set $cr (i32.add ${get('cr')} ${get('ldcb')}))\n`;
    if (r < MR - 1) { addC += next; store += next; tanh += next; }
  }
  let loadBias = '';
  for (let j = 0; j < NV; j++) loadBias += `(local.set $b${j} (v128.load offset=${16 * j} align=4 ${get('bias')}))\n`;
  return `
  (func $micro (param $kc i32) (param $pa i32) (param $pb i32) (param $c i32) (param $ldcb i32) (param $flags i32) (param $bias i32)
    (local $paEnd i32) (local $cr i32) (local $a v128) ${locals.join(' ')} ${VMATH_LOCALS}
    (local.set $paEnd (i32.add ${get('pa')} (i32.mul ${get('kc')} (i32.const ${MR * 4}))))
    ${KU > 1 ? `(block $main_done
      (br_if $main_done (i32.lt_u (i32.sub ${get('paEnd')} ${get('pa')}) (i32.const ${KU * MR * 4})))
      (loop $main
        ${unrolled}
        (local.set $pa (i32.add ${get('pa')} (i32.const ${KU * MR * 4})))
        (local.set $pb (i32.add ${get('pb')} (i32.const ${KU * NR * 4})))
        (br_if $main (i32.ge_u (i32.sub ${get('paEnd')} ${get('pa')}) (i32.const ${KU * MR * 4})))))` : ''}
    (block $rest_done
      (br_if $rest_done (i32.eq ${get('pa')} ${get('paEnd')}))
      (loop $rest
        ${step(0, 0)}
        (local.set $pb (i32.add ${get('pb')} (i32.const ${NR * 4})))
        (br_if $rest (i32.ne (local.tee $pa (i32.add ${get('pa')} (i32.const ${MR * 4}))) ${get('paEnd')}))))
    (if (i32.and ${get('flags')} (i32.const 1)) (then
      (local.set $cr ${get('c')})
      ${addC}))
    (if (i32.and ${get('flags')} (i32.const 2)) (then
      ${loadBias}
      ${addBias}))
    (local.set $cr ${get('c')})
    ${store}
    (if (i32.and ${get('flags')} (i32.const 4)) (then
      (local.set $cr ${get('c')})
      ${tanh}))
  )`;
}

/** Pack A (mc × kc, strides rsA/csA in elements) at a into MR-row panels at dst: dst[(panel·kc + k)·MR + r]. */
function packA(p) {
  const { MR } = p;
  // rsA = 1 (A is a transposed row-major matrix: the weight gradients): MR contiguous floats per k
  let copyCol = '';
  for (let r = 0; r + 4 <= MR; r += 4) copyCol += `(v128.store offset=${4 * r} align=4 ${get('d')} (v128.load offset=${4 * r} align=4 ${get('s')}))\n`;
  for (let r = MR - (MR % 4); r < MR; r++) copyCol += `(f32.store offset=${4 * r} ${get('d')} (f32.load offset=${4 * r} ${get('s')}))\n`;
  // csA = 1 (A row-major: activations): MR row pointers walk along k
  let rowPtrs = '', copyRows = '', rowLocals = '';
  for (let r = 0; r < MR; r++) {
    rowLocals += `(local $p${r} i32) `;
    rowPtrs += `(local.set $p${r} (i32.add ${get('s')} (i32.mul (i32.const ${r}) ${get('rsb')})))\n`;
    copyRows += `(f32.store offset=${4 * r} ${get('d')} (f32.load (i32.add ${get(`p${r}`)} ${get('kb')})))\n`;
  }
  // MR = 4, csA = 1: 4 rows × 4 k loaded as vectors, transposed (unpcklps/unpckhps/movlhps/movhlps)
  const shuf = (x, y, lanes) => `(i8x16.shuffle ${lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]).join(' ')} ${x} ${y})`;
  const transpose4 = `
            (local.set $k4 (i32.and ${get('kc')} (i32.const -4)))
            ${forLoop('t4', 'k', get('k4'), '(i32.const 4)', `
              (local.set $r0 (v128.load align=4 (i32.add ${get('p0')} ${get('kb')})))
              (local.set $r1 (v128.load align=4 (i32.add ${get('p1')} ${get('kb')})))
              (local.set $r2 (v128.load align=4 (i32.add ${get('p2')} ${get('kb')})))
              (local.set $r3 (v128.load align=4 (i32.add ${get('p3')} ${get('kb')})))
              (local.set $t0 ${shuf(get('r0'), get('r1'), [0, 4, 1, 5])})
              (local.set $t1 ${shuf(get('r2'), get('r3'), [0, 4, 1, 5])})
              (local.set $t2 ${shuf(get('r0'), get('r1'), [2, 6, 3, 7])})
              (local.set $t3 ${shuf(get('r2'), get('r3'), [2, 6, 3, 7])})
              (v128.store offset=0 align=4 ${get('d')} ${shuf(get('t0'), get('t1'), [0, 1, 4, 5])})
              (v128.store offset=16 align=4 ${get('d')} ${shuf(get('t0'), get('t1'), [2, 3, 6, 7])})
              (v128.store offset=32 align=4 ${get('d')} ${shuf(get('t2'), get('t3'), [0, 1, 4, 5])})
              (v128.store offset=48 align=4 ${get('d')} ${shuf(get('t2'), get('t3'), [2, 3, 6, 7])})
              (local.set $kb (i32.add ${get('kb')} (i32.const 16)))
              (local.set $d (i32.add ${get('d')} (i32.const 64)))`)}`;
  return `
  (func $packA (param $dst i32) (param $a i32) (param $rsA i32) (param $csA i32) (param $mc i32) (param $kc i32)
    (local $i0 i32) (local $mr i32) (local $d i32) (local $s i32) (local $k i32) (local $kb i32) (local $r i32)
    (local $rsb i32) (local $csb i32) (local $k4 i32) ${rowLocals}
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rsb (i32.shl ${get('rsA')} (i32.const 2)))
    (local.set $csb (i32.shl ${get('csA')} (i32.const 2)))
    (local.set $d ${get('dst')})
    ${forLoop('panels', 'i0', get('mc'), `(i32.const ${MR})`, `
      (local.set $mr (i32.sub ${get('mc')} ${get('i0')}))
      (local.set $s (i32.add ${get('a')} (i32.mul ${get('i0')} ${get('rsb')})))
      (if (i32.and (i32.ge_u ${get('mr')} (i32.const ${MR})) (i32.eq ${get('rsA')} (i32.const 1)))
        (then
          (local.set $k (i32.const 0))
          ${forLoop('cols', 'k', get('kc'), '(i32.const 1)', `
            ${copyCol}
            (local.set $s (i32.add ${get('s')} ${get('csb')}))
            (local.set $d (i32.add ${get('d')} (i32.const ${MR * 4})))`)})
        (else (if (i32.and (i32.ge_u ${get('mr')} (i32.const ${MR})) (i32.eq ${get('csA')} (i32.const 1)))
          (then
            ${rowPtrs}
            (local.set $kb (i32.const 0))
            (local.set $k (i32.const 0))
            ${MR === 4 ? transpose4 : ''}
            ${forLoop('rows', 'k', get('kc'), '(i32.const 1)', `
              ${copyRows}
              (local.set $kb (i32.add ${get('kb')} (i32.const 4)))
              (local.set $d (i32.add ${get('d')} (i32.const ${MR * 4})))`)})
          (else
            ;; general strides or the zero-padded last panel
            (local.set $k (i32.const 0))
            ${forLoop('gk', 'k', get('kc'), '(i32.const 1)', `
              (local.set $r (i32.const 0))
              ${forLoop('gr', 'r', `(i32.const ${MR})`, '(i32.const 1)', `
                (f32.store ${get('d')} (if (result f32) (i32.lt_u ${get('r')} ${get('mr')})
                  (then (f32.load (i32.add ${get('s')} (i32.add (i32.mul ${get('r')} ${get('rsb')}) (i32.mul ${get('k')} ${get('csb')})))))
                  (else (f32.const 0))))
                (local.set $d (i32.add ${get('d')} (i32.const 4)))`)}`)}))))`)}
  )`;
}

/** Pack B (kc × nc, strides rsB/csB) at b into NR-column panels at dst, `stride` bytes apart: panel[k·NR + c]. */
function packB(p) {
  const { NR } = p;
  let copyRow = '';
  for (let j = 0; j < NR / 4; j++) copyRow += `(v128.store offset=${16 * j} align=4 ${get('d')} (v128.load offset=${16 * j} align=4 ${get('s')}))\n`;
  return `
  (func $packB (param $dst i32) (param $b i32) (param $rsB i32) (param $csB i32) (param $kc i32) (param $nc i32) (param $stride i32)
    (local $j0 i32) (local $nr i32) (local $d i32) (local $s i32) (local $k i32) (local $c i32) (local $rsb i32) (local $csb i32) (local $s2 i32) (local $d2 i32)
    (local.set $rsb (i32.shl ${get('rsB')} (i32.const 2)))
    (local.set $csb (i32.shl ${get('csB')} (i32.const 2)))
    ${forLoop('panels', 'j0', get('nc'), `(i32.const ${NR})`, `
      (local.set $nr (i32.sub ${get('nc')} ${get('j0')}))
      (local.set $d (i32.add ${get('dst')} (i32.mul (i32.div_u ${get('j0')} (i32.const ${NR})) ${get('stride')})))
      (local.set $s (i32.add ${get('b')} (i32.mul ${get('j0')} ${get('csb')})))
      (local.set $k (i32.const 0))
      (if (i32.and (i32.ge_u ${get('nr')} (i32.const ${NR})) (i32.eq ${get('csB')} (i32.const 1)))
        (then
          ${forLoop('rows', 'k', get('kc'), '(i32.const 1)', `
            ${copyRow}
            (local.set $s (i32.add ${get('s')} ${get('rsb')}))
            (local.set $d (i32.add ${get('d')} (i32.const ${NR * 4})))`)})
        (else (if (i32.and (i32.ge_u ${get('nr')} (i32.const ${NR})) (i32.eq ${get('rsB')} (i32.const 1)))
        (then
          ;; rsB = 1 (B stored transposed): each column runs along k
          (local.set $c (i32.const 0))
          ${forLoop('tc', 'c', `(i32.const ${NR})`, '(i32.const 1)', `
            (local.set $s2 (i32.add ${get('s')} (i32.mul ${get('c')} ${get('csb')})))
            (local.set $d2 (i32.add ${get('d')} (i32.shl ${get('c')} (i32.const 2))))
            (local.set $k (i32.const 0))
            ${forLoop('tk', 'k', get('kc'), '(i32.const 1)', `
              (f32.store ${get('d2')} (f32.load ${get('s2')}))
              (local.set $s2 (i32.add ${get('s2')} (i32.const 4)))
              (local.set $d2 (i32.add ${get('d2')} (i32.const ${NR * 4})))`)}`)})
        (else
          ${forLoop('gk', 'k', get('kc'), '(i32.const 1)', `
            (local.set $c (i32.const 0))
            ${forLoop('gc', 'c', `(i32.const ${NR})`, '(i32.const 1)', `
              (f32.store ${get('d')} (if (result f32) (i32.lt_u ${get('c')} ${get('nr')})
                (then (f32.load (i32.add ${get('s')} (i32.add (i32.mul ${get('k')} ${get('rsb')}) (i32.mul ${get('c')} ${get('csb')})))))
                (else (f32.const 0))))
              (local.set $d (i32.add ${get('d')} (i32.const 4)))`)}`)}))))`)}
  )`;
}

/** Copy a rows × n float block from src to dst (row strides lds, ldd in bytes). */
const copyBlock = `
  (func $copyBlock (param $dst i32) (param $ldd i32) (param $src i32) (param $lds i32) (param $rows i32) (param $n i32)
    (local $r i32) (local $i i32) (local $nb i32)
    (local.set $nb (i32.shl ${get('n')} (i32.const 2)))
    ${forLoop('r', 'r', get('rows'), '(i32.const 1)', `
      (local.set $i (i32.const 0))
      ${forLoop('i', 'i', get('nb'), '(i32.const 4)', `
        (f32.store (i32.add ${get('dst')} ${get('i')}) (f32.load (i32.add ${get('src')} ${get('i')})))`)}
      (local.set $dst (i32.add ${get('dst')} ${get('ldd')}))
      (local.set $src (i32.add ${get('src')} ${get('lds')}))`)}
  )`;

/** Every tile of an mc × nc block of C from packed A (panels kc·MR apart) and packed B (panels pbStride bytes apart). */
function macroKernel(p, L) {
  const { MR, NR } = p;
  return `
  (func $macro (param $c i32) (param $ldcb i32) (param $pa i32) (param $pb i32) (param $pbStride i32)
    (param $mc i32) (param $nc i32) (param $kc i32) (param $flags i32) (param $bias i32)
    (local $jr i32) (local $ir i32) (local $nr i32) (local $mr i32) (local $pbj i32) (local $pai i32) (local $cij i32)
    (local $biasj i32) (local $paStride i32) (local $tile i32) (local $biasPad i32)
    (local.set $tile (i32.add (global.get $scratch) (i32.const ${L.tile})))
    (local.set $biasPad (i32.add (global.get $scratch) (i32.const ${L.bias})))
    (local.set $paStride (i32.mul ${get('kc')} (i32.const ${MR * 4})))
    (local.set $pbj ${get('pb')})
    ${forLoop('jr', 'jr', get('nc'), `(i32.const ${NR})`, `
      (local.set $nr (i32.sub ${get('nc')} ${get('jr')}))
      (local.set $biasj (i32.add ${get('bias')} (i32.shl ${get('jr')} (i32.const 2))))
      (if (i32.lt_u ${get('nr')} (i32.const ${NR})) (then
        ;; the last column panel: its bias padded with zeros
        (if (i32.and ${get('flags')} (i32.const 2)) (then
          (v128.store (local.get $biasPad) (v128.const i32x4 0 0 0 0))
          ${Array.from({ length: NR / 4 - 1 }, (_, j) => `(v128.store offset=${16 * (j + 1)} (local.get $biasPad) (v128.const i32x4 0 0 0 0))`).join('\n')}
          (call $copyBlock ${get('biasPad')} (i32.const 0) ${get('biasj')} (i32.const 0) (i32.const 1) ${get('nr')})
          (local.set $biasj ${get('biasPad')})))))
      (local.set $pai ${get('pa')})
      (local.set $cij (i32.add ${get('c')} (i32.shl ${get('jr')} (i32.const 2))))
      (local.set $ir (i32.const 0))
      ${forLoop('ir', 'ir', get('mc'), `(i32.const ${MR})`, `
        (local.set $mr (i32.sub ${get('mc')} ${get('ir')}))
        (if (i32.and (i32.ge_u ${get('mr')} (i32.const ${MR})) (i32.ge_u ${get('nr')} (i32.const ${NR})))
          (then (call $micro ${get('kc')} ${get('pai')} ${get('pbj')} ${get('cij')} ${get('ldcb')} ${get('flags')} ${get('biasj')}))
          (else
            ;; an edge tile: the same micro-kernel on a full scratch tile, the valid part copied back
            (local.set $mr (select ${get('mr')} (i32.const ${MR}) (i32.lt_u ${get('mr')} (i32.const ${MR}))))
            (local.set $nr (select ${get('nr')} (i32.const ${NR}) (i32.lt_u ${get('nr')} (i32.const ${NR}))))
            (if (i32.and ${get('flags')} (i32.const 1)) (then
              (call $copyBlock ${get('tile')} (i32.const ${NR * 4}) ${get('cij')} ${get('ldcb')} ${get('mr')} ${get('nr')})))
            (call $micro ${get('kc')} ${get('pai')} ${get('pbj')} ${get('tile')} (i32.const ${NR * 4}) ${get('flags')} ${get('biasj')})
            (call $copyBlock ${get('cij')} ${get('ldcb')} ${get('tile')} (i32.const ${NR * 4}) ${get('mr')} ${get('nr')})
            (local.set $nr (i32.sub ${get('nc')} ${get('jr')}))))
        (local.set $pai (i32.add ${get('pai')} ${get('paStride')}))
        (local.set $cij (i32.add ${get('cij')} (i32.mul ${get('ldcb')} (i32.const ${MR}))))`)}
      (local.set $pbj (i32.add ${get('pbj')} ${get('pbStride')}))`)}
  )`;
}

/** gemm and gemmPacked: the K blocking, the packing, flags for the micro-kernel's epilogue. */
function drivers(p, L) {
  const { NR, KC, MC, NC } = p;
  const flags = `(i32.or (i32.or
          (select (i32.const 1) (i32.const 0) (i32.or (i32.ne ${get('beta')} (i32.const 0)) (i32.ne ${get('pc')} (i32.const 0))))
          (select (i32.const 2) (i32.const 0) (i32.and ${get('last')} (i32.ne ${get('bias')} (i32.const -1)))))
          (select (i32.const 4) (i32.const 0) (i32.and ${get('last')} (i32.eq ${get('epi')} (i32.const 1)))))`;
  const kcOf = `(local.set $kc (select (i32.const ${KC}) (i32.sub ${get('K')} ${get('pc')}) (i32.gt_u (i32.sub ${get('K')} ${get('pc')}) (i32.const ${KC}))))
        (local.set $last (i32.ge_u (i32.add ${get('pc')} ${get('kc')}) ${get('K')}))`;
  const min = (a, b) => `(select ${a} ${b} (i32.lt_u ${a} ${b}))`;
  return `
  (func $packedBytes (export "packedBytes") (param $K i32) (param $N i32) (result i32)
    (i32.mul (i32.mul (i32.div_u (i32.add ${get('N')} (i32.const ${NR - 1})) (i32.const ${NR})) ${get('K')}) (i32.const ${NR * 4})))

  (func (export "packB") (param $dst i32) (param $b i32) (param $rsB i32) (param $csB i32) (param $K i32) (param $N i32)
    (call $packB ${get('dst')} ${get('b')} ${get('rsB')} ${get('csB')} ${get('K')} ${get('N')} (i32.mul ${get('K')} (i32.const ${NR * 4}))))

  (func (export "gemm") (param $c i32) (param $ldc i32) (param $a i32) (param $rsA i32) (param $csA i32)
    (param $b i32) (param $rsB i32) (param $csB i32) (param $M i32) (param $N i32) (param $K i32)
    (param $beta i32) (param $bias i32) (param $epi i32)
    (local $jc i32) (local $nc i32) (local $pc i32) (local $kc i32) (local $ic i32) (local $mc i32) (local $last i32)
    (local $flags i32) (local $ldcb i32) (local $sa i32) (local $sb i32) (local $biasj i32)
    (if (i32.or (i32.eqz ${get('M')}) (i32.eqz ${get('N')})) (then (return)))
    (local.set $ldcb (i32.shl ${get('ldc')} (i32.const 2)))
    (local.set $sa (i32.add (global.get $scratch) (i32.const ${L.packA})))
    (local.set $sb (i32.add (global.get $scratch) (i32.const ${L.packB})))
    ${forLoop('jc', 'jc', get('N'), `(i32.const ${NC})`, `
      (local.set $nc ${min(`(i32.sub ${get('N')} ${get('jc')})`, `(i32.const ${NC})`)})
      (local.set $biasj (select (i32.const -1) (i32.add ${get('bias')} (i32.shl ${get('jc')} (i32.const 2))) (i32.eq ${get('bias')} (i32.const -1))))
      (local.set $pc (i32.const 0))
      (loop $pcl
        ${kcOf}
        (local.set $flags ${flags})
        (call $packB ${get('sb')} (i32.add ${get('b')} (i32.shl (i32.add (i32.mul ${get('pc')} ${get('rsB')}) (i32.mul ${get('jc')} ${get('csB')})) (i32.const 2)))
          ${get('rsB')} ${get('csB')} ${get('kc')} ${get('nc')} (i32.mul ${get('kc')} (i32.const ${NR * 4})))
        (local.set $ic (i32.const 0))
        ${forLoop('ic', 'ic', get('M'), `(i32.const ${MC})`, `
          (local.set $mc ${min(`(i32.sub ${get('M')} ${get('ic')})`, `(i32.const ${MC})`)})
          (call $packA ${get('sa')} (i32.add ${get('a')} (i32.shl (i32.add (i32.mul ${get('ic')} ${get('rsA')}) (i32.mul ${get('pc')} ${get('csA')})) (i32.const 2)))
            ${get('rsA')} ${get('csA')} ${get('mc')} ${get('kc')})
          (call $macro (i32.add ${get('c')} (i32.add (i32.mul ${get('ic')} ${get('ldcb')}) (i32.shl ${get('jc')} (i32.const 2)))) ${get('ldcb')}
            ${get('sa')} ${get('sb')} (i32.mul ${get('kc')} (i32.const ${NR * 4})) ${get('mc')} ${get('nc')} ${get('kc')} ${get('flags')} ${get('biasj')})`)}
        (local.set $pc (i32.add ${get('pc')} ${get('kc')}))
        (br_if $pcl (i32.lt_u ${get('pc')} ${get('K')})))`)}
  )

  ;; B packed once (packB over all of K): the same K blocks, so the same bits as gemm
  (func (export "gemmPacked") (param $c i32) (param $ldc i32) (param $a i32) (param $rsA i32) (param $csA i32)
    (param $bp i32) (param $M i32) (param $N i32) (param $K i32) (param $beta i32) (param $bias i32) (param $epi i32)
    (local $pc i32) (local $kc i32) (local $ic i32) (local $mc i32) (local $last i32) (local $flags i32) (local $ldcb i32) (local $sa i32)
    (if (i32.or (i32.eqz ${get('M')}) (i32.eqz ${get('N')})) (then (return)))
    (local.set $ldcb (i32.shl ${get('ldc')} (i32.const 2)))
    (local.set $sa (i32.add (global.get $scratch) (i32.const ${L.packA})))
    (local.set $pc (i32.const 0))
    (loop $pcl
      ${kcOf}
      (local.set $flags ${flags})
      (local.set $ic (i32.const 0))
      ${forLoop('ic', 'ic', get('M'), `(i32.const ${MC})`, `
        (local.set $mc ${min(`(i32.sub ${get('M')} ${get('ic')})`, `(i32.const ${MC})`)})
        (call $packA ${get('sa')} (i32.add ${get('a')} (i32.shl (i32.add (i32.mul ${get('ic')} ${get('rsA')}) (i32.mul ${get('pc')} ${get('csA')})) (i32.const 2)))
          ${get('rsA')} ${get('csA')} ${get('mc')} ${get('kc')})
        (call $macro (i32.add ${get('c')} (i32.mul ${get('ic')} ${get('ldcb')})) ${get('ldcb')}
          ${get('sa')} (i32.add ${get('bp')} (i32.mul ${get('pc')} (i32.const ${NR * 4}))) (i32.mul ${get('K')} (i32.const ${NR * 4}))
          ${get('mc')} ${get('N')} ${get('kc')} ${get('flags')} ${get('bias')})`)}
      (local.set $pc (i32.add ${get('pc')} ${get('kc')}))
      (br_if $pcl (i32.lt_u ${get('pc')} ${get('K')})))
  )`;
}

/** The elementwise kernels: SIMD bodies, scalar tails with the same float32 operations. */
function elementwise() {
  // a map over n floats: `vec(i)` / `one(i)` are statements for the byte offset in local $i
  const map = (name, params, vec, one, pre = '', locals = '') => `
  (func (export "${name}") ${params} (param $n i32)
    (local $i i32) (local $end i32) (local $vend i32) ${locals}
    ${pre}
    (local.set $end (i32.shl ${get('n')} (i32.const 2)))
    (local.set $vend (i32.and ${get('end')} (i32.const -16)))
    ${forLoop('v', 'i', get('vend'), '(i32.const 16)', vec)}
    ${forLoop('t', 'i', get('end'), '(i32.const 4)', one)}
  )`;
  const at = (p) => `(i32.add ${get(p)} ${get('i')})`;
  const tv = tanhV(`(v128.load align=4 ${at('x')})`);
  // the tail runs the vector code on a splat, so tail elements get the lanes' bits
  const ts = tanhV(`(f32x4.splat (f32.load ${at('x')}))`);
  const oneMinusSq = (a) => `(f32x4.sub ${vconst(1)} (f32x4.mul ${a} ${a}))`;
  return [
    map('tanh', '(param $x i32)',
      `${tv.pre}(v128.store align=4 ${at('x')} ${tv.value})`,
      `${ts.pre}(f32.store ${at('x')} (f32x4.extract_lane 0 ${ts.value}))`, '', VMATH_LOCALS),
    map('tanhBackward', '(param $dz i32) (param $da i32) (param $a i32)',
      `(local.set $y (v128.load align=4 ${at('a')}))
       (v128.store align=4 ${at('dz')} (f32x4.mul (v128.load align=4 ${at('da')}) ${oneMinusSq(get('y'))}))`,
      `(local.set $s (f32.load ${at('a')}))
       (f32.store ${at('dz')} (f32.mul (f32.load ${at('da')}) (f32.sub (f32.const 1) (f32.mul ${get('s')} ${get('s')}))))`,
      '', '(local $y v128) (local $s f32)'),
    map('addTo', '(param $y i32) (param $x i32)',
      `(v128.store align=4 ${at('y')} (f32x4.add (v128.load align=4 ${at('y')}) (v128.load align=4 ${at('x')})))`,
      `(f32.store ${at('y')} (f32.add (f32.load ${at('y')}) (f32.load ${at('x')})))`),
    map('mulInPlace', '(param $x i32) (param $m i32)',
      `(v128.store align=4 ${at('x')} (f32x4.mul (v128.load align=4 ${at('x')}) (v128.load align=4 ${at('m')})))`,
      `(f32.store ${at('x')} (f32.mul (f32.load ${at('x')}) (f32.load ${at('m')})))`),
  ].join('\n') + `

  ;; y[0..n) (+)= x[0..n): the row operation of gatherRows and scatterAddRows
  (func $rowAdd (param $y i32) (param $x i32) (param $n i32) (param $acc i32)
    (local $i i32) (local $end i32) (local $vend i32)
    (local.set $end (i32.shl ${get('n')} (i32.const 2)))
    (local.set $vend (i32.and ${get('end')} (i32.const -16)))
    (if ${get('acc')}
      (then
        ${forLoop('v', 'i', get('vend'), '(i32.const 16)', `(v128.store align=4 ${at('y')} (f32x4.add (v128.load align=4 ${at('y')}) (v128.load align=4 ${at('x')})))`)}
        ${forLoop('t', 'i', get('end'), '(i32.const 4)', `(f32.store ${at('y')} (f32.add (f32.load ${at('y')}) (f32.load ${at('x')})))`)})
      (else
        ${forLoop('cv', 'i', get('vend'), '(i32.const 16)', `(v128.store align=4 ${at('y')} (v128.load align=4 ${at('x')}))`)}
        ${forLoop('ct', 'i', get('end'), '(i32.const 4)', `(f32.store ${at('y')} (f32.load ${at('x')}))`)})))

  (func (export "gatherRows") (param $out i32) (param $ldo i32) (param $table i32) (param $ldt i32)
    (param $ids i32) (param $idStride i32) (param $rows i32) (param $N i32) (param $acc i32)
    (local $r i32)
    ${forLoop('r', 'r', get('rows'), '(i32.const 1)', `
      (call $rowAdd
        (i32.add ${get('out')} (i32.shl (i32.mul ${get('r')} ${get('ldo')}) (i32.const 2)))
        (i32.add ${get('table')} (i32.shl (i32.mul (i32.load (i32.add ${get('ids')} (i32.shl (i32.mul ${get('r')} ${get('idStride')}) (i32.const 2)))) ${get('ldt')}) (i32.const 2)))
        ${get('N')} ${get('acc')})`)}
  )

  (func (export "scatterAddRows") (param $table i32) (param $ldt i32) (param $src i32) (param $lds i32)
    (param $ids i32) (param $idStride i32) (param $rows i32) (param $N i32)
    (local $r i32)
    ${forLoop('r', 'r', get('rows'), '(i32.const 1)', `
      (call $rowAdd
        (i32.add ${get('table')} (i32.shl (i32.mul (i32.load (i32.add ${get('ids')} (i32.shl (i32.mul ${get('r')} ${get('idStride')}) (i32.const 2)))) ${get('ldt')}) (i32.const 2)))
        (i32.add ${get('src')} (i32.shl (i32.mul ${get('r')} ${get('lds')}) (i32.const 2)))
        ${get('N')} (i32.const 1))`)}
  )

  ;; db[n] += d[m, n] for m = 0..M-1 in order: 16 columns at a time in registers, then 4, then 1
  (func (export "colSumAcc") (param $db i32) (param $d i32) (param $ldd i32) (param $M i32) (param $N i32)
    (local $n i32) (local $m i32) (local $p i32) (local $lddb i32) (local $nb i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s f32)
    (local.set $lddb (i32.shl ${get('ldd')} (i32.const 2)))
    (local.set $nb (i32.shl ${get('N')} (i32.const 2)))
    (block $w_done (loop $w
      (br_if $w_done (i32.gt_u (i32.add ${get('n')} (i32.const 64)) ${get('nb')}))
      (local.set $s0 (v128.load offset=0 align=4 (i32.add ${get('db')} ${get('n')})))
      (local.set $s1 (v128.load offset=16 align=4 (i32.add ${get('db')} ${get('n')})))
      (local.set $s2 (v128.load offset=32 align=4 (i32.add ${get('db')} ${get('n')})))
      (local.set $s3 (v128.load offset=48 align=4 (i32.add ${get('db')} ${get('n')})))
      (local.set $p (i32.add ${get('d')} ${get('n')}))
      (local.set $m (i32.const 0))
      ${forLoop('wm', 'm', get('M'), '(i32.const 1)', `
        (local.set $s0 (f32x4.add ${get('s0')} (v128.load offset=0 align=4 ${get('p')})))
        (local.set $s1 (f32x4.add ${get('s1')} (v128.load offset=16 align=4 ${get('p')})))
        (local.set $s2 (f32x4.add ${get('s2')} (v128.load offset=32 align=4 ${get('p')})))
        (local.set $s3 (f32x4.add ${get('s3')} (v128.load offset=48 align=4 ${get('p')})))
        (local.set $p (i32.add ${get('p')} ${get('lddb')}))`)}
      (v128.store offset=0 align=4 (i32.add ${get('db')} ${get('n')}) ${get('s0')})
      (v128.store offset=16 align=4 (i32.add ${get('db')} ${get('n')}) ${get('s1')})
      (v128.store offset=32 align=4 (i32.add ${get('db')} ${get('n')}) ${get('s2')})
      (v128.store offset=48 align=4 (i32.add ${get('db')} ${get('n')}) ${get('s3')})
      (local.set $n (i32.add ${get('n')} (i32.const 64)))
      (br $w)))
    (block $v_done (loop $v
      (br_if $v_done (i32.gt_u (i32.add ${get('n')} (i32.const 16)) ${get('nb')}))
      (local.set $s0 (v128.load align=4 (i32.add ${get('db')} ${get('n')})))
      (local.set $p (i32.add ${get('d')} ${get('n')}))
      (local.set $m (i32.const 0))
      ${forLoop('vm', 'm', get('M'), '(i32.const 1)', `
        (local.set $s0 (f32x4.add ${get('s0')} (v128.load align=4 ${get('p')})))
        (local.set $p (i32.add ${get('p')} ${get('lddb')}))`)}
      (v128.store align=4 (i32.add ${get('db')} ${get('n')}) ${get('s0')})
      (local.set $n (i32.add ${get('n')} (i32.const 16)))
      (br $v)))
    ${forLoop('t', 'n', get('nb'), '(i32.const 4)', `
      (local.set $s (f32.load (i32.add ${get('db')} ${get('n')})))
      (local.set $p (i32.add ${get('d')} ${get('n')}))
      (local.set $m (i32.const 0))
      ${forLoop('tm', 'm', get('M'), '(i32.const 1)', `
        (local.set $s (f32.add ${get('s')} (f32.load ${get('p')})))
        (local.set $p (i32.add ${get('p')} ${get('lddb')}))`)}
      (f32.store (i32.add ${get('db')} ${get('n')}) ${get('s')})`)}
  )

  ;; Σ_r sqrt(Σ_n x[r, n]²) in float64; each row's squares summed as sumSquares in kernels.ts does
  ;; (element n into lane n mod 4, ((l0 + l1) + (l2 + l3)) + the N mod 4 tail in order), so a row's
  ;; norm is bit for bit sqrt(sumSquares(row))
  (func (export "sumRowNorms") (param $x i32) (param $ldx i32) (param $rows i32) (param $N i32) (result f64)
    (local $r i32) (local $i i32) (local $end i32) (local $vend i32) (local $row i32)
    (local $v v128) (local $lo v128) (local $hi v128) (local $accLo v128) (local $accHi v128)
    (local $tail f64) (local $xd f64) (local $total f64)
    (local.set $end (i32.shl ${get('N')} (i32.const 2)))
    (local.set $vend (i32.and ${get('end')} (i32.const -16)))
    ${forLoop('r', 'r', get('rows'), '(i32.const 1)', `
      (local.set $row (i32.add ${get('x')} (i32.shl (i32.mul ${get('r')} ${get('ldx')}) (i32.const 2))))
      (local.set $accLo (v128.const f64x2 0 0))
      (local.set $accHi (v128.const f64x2 0 0))
      (local.set $tail (f64.const 0))
      (local.set $i (i32.const 0))
      ${forLoop('v', 'i', get('vend'), '(i32.const 16)', `
        (local.set $v (v128.load align=4 (i32.add ${get('row')} ${get('i')})))
        (local.set $lo (f64x2.promote_low_f32x4 ${get('v')}))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${get('v')} ${get('v')})))
        (local.set $accLo (f64x2.add ${get('accLo')} (f64x2.mul ${get('lo')} ${get('lo')})))
        (local.set $accHi (f64x2.add ${get('accHi')} (f64x2.mul ${get('hi')} ${get('hi')})))`)}
      ${forLoop('t', 'i', get('end'), '(i32.const 4)', `
        (local.set $xd (f64.promote_f32 (f32.load (i32.add ${get('row')} ${get('i')}))))
        (local.set $tail (f64.add ${get('tail')} (f64.mul ${get('xd')} ${get('xd')})))`)}
      (local.set $total (f64.add ${get('total')} (f64.sqrt (f64.add
        (f64.add
          (f64.add (f64x2.extract_lane 0 ${get('accLo')}) (f64x2.extract_lane 1 ${get('accLo')}))
          (f64.add (f64x2.extract_lane 0 ${get('accHi')}) (f64x2.extract_lane 1 ${get('accHi')})))
        ${get('tail')}))))`)}
    ${get('total')}
  )`;
}

/**
 * The LSTM and GRU gate kernels (raw.ts): per row, 4 units at a time, then the row's tail one unit
 * at a time through the same code on a splat (so a unit's bits do not depend on its position).
 * σ and tanh: sigmoidV and tanhV. Every operation is a separate f32x4 mul/add/sub (one rounding
 * each, in both binaries), in the order of the JavaScript reference's expressions.
 */
function gates() {
  const hb = get('hb');
  // the gate block k of the current unit(s) of row pointer p: p + j + k·H·4 bytes
  const addr = (p, k) => `(i32.add (i32.add ${get(p)} ${get('j')}) ${k === 0 ? '(i32.const 0)' : get(`h${k}`)})`;
  const modes = {
    v: { ld: (p, k = 0) => `(v128.load align=4 ${addr(p, k)})`, st: (p, k, x) => `(v128.store align=4 ${addr(p, k)} ${x})\n` },
    s: { ld: (p, k = 0) => `(f32x4.splat (f32.load ${addr(p, k)}))`, st: (p, k, x) => `(f32.store ${addr(p, k)} (f32x4.extract_lane 0 ${x}))\n` },
  };
  const add = (a, b) => `(f32x4.add ${a} ${b})`, sub = (a, b) => `(f32x4.sub ${a} ${b})`, mul = (a, b) => `(f32x4.mul ${a} ${b})`;
  const one = vconst(1);
  const oneMinus = (x) => sub(one, x);
  const set = (v, x) => `(local.set $${v} ${x})\n`;
  const tanhTo = (v, x) => { const t = tanhV(x); return `${t.pre}${set(v, t.value)}`; };
  const sigTo = (v, x) => { const t = sigmoidV(x); return `${t.pre}${set(v, t.value)}`; };
  const L = (...names) => names.map((n) => `(local $${n} v128)`).join(' ');

  /** An exported kernel over rows: `units(mode)` for the units at $j; `steps` advance each row pointer (in multiples of H·4 bytes). */
  const kernel = (name, params, steps, locals, units) => `
  (func (export "${name}") ${params.map((p) => `(param $${p} i32)`).join(' ')} (param $rows i32) (param $H i32)
    (local $r i32) (local $j i32) (local $hb i32) (local $vend i32) (local $h1 i32) (local $h2 i32) (local $h3 i32) ${locals} ${VMATH_LOCALS}
    (local.set $hb (i32.shl ${get('H')} (i32.const 2)))
    (local.set $vend (i32.and ${hb} (i32.const -16)))
    (local.set $h1 ${hb})
    (local.set $h2 (i32.shl ${hb} (i32.const 1)))
    (local.set $h3 (i32.mul ${hb} (i32.const 3)))
    ${forLoop('r', 'r', get('rows'), '(i32.const 1)', `
      (local.set $j (i32.const 0))
      ${forLoop('v', 'j', get('vend'), '(i32.const 16)', units(modes.v))}
      ${forLoop('t', 'j', hb, '(i32.const 4)', units(modes.s))}
      ${Object.entries(steps).map(([p, k]) => `(local.set $${p} (i32.add ${get(p)} (i32.mul ${hb} (i32.const ${k}))))`).join('\n      ')}`)}
  )`;

  const g = (v) => get(v);
  return [
    kernel('lstmForward', ['g', 'cp', 'c', 'h'], { g: 4, cp: 1, c: 1, h: 1 }, L('gi', 'gf', 'gu', 'go', 'gc', 'gt'), (m) =>
      sigTo('gi', m.ld('g', 0)) + sigTo('gf', m.ld('g', 1)) + tanhTo('gu', m.ld('g', 2)) + sigTo('go', m.ld('g', 3)) +
      m.st('g', 0, g('gi')) + m.st('g', 1, g('gf')) + m.st('g', 2, g('gu')) + m.st('g', 3, g('go')) +
      set('gc', add(mul(g('gf'), m.ld('cp')), mul(g('gi'), g('gu')))) +
      m.st('c', 0, g('gc')) + tanhTo('gt', g('gc')) + m.st('h', 0, mul(g('go'), g('gt')))),
    kernel('lstmBackward', ['dg', 'g', 'cp', 'c', 'dh', 'dc'], { dg: 4, g: 4, cp: 1, c: 1, dh: 1, dc: 1 },
      L('gi', 'gf', 'gu', 'go', 'tc', 'dht', 'dct'), (m) =>
        set('gi', m.ld('g', 0)) + set('gf', m.ld('g', 1)) + set('gu', m.ld('g', 2)) + set('go', m.ld('g', 3)) +
        tanhTo('tc', m.ld('c')) + set('dht', m.ld('dh')) +
        set('dct', add(m.ld('dc'), mul(mul(g('dht'), g('go')), oneMinus(mul(g('tc'), g('tc')))))) +
        m.st('dg', 0, mul(mul(mul(g('dct'), g('gu')), g('gi')), oneMinus(g('gi')))) +
        m.st('dg', 1, mul(mul(mul(g('dct'), m.ld('cp')), g('gf')), oneMinus(g('gf')))) +
        m.st('dg', 2, mul(mul(g('dct'), g('gi')), oneMinus(mul(g('gu'), g('gu'))))) +
        m.st('dg', 3, mul(mul(mul(g('dht'), g('tc')), g('go')), oneMinus(g('go')))) +
        m.st('dc', 0, mul(g('dct'), g('gf')))),
    // bih is one row: its pointer does not advance
    kernel('gruForward', ['gi', 'gh', 'b', 'hp', 'h'], { gi: 3, gh: 3, hp: 1, h: 1 }, L('vr', 'vz', 'vn'), (m) =>
      sigTo('vr', add(add(m.ld('gi', 0), m.ld('b', 0)), m.ld('gh', 0))) +
      sigTo('vz', add(add(m.ld('gi', 1), m.ld('b', 1)), m.ld('gh', 1))) +
      tanhTo('vn', add(add(m.ld('gi', 2), m.ld('b', 2)), mul(g('vr'), m.ld('gh', 2)))) +
      m.st('gi', 0, g('vr')) + m.st('gi', 1, g('vz')) + m.st('gi', 2, g('vn')) +
      m.st('h', 0, add(mul(oneMinus(g('vz')), g('vn')), mul(g('vz'), m.ld('hp'))))),
    kernel('gruBackward', ['dgi', 'dgh', 'gi', 'gh', 'hp', 'dh'], { dgi: 3, dgh: 3, gi: 3, gh: 3, hp: 1, dh: 1 },
      L('vr', 'vz', 'vn', 'dht', 'dn', 'dz', 'dr'), (m) =>
        set('vr', m.ld('gi', 0)) + set('vz', m.ld('gi', 1)) + set('vn', m.ld('gi', 2)) + set('dht', m.ld('dh')) +
        set('dn', mul(mul(g('dht'), oneMinus(g('vz'))), oneMinus(mul(g('vn'), g('vn'))))) +
        set('dz', mul(mul(mul(g('dht'), sub(m.ld('hp'), g('vn'))), g('vz')), oneMinus(g('vz')))) +
        set('dr', mul(mul(mul(g('dn'), m.ld('gh', 2)), g('vr')), oneMinus(g('vr')))) +
        m.st('dgi', 0, g('dr')) + m.st('dgi', 1, g('dz')) + m.st('dgi', 2, g('dn')) +
        m.st('dgh', 0, g('dr')) + m.st('dgh', 1, g('dz')) + m.st('dgh', 2, mul(g('dn'), g('vr'))) +
        m.st('dh', 0, mul(g('dht'), g('vz')))),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The output layer's fused softmax cross-entropy (Kernels.softmaxXent in types.ts).
//
// expNegV is this section's own exp (Cephes' range reduction and degree-6 polynomial, ≤ 2 ulp for
// x ≤ 0, all that softmax needs; separate mul and add, so both binaries give the same bits); the
// `precision` work brings an accurate exp for the gates, and one of the two should go when both
// are merged. log (float64, once per row) is imported: env.log = Math.log.

const EXP_LOCALS = '(local $ex v128) (local $en v128) (local $er v128) (local $ep v128)';

/** The WAT statements (`pre`) and expression (`value`) of exp on the v128 expression `x` (x ≤ 0; below −87.3, exp(−87.3)). */
function expNegV(x) {
  const mul = (a, b) => `(f32x4.mul ${a} ${b})`, add = (a, b) => `(f32x4.add ${a} ${b})`;
  const r = get('er');
  let p = vconst(1.9875691500e-4);
  for (const c of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]) p = add(mul(p, r), vconst(c));
  const pre = `(local.set $ex (f32x4.pmax ${x} ${vconst(-87.3)}))
    (local.set $en (f32x4.nearest (f32x4.mul ${get('ex')} ${vconst(1.44269504088896341)})))
    (local.set $er (f32x4.sub ${get('ex')} (f32x4.mul ${get('en')} ${vconst(0.693359375)})))
    (local.set $er (f32x4.add ${r} (f32x4.mul ${get('en')} ${vconst(2.12194440e-4)})))
    (local.set $ep ${p})\n`;
  const pow2 = `(i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s ${get('en')}) (i32x4.splat (i32.const 127))) (i32.const 23))`;
  return { pre, value: mul(add(add(mul(get('ep'), mul(r, r)), r), vconst(1)), pow2) };
}

/**
 * softmaxXent over rows at x (byte stride ldx·4): per row, the max (4 lanes, then the tail), the
 * first index of it, Σ exp(x − max) in 4 lanes (element c into lane c mod 4, combined as
 * (l0 + l1) + (l2 + l3)) then the C mod 4 tail in order, the loss in float64, then the row
 * rewritten as w'·(exp(x − max)·(1/Σ)) with w' = w (dlogits) or 1 (probabilities: 1·p = p).
 */
function softmaxXent() {
  const at = (base) => `(i32.add ${get(base)} ${get('c')})`;
  const ld = (base) => `(v128.load align=4 ${at(base)})`;
  const vexp = expNegV(`(f32x4.sub ${ld('row')} ${get('mv')})`);
  const sexp = expNegV(`(f32x4.splat (f32.sub (f32.load ${at('row')}) ${get('m')}))`);
  const lane = (i) => `(f32x4.extract_lane ${i} ${get('acc')})`;
  return `
  (func (export "softmaxXent") (param $x i32) (param $ldx i32) (param $rows i32) (param $C i32) (param $ys i32) (param $wt i32)
    (param $am i32) (param $db i32) (param $grad i32) (result f64)
    (local $r i32) (local $row i32) (local $c i32) (local $end i32) (local $vend i32) (local $mask i32) (local $arg i32) (local $y i32)
    (local $w f32) (local $m f32) (local $s f32) (local $inv f32) (local $wp f32) (local $loss f64)
    (local $mv v128) (local $acc v128) (local $wv v128) (local $iv v128) (local $e v128) ${EXP_LOCALS}
    (local.set $end (i32.shl ${get('C')} (i32.const 2)))
    (local.set $vend (i32.and ${get('end')} (i32.const -16)))
    (local.set $row ${get('x')})
    ${forLoop('rows', 'r', get('rows'), '(i32.const 1)', `
      (local.set $w (f32.load (i32.add ${get('wt')} (i32.shl ${get('r')} (i32.const 2)))))
      (block $row_done
        (if (f32.eq ${get('w')} (f32.const 0)) (then
          ;; padding: no loss, argmax −1, and with grad a zero row
          (i32.store (i32.add ${get('am')} (i32.shl ${get('r')} (i32.const 2))) (i32.const -1))
          (if ${get('grad')} (then
            (local.set $c (i32.const 0))
            ${forLoop('zero', 'c', get('end'), '(i32.const 4)', `(f32.store ${at('row')} (f32.const 0))`)}))
          (br $row_done)))
        ;; the max: 4 lanes (a NaN is passed over), then the tail
        (local.set $mv (v128.const f32x4 -inf -inf -inf -inf))
        (local.set $c (i32.const 0))
        ${forLoop('max', 'c', get('vend'), '(i32.const 16)', `(local.set $mv (f32x4.pmax ${get('mv')} ${ld('row')}))`)}
        (local.set $m (f32.max (f32.max (f32x4.extract_lane 0 ${get('mv')}) (f32x4.extract_lane 1 ${get('mv')}))
          (f32.max (f32x4.extract_lane 2 ${get('mv')}) (f32x4.extract_lane 3 ${get('mv')}))))
        ${forLoop('maxt', 'c', get('end'), '(i32.const 4)', `
          (local.set $e (f32x4.splat (f32.load ${at('row')})))
          (if (f32.gt (f32x4.extract_lane 0 ${get('e')}) ${get('m')}) (then (local.set $m (f32x4.extract_lane 0 ${get('e')}))))`)}
        (local.set $mv (f32x4.splat ${get('m')}))
        ;; the first index of the max
        (local.set $arg (i32.const 0))
        (local.set $c (i32.const 0))
        (block $found
          ${forLoop('arg', 'c', get('vend'), '(i32.const 16)', `
            (local.set $mask (i32x4.bitmask (f32x4.eq ${ld('row')} ${get('mv')})))
            (if ${get('mask')} (then
              (local.set $arg (i32.add (i32.shr_u ${get('c')} (i32.const 2)) (i32.ctz ${get('mask')})))
              (br $found)))`)}
          ${forLoop('argt', 'c', get('end'), '(i32.const 4)', `
            (if (f32.eq (f32.load ${at('row')}) ${get('m')}) (then
              (local.set $arg (i32.shr_u ${get('c')} (i32.const 2)))
              (br $found)))`)})
        ;; Σ exp(x − max)
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $c (i32.const 0))
        ${forLoop('sum', 'c', get('vend'), '(i32.const 16)', `${vexp.pre}(local.set $acc (f32x4.add ${get('acc')} ${vexp.value}))`)}
        (local.set $s (f32.add (f32.add ${lane(0)} ${lane(1)}) (f32.add ${lane(2)} ${lane(3)})))
        ${forLoop('sumt', 'c', get('end'), '(i32.const 4)', `${sexp.pre}(local.set $s (f32.add ${get('s')} (f32x4.extract_lane 0 ${sexp.value})))`)}
        (local.set $y (i32.load (i32.add ${get('ys')} (i32.shl ${get('r')} (i32.const 2)))))
        (i32.store (i32.add ${get('am')} (i32.shl ${get('r')} (i32.const 2))) ${get('arg')})
        (local.set $loss (f64.add ${get('loss')} (f64.mul (f64.promote_f32 ${get('w')})
          (f64.sub (f64.add (call $log (f64.promote_f32 ${get('s')})) (f64.promote_f32 ${get('m')}))
            (f64.promote_f32 (f32.load (i32.add ${get('row')} (i32.shl ${get('y')} (i32.const 2)))))))))
        ;; the row: w'·(exp(x − max)·(1/Σ))
        (local.set $inv (f32.div (f32.const 1) ${get('s')}))
        (local.set $iv (f32x4.splat ${get('inv')}))
        (local.set $wp (select ${get('w')} (f32.const 1) ${get('grad')}))
        (local.set $wv (f32x4.splat ${get('wp')}))
        (local.set $c (i32.const 0))
        ${forLoop('out', 'c', get('vend'), '(i32.const 16)', `${vexp.pre}(v128.store align=4 ${at('row')} (f32x4.mul ${get('wv')} (f32x4.mul ${vexp.value} ${get('iv')})))`)}
        ${forLoop('outt', 'c', get('end'), '(i32.const 4)', `${sexp.pre}(f32.store ${at('row')} (f32x4.extract_lane 0 (f32x4.mul ${get('wv')} (f32x4.mul ${sexp.value} ${get('iv')}))))`)}
        (br_if $row_done (i32.eqz ${get('grad')}))
        ;; dlogits: − w at the target, then db += the row
        (local.set $c (i32.shl ${get('y')} (i32.const 2)))
        (f32.store ${at('row')} (f32.sub (f32.load ${at('row')}) ${get('w')}))
        (br_if $row_done (i32.eq ${get('db')} (i32.const -1)))
        (local.set $c (i32.const 0))
        ${forLoop('db', 'c', get('vend'), '(i32.const 16)', `(v128.store align=4 ${at('db')} (f32x4.add ${ld('db')} ${ld('row')}))`)}
        ${forLoop('dbt', 'c', get('end'), '(i32.const 4)', `(f32.store ${at('db')} (f32.add (f32.load ${at('db')}) (f32.load ${at('row')})))`)})
      (local.set $row (i32.add ${get('row')} (i32.shl ${get('ldx')} (i32.const 2))))`)}
    ${get('loss')}
  )`;
}

/** The whole module's text. `relaxed`: the micro-kernel uses f32x4.relaxed_madd. */
export function kernelsWat({ relaxed = false, params = PARAMS } = {}) {
  const p = params;
  if (p.NR % 4 !== 0) throw new Error('NR must be a multiple of 4');
  if (p.MC % p.MR !== 0 || p.NC % p.NR !== 0) throw new Error('MC and NC must be multiples of MR and NR');
  const L = scratchLayout(p);
  return `;; Generated by src/model/backend/wasm-gen.mjs (${relaxed ? 'relaxed SIMD' : 'SIMD128'}, ${p.MR}x${p.NR} micro-kernel). Do not edit.
(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; byte offset of this instance's ${L.bytes} bytes of scratch
  (import "env" "scratch" (global $scratch i32))
  (import "env" "log" (func $log (param f64) (result f64)))
  ${microKernel(p, relaxed)}
  ${packA(p)}
  ${packB(p)}
  ${copyBlock}
  ${macroKernel(p, L)}
  ${drivers(p, L)}
  ${elementwise()}
  ${gates()}
  ${softmaxXent()}
)
`;
}

const FEATURES = { simd: true, threads: true, relaxed_simd: true };

/** Assemble WAT text with wabt into wasm bytes. */
export async function assemble(wat, name = 'kernels.wat') {
  const wabt = await (await import('wabt')).default();
  const mod = wabt.parseWat(name, wat, FEATURES);
  try {
    mod.validate(FEATURES);
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

/** Build step: both binaries as base64 into a TypeScript module at `outFile`. */
export async function writeWasmKernels(outFile, params = PARAMS) {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  const simd = await assemble(kernelsWat({ relaxed: false, params }), 'kernels-simd128.wat');
  const relaxed = await assemble(kernelsWat({ relaxed: true, params }), 'kernels-relaxed.wat');
  const b64 = (u8) => Buffer.from(u8).toString('base64');
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `// Generated by src/model/backend/wasm-gen.mjs (run by src/build.mjs). Do not edit.
/** Micro-kernel ${params.MR}x${params.NR}, K blocks of ${params.KC}. */
export const WASM_GEMM_PARAMS = ${JSON.stringify(params)} as const;
/** Scratch bytes one instance needs (imported as env.scratch, a byte offset). */
export const WASM_SCRATCH_BYTES = ${scratchLayout(params).bytes};
/** SIMD128 only: f32x4.mul + f32x4.add. */
export const WASM_SIMD128_BASE64 = '${b64(simd)}';
/** Relaxed SIMD: f32x4.relaxed_madd in the micro-kernel. */
export const WASM_RELAXED_BASE64 = '${b64(relaxed)}';
`);
}

// `node src/model/backend/wasm-gen.mjs [--relaxed]` prints the text (to read or to tune)
if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(kernelsWat({ relaxed: process.argv.includes('--relaxed') }));
}
