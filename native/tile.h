// A partial tile of C through a full-size copy, so that the full-tile micro-kernel runs on the edge
// of a product too (impl.h's float32 gemm, bf16.h's bf16 one). Plain scalar code, level-neutral:
// kernels.cc includes it once, before the ISA regions.
#pragma once

/** C's mr×nr corner (mr ≤ MR, nr ≤ NR) as an MR×NR tile t: run(t, bias copied or null) on it, then back. */
template <int MR, int NR, class Run>
static inline void partialTile(float* C, long ldc, int mr, int nr, bool load, const float* bias, Run run) {
  alignas(64) float t[MR * NR] = {};
  alignas(64) float bt[NR] = {};
  if (load)
    for (int i = 0; i < mr; i++)
      for (int j = 0; j < nr; j++) t[i * NR + j] = C[i * ldc + j];
  if (bias)
    for (int j = 0; j < nr; j++) bt[j] = bias[j];
  run(t, bias ? bt : nullptr);
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) C[i * ldc + j] = t[i * NR + j];
}
