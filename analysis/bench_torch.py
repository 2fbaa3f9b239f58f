#!/usr/bin/env python3
"""The FedAvg client loop of `fedsim bench fl` in PyTorch, for comparison (issue 17).

Same workload: Fashion-MNIST from Debian's dataset-fashion-mnist (the IDX files), Dirichlet(alpha)
label skew over N clients (per class, proportions over clients; every client >= 10 samples),
K clients per round chosen uniformly, E local epochs of minibatch SGD (lr 0.1, no momentum) at
batch B from the global model, the update w_k - w as one flat vector, the weighted sum in double
and the server step w += sum / wsum. The same zoo models as fedsim (docs/models.md): logreg,
mlp 784-200-200-10, lenet, cnn (McMahan et al. 2017). One thread by default (torch.set_num_threads).

Prints one line per run: model, batch, threads, samples, seconds (process CPU time with one
thread, else wall), samples/s. Reported beside fedsim's figure by analysis/bench_fl.sh; never
needed by tests or runs (PyTorch: Debian's python3-torch).

    python3 analysis/bench_torch.py --model mlp --batch 10 [--threads 1] [--seconds 3]
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FMNIST = "/usr/share/datasets/fashion-mnist"


def load_idx(name):
    with gzip.open(os.path.join(FMNIST, name), "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def dirichlet_split(labels, n_clients, alpha, rng, min_size=10):
    n, classes = len(labels), int(labels.max()) + 1
    for _ in range(1000):
        parts = [[] for _ in range(n_clients)]
        for c in range(classes):
            idx = np.flatnonzero(labels == c)
            rng.shuffle(idx)
            p = rng.dirichlet(np.full(n_clients, alpha))
            # NIID-Bench's balancing: clients already at n / N samples get no more
            p = p * np.array([len(q) < n / n_clients for q in parts])
            p = p / p.sum()
            cuts = (np.cumsum(p) * len(idx)).astype(int)[:-1]
            for k, part in enumerate(np.split(idx, cuts)):
                parts[k].extend(part.tolist())
        if min(len(q) for q in parts) >= min_size:
            return [np.array(q, dtype=np.int64) for q in parts]
    raise SystemExit("no Dirichlet split with every client >= %d samples" % min_size)


def make_model(name):
    if name == "logreg":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 200),
                             nn.ReLU(), nn.Linear(200, 10))
    if name == "lenet":
        return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120),
                             nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, 10))
    raise SystemExit("unknown model " + name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--per-round", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    x = torch.from_numpy(load_idx("train-images-idx3-ubyte.gz").astype(np.float32) / 255.0)
    x = x.reshape(-1, 1, 28, 28)
    y = torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    parts = dirichlet_split(y.numpy(), a.clients, a.alpha, rng)
    model = make_model(a.model)
    params = list(model.parameters())
    glob = torch.nn.utils.parameters_to_vector(params).detach().clone()
    opt = torch.optim.SGD(params, lr=a.lr)

    def one_round():
        total = torch.zeros(glob.numel(), dtype=torch.float64)
        wsum, samples = 0.0, 0
        for c in rng.choice(a.clients, a.per_round, replace=False):
            idx = parts[c]
            torch.nn.utils.vector_to_parameters(glob, params)  # model copy in
            for _ in range(a.epochs):
                order = torch.from_numpy(rng.permutation(idx))
                for s in range(0, len(order), a.batch):
                    b = order[s:s + a.batch]
                    opt.zero_grad()
                    loss = F.cross_entropy(model(x[b]), y[b])
                    loss.backward()
                    opt.step()
            delta = torch.nn.utils.parameters_to_vector(params).detach() - glob  # w_k - w
            total += len(idx) * delta.double()  # aggregation in double
            wsum += len(idx)
            samples += a.epochs * len(idx)
        glob.add_((total / wsum).float())  # server step, server_lr 1
        return samples

    clock = time.process_time if a.threads == 1 else time.perf_counter
    one_round()  # warm-up
    t0, n, rounds = clock(), 0, 0
    while True:
        n += one_round()
        rounds += 1
        if clock() - t0 >= a.seconds:
            break
    dt = clock() - t0
    print("torch %s model=%s batch=%d threads=%d rounds=%d samples=%d seconds=%.3f samples/s=%.0f"
          % (torch.__version__, a.model, a.batch, a.threads, rounds, n, dt, n / dt))


if __name__ == "__main__":
    main()
