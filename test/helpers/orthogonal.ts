/** max |QᵀQ − gain²·I| of the n×n row-major matrix q (the orthogonal init's blocks). */
export function orthoError(q: ArrayLike<number>, n: number, gain = 1): number {
  let m = 0;
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[k * n + a] * q[k * n + b];
      m = Math.max(m, Math.abs(s - (a === b ? gain * gain : 0)));
    }
  }
  return m;
}
