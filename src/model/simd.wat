;; SIMD WebAssembly versions of the streaming kernels of kernels.ts: the optimizer steps and the
;; gradient reduction, which read and write every parameter once per step and are bound by
;; memory, not arithmetic. JavaScript does them one float64 element at a time; 128-bit lanes of
;; float32 do them 3-4x faster. Assembled at build time (src/build.mjs, wabt) and instantiated
;; once per thread on the shared WebAssembly.Memory that holds the parameters, gradients and
;; moments (src/util/shared.ts), so nothing is copied.
;;
;; Every function has a JavaScript twin in kernels.ts that computes the same float32 operations in
;; the same order (Math.fround after each one), so both give the same bits; a test checks it.
;; Addresses are in bytes; n counts float32 elements and need not be a multiple of 4.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Adam (with AdamW's decoupled decay factor), element by element, all in float32:
  ;;   g' = g·scale;  m = b1·m + c1·g';  v = b2·v + (c2·g')·g'
  ;;   p = p·decay − (stepSize·m) / (√v / sqrtBc2 + eps)
  (func (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $n i32)
    (param $scale f32) (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $stepSize f32) (param $sqrtBc2 f32) (param $eps f32) (param $decay f32)
    (local $i i32) (local $end i32) (local $vend i32)
    (local $gi v128) (local $mi v128) (local $vi v128)
    (local $S v128) (local $B1 v128) (local $C1 v128) (local $B2 v128) (local $C2 v128)
    (local $SS v128) (local $BC v128) (local $E v128) (local $D v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $S (f32x4.splat (local.get $scale)))
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $C1 (f32x4.splat (local.get $c1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $C2 (f32x4.splat (local.get $c2)))
    (local.set $SS (f32x4.splat (local.get $stepSize)))
    (local.set $BC (f32x4.splat (local.get $sqrtBc2)))
    (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $D (f32x4.splat (local.get $decay)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vend (i32.and (local.get $end) (i32.const -16)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $vend)))
      (local.set $gi (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $i))) (local.get $S)))
      (local.set $mi (f32x4.add
        (f32x4.mul (local.get $B1) (v128.load (i32.add (local.get $m) (local.get $i))))
        (f32x4.mul (local.get $C1) (local.get $gi))))
      (local.set $vi (f32x4.add
        (f32x4.mul (local.get $B2) (v128.load (i32.add (local.get $v) (local.get $i))))
        (f32x4.mul (f32x4.mul (local.get $C2) (local.get $gi)) (local.get $gi))))
      (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mi))
      (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vi))
      (v128.store (i32.add (local.get $p) (local.get $i))
        (f32x4.sub
          (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $i))) (local.get $D))
          (f32x4.div
            (f32x4.mul (local.get $SS) (local.get $mi))
            (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vi)) (local.get $BC)) (local.get $E)))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
    ;; the last n mod 4 elements, the same operations one lane at a time
    (block $tdone (loop $t
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $gs (f32.mul (f32.load (i32.add (local.get $g) (local.get $i))) (local.get $scale)))
      (local.set $ms (f32.add
        (f32.mul (local.get $b1) (f32.load (i32.add (local.get $m) (local.get $i))))
        (f32.mul (local.get $c1) (local.get $gs))))
      (local.set $vs (f32.add
        (f32.mul (local.get $b2) (f32.load (i32.add (local.get $v) (local.get $i))))
        (f32.mul (f32.mul (local.get $c2) (local.get $gs)) (local.get $gs))))
      (f32.store (i32.add (local.get $m) (local.get $i)) (local.get $ms))
      (f32.store (i32.add (local.get $v) (local.get $i)) (local.get $vs))
      (f32.store (i32.add (local.get $p) (local.get $i))
        (f32.sub
          (f32.mul (f32.load (i32.add (local.get $p) (local.get $i))) (local.get $decay))
          (f32.div
            (f32.mul (local.get $stepSize) (local.get $ms))
            (f32.add (f32.div (f32.sqrt (local.get $vs)) (local.get $sqrtBc2)) (local.get $eps)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $t)))
  )

  ;; SGD with momentum and L2 weight decay, in float32:
  ;;   b = (momentum·b + g·scale) + wd·p;  p = p − lr·b
  (func (export "sgd")
    (param $p i32) (param $g i32) (param $b i32) (param $n i32)
    (param $scale f32) (param $momentum f32) (param $lr f32) (param $wd f32)
    (local $i i32) (local $end i32) (local $vend i32) (local $bi v128) (local $bs f32)
    (local $S v128) (local $M v128) (local $L v128) (local $W v128)
    (local.set $S (f32x4.splat (local.get $scale)))
    (local.set $M (f32x4.splat (local.get $momentum)))
    (local.set $L (f32x4.splat (local.get $lr)))
    (local.set $W (f32x4.splat (local.get $wd)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vend (i32.and (local.get $end) (i32.const -16)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $vend)))
      (local.set $bi (f32x4.add
        (f32x4.add
          (f32x4.mul (local.get $M) (v128.load (i32.add (local.get $b) (local.get $i))))
          (f32x4.mul (v128.load (i32.add (local.get $g) (local.get $i))) (local.get $S)))
        (f32x4.mul (local.get $W) (v128.load (i32.add (local.get $p) (local.get $i))))))
      (v128.store (i32.add (local.get $b) (local.get $i)) (local.get $bi))
      (v128.store (i32.add (local.get $p) (local.get $i))
        (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $i))) (f32x4.mul (local.get $L) (local.get $bi))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
    (block $tdone (loop $t
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $bs (f32.add
        (f32.add
          (f32.mul (local.get $momentum) (f32.load (i32.add (local.get $b) (local.get $i))))
          (f32.mul (f32.load (i32.add (local.get $g) (local.get $i))) (local.get $scale)))
        (f32.mul (local.get $wd) (f32.load (i32.add (local.get $p) (local.get $i))))))
      (f32.store (i32.add (local.get $b) (local.get $i)) (local.get $bs))
      (f32.store (i32.add (local.get $p) (local.get $i))
        (f32.sub (f32.load (i32.add (local.get $p) (local.get $i))) (f32.mul (local.get $lr) (local.get $bs))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $t)))
  )

  ;; dst = Σ_k slot_k (k = 0..S-1 in order, float32 adds), returning Σ dst² in float64.
  ;; $table holds the S slots' base addresses (i32); element i of slot k is at table[k] + off + 4i.
  ;; The squares are summed in four float64 lanes (element i into lane i mod 4); the result is
  ;; ((l0 + l1) + (l2 + l3)) + (the n mod 4 tail squares, summed in order). sumSquares in
  ;; kernels.ts is the same sum, so a gradient's norm does not depend on which kernel took it.
  (func $sumSlots (export "sumSlots")
    (param $dst i32) (param $table i32) (param $S i32) (param $off i32) (param $n i32) (result f64)
    (local $i i32) (local $end i32) (local $vend i32) (local $k i32) (local $x v128) (local $xs f32)
    (local $lo v128) (local $hi v128) (local $accLo v128) (local $accHi v128) (local $tail f64) (local $xd f64)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vend (i32.and (local.get $end) (i32.const -16)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $vend)))
      (local.set $x (v128.load (i32.add (i32.add (i32.load (local.get $table)) (local.get $off)) (local.get $i))))
      (local.set $k (i32.const 1))
      (block $kdone (loop $kl
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $S)))
        (local.set $x (f32x4.add (local.get $x)
          (v128.load (i32.add (i32.add
            (i32.load (i32.add (local.get $table) (i32.shl (local.get $k) (i32.const 2))))
            (local.get $off)) (local.get $i)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (v128.store (i32.add (local.get $dst) (local.get $i)) (local.get $x))
      (local.set $lo (f64x2.promote_low_f32x4 (local.get $x)))
      (local.set $hi (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))
      (local.set $accLo (f64x2.add (local.get $accLo) (f64x2.mul (local.get $lo) (local.get $lo))))
      (local.set $accHi (f64x2.add (local.get $accHi) (f64x2.mul (local.get $hi) (local.get $hi))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
    (block $tdone (loop $t
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $xs (f32.load (i32.add (i32.add (i32.load (local.get $table)) (local.get $off)) (local.get $i))))
      (local.set $k (i32.const 1))
      (block $kdone2 (loop $kl2
        (br_if $kdone2 (i32.ge_u (local.get $k) (local.get $S)))
        (local.set $xs (f32.add (local.get $xs)
          (f32.load (i32.add (i32.add
            (i32.load (i32.add (local.get $table) (i32.shl (local.get $k) (i32.const 2))))
            (local.get $off)) (local.get $i)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl2)))
      (f32.store (i32.add (local.get $dst) (local.get $i)) (local.get $xs))
      (local.set $xd (f64.promote_f32 (local.get $xs)))
      (local.set $tail (f64.add (local.get $tail) (f64.mul (local.get $xd) (local.get $xd))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $t)))
    (f64.add
      (f64.add
        (f64.add (f64x2.extract_lane 0 (local.get $accLo)) (f64x2.extract_lane 1 (local.get $accLo)))
        (f64.add (f64x2.extract_lane 0 (local.get $accHi)) (f64x2.extract_lane 1 (local.get $accHi))))
      (local.get $tail))
  )
  ;; sumSlots over whole token rows: for each row r in rows[0..n), the `width` elements at
  ;; r*width (byte offsets r*width*4 in dst and in every slot); returns sq0 + each row's Σ dst²,
  ;; added in list order (the same float64 sum as `sq0 += sumSlots(row)` row by row).
  (func (export "sumSlotRows")
    (param $dst i32) (param $table i32) (param $S i32) (param $rows i32) (param $n i32) (param $width i32) (param $sq f64) (result f64)
    (local $i i32) (local $off i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $off (i32.shl (i32.mul (i32.load (i32.add (local.get $rows) (i32.shl (local.get $i) (i32.const 2)))) (local.get $width)) (i32.const 2)))
      (local.set $sq (f64.add (local.get $sq)
        (call $sumSlots (i32.add (local.get $dst) (local.get $off)) (local.get $table) (local.get $S) (local.get $off) (local.get $width))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $sq)
  )

  ;; dst rows r in rows[0..n) (each `width` floats at r*width) set to zero.
  (func (export "zeroRows")
    (param $dst i32) (param $rows i32) (param $n i32) (param $width i32)
    (local $i i32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $width) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (memory.fill
        (i32.add (local.get $dst) (i32.mul (i32.load (i32.add (local.get $rows) (i32.shl (local.get $i) (i32.const 2)))) (local.get $bytes)))
        (i32.const 0) (local.get $bytes))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
  )

  ;; The slot sum and Adam fused (no clipping: the factor is known before the sum): for i < n,
  ;; g = Σ_k slot_k[i] (k = 0..S-1 in order, float32 adds, as sumSlots; S = 0: g = +0), then
  ;; Adam on p, m, v with that g (as adam, with g' = g·scale). p, m, v are the byte addresses of
  ;; the first element; element i of slot k is at table[k] + off + 4i. Returns Σ g² as sumSlots
  ;; does. So: the bits of sumSlots into a gradient and adam on it, with the gradient never
  ;; written or read back.
  (func $sumSlotsAdam (export "sumSlotsAdam")
    (param $p i32) (param $m i32) (param $v i32) (param $table i32) (param $S i32) (param $off i32) (param $n i32)
    (param $scale f32) (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $stepSize f32) (param $sqrtBc2 f32) (param $eps f32) (param $decay f32) (result f64)
    (local $i i32) (local $end i32) (local $vend i32) (local $k i32) (local $a i32)
    (local $x v128) (local $gi v128) (local $mi v128) (local $vi v128)
    (local $lo v128) (local $hi v128) (local $accLo v128) (local $accHi v128)
    (local $xs f32) (local $gs f32) (local $ms f32) (local $vs f32) (local $tail f64) (local $xd f64)
    (local $SC v128) (local $B1 v128) (local $C1 v128) (local $B2 v128) (local $C2 v128)
    (local $SS v128) (local $BC v128) (local $E v128) (local $D v128)
    (local.set $SC (f32x4.splat (local.get $scale)))
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $C1 (f32x4.splat (local.get $c1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $C2 (f32x4.splat (local.get $c2)))
    (local.set $SS (f32x4.splat (local.get $stepSize)))
    (local.set $BC (f32x4.splat (local.get $sqrtBc2)))
    (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $D (f32x4.splat (local.get $decay)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vend (i32.and (local.get $end) (i32.const -16)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $vend)))
      (local.set $a (i32.add (local.get $off) (local.get $i)))
      (local.set $x (if (result v128) (i32.eqz (local.get $S))
        (then (v128.const i32x4 0 0 0 0))
        (else (v128.load (i32.add (i32.load (local.get $table)) (local.get $a))))))
      (local.set $k (i32.const 1))
      (block $kdone (loop $kl
        (br_if $kdone (i32.ge_u (local.get $k) (local.get $S)))
        (local.set $x (f32x4.add (local.get $x)
          (v128.load (i32.add (i32.load (i32.add (local.get $table) (i32.shl (local.get $k) (i32.const 2)))) (local.get $a)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl)))
      (local.set $lo (f64x2.promote_low_f32x4 (local.get $x)))
      (local.set $hi (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))
      (local.set $accLo (f64x2.add (local.get $accLo) (f64x2.mul (local.get $lo) (local.get $lo))))
      (local.set $accHi (f64x2.add (local.get $accHi) (f64x2.mul (local.get $hi) (local.get $hi))))
      (local.set $gi (f32x4.mul (local.get $x) (local.get $SC)))
      (local.set $mi (f32x4.add
        (f32x4.mul (local.get $B1) (v128.load (i32.add (local.get $m) (local.get $i))))
        (f32x4.mul (local.get $C1) (local.get $gi))))
      (local.set $vi (f32x4.add
        (f32x4.mul (local.get $B2) (v128.load (i32.add (local.get $v) (local.get $i))))
        (f32x4.mul (f32x4.mul (local.get $C2) (local.get $gi)) (local.get $gi))))
      (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mi))
      (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vi))
      (v128.store (i32.add (local.get $p) (local.get $i))
        (f32x4.sub
          (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $i))) (local.get $D))
          (f32x4.div
            (f32x4.mul (local.get $SS) (local.get $mi))
            (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vi)) (local.get $BC)) (local.get $E)))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
    (block $tdone (loop $t
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $a (i32.add (local.get $off) (local.get $i)))
      (local.set $xs (if (result f32) (i32.eqz (local.get $S))
        (then (f32.const 0))
        (else (f32.load (i32.add (i32.load (local.get $table)) (local.get $a))))))
      (local.set $k (i32.const 1))
      (block $kdone2 (loop $kl2
        (br_if $kdone2 (i32.ge_u (local.get $k) (local.get $S)))
        (local.set $xs (f32.add (local.get $xs)
          (f32.load (i32.add (i32.load (i32.add (local.get $table) (i32.shl (local.get $k) (i32.const 2)))) (local.get $a)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kl2)))
      (local.set $xd (f64.promote_f32 (local.get $xs)))
      (local.set $tail (f64.add (local.get $tail) (f64.mul (local.get $xd) (local.get $xd))))
      (local.set $gs (f32.mul (local.get $xs) (local.get $scale)))
      (local.set $ms (f32.add
        (f32.mul (local.get $b1) (f32.load (i32.add (local.get $m) (local.get $i))))
        (f32.mul (local.get $c1) (local.get $gs))))
      (local.set $vs (f32.add
        (f32.mul (local.get $b2) (f32.load (i32.add (local.get $v) (local.get $i))))
        (f32.mul (f32.mul (local.get $c2) (local.get $gs)) (local.get $gs))))
      (f32.store (i32.add (local.get $m) (local.get $i)) (local.get $ms))
      (f32.store (i32.add (local.get $v) (local.get $i)) (local.get $vs))
      (f32.store (i32.add (local.get $p) (local.get $i))
        (f32.sub
          (f32.mul (f32.load (i32.add (local.get $p) (local.get $i))) (local.get $decay))
          (f32.div
            (f32.mul (local.get $stepSize) (local.get $ms))
            (f32.add (f32.div (f32.sqrt (local.get $vs)) (local.get $sqrtBc2)) (local.get $eps)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $t)))
    (f64.add
      (f64.add
        (f64.add (f64x2.extract_lane 0 (local.get $accLo)) (f64x2.extract_lane 1 (local.get $accLo)))
        (f64.add (f64x2.extract_lane 0 (local.get $accHi)) (f64x2.extract_lane 1 (local.get $accHi))))
      (local.get $tail))
  )

  ;; sumSlotsAdam over whole token rows: for each row r in rows[0..n), the `width` elements at
  ;; r*width of the arrays at p, m, v (their element 0) and of every slot; returns sq0 + each
  ;; row's Σ g², added in list order (as sumSlotRows).
  (func (export "sumSlotRowsAdam")
    (param $p i32) (param $m i32) (param $v i32) (param $table i32) (param $S i32) (param $rows i32) (param $n i32) (param $width i32) (param $sq f64)
    (param $scale f32) (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $stepSize f32) (param $sqrtBc2 f32) (param $eps f32) (param $decay f32) (result f64)
    (local $i i32) (local $off i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $off (i32.shl (i32.mul (i32.load (i32.add (local.get $rows) (i32.shl (local.get $i) (i32.const 2)))) (local.get $width)) (i32.const 2)))
      (local.set $sq (f64.add (local.get $sq)
        (call $sumSlotsAdam
          (i32.add (local.get $p) (local.get $off)) (i32.add (local.get $m) (local.get $off)) (i32.add (local.get $v) (local.get $off))
          (local.get $table) (local.get $S) (local.get $off) (local.get $width)
          (local.get $scale) (local.get $b1) (local.get $c1) (local.get $b2) (local.get $c2)
          (local.get $stepSize) (local.get $sqrtBc2) (local.get $eps) (local.get $decay))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $sq)
  )

  ;; Adam with a zero gradient on [p, p+4n), m, v likewise: adam's operations on g = +0 (whose
  ;; products g·scale, c1·g' and (c2·g')·g' are computed once), without reading a gradient and
  ;; without the sum of squares. The same bits as adam on a zero gradient.
  (func $adamZero
    (param $p i32) (param $m i32) (param $v i32) (param $n i32)
    (param $scale f32) (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $stepSize f32) (param $sqrtBc2 f32) (param $eps f32) (param $decay f32)
    (local $i i32) (local $end i32) (local $vend i32) (local $gi v128) (local $mi v128) (local $vi v128)
    (local $B1 v128) (local $CG v128) (local $B2 v128) (local $VG v128) (local $SS v128) (local $BC v128) (local $E v128) (local $D v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $gi (f32x4.mul (v128.const i32x4 0 0 0 0) (f32x4.splat (local.get $scale))))
    (local.set $CG (f32x4.mul (f32x4.splat (local.get $c1)) (local.get $gi)))
    (local.set $VG (f32x4.mul (f32x4.mul (f32x4.splat (local.get $c2)) (local.get $gi)) (local.get $gi)))
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $SS (f32x4.splat (local.get $stepSize)))
    (local.set $BC (f32x4.splat (local.get $sqrtBc2)))
    (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $D (f32x4.splat (local.get $decay)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vend (i32.and (local.get $end) (i32.const -16)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $vend)))
      (local.set $mi (f32x4.add (f32x4.mul (local.get $B1) (v128.load (i32.add (local.get $m) (local.get $i)))) (local.get $CG)))
      (local.set $vi (f32x4.add (f32x4.mul (local.get $B2) (v128.load (i32.add (local.get $v) (local.get $i)))) (local.get $VG)))
      (v128.store (i32.add (local.get $m) (local.get $i)) (local.get $mi))
      (v128.store (i32.add (local.get $v) (local.get $i)) (local.get $vi))
      (v128.store (i32.add (local.get $p) (local.get $i))
        (f32x4.sub
          (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $i))) (local.get $D))
          (f32x4.div
            (f32x4.mul (local.get $SS) (local.get $mi))
            (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vi)) (local.get $BC)) (local.get $E)))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))
    (local.set $gs (f32.mul (f32.const 0) (local.get $scale)))
    (block $tdone (loop $t
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $ms (f32.add
        (f32.mul (local.get $b1) (f32.load (i32.add (local.get $m) (local.get $i))))
        (f32.mul (local.get $c1) (local.get $gs))))
      (local.set $vs (f32.add
        (f32.mul (local.get $b2) (f32.load (i32.add (local.get $v) (local.get $i))))
        (f32.mul (f32.mul (local.get $c2) (local.get $gs)) (local.get $gs))))
      (f32.store (i32.add (local.get $m) (local.get $i)) (local.get $ms))
      (f32.store (i32.add (local.get $v) (local.get $i)) (local.get $vs))
      (f32.store (i32.add (local.get $p) (local.get $i))
        (f32.sub
          (f32.mul (f32.load (i32.add (local.get $p) (local.get $i))) (local.get $decay))
          (f32.div
            (f32.mul (local.get $stepSize) (local.get $ms))
            (f32.add (f32.div (f32.sqrt (local.get $vs)) (local.get $sqrtBc2)) (local.get $eps)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $t)))
  )

  ;; Adam with a zero gradient on the token rows r in [r0, r1) that no slot touched (mark[r] = 0,
  ;; an i32 per row), each run of such rows as one span: the bits of adam on a gradient that is
  ;; zero there, without reading it.
  (func (export "adamUnmarked")
    (param $p i32) (param $m i32) (param $v i32) (param $mark i32) (param $r0 i32) (param $r1 i32) (param $width i32)
    (param $scale f32) (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $stepSize f32) (param $sqrtBc2 f32) (param $eps f32) (param $decay f32)
    (local $r i32) (local $a i32) (local $off i32)
    (local.set $r (local.get $r0))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $r) (local.get $r1)))
      (if (i32.load (i32.add (local.get $mark) (i32.shl (local.get $r) (i32.const 2))))
        (then (local.set $r (i32.add (local.get $r) (i32.const 1))) (br $l)))
      (local.set $a (local.get $r))
      (block $rdone (loop $rl
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $r1)))
        (br_if $rdone (i32.load (i32.add (local.get $mark) (i32.shl (local.get $r) (i32.const 2)))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl)))
      (local.set $off (i32.shl (i32.mul (local.get $a) (local.get $width)) (i32.const 2)))
      (call $adamZero
        (i32.add (local.get $p) (local.get $off)) (i32.add (local.get $m) (local.get $off)) (i32.add (local.get $v) (local.get $off))
        (i32.mul (i32.sub (local.get $r) (local.get $a)) (local.get $width))
        (local.get $scale) (local.get $b1) (local.get $c1) (local.get $b2) (local.get $c2)
        (local.get $stepSize) (local.get $sqrtBc2) (local.get $eps) (local.get $decay))
      (br $l)))
  )
)
