// The adaptive softmax (Grave et al. 2017) with the semantics of PyTorch's
// nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value, head_bias). Tokens are split by the
// cutoffs into a shortlist [0, c_0) and tail clusters i = [c_i, c_{i+1}) (the last to V). The
// head scores the shortlist and one token per cluster; cluster i's tail is a projection
// H → hsz_i = ⌊H / div^(i+1)⌋ then a layer to the cluster's size, without biases:
//
//   head:  ℓ = log softmax(W_head·h (+ b_head))                     (shortlist + clusters)
//   tail:  τ_i = log softmax(W_out,i·(W_proj,i·h))                  (size_i)
//   log p(y) = ℓ[y]                          y in the shortlist
//            = ℓ[shortlist + i] + τ_i[y − c_i]  y in cluster i
//
// The training loss is Σ −log p(y) over the real steps, as PyTorch's forward (its `output`, a
// mean there, a sum here). Only the rows whose target falls in cluster i go through tail i, so
// the cost per row is the head plus, for a rare target, one small tail. Backward, for each part
// (head over every row, tail i over its rows), with d = softmax − onehot of that part's target:
//
//   head:  dW_head += dᵀ·h,  db_head += Σ d,  dh = d·W_head
//   tail:  dW_out,i += dᵀ·u (u = W_proj,i·h),  du = d·W_out,i,  dW_proj,i += duᵀ·h,  dh += du·W_proj,i
//
// Forward runs the backend's fused softmaxXent (no gradient) on the head's rows and on each
// cluster's packed rows: it leaves probabilities (one exp per output), the argmax and the loss
// log p(target) from the logits in float64, so backward's d = p − onehot is a subtraction.
// Evaluation's loss is the same exact log p(target). The most probable token (accuracy) follows
// PyTorch's predict(): the head's argmax when it is a shortlist token (every tail token of cluster
// i has log p ≤ ℓ[shortlist + i] ≤ that); otherwise tails are computed for that row, the argmax
// cluster's first, then only clusters whose ℓ could still beat the best so far. logProbs gives
// every token's log p, as PyTorch's log_prob (generation).

import type { Params } from '../params.js';
import { type Float, argmaxRow, fill } from '../kernels.js';
import type { Batch } from '../batch.js';
import type { Workspace, ForwardResult } from '../rnn.js';
import { Epi, type Kernels } from '../backend/index.js';
import { adaptiveShape, type AdaptiveCluster, type ModelSpec } from '../spec.js';
import type { OutputHead } from './types.js';
import { realRows, logSoftmaxRow } from './common.js';

/** Rows a scratch block of the prediction and logProbs passes holds. */
const BLOCK = 64;

export class AdaptiveHead implements OutputHead {
  private readonly shortlist: number;
  private readonly hs: number; //          head outputs: shortlist + clusters
  private readonly clusters: AdaptiveCluster[];
  private readonly maxRows: number;
  private readonly L: Float; //            (maxRows, hs) the head's probabilities, then its dlogits (logProbs: ℓ)
  // Tail i's rows, packed by cluster: its block starts at row off[i]; widths H, hsz_i, size_i.
  private readonly X: Float; //            (maxRows, H) the rows' states h, then dL/dh of the tail
  private readonly U: Float; //            (maxRows, hsz_0) u = W_proj·h
  private readonly dU: Float; //           (maxRows, hsz_0)
  private readonly O: Float; //            (maxRows, max size) the tails' probabilities, then their dlogits
  private readonly fromA: Int32Array; //   (maxRows) the rows' indices into ws.A (r + B), where the kernels read them
  private readonly toOut: Int32Array; //   (maxRows) their indices into ws.dOut (r)
  private readonly rel: Int32Array; //     (maxRows) target − c_i
  private readonly ones: Float; //         (maxRows) 1: every packed row's weight in softmaxXent
  private readonly amT: Int32Array; //     (maxRows) each packed row's argmax in its cluster
  private readonly off: Int32Array;
  private readonly count: Int32Array;
  /** Per state row r: the head's target (a shortlist token or shortlist + cluster), −1 on padding. */
  private readonly headTarget: Int32Array;
  private readonly rows: Int32Array;
  private readonly targets: Int32Array;
  // Scratch blocks of BLOCK rows for predictions and logProbs.
  private readonly sX: Float;
  private readonly sU: Float;
  private readonly sO: Float;
  private readonly sIds: Int32Array;
  private readonly sYs: Int32Array; //     (BLOCK) zeros: a scratch row's target (its loss is not used)
  private readonly sAm: Int32Array; //     (BLOCK) the scratch rows' argmax
  private readonly best: Float64Array; //  prediction: the best log p so far of each real row, and its token
  private readonly pred: Int32Array;
  private readonly argCluster: Int32Array;
  /** Per real row: the packed row q of its target's cluster (its τ is in O already), −1 for a shortlist target. */
  private readonly packed: Int32Array;

