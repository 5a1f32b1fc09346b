// oneDNN (dnnl.hpp, v2.x API) timing of forward_training + backward for a 1-layer
// unidirectional f32 vanilla RNN (tanh) or LSTM. Usage:
//   [DT=bf16] dnnl_rnn_bench rnn|lstm E H B T [iters=50] [warmup=5]
// DT=bf16: src/dst/weights in bf16; bias and all diffs in f32 (oneDNN 2.6 requires f32 diffs).
// diff_dst_layer is nonzero only at the last time step (classifier loss at the last step);
// the backward still runs through all T steps. src_iter/dst_iter are zero/unused (empty md).
#include <dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <unordered_map>
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

static memory mk(const memory::desc &md, engine &eng) { return memory(md, eng); }
static void fill(memory &m, float scale, unsigned seed) {
  size_t n = m.get_desc().get_size() / sizeof(float);
  float *p = (float *)m.get_data_handle();
  for (size_t i = 0; i < n; i++) { seed = seed * 1664525u + 1013904223u; p[i] = scale * ((seed >> 8) * (1.0f / 16777216.0f) - 0.5f); }
}
// user-format memory -> primitive-chosen format (done once, outside the timed loop)
static memory to_pd(memory &user, const memory::desc &want, engine &eng, stream &s) {
  if (user.get_desc() == want) return user;
  memory m(want, eng);
  reorder(user, m).execute(s, user, m);
  s.wait();
  return m;
}

