#!/usr/bin/python3
"""PyTorch (CPU) side of `npm run bench -- --compare pytorch`: the bench's model, trained by PyTorch.

Model (as src/bench/bench.ts): token -> Embedding(V,E) (or one-hot) -> nn.RNN tanh / nn.LSTM / nn.GRU
(--cell; 1 layer, batch_first) -> state at each sequence's last real token -> Linear(H,C) -> cross-entropy
(mean over the batch); Adam lr 1e-3; float32; random tokens uniform in [1, V) (0 pads). One step =
zero_grad + forward + backward + optimizer step. Lengths: "full" (every sequence T tokens) or
"variable" (uniform in [T/4, T], pack_padded_sequence; tokens/s counts real tokens).
A language model (task "lm": the LM-* workloads, `npm run bench -- --task lm`): the states of every
real step -> Linear(H,V) -> cross-entropy against the next token (a full softmax, the mean over all
real positions; with variable lengths only the real positions' logits are computed). Its random
tokens are Zipf-distributed by default (--tokens: id 1 + r with P(r) proportional to 1/(r + 1), the
distribution src/bench/zipf.ts draws from; uniform for classifiers). Its output layer (--head): full
(Linear(H, V)), tied (the Linear's weight is the embedding's; with E != H through a Linear(H, E)
projection without bias) or adaptive (nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value,
head_bias=False) with the workload's "adaptive" cutoffs and divValue; its loss the mean -log p).

One-hot input: Wax·onehot(x) is a gather of Wax's column x, i.e. Embedding(V, G·H) giving the input
projection itself. nn.RNN/LSTM/GRU always apply weight_ih, so it is frozen at the identity (not trained,
not in Adam): the model is exactly ours, at the price of one (B·T × G·H)·(G·H × G·H) product forward and
one backward per step that our side does not do (see README.md in this folder).

Tuned as ../../README.md says (and /work/shared/bench/peers/pytorch/README.md measured): one intra-op
thread and OPENBLAS_NUM_THREADS=1, OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset so OpenBLAS picks its
AVX-512 kernel, the pthread OpenBLAS put first on LD_LIBRARY_PATH (Debian's torch 1.13 links the generic
libblas.so.3), and glibc malloc told to keep freed memory (MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_:
otherwise every step page-faults its tensors back in). These act when libraries load, so the script
re-executes itself once with that environment (--as-installed skips it).

Two ways to run it (with the Debian interpreter that python3-torch serves: /usr/bin/python3):

  /usr/bin/python3 bench_rnn.py --workload W-medium [--input onehot] [--lengths variable] [--cell lstm] [--seconds 10]
      standalone: warm up, time for --seconds, print one JSON line and a summary

  /usr/bin/python3 bench_rnn.py --serve
      a long-lived child driven over stdin/stdout, one JSON object per line each way (the Node bench
      alternates rounds between its trainer and this process). It first prints
      {"ready": true, "torch": ..., "threads": 1, "openblas_core": ..., ...} (or {"error": ..., "missing": "torch"}
      and exits with status 3 if torch cannot be imported). Then, per request line, one reply line:
        {"cmd":"setup","V":..,"E":..,"H":..,"C":..,"B":..,"T":..,["task":"classify"|"lm"],"cell":"rnn","input":"embedding"|"onehot",
         "lengths":"full"|"variable", ["batchLengths": [[B lengths], ...]], ["seed": 0], ["id": "x"],
         ["head":"full"|"tied"|"adaptive", "adaptive":{"cutoffs":[..],"divValue":4}], ["tokens":"uniform"|"zipf"]}
            -> {"ok":true,"id":..,"params":..,"trainable":..,"batches":..,"tokensPerStep":[..],"setupMs":..}
               (builds the model and its batches, then runs 3 warm-up steps; several ids may coexist)
        {"cmd":"run","seconds":1, ["id": "x"], ["maxSteps": N]}
            -> {"steps":..,"tokens":..,"ms":[per-step ms],"stepTokens":[real tokens per step]}  (>= 1 step)
        {"cmd":"mm","M":..,"N":..,"K":..,"seconds":0.5, ["transB": true]}
            -> {"gflops":..,"usPerCall":..,"calls":..}  torch.mm(A[M,K], B[K,N]) into a preallocated C
               (transB: B is stored N×K and used transposed, as nn.RNN's h·W_hhᵀ)
        {"cmd":"drop","id":"x"}   {"cmd":"info"}   {"cmd":"quit"}
      A request that fails gets {"error": "..."}; the process keeps serving.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS_FILE = os.path.join(HERE, '..', 'workloads.json')
OPENBLAS_DIR = '/usr/lib/x86_64-linux-gnu/openblas-pthread'
TUNED_FLAG = '_RNN_TRAINER_TORCH_ENV'
GATES = {'rnn': 1, 'gru': 3, 'lstm': 4}
INSTALL = 'apt-get update && apt-get install -y python3-torch libopenblas0-pthread'


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--serve', action='store_true', help='JSON-lines requests on stdin, replies on stdout')
    p.add_argument('--workload', default='W-medium', help='a name in ../workloads.json (W-small, W-medium, W-large)')
    p.add_argument('--workloads-file', default=WORKLOADS_FILE)
    p.add_argument('--cell', choices=sorted(GATES), default='rnn')
    p.add_argument('--input', choices=['embedding', 'onehot'], default='embedding')
    p.add_argument('--lengths', choices=['full', 'variable'], default='full')
    p.add_argument('--head', choices=['full', 'tied', 'adaptive'], default='full',
                   help="a language model's output layer (adaptive: the workload's cutoffs and divValue)")
    p.add_argument('--tokens', choices=['uniform', 'zipf'], default=None,
                   help='random token ids: zipf (default for language models) or uniform (classifiers)')
    p.add_argument('--seconds', type=float, default=10.0, help='standalone: timed seconds (after warm-up)')
    p.add_argument('--threads', type=int, default=1, help='torch intra-op threads = OPENBLAS_NUM_THREADS (default 1)')
    p.add_argument('--as-installed', action='store_true',
                   help='do not tune the environment (OpenBLAS env, LD_LIBRARY_PATH, malloc) - for comparison')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--precision', choices=['f32', 'bf16'], default='f32', help='bf16: the forward under torch.autocast(cpu, bfloat16)')
    return p.parse_args()


def tuned_env(threads):
    """The environment the libraries must see when they load."""
    env = dict(os.environ)
    env[TUNED_FLAG] = '1'
    env['OPENBLAS_NUM_THREADS'] = str(threads)
    env['OMP_NUM_THREADS'] = str(threads)
    # Let OpenBLAS detect the core (AVX-512 'Cooperlake'/'SkylakeX' kernels) instead of a forced type.
    env.pop('OPENBLAS_CORETYPE', None)
    env.pop('OPENBLAS_L2_SIZE', None)
    if os.path.exists(os.path.join(OPENBLAS_DIR, 'libblas.so.3')):
        env['LD_LIBRARY_PATH'] = OPENBLAS_DIR + (':' + env['LD_LIBRARY_PATH'] if env.get('LD_LIBRARY_PATH') else '')
    # glibc keeps freed memory (no munmap of big tensors, no trimming): no page faults per step.
    env['MALLOC_MMAP_THRESHOLD_'] = str(1 << 30)
    env['MALLOC_TRIM_THRESHOLD_'] = str(1 << 32)
    return env


def reexec_tuned(a):
    if a.as_installed or os.environ.get(TUNED_FLAG) == '1':
        return
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, tuned_env(a.threads))


def env_info(torch):
    info = {
        'torch': torch.__version__,
        'python': sys.executable + ' ' + sys.version.split()[0],
        'threads': torch.get_num_threads(),
        'tuned': os.environ.get(TUNED_FLAG) == '1',
    }
    for k in ('OPENBLAS_NUM_THREADS', 'OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'MALLOC_MMAP_THRESHOLD_',
              'MALLOC_TRIM_THRESHOLD_', 'LD_LIBRARY_PATH'):
        if os.environ.get(k) is not None:
            info[k] = os.environ[k]
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and ('blas' in parts[-1] or 'mkl' in parts[-1]):
                    libs.add(os.path.realpath(parts[-1]))
    except OSError:
        pass
    info['blas_loaded'] = sorted(libs)
    try:
        import ctypes
        ob = [l for l in libs if 'openblas' in l]
        if ob:
            lib = ctypes.CDLL(ob[0])
            lib.openblas_get_corename.restype = ctypes.c_char_p
            info['openblas_core'] = lib.openblas_get_corename().decode()
            info['openblas_threads'] = lib.openblas_get_num_threads()
    except Exception as e:  # noqa: BLE001
        info['openblas_core'] = f'? {e}'
    return info


def adaptive_clusters(V, H, cutoffs, div):
    """(lo, size, hsz) of each tail cluster, as nn.AdaptiveLogSoftmaxWithLoss builds them."""
    cut = list(cutoffs) + [V]
    return [(cut[i], cut[i + 1] - cut[i], int(H // (div ** (i + 1)))) for i in range(len(cutoffs))]


def flops_per_token(w, cell, onehot, lm=False, head='full', shares=()):
    """The workloads.json count: 6·G·(E·H + H·H), the E·H term dropped with one-hot input (a gather);
    a language model adds the output layer it computes: full 6·V·H, tied 6·V·E (+ 6·E·H, the projection,
    when E != H), adaptive 6·H·(shortlist + clusters) + sum over clusters of the share of targets in it
    times 6·(H·hsz + hsz·size)."""
    G = GATES[cell]
    V, E, H = w['V'], w['E'], w['H']
    out = 0
    if lm and head == 'tied' and not onehot:
        out = 6 * V * E + (6 * E * H if E != H else 0)
    elif lm and head == 'adaptive':
        cutoffs, div = w['adaptive']['cutoffs'], w['adaptive']['divValue']
        clusters = adaptive_clusters(V, H, cutoffs, div)
        out = 6 * H * (cutoffs[0] + len(clusters)) + sum(s * 6 * (H * hsz + hsz * size) for s, (_, size, hsz) in zip(shares, clusters))
    elif lm:
        out = 6 * V * H
    return 6 * G * ((0 if onehot else E * H) + H * H) + out


def zipf_tokens(torch, V, shape, g):
    """Ids 1 + r, r in [0, V-1) with P(r) proportional to 1/(r + 1) (src/bench/zipf.ts's distribution)."""
    cdf = torch.cumsum(1.0 / torch.arange(1, V, dtype=torch.float64), 0)
    u = torch.rand(shape, generator=g, dtype=torch.float64) * cdf[-1]
    return 1 + torch.searchsorted(cdf, u).clamp_(max=V - 2)


class Bench:
    """One model, its optimizer and its batches, ready to step."""

    def __init__(self, torch, req):
        import torch.nn as nn
        import torch.nn.functional as F
        self.torch = torch
        V, E, H, C, B, T = (int(req[k]) for k in ('V', 'E', 'H', 'C', 'B', 'T'))
        cell = req.get('cell', 'rnn')
        if cell not in GATES:
            raise ValueError(f'cell must be one of {sorted(GATES)}, got {cell!r}')
        onehot = req.get('input', 'embedding') == 'onehot'
        task = req.get('task') or 'classify'
        if task not in ('classify', 'lm'):
            raise ValueError(f'task must be "classify" or "lm", got {task!r}')
        lm = task == 'lm'
        if lm:
            C = V  # the next token, over the whole vocabulary
        head = req.get('head') or 'full'
        if head not in ('full', 'tied', 'adaptive') or (head != 'full' and not lm):
            raise ValueError(f'head must be "full", "tied" or "adaptive" (the last two for a language model), got {head!r}')
        if head == 'tied' and onehot:
            raise ValueError('head "tied" needs an embedding input (a one-hot input has no table to share)')
        if head == 'adaptive' and not (req.get('adaptive') or {}).get('cutoffs'):
            raise ValueError('head "adaptive" needs "adaptive": {"cutoffs": [...], "divValue": ...}')
        tokens = req.get('tokens') or 'uniform'
        if tokens not in ('uniform', 'zipf'):
            raise ValueError(f'tokens must be "uniform" or "zipf", got {tokens!r}')
        lengths_mode = req.get('lengths', 'full')
        if lengths_mode not in ('full', 'variable'):
            raise ValueError(f'lengths must be "full" or "variable", got {lengths_mode!r}')
        seed = int(req.get('seed', 0))
        precision = req.get('precision') or 'f32'
        if precision not in ('f32', 'bf16'):
            raise ValueError(f'precision must be "f32" or "bf16", got {precision!r}')
        G = GATES[cell]
        torch.manual_seed(seed)
        rnn_class = {'rnn': lambda i: nn.RNN(i, H, num_layers=1, nonlinearity='tanh', batch_first=True),
                     'lstm': lambda i: nn.LSTM(i, H, num_layers=1, batch_first=True),
                     'gru': lambda i: nn.GRU(i, H, num_layers=1, batch_first=True)}[cell]

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                if onehot:
                    # Row v = Wax's column for token v, for every gate: the input projection itself.
                    self.emb = nn.Embedding(V, G * H)
                    nn.init.uniform_(self.emb.weight, -1 / math.sqrt(H), 1 / math.sqrt(H))
                    self.rnn = rnn_class(G * H)
                    with torch.no_grad():
                        self.rnn.weight_ih_l0.copy_(torch.eye(G * H))
                    self.rnn.weight_ih_l0.requires_grad_(False)
                else:
                    self.emb = nn.Embedding(V, E)
                    self.rnn = rnn_class(E)
                if head == 'adaptive':
                    a = req['adaptive']
                    self.asm = nn.AdaptiveLogSoftmaxWithLoss(H, V, list(a['cutoffs']), div_value=float(a['divValue']), head_bias=False)
                elif head == 'tied':
                    self.proj = nn.Linear(H, E, bias=False) if E != H else None
                    self.out = nn.Linear(E, C)
                    self.out.weight = self.emb.weight  # one (V, E) table, read by both
                else:
                    self.out = nn.Linear(H, C)

            def loss(self, x, lengths, y):
                if not lm:
                    return F.cross_entropy(self(x, lengths), y)
                # Every real step's state (packed: the real positions only) -> the output layer.
                e = self.emb(x)
                if lengths is not None:
                    e = nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
                    h = self.rnn(e)[0].data
                else:
                    h = self.rnn(e)[0].reshape(-1, H)
                if head == 'adaptive':
                    return self.asm(h, y).loss
                if head == 'tied' and self.proj is not None:
                    h = self.proj(h)
                return F.cross_entropy(self.out(h), y)

            def forward(self, x, lengths):
                e = self.emb(x)
                if lengths is not None:
                    e = nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
                _, h = self.rnn(e)  # h: [1, B, H], the state at each sequence's last real token
                if isinstance(h, tuple):
                    h = h[0]  # LSTM: (h, c)
                return self.out(h[-1])

        self.model = Model()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(trainable, lr=1e-3)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.trainable = sum(p.numel() for p in trainable)

        g = torch.Generator().manual_seed(seed * 7919 + 1)
        given = req.get('batchLengths')
        n_batches = len(given) if given else int(req.get('batches', 8))
        self.batches = []
        for i in range(n_batches):
            if lm:
                seq = zipf_tokens(torch, V, (B, T + 1), g) if tokens == 'zipf' else torch.randint(1, V, (B, T + 1), generator=g)
                x, y = seq[:, :T].contiguous(), seq[:, 1:].contiguous()  # the next token at every step
            else:
                x = zipf_tokens(torch, V, (B, T), g) if tokens == 'zipf' else torch.randint(1, V, (B, T), generator=g)
                y = torch.randint(0, C, (B,), generator=g)
            if lengths_mode == 'variable':
                if given:
                    lengths = torch.tensor([int(v) for v in given[i]], dtype=torch.int64)
                    if lengths.numel() != B or int(lengths.min()) < 1 or int(lengths.max()) > T:
                        raise ValueError(f'batchLengths[{i}]: need {B} lengths in [1, {T}]')
                else:
                    lengths = torch.randint(T // 4, T + 1, (B,), generator=g)
                x = x * (torch.arange(T)[None, :] < lengths[:, None])  # pad with 0 after the last real token
                if lm:  # the real targets in the packed order the model's logits come in
                    y = nn.utils.rnn.pack_padded_sequence(y, lengths, batch_first=True, enforce_sorted=False).data
                ntok = int(lengths.sum())
            else:
                lengths, ntok = None, B * T
                if lm:
                    y = y.reshape(-1)
            self.batches.append((x, y, lengths, ntok))
        self.k = 0
        model, opt = self.model, self.opt

        def step(batch):
            x, y, lengths, _ = batch
            opt.zero_grad(set_to_none=True)
            # bf16: autocast runs the matmuls (Linear, the RNN's) in bfloat16 with float32 weights
            # and optimizer; cross_entropy autocasts to float32.
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'):
                loss = model.loss(x, lengths, y)
            loss.backward()
            opt.step()
        self.step_fn = step
        shares = ()
        if head == 'adaptive':  # the share of real targets in each tail cluster: only those go through its tail
            ys = torch.cat([b[1].reshape(-1) for b in self.batches])
            shares = [float(((ys >= lo) & (ys < lo + size)).double().mean()) for lo, size, _ in adaptive_clusters(V, H, req['adaptive']['cutoffs'], req['adaptive']['divValue'])]
        self.flops_per_token = flops_per_token(dict(E=E, H=H, V=V, adaptive=req.get('adaptive')), cell, onehot, lm, head, shares)

    def run(self, seconds, max_steps=None):
        ms, toks = [], []
        clock = time.perf_counter
        start = clock()
        while True:
            b = self.batches[self.k % len(self.batches)]
            self.k += 1
            t0 = clock()
            self.step_fn(b)
            t1 = clock()
            ms.append(round((t1 - t0) * 1e3, 4))
            toks.append(b[3])
            if t1 - start >= seconds or (max_steps and len(ms) >= max_steps):
                break
        return {'steps': len(ms), 'tokens': sum(toks), 'ms': ms, 'stepTokens': toks}


def mm_bench(torch, req):
    """GFLOP/s of torch.mm of one shape: median over chunks of calls of ~2 ms each."""
    M, N, K = int(req['M']), int(req['N']), int(req['K'])
    seconds = float(req.get('seconds', 0.5))
    g = torch.Generator().manual_seed(0)
    a = torch.randn(M, K, generator=g)
    b = torch.randn(N, K, generator=g).t() if req.get('transB') else torch.randn(K, N, generator=g)
    c = torch.empty(M, N)
    mm = torch.mm
    for _ in range(20):
        mm(a, b, out=c)
    clock = time.perf_counter
    t0 = clock()
    n = 0
    while clock() - t0 < 0.01:
        mm(a, b, out=c)
        n += 1
    per_chunk = max(1, int(n * 0.002 / (clock() - t0)))
    times = []
    start = clock()
    while clock() - start < seconds or not times:
        t0 = clock()
        for _ in range(per_chunk):
            mm(a, b, out=c)
        times.append((clock() - t0) / per_chunk)
    med = statistics.median(times)
    return {'M': M, 'N': N, 'K': K, 'transB': bool(req.get('transB')), 'gflops': round(2 * M * N * K / med / 1e9, 3),
            'usPerCall': round(med * 1e6, 3), 'calls': per_chunk * len(times)}


def serve(torch, info):
    out = sys.stdout

    def reply(obj):
        out.write(json.dumps(obj, separators=(',', ':')) + '\n')
        out.flush()

    reply(dict(ready=True, **info))
    benches = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            cmd = req.get('cmd')
            if cmd == 'setup':
                t0 = time.perf_counter()
                key = str(req.get('id', 'default'))
                benches.pop(key, None)
                bench = Bench(torch, req)
                bench.run(0, max_steps=3)  # warm-up
                benches[key] = bench
                reply({'ok': True, 'id': key, 'params': bench.params, 'trainable': bench.trainable,
                       'batches': len(bench.batches), 'tokensPerStep': [b[3] for b in bench.batches],
                       'flopsPerToken': bench.flops_per_token, 'setupMs': round((time.perf_counter() - t0) * 1e3, 1)})
            elif cmd == 'run':
                key = str(req.get('id', 'default'))
                if key not in benches:
                    raise ValueError(f'no model {key!r}: send {{"cmd":"setup",...}} first')
                reply(benches[key].run(float(req.get('seconds', 1)), req.get('maxSteps')))
            elif cmd == 'mm':
                reply(mm_bench(torch, req))
            elif cmd == 'drop':
                benches.pop(str(req.get('id', 'default')), None)
                reply({'ok': True})
            elif cmd == 'info':
                reply(env_info(torch))
            elif cmd == 'quit':
                reply({'ok': True})
                return
            else:
                raise ValueError(f'unknown cmd {cmd!r} (setup, run, mm, drop, info, quit)')
        except Exception as e:  # noqa: BLE001 - report and keep serving
            reply({'error': f'{type(e).__name__}: {e}'})


def standalone(torch, info, a):
    with open(a.workloads_file) as f:
        all_w = json.load(f)['workloads']
    name = a.workload if a.workload in all_w else 'W-' + a.workload
    if name not in all_w:
        sys.exit(f'unknown workload {a.workload}; have {", ".join(all_w)}')
    w = all_w[name]
    lm = w.get('task') == 'lm'
    if a.head != 'full' and not lm:
        sys.exit(f'--head {a.head}: {name} is a classifier; the output layer over the vocabulary is for language models')
    if a.head == 'adaptive' and not w.get('adaptive'):
        sys.exit(f'--head adaptive: {name} has no "adaptive" cutoffs in {a.workloads_file}')
    tokens = a.tokens or ('zipf' if lm else 'uniform')
    bench = Bench(torch, dict(w, cell=a.cell, input=a.input, lengths=a.lengths, seed=a.seed, head=a.head, tokens=tokens, precision=a.precision))
    bench.run(0, max_steps=5)
    # Rounds of ~1 s, the median over all steps (as the Node bench takes them).
    ms, toks = [], []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < a.seconds or not ms:
        r = bench.run(min(1.0, a.seconds))
        ms += r['ms']
        toks += r['stepTokens']
    rates = [t / (m / 1e3) for t, m in zip(toks, ms)]
    tps = statistics.median(rates)
    res = dict(workload=name, task=w.get('task', 'classify'), cell=a.cell, input=a.input, lengths=a.lengths, head=a.head, tokens=tokens, precision=a.precision, threads=torch.get_num_threads(),
               tokensPerSec=round(tps), stepMs=round(statistics.median(ms), 3), steps=len(ms),
               gflops=round(tps * bench.flops_per_token / 1e9, 2), params=bench.params, env=info)
    print(json.dumps(res))
    print(f"{name} {a.cell} {a.input} {a.lengths}: {tps:,.0f} tokens/s (median over {len(ms)} steps), "
          f"{res['stepMs']} ms/step, ~{res['gflops']} GFLOP/s; torch {info['torch']}, "
          f"openblas core {info.get('openblas_core')}, {'tuned' if info['tuned'] else 'as installed'}",
          file=sys.stderr)


def main():
    a = parse_args()
    reexec_tuned(a)
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        msg = f'cannot import torch with {sys.executable}: {e}. Install it: {INSTALL}'
        if a.serve:
            print(json.dumps({'error': msg, 'missing': 'torch', 'reason': f'{type(e).__name__}: {e}'}), flush=True)
        else:
            print(msg, file=sys.stderr)
        sys.exit(3)
    torch.set_num_threads(a.threads)
    info = env_info(torch)
    if a.serve:
        serve(torch, info)
    else:
        standalone(torch, info, a)


if __name__ == '__main__':
    main()
