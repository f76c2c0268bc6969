"""A noise sweep with common random numbers, trained as one batch on one Gram matrix.

``sample_noise_levels`` draws the data once and returns it at every noise level (each level bit for bit
what ``sample`` draws at that level with the same seed); ``train_batched`` recognizes the family and
trains all levels on the Gram matrix of the unit-noise patches with row scales. The trajectories equal
``train`` run level by level to rounding level (docs/engines.md, "Batched runs").
"""

import os
import time

import numpy as np

import cnnrank

quick = os.environ.get("CNNRANK_EXAMPLE_QUICK") == "1"
d, steps = (300, 150) if quick else (2000, 1000)
levels = [0.05, 0.1, 0.2, 0.4, 0.8]
model = cnnrank.SignalNoiseModel(d=d, K=4, patches=3, signal_norm=5.0, balanced=True)
data = model.sample_noise_levels(128, levels, rng=0)
test = model.sample_noise_levels(256, levels, rng=1)
net = cnnrank.TwoLayerCNN.init(m=40, d=d, init_std=0.01, activation=cnnrank.HuberizedReLU(1.0, 3), rng=2)

start = time.perf_counter()
batched = cnnrank.train_batched(net, data, lr=2.0, steps=steps, record_every=steps // 10, test=test)
t_batched = time.perf_counter() - start
start = time.perf_counter()
alone = [cnnrank.train(net, x, lr=2.0, steps=steps, record_every=steps // 10, test=t, engine="gram")
         for x, t in zip(data, test)]
t_alone = time.perf_counter() - start

print(f"{len(levels)} noise levels, {steps} steps: batched {t_batched:.2f} s, one by one {t_alone:.2f} s")
print(" σ_p   data srank  filter srank  learned dim  test acc  max rel. diff (batched vs alone)")
for level, x, b, a in zip(levels, data, batched, alone):
    diff = float(np.max(np.abs(b.W_final - a.W_final)) / np.max(np.abs(a.W_final)))
    assert b.metadata["noise_family_scale"] == level and diff < 1e-10
    print(f"{level:5.2f}  {cnnrank.stable_rank(cnnrank.data_matrix(x.X)):10.2f}  {b.filter_stable_rank[-1]:12.2f}"
          f"  {int(b.learned_dimension[-1]):11d}  {b.test_acc[-1]:8.3f}  {diff:.1e}")