  constructor(private readonly spec: ModelSpec, private readonly k: Kernels, maxRows: number) {
    const a = adaptiveShape(spec), H = spec.H;
    this.shortlist = a.shortlist;
    this.hs = a.headSize;
    this.clusters = a.clusters;
    this.maxRows = maxRows;
    const maxSize = Math.max(...a.clusters.map((c) => c.size)), hsz0 = a.clusters[0].hsz, blk = Math.min(BLOCK, maxRows);
    this.L = k.floats(maxRows * a.headSize);
    this.X = k.floats(maxRows * H);
    this.U = k.floats(maxRows * hsz0);
    this.dU = k.floats(maxRows * hsz0);
    this.O = k.floats(maxRows * maxSize);
    this.fromA = k.ints(maxRows);
    this.toOut = k.ints(maxRows);
    this.rel = k.ints(maxRows);
    this.ones = k.floats(maxRows);
    this.ones.fill(1);
    this.amT = k.ints(maxRows);
    this.off = new Int32Array(a.clusters.length + 1);
    this.count = new Int32Array(a.clusters.length);
    this.headTarget = new Int32Array(maxRows);
    this.rows = new Int32Array(maxRows);
    this.targets = new Int32Array(maxRows);
    this.sX = k.floats(blk * H);
    this.sU = k.floats(blk * hsz0);
    this.sO = k.floats(blk * maxSize);
    this.sIds = k.ints(blk);
    this.sYs = k.ints(blk);
    this.sAm = k.ints(blk);
    this.best = new Float64Array(maxRows);
    this.pred = new Int32Array(maxRows);
    this.argCluster = new Int32Array(maxRows);
    this.packed = new Int32Array(maxRows);
  }

  /** The tail cluster of token y, or −1 for the shortlist. */
  private clusterOf(y: number): number {
    let i = -1;
    while (i + 1 < this.clusters.length && y >= this.clusters[i + 1].lo) i++;
    return i;
  }

  /** The head's logits W_head·h + b of `rows` states (stride H) at states[so..] into L (normalized by the caller). */
  private head(p: Params, states: Float, so: number, rows: number): void {
    const a = p.adaptive!;
    this.k.gemm(this.L, 0, this.hs, states, so, this.spec.H, 1, a.head, 0, 1, this.spec.H, rows, this.hs, this.spec.H, 0, a.headBias.length > 0 ? a.headBias : null, Epi.None);
  }

  /**
   * Tail i's logits for n rows whose states are rows ids[io..io+n) of `states` (stride H): gathered
   * into x (stride H), u = W_proj,i·x into u (stride hsz), W_out,i·u into o (stride size).
   */
  private tail(p: Params, i: number, states: Float, ids: Int32Array, io: number, n: number, x: Float, xo: number, u: Float, uo: number, o: Float, oo: number): void {
    const { H } = this.spec, c = this.clusters[i], a = p.adaptive!, k = this.k;
    k.gatherRows(x, xo, H, states, H, ids, io, 1, n, H, false);
    k.gemm(u, uo, c.hsz, x, xo, H, 1, a.proj[i], 0, 1, H, n, c.hsz, H, 0, null, Epi.None); //    u = W_proj·h
    k.gemm(o, oo, c.size, u, uo, c.hsz, 1, a.out[i], 0, 1, c.hsz, n, c.size, c.hsz, 0, null, Epi.None); // W_out·u
  }