// rnn-trainer's bench reads this line and the last one (src/bench/onednn.ts)
static void print_impl(const char *f, const char *b) {
  const dnnl_version_t *v = dnnl_version();
  printf("impl fwd: %s  bwd: %s  oneDNN %d.%d.%d\n", f, b, v->major, v->minor, v->patch);
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: %s rnn|lstm E H B T [iters] [warmup]\n", argv[0]); return 1; }
  bool lstm = std::string(argv[1]) == "lstm";
  memory::dim E = atoi(argv[2]), H = atoi(argv[3]), B = atoi(argv[4]), T = atoi(argv[5]);
  int iters = argc > 6 ? atoi(argv[6]) : 50, warm = argc > 7 ? atoi(argv[7]) : 5;
  memory::dim G = lstm ? 4 : 1, L = 1, D = 1;
  engine eng(engine::kind::cpu, 0);
  stream s(eng);

  const char *dts = getenv("DT");
  dt X = (dts && std::string(dts) == "bf16") ? dt::bf16 : dt::f32;
  auto src_u = memory::desc({T, B, E}, dt::f32, tag::tnc), dst_u = memory::desc({T, B, H}, dt::f32, tag::tnc);
  auto src_md = memory::desc({T, B, E}, X, tag::tnc);
  auto dst_md = memory::desc({T, B, H}, X, tag::tnc);
  auto wl_user_md = memory::desc({L, D, E, G, H}, dt::f32, tag::ldigo);
  auto wi_user_md = memory::desc({L, D, H, G, H}, dt::f32, tag::ldigo);
  auto wl_any = memory::desc({L, D, E, G, H}, X, tag::any);
  auto wi_any = memory::desc({L, D, H, G, H}, X, tag::any);
  auto dwl_any = memory::desc({L, D, E, G, H}, dt::f32, tag::any);
  auto dwi_any = memory::desc({L, D, H, G, H}, dt::f32, tag::any);
  auto b_md = memory::desc({L, D, G, H}, dt::f32, tag::ldgo);
  memory::desc none;  // zero initial state / no final state

  auto dir = rnn_direction::unidirectional_left2right;
  primitive_desc fwd_pd_base, bwd_pd_base;
  primitive fwd, bwd;
  memory::desc fwd_wl, fwd_wi, bwd_wl, bwd_wi, dwl_md, dwi_md, db_md, ws_md;
  if (!lstm) {
    auto fd = vanilla_rnn_forward::desc(prop_kind::forward_training, algorithm::eltwise_tanh, dir,
                                        src_md, none, wl_any, wi_any, b_md, dst_md, none);
    auto fpd = vanilla_rnn_forward::primitive_desc(fd, eng);
    auto bd = vanilla_rnn_backward::desc(prop_kind::backward, algorithm::eltwise_tanh, dir,
                                         src_md, none, wl_any, wi_any, b_md, dst_md, none,
                                         src_u, none, dwl_any, dwi_any, b_md, dst_u, none);
    auto bpd = vanilla_rnn_backward::primitive_desc(bd, eng, fpd);
    fwd_wl = fpd.weights_layer_desc(); fwd_wi = fpd.weights_iter_desc(); ws_md = fpd.workspace_desc();
    bwd_wl = bpd.weights_layer_desc(); bwd_wi = bpd.weights_iter_desc();
    dwl_md = bpd.diff_weights_layer_desc(); dwi_md = bpd.diff_weights_iter_desc(); db_md = bpd.diff_bias_desc();
    print_impl(fpd.impl_info_str(), bpd.impl_info_str());
    fwd = vanilla_rnn_forward(fpd); bwd = vanilla_rnn_backward(bpd);
  } else {
    auto fd = lstm_forward::desc(prop_kind::forward_training, dir, src_md, none, none, wl_any, wi_any,
                                 b_md, dst_md, none, none);
    auto fpd = lstm_forward::primitive_desc(fd, eng);
    auto bd = lstm_backward::desc(prop_kind::backward, dir, src_md, none, none, wl_any, wi_any, b_md,
                                  dst_md, none, none, src_u, none, none, dwl_any, dwi_any, b_md, dst_u,
                                  none, none);
    auto bpd = lstm_backward::primitive_desc(bd, eng, fpd);
    fwd_wl = fpd.weights_layer_desc(); fwd_wi = fpd.weights_iter_desc(); ws_md = fpd.workspace_desc();
    bwd_wl = bpd.weights_layer_desc(); bwd_wi = bpd.weights_iter_desc();
    dwl_md = bpd.diff_weights_layer_desc(); dwi_md = bpd.diff_weights_iter_desc(); db_md = bpd.diff_bias_desc();
    print_impl(fpd.impl_info_str(), bpd.impl_info_str());
    fwd = lstm_forward(fpd); bwd = lstm_backward(bpd);
  }

  memory src_f = mk(src_u, eng), dst = mk(dst_md, eng), bias = mk(b_md, eng);
  memory wl_u = mk(wl_user_md, eng), wi_u = mk(wi_user_md, eng);
  fill(src_f, 1.0f, 1); memory src = to_pd(src_f, src_md, eng, s); fill(wl_u, 0.2f, 2); fill(wi_u, 0.2f, 3); fill(bias, 0.1f, 4);
  memory wl_f = to_pd(wl_u, fwd_wl, eng, s), wi_f = to_pd(wi_u, fwd_wi, eng, s);
  memory wl_b = to_pd(wl_u, bwd_wl, eng, s), wi_b = to_pd(wi_u, bwd_wi, eng, s);
  memory ws = mk(ws_md, eng);
  memory dsrc = mk(src_u, eng), ddst_f = mk(dst_u, eng);  // oneDNN wants all diffs in f32
  memory dwl = mk(dwl_md, eng), dwi = mk(dwi_md, eng), db = mk(db_md, eng);
  memset(ddst_f.get_data_handle(), 0, ddst_f.get_desc().get_size());
  { float *p = (float *)ddst_f.get_data_handle() + (T - 1) * B * H;  // last step only
    for (memory::dim i = 0; i < B * H; i++) p[i] = 0.01f * ((i % 7) - 3); }
  memory ddst = ddst_f;

  std::unordered_map<int, memory> fargs = {{DNNL_ARG_SRC_LAYER, src}, {DNNL_ARG_WEIGHTS_LAYER, wl_f},
      {DNNL_ARG_WEIGHTS_ITER, wi_f}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST_LAYER, dst}, {DNNL_ARG_WORKSPACE, ws}};
  std::unordered_map<int, memory> bargs = {{DNNL_ARG_SRC_LAYER, src}, {DNNL_ARG_WEIGHTS_LAYER, wl_b},
      {DNNL_ARG_WEIGHTS_ITER, wi_b}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST_LAYER, dst}, {DNNL_ARG_WORKSPACE, ws},
      {DNNL_ARG_DIFF_DST_LAYER, ddst}, {DNNL_ARG_DIFF_SRC_LAYER, dsrc}, {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl},
      {DNNL_ARG_DIFF_WEIGHTS_ITER, dwi}, {DNNL_ARG_DIFF_BIAS, db}};

  auto step = [&]() {
    // oneDNN RNN backward accumulates into diff weights: zero them each step (as a trainer must)
    memset(dwl.get_data_handle(), 0, dwl_md.get_size());
    memset(dwi.get_data_handle(), 0, dwi_md.get_size());
    memset(db.get_data_handle(), 0, db_md.get_size());
    fwd.execute(s, fargs);
    bwd.execute(s, bargs);
    s.wait();
  };
  for (int i = 0; i < warm; i++) step();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; i++) step();
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
  double tok = double(B) * T / sec;
  double flop_tok = 6.0 * G * (double(E) * H + double(H) * H);
  printf("%s%s E=%ld H=%ld B=%ld T=%ld: %.3f ms/step  %.0f tokens/s  %.2f GFLOP/s\n",
         lstm ? "lstm" : "rnn", X == dt::bf16 ? "-bf16" : "", (long)E, (long)H, (long)B, (long)T, sec * 1e3, tok, tok * flop_tok / 1e9);
  return 0;
}
