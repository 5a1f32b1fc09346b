#!/usr/bin/python3
"""The long-range tasks of src/bench/longrange.ts in PyTorch, for comparison (README: the long-range
dependency). T = 100, embedding 8, H = 32, Adam 0.01, clipping at 5, batch 32; held-out accuracy on
1,024 fixed sequences every 100 steps. Tasks as in longrange.ts:

  first   label = the first token (8 classes), then 99 distractors from 20 other tokens
  adding  each step a value 0..4 and a marker bit (token 1 + v + 5*marker); two marked steps, one in
          each half; label = the sum of their values (9 classes)

  /usr/bin/python3 bench/pytorch/longrange.py CELL [TASK] [SEED] [STEPS]   (CELL: rnn, lstm or gru)
"""
import sys
import time

import torch

cell = sys.argv[1]
task = sys.argv[2] if len(sys.argv) > 2 else 'first'
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
steps = int(sys.argv[4]) if len(sys.argv) > 4 else 2350
torch.manual_seed(seed)
torch.set_num_threads(1)
T, E, H, B = 100, 8, 32, 32
V, C = (1 + 8 + 20, 8) if task == 'first' else (1 + 10, 9)


def batch(n, g=None):
    if task == 'first':
        y = torch.randint(0, 8, (n,), generator=g)
        x = 9 + torch.randint(0, 20, (n, T), generator=g)
        x[:, 0] = 1 + y
        return x, y
    v = torch.randint(0, 5, (n, T), generator=g)
    m1 = torch.randint(0, T // 2, (n,), generator=g)
    m2 = T // 2 + torch.randint(0, T - T // 2, (n,), generator=g)
    mark = torch.zeros(n, T, dtype=torch.long)
    mark[torch.arange(n), m1] = 1
    mark[torch.arange(n), m2] = 1
    return 1 + v + 5 * mark, (v * mark).sum(1)


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.rnn = {'rnn': torch.nn.RNN, 'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}[cell](E, H, batch_first=True)
        self.fc = torch.nn.Linear(H, C)

    def forward(self, x):
        out, _ = self.rnn(self.emb(x))
        return self.fc(out[:, -1])


model = Model()
opt = torch.optim.Adam(model.parameters(), lr=0.01)
held_x, held_y = batch(1024, torch.Generator().manual_seed(999))
t0 = time.time()
for step in range(1, steps + 1):
    x, y = batch(B)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5)
    opt.step()
    if step % 100 == 0 or step == steps:
        with torch.no_grad():
            acc = (model(held_x).argmax(1) == held_y).float().mean().item()
        print(f'{cell} {task} step {step} loss {loss.item():.4f} held-out accuracy {acc:.4f} ({time.time() - t0:.1f} s)', flush=True)