  forward(p: Params, ws: Workspace, batch: Batch): ForwardResult {
    const { H } = this.spec, { B, T } = batch, hs = this.hs, L = this.L, nC = this.clusters.length, k = this.k;
    this.head(p, ws.A, B * H, T * B);
    const n = realRows(batch, this.rows, this.targets);
    this.headTarget.fill(-1, 0, T * B);
    ws.wy.fill(0, 0, T * B); // padding rows: weight 0, no loss
    this.count.fill(0);
    for (let j = 0; j < n; j++) {
      const r = this.rows[j], y = this.targets[j], i = this.clusterOf(y);
      const h = i < 0 ? y : this.shortlist + i;
      this.headTarget[r] = ws.ys[r] = h;
      ws.wy[r] = 1;
      if (i >= 0) this.count[i]++;
    }
    // The head's rows: probabilities, argmax (ws.am) and −Σ ℓ_head[target], in the backend.
    let lossSum = k.softmaxXent(L, 0, hs, T * B, hs, ws.ys, 0, ws.wy, 0, ws.am, 0, null, 0);
    // Pack each cluster's rows, in row order.
    this.off[0] = 0;
    for (let i = 0; i < nC; i++) this.off[i + 1] = this.off[i] + this.count[i];
    this.count.fill(0);
    for (let j = 0; j < n; j++) {
      const y = this.targets[j], i = this.clusterOf(y);
      this.packed[j] = -1;
      if (i < 0) continue;
      const q = (this.packed[j] = this.off[i] + this.count[i]++);
      this.fromA[q] = this.rows[j] + B;
      this.toOut[q] = this.rows[j];
      this.rel[q] = y - this.clusters[i].lo;
    }
    for (let i = 0; i < nC; i++) {
      const m = this.count[i], q0 = this.off[i], size = this.clusters[i].size;
      if (m === 0) continue;
      const oo = q0 * this.maxSizeStride();
      this.tail(p, i, ws.A, this.fromA, q0, m, this.X, q0 * H, this.U, q0 * this.clusters[0].hsz, this.O, oo);
      lossSum += k.softmaxXent(this.O, oo, size, m, size, this.rel, q0, this.ones, q0, this.amT, q0, null, 0); // −Σ τ_i[y − c_i]
    }
    return { lossSum, count: n, correct: this.predict(p, ws.A, ws.am, B, n) };
  }

  private maxSizeStride(): number {
    return this.O.length / this.maxRows;
  }

  backward(p: Params, g: Params, ws: Workspace, batch: Batch): void {
    const { H } = this.spec, { B, T } = batch, hs = this.hs, L = this.L, k = this.k, rows = T * B;
    const a = p.adaptive!, ga = g.adaptive!;
    for (let r = 0; r < rows; r++) {
      const h = this.headTarget[r];
      if (h < 0) fill(L, r * hs, hs, 0); // padding: no gradient
      else L[r * hs + h] -= 1; //            p − onehot
    }
    k.gemm(ga.head, 0, H, L, 0, 1, hs, ws.A, B * H, H, 1, hs, H, rows, 1, null, Epi.None); //   dW_head += dᵀ·h
    if (ga.headBias.length > 0) k.colSumAcc(ga.headBias, L, 0, hs, rows, hs);
    k.gemm(ws.dOut, 0, H, L, 0, hs, 1, a.head, 0, H, 1, rows, H, hs, 0, null, Epi.None); //      dh = d·W_head
    const hsz0 = this.clusters[0].hsz;
    this.clusters.forEach((c, i) => {
      const m = this.count[i], q0 = this.off[i], oo = q0 * this.maxSizeStride(), uo = q0 * hsz0, xo = q0 * H;
      if (m === 0) return;
      for (let q = 0; q < m; q++) this.O[oo + q * c.size + this.rel[q0 + q]] -= 1;
      k.gemm(ga.out[i], 0, c.hsz, this.O, oo, 1, c.size, this.U, uo, c.hsz, 1, c.size, c.hsz, m, 1, null, Epi.None); // dW_out += dᵀ·u
      k.gemm(this.dU, uo, c.hsz, this.O, oo, c.size, 1, a.out[i], 0, c.hsz, 1, m, c.hsz, c.size, 0, null, Epi.None); //  du = d·W_out
      k.gemm(ga.proj[i], 0, H, this.dU, uo, 1, c.hsz, this.X, xo, H, 1, c.hsz, H, m, 1, null, Epi.None); //              dW_proj += duᵀ·h
      k.gemm(this.X, xo, H, this.dU, uo, c.hsz, 1, a.proj[i], 0, H, 1, m, H, c.hsz, 0, null, Epi.None); //                dh_tail = du·W_proj
      k.scatterAddRows(ws.dOut, H, this.X, xo, H, this.toOut, q0, 1, m, H); //                                           dh += dh_tail
    });
  }

