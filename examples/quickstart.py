"""The library in a dozen lines: sample data, train, look at signal learning, memorization and ranks."""

import os

import cnnrank

quick = os.environ.get("CNNRANK_EXAMPLE_QUICK") == "1"
d, steps = (200, 200) if quick else (2000, 3000)
model = cnnrank.SignalNoiseModel(d=d, K=4, patches=3, signal_norm=5.0, noise_std=0.5, balanced=True)
data, test = model.sample(128, rng=0), model.sample(256, rng=1)
net = cnnrank.TwoLayerCNN.init(m=40, d=d, init_std=0.01, activation=cnnrank.HuberizedReLU(kappa=1.0, q=3), rng=2)
traj = cnnrank.train(net, data, lr=2.0, steps=steps, test=test, engine="auto")

print(traj.summary())
print("data stable rank  :", round(cnnrank.stable_rank(cnnrank.data_matrix(data.X)), 2))
print("clean data        :", round(cnnrank.stable_rank(cnnrank.data_matrix(data.clean().X)), 2))
print("filters (final)   :", round(float(traj.filter_stable_rank[-1]), 2))
print("γ shape", traj.gamma.shape, "ρ shape", traj.rho.shape)
