"""Stage-like learning in a linear CNN versus a linear FCNN, on data built in the Fourier domain.

A weak mode (s=1) lives at one frequency; a strong mode (s=2) is spread evenly over 12
frequencies. The fully connected network learns the strong mode first (Saxe et al.), the CNN with
full-length circular kernels learns the weak single-frequency mode first (dominant-frequency bias).
The network is trained on an actual sampled dataset (whitened inputs) through the moments.

Run:  python examples/linear_cnn_stages.py      (CNNRANK_EXAMPLE_QUICK=1 for a shorter run)
"""

import os

import numpy as np

from cnnrank.linear import (
    GDConfig,
    LinearCNN,
    LinearFCNN,
    cnn_mode_rate,
    half_times,
    mode_strengths,
    ordering_task,
    sample_dataset,
    seed_streams,
    train,
)

quick = os.environ.get("CNNRANK_EXAMPLE_QUICK") == "1"
task_seed, data_seed, init_seed = seed_streams(0, 3)  # one independent stream per random draw
task = ordering_task(n=32, rng=task_seed)
X, Y = sample_dataset(task, n_samples=64, rng=data_seed)  # X: (64, 32) with XᵀX/n = I exactly
n = X.shape[0]
sxx, syx, syy = X.T @ X / n, Y.T @ X / n, float(np.sum(Y * Y) / n)

print("mode  s    dominant f  share   CNN rate (k=32)")
for a in range(2):
    rate = cnn_mode_rate(task.V[:, a], task.s[a], 32)
    print(f"{a:<5d} {task.s[a]:<4g} {task.dominant_frequency[a]:<11d} {task.dominant_share[a]:<7.3f} {rate:.3f}")

t_end = 6.0 if quick else 10.0
for name, net, lr in (("FCNN", LinearFCNN(32, 2, 16), 0.005), ("CNN ", LinearCNN(32, 2, 4, 32), 0.0025)):
    params = net.init(1e-2, rng=init_seed)
    cfg = GDConfig(lr=lr, steps=int(t_end / lr), record_every=10)
    traj = train(net, params, sxx, syx, cfg, syy=syy)  # a LinearTrajectory (save/load)
    u = mode_strengths(traj.weff, task.U, task.V)
    ht = half_times(traj.times, u, task.s)
    print(f"{name}: half-times t½ = {np.round(ht, 3).tolist()} (t = η × step),"
          f" final excess loss {traj.losses[-1]:.2e}")