  /**
   * How many of the n real rows (this.rows, this.targets; the head's probabilities in L) have their target as the most
   * probable token, PyTorch's predict() rule (above).
   */
  private predict(p: Params, states: Float, am: Int32Array, B: number, n: number): number {
    const hs = this.hs, L = this.L, sl = this.shortlist, nC = this.clusters.length;
    let open = 0;
    for (let j = 0; j < n; j++) {
      const o = this.rows[j] * hs, m = am[this.rows[j]]; // the head's argmax, from softmaxXent
      this.argCluster[j] = m - sl;
      if (m < sl) { this.pred[j] = m; continue; }
      this.best[j] = sl > 0 ? Math.log(L[o + argmaxRow(L, o, sl)]) : -Infinity; // the best shortlist token so far (log p)
      this.pred[j] = sl > 0 ? argmaxRow(L, o, sl) : -1;
      open++;
    }
    if (open > 0) {
      // First each row's argmax cluster, then clusters whose ℓ still exceeds the row's best.
      for (let i = 0; i < nC; i++) this.tailsFor(p, states, B, n, i, true);
      for (let i = 0; i < nC; i++) this.tailsFor(p, states, B, n, i, false);
    }
    let correct = 0;
    for (let j = 0; j < n; j++) if (this.pred[j] === this.targets[j]) correct++;
    return correct;
  }

  /**
   * Tail i for the open real rows (first: those whose head argmax is cluster i; else: the others
   * whose ℓ[cluster i] exceeds their best so far), in blocks: updates their best log p and token.
   */
  private tailsFor(p: Params, states: Float, B: number, n: number, i: number, first: boolean): void {
    const c = this.clusters[i], blk = this.sIds.length, hs = this.hs, sl = this.shortlist, members = this.blockMembers;
    const stride = this.maxSizeStride(), q0 = this.off[i];
    let m = 0;
    for (let j = 0; j <= n; j++) {
      if (j < n) {
        const a = this.argCluster[j];
        const want = first ? a === i : a >= 0 && a !== i && Math.log(this.L[this.rows[j] * hs + sl + i]) > this.best[j];
        if (!want) continue;
        const q = this.packed[j];
        if (q >= q0 && q < q0 + this.count[i]) { // its target is in this cluster: τ was computed for the loss
          this.better(j, i, this.O, q0 * stride + (q - q0) * c.size, this.amT[q]);
          continue;
        }
        this.sIds[m] = this.rows[j] + B;
        members[m++] = j;
        if (m < blk) continue;
      }
      if (m === 0) continue;
      this.tail(p, i, states, this.sIds, 0, m, this.sX, 0, this.sU, 0, this.sO, 0);
      this.k.softmaxXent(this.sO, 0, c.size, m, c.size, this.sYs, 0, this.ones, 0, this.sAm, 0, null, 0); // probabilities, argmax
      for (let q = 0; q < m; q++) this.better(members[q], i, this.sO, q * c.size, this.sAm[q]);
      m = 0;
    }
  }

  /** Real row j's best token so far, against cluster i's most probable token t (its probabilities at tau[o..]). */
  private better(j: number, i: number, tau: Float, o: number, t: number): void {
    const c = this.clusters[i];
    const v = Math.log(this.L[this.rows[j] * this.hs + this.shortlist + i]) + Math.log(tau[o + t]);
    if (v > this.best[j]) { this.best[j] = v; this.pred[j] = c.lo + t; }
  }

  private readonly blockMembers = new Int32Array(BLOCK);

  logProbs(p: Params, states: Float, so: number, rows: number, out: Float, oo: number): void {
    const { H, C } = this.spec, hs = this.hs, L = this.L, sl = this.shortlist;
    if (rows > this.maxRows || so % H !== 0) throw new RangeError(`AdaptiveHead.logProbs: ${rows} rows at ${so} (at most ${this.maxRows}, at a multiple of H=${H})`);
    this.head(p, states, so, rows);
    for (let r = 0; r < rows; r++) {
      logSoftmaxRow(L, r * hs, hs);
      for (let y = 0; y < sl; y++) out[oo + r * C + y] = L[r * hs + y];
    }
    const blk = this.sIds.length;
    this.clusters.forEach((c, i) => {
      for (let r0 = 0; r0 < rows; r0 += blk) {
        const m = Math.min(blk, rows - r0);
        for (let q = 0; q < m; q++) this.sIds[q] = so / H + r0 + q;
        this.tail(p, i, states, this.sIds, 0, m, this.sX, 0, this.sU, 0, this.sO, 0);
        for (let q = 0; q < m; q++) {
          const r = r0 + q, lc = L[r * hs + sl + i];
          logSoftmaxRow(this.sO, q * c.size, c.size);
          for (let t = 0; t < c.size; t++) out[oo + r * C + c.lo + t] = lc + this.sO[q * c.size + t];
        }
      }
    });
  }
}
