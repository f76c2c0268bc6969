"""Try the kinds of bad input a tester reported again, and count how each ends.

    python benchmarks/attack_inputs.py            # prints one line per input and the counts
    python benchmarks/attack_inputs.py --category signals --jobs 2   # one category, two cases at a time

Every case runs in its own subprocess (a crash or a hang cannot take the others down) with a time and
memory limit, and ends in one of:

* ``clear``  — a ``ValueError``/``TypeError``/``MemoryError`` family error or ``cnnrank.TrainingDiverged``
  whose message is one line (CLI: exit status 2, one line on stderr, no traceback, nothing written);
* ``right``  — the call succeeds with the right result (for inputs that are valid after all);
* ``raw``    — any other exception type, or a traceback on the command line;
* ``silent`` — the call succeeds although it should not (a wrong result or an unnoticed bad input);
* ``crash``  — the process died, ran out of memory or exceeded its time limit.

A valid input's case checks the RESULT (e.g. ``learned_dimension(A * 1e-170, Q) == learned_dimension(A, Q)``,
``plot R.json --out newdir/`` writes ``newdir/<name>.png``), so a wrong answer is ``silent``, not ``right``;
a ``RuntimeWarning`` printed on the way to an otherwise clear or right ending makes it ``raw``. Signal cases
start a command, send the signal after a delay and need one line on stderr, exit status ``128 + signum``,
no ``.tmp`` file and either all of the command's outputs or none.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 60
LIMIT_AS = 3 * 2**30  # address-space limit of each case

PRELUDE = """
import numpy as np, cnnrank, os, sys, json, gzip, pickle, io, struct, resource
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from cnnrank import SignalNoiseModel, TwoLayerCNN, HuberizedReLU, ReLU, PolyReLU, PatchData, train
tmp = Path(sys.argv[1])
model = SignalNoiseModel(d=20, K=2, noise_std=0.3)
data = model.sample(8, rng=0)
net = TwoLayerCNN.init(m=2, d=20, init_std=0.1, activation=HuberizedReLU(1.0, 3), rng=1)
FX = Path(sys.argv[2])  # fixtures: FX/sweep (a small sweep), FX/sim (simulate), FX/pd (phase diagram)
rs = np.random.default_rng(5)
A, Q, g = rs.standard_normal((6, 20)), rs.standard_normal((20, 3)), rs.standard_normal((2, 3, 4))
from cnnrank.experiments import RunConfig
import cnnrank.theory as th
from cnnrank import subspace as sub
cfg = RunConfig(n=16, n_test=16, d=60, K=2, m=4, steps=20, record_every=10)


def ok():
    raise SystemExit(0)
"""

# (name, category, code) — the code raises (an invalid input) or ends with ok() after checking its result
# (a valid one); returning without ok() means the bad input went unnoticed ("silent")
API = [
    ("train lr=1e200 huber3 feature", "divergence", "train(net, data, lr=1e200, steps=5, engine='feature')"),
    ("train lr=1e200 huber3 gram", "divergence", "train(net, data, lr=1e200, steps=5, engine='gram')"),
    ("train lr=1e200 relu", "divergence",
     "train(TwoLayerCNN(net.W, ReLU()), data, lr=1e200, steps=5, engine='gram')"),
    ("train init_std=1e200", "divergence",
     "train(TwoLayerCNN.init(2, 20, 1e200, HuberizedReLU(1.0, 3), rng=0), data, lr=0.1, steps=5)"),
    ("train_implicit lr=1e200", "divergence",
     "cnnrank.train_implicit(HuberizedReLU(1.0, 3), cnnrank.sample_gram(model, 8, 2, 0.1, rng=0), lr=1e200, steps=5)"),
    ("train NaN W0", "input", "W = net.W.copy(); W[0, 0, 0] = np.nan; train(TwoLayerCNN(W, net.activation), data, lr=0.1, steps=2)"),
    ("train engine=['feature']", "input", "train(net, data, lr=0.1, steps=2, engine=['feature'])"),
    ("train engine='grma'", "input", "train(net, data, lr=0.1, steps=2, engine='grma')"),
    ("train callback=5", "input", "train(net, data, lr=0.1, steps=2, callback=5)"),
    ("train blas_threads=True", "input", "train(net, data, lr=0.1, steps=2, blas_threads=True)"),
    ("train steps=10**15", "memory", "train(net, data, lr=0.1, steps=10**15, record_every=1)"),
    ("train_batched([], [])", "input", "cnnrank.train_batched([], [], lr=0.1, steps=2)"),
    ("data_rank_report(ndarray)", "input", "cnnrank.data_rank_report(np.zeros((3, 2, 4)))"),
    ("choose_engine(None)", "input", "from cnnrank.engines import choose_engine; choose_engine(None, data)"),
    ("network_output relu string", "input", "cnnrank.network_output(net.W, data.X, 'relu')"),
    ("HuberizedReLU(2, q=2000)", "input", "HuberizedReLU(kappa=2, q=2000)(np.array([1.0, 3.0]))"),
    ("sample rng=-1", "input", "model.sample(4, rng=-1)"),
    ("mismatched gram sample", "input",
     "from cnnrank.gram_sample import gram_sample_from_data; s = gram_sample_from_data(SignalNoiseModel(d=50, K=3), data, net.W); "
     "cnnrank.train_implicit(HuberizedReLU(1.0, 3), s, lr=0.1, steps=2)"),
    ("PatchData signal_id=[0.7, 1.9]", "input",
     "PatchData(X=np.zeros((2, 2, 3)), y=[1, -1], signals=np.eye(3)[:2], signal_id=[0.7, 1.9], signal_pos=[0, 0])"),
    ("PatchData complex X", "input", "PatchData(X=np.zeros((2, 2, 3)) + 1j, y=[1, -1])"),
    ("PatchData string X", "input", "PatchData(X=np.full((2, 2, 3), '1.5'), y=[1, -1])"),
    ("ImageSet label 99", "input",
     "from cnnrank.datasets import ImageSet; ImageSet(images=np.zeros((2, 4, 4, 1), np.uint8), labels=np.array([0, 99]), "
     "classes=tuple(str(i) for i in range(10)), name='x', split='test', files=())"),
    ("stable_rank eye*1e-200", "numerics", "r = cnnrank.stable_rank(np.eye(3) * 1e-200); assert r == 3.0, r; raise SystemExit(0)"),
    ("stable_rank eye*1e200", "numerics", "r = cnnrank.stable_rank(np.eye(3) * 1e200); assert r == 3.0, r; raise SystemExit(0)"),
    ("init_std=1e-200 filter srank", "numerics",
     "t = train(TwoLayerCNN.init(2, 20, 1e-200, HuberizedReLU(1.0, 3), rng=0), data, lr=0.1, steps=2); "
     "assert t.filter_stable_rank[0] > 0, t.filter_stable_rank; raise SystemExit(0)"),
    ("gram engine n=20000", "memory",
     "big = SignalNoiseModel(d=200, K=2, noise_std=0.3).sample(20000, rng=0); "
     "train(TwoLayerCNN.init(2, 200, 0.1, HuberizedReLU(1.0, 3), rng=0), big, lr=0.1, steps=1, engine='gram')"),
    ("trajectory train_loss 2 of 5 records", "loaders",
     "t = train(net, data, lr=0.1, steps=4, record_every=1); t.train_loss = t.train_loss[:2]; t.save(tmp / 't.npz'); "
     "cnnrank.Trajectory.load(tmp / 't.npz').summary()"),
    ("trajectory lr='abc'", "loaders",
     "t = train(net, data, lr=0.1, steps=2); t.lr = 'abc'; t.save(tmp / 't.npz'); cnnrank.Trajectory.load(tmp / 't.npz')"),
    ("npz header claims 1e12 floats", "loaders",
     "import zipfile; from numpy.lib import format as F\n"
     "buf = io.BytesIO(); F.write_array_header_1_0(buf, {'descr': '<f8', 'fortran_order': False, 'shape': (10**12,)})\n"
     "with zipfile.ZipFile(tmp / 'h.npz', 'w') as z: z.writestr('x.npy', buf.getvalue())\n"
     "from cnnrank.results import load_npz; load_npz(tmp / 'h.npz')"),
    ("mnist gz bomb 1 MB", "loaders",
     "d = tmp / 'm'; d.mkdir(); hdr = struct.pack('>IIII', 0x803, 10**6, 28, 28)\n"
     "with gzip.open(d / 't10k-images-idx3-ubyte.gz', 'wb') as f:\n"
     "    f.write(hdr)\n"
     "    [f.write(b'\\0' * 2**20) for _ in range(700)]\n"
     "with gzip.open(d / 't10k-labels-idx1-ubyte.gz', 'wb') as f: f.write(struct.pack('>II', 0x801, 10**6) + b'\\0' * 10**6)\n"
     "from cnnrank.datasets import load_mnist; load_mnist(d, split='test')"),
    ("mnist zero dim", "loaders",
     "d = tmp / 'z'; d.mkdir(); (d / 't10k-images-idx3-ubyte').write_bytes(struct.pack('>IIII', 0x803, 10, 0, 28))\n"
     "(d / 't10k-labels-idx1-ubyte').write_bytes(struct.pack('>II', 0x801, 10) + b'\\0' * 10)\n"
     "from cnnrank.datasets import load_mnist; load_mnist(d, split='test')"),
    ("cifar ndarray((600000, 3072))", "loaders",
     "d = tmp / 'c'; d.mkdir()\n"
     "class P:\n"
     "    def __reduce__(self): return (np.ndarray, ((600000, 3072), 'u1'))\n"
     "(d / 'test_batch').write_bytes(pickle.dumps({'data': P(), 'labels': [0] * 600000}, protocol=2))\n"
     "from cnnrank.datasets import load_cifar10; load_cifar10(d, split='test')"),
    ("cifar labels [10**100]", "loaders",
     "d = tmp / 'c2'; d.mkdir()\n"
     "(d / 'test_batch').write_bytes(pickle.dumps({'data': np.zeros((1, 3072), np.uint8), 'labels': [10**100]}, protocol=2))\n"
     "from cnnrank.datasets import load_cifar10; load_cifar10(d, split='test')"),
]


_SCALES = ("1e-170", "1e-100", "1e-30", "1e30", "1e100", "1e155", "1e200")

# ---- learned-subspace diagnostics: scale-invariant where the mathematics is, refusals in one line
API += [(f"learned_dimension(A*{s}, Q)", "subspace-scale",
         f"a, b = sub.learned_dimension(A * {s}, Q), sub.learned_dimension(A, Q); assert a == b, (a, b); ok()")
        for s in _SCALES]
API += [(f"energy_fraction(A*{s}, Q)", "subspace-scale",
         f"a, b = sub.energy_fraction(A * {s}, Q), sub.energy_fraction(A, Q); assert np.isclose(a, b, rtol=1e-12), (a, b); ok()")
        for s in _SCALES]
API += [(f"signal_overlap(g*{s})", "subspace-scale",
         f"a, b = sub.signal_overlap(g * {s}), sub.signal_overlap(g); assert np.isclose(a, b, rtol=1e-12), (a, b); ok()")
        for s in ("1e-200", "1e-100", "1e100", "1e200")]
API += [(f"principal_subspace(eye(3)*{s}, 0.9)", "subspace-scale",
         f"_, k = sub.principal_subspace(np.eye(3) * {s}, 0.9); assert k == 3, k; ok()")
        for s in ("1e-200", "1e-100", "1e100", "1e200")]
API += [
    ("principal_subspace(A*1e200) basis", "subspace-scale",
     "b1, k1 = sub.principal_subspace(A * 1e200, 0.5); b2, k2 = sub.principal_subspace(A, 0.5); assert k1 == k2; "
     "assert np.allclose(np.abs(b1.T @ b2), np.eye(k1), atol=1e-9); ok()"),
    ("learned_subspace_report(A*1e-170)", "subspace-scale",
     "r1, r2 = sub.learned_subspace_report(A * 1e-170, Q), sub.learned_subspace_report(A, Q); "
     "assert r1['learned_dimension'] == r2['learned_dimension'], (r1, r2); ok()"),
    ("learned_dimension(A, Q*1e200)", "subspace-scale",
     "assert sub.learned_dimension(A, Q * 1e200) == sub.learned_dimension(A, Q); ok()"),
    ("energy_fraction(A, Q*1e-200)", "subspace-scale",
     "assert np.isclose(sub.energy_fraction(A, Q * 1e-200), sub.energy_fraction(A, Q)); ok()"),
    ("learned_dimension(A with NaN)", "subspace-scale", "B = A.copy(); B[0, 0] = np.nan; sub.learned_dimension(B, Q)"),
    ("energy_fraction(A with inf)", "subspace-scale", "B = A.copy(); B[0, 0] = np.inf; sub.energy_fraction(B, Q)"),
    ("learned_dimension(A, Q of wrong d)", "subspace-scale", "sub.learned_dimension(A, Q[:5])"),
    ("principal_subspace(0)", "subspace-scale", "sub.principal_subspace(np.zeros((3, 3)), 0.9)"),
    ("principal_subspace(energy=1.5)", "subspace-scale", "sub.principal_subspace(A, 1.5)"),
    ("learned_dimension rtol=-1", "subspace-scale", "sub.learned_dimension(A, Q, rtol=-1.0)"),
    ("signal_overlap(NaN)", "subspace-scale", "G = g.copy(); G[0, 0, 0] = np.nan; sub.signal_overlap(G)"),
    ("from_grams proj x2 of gram", "subspace-scale",
     "G = A @ A.T; P = 2 * (A @ Q); sub.learned_subspace_from_grams(G[None], P[None] * 10)"),
    ("from_grams proj 200x", "subspace-scale",
     "O = np.linalg.qr(Q)[0]; G = A @ A.T; sub.learned_subspace_from_grams(G[None], (A @ O)[None] * np.sqrt(200))"),
    ("from_grams consistent", "subspace-scale",
     "O = np.linalg.qr(Q)[0]; G = A @ A.T; r = sub.learned_subspace_from_grams(G[None], (A @ O)[None]); "
     "assert int(r['learned_dimension'][0]) == sub.learned_dimension(A, Q); "
     "assert np.isclose(float(r['energy_fraction'][0]), sub.energy_fraction(A, Q)); ok()"),
    ("from_grams gram not symmetric", "subspace-scale",
     "G = A @ A.T; G[0, 1] += 5; sub.learned_subspace_from_grams(G[None], (A @ Q)[None])"),
    ("train on data*1e-100: diagnostics", "subspace-scale",
     "d2 = PatchData(X=data.X * 1e-100, y=data.y, signals=data.signals * 1e-100, signal_id=data.signal_id, "
     "signal_pos=data.signal_pos)\n"
     "t = train(net, d2, lr=0.1, steps=4, record_every=2)\n"
     "ld, ef = t.learned_dimension[-1], t.signal_energy_fraction[-1]\n"
     "assert ef > 0 or ld == 0, (ld, ef); ok()"),
]

# ---- theory functions: refuse what they cannot honour, in one line naming the argument
API += [(f"expected_patch_stable_rank(cfg, {v})", "theory-inputs", f"r = th.expected_patch_stable_rank(cfg, {v}); print(r)")
        for v in ("-1.0", "float('nan')", "float('inf')", "'0.5'", "[0.1, -0.2]", "True")]
API += [(f"expected_data_stable_rank(cfg, {v})", "theory-inputs", f"r = th.expected_data_stable_rank(cfg, {v}); print(r)")
        for v in ("-1.0", "float('nan')", "float('inf')", "'a'", "[[0.1, float('nan')]]")]
API += [(f"expected_max_group(draws={v})", "theory-inputs", f"th.expected_max_group(cfg, draws={v})")
        for v in ("0", "-1", "1.5", "True", "10**12")]
API += [
    ("expected_data_stable_rank(cfg, [[0.1, 0.2]])", "theory-inputs",
     "r = np.asarray(th.expected_data_stable_rank(cfg, [[0.1, 0.2]])); "
     "assert r.shape == (1, 2) and np.allclose(r.ravel(), [th.expected_data_stable_rank(cfg, v) for v in (0.1, 0.2)]), r; ok()"),
    ("expected_patch_stable_rank(cfg, 0.0)", "theory-inputs",
     "r = th.expected_patch_stable_rank(cfg, 0.0); assert np.isfinite(r) and r > 0, r; ok()"),
    ("expected_patch_stable_rank vector = scalars", "theory-inputs",
     "r = np.asarray(th.expected_patch_stable_rank(cfg, [0.1, 1.0, 10.0])); "
     "assert np.allclose(r, [th.expected_patch_stable_rank(cfg, v) for v in (0.1, 1.0, 10.0)], rtol=1e-14), r; ok()"),
    ("expected_max_group(draws=1)", "theory-inputs", "r = th.expected_max_group(cfg, draws=1); assert np.isfinite(r), r; ok()"),
    ("expected_filter_stable_rank(K=0)", "theory-inputs", "th.expected_filter_stable_rank(0, 0.5)"),
    ("expected_filter_stable_rank(overlap=NaN)", "theory-inputs", "print(th.expected_filter_stable_rank(2, float('nan')))"),
    ("expected_filter_stable_rank(overlap=2)", "theory-inputs", "print(th.expected_filter_stable_rank(2, 2.0))"),
    ("expected_filter_stable_rank(K=3, 0)", "theory-inputs",
     "assert np.isclose(th.expected_filter_stable_rank(3, 0.0), 6.0); ok()"),
    ("SignalNoiseModel(d=10**30)", "theory-inputs", "SignalNoiseModel(d=10**30, K=2)"),
    ("SignalNoiseModel(d=10**30).sample_gram", "theory-inputs", "SignalNoiseModel(d=10**30, K=2).sample_gram(4, 2, 0.1, rng=0)"),
    ("SignalNoiseModel(d=0)", "theory-inputs", "SignalNoiseModel(d=0, K=2)"),
    ("SignalNoiseModel(d=2.5)", "theory-inputs", "SignalNoiseModel(d=2.5, K=2)"),
    ("sample_noise_levels 10**6 levels (3 GB limit)", "theory-inputs",
     "SignalNoiseModel(d=200, K=2).sample_noise_levels(64, np.linspace(0, 1, 10**6), rng=0)"),
    ("sample_noise_levels negative level", "theory-inputs", "model.sample_noise_levels(4, [0.1, -0.2], rng=0)"),
    ("sample_noise_levels level b = sample", "theory-inputs",
     "fam = model.sample_noise_levels(4, [0.1, 0.7], rng=3); one = model.replace(noise_std=0.7).sample(4, rng=3); "
     "assert np.array_equal(fam[1].X, one.X); ok()"),
    ("predictions(cfg) finite", "theory-inputs",
     "p = th.predictions(cfg); assert all(np.isfinite(v) for v in p.values() if isinstance(v, float)), p; ok()"),
    ("signal_learning_time(level=-1)", "theory-inputs", "th.signal_learning_time(cfg, level=-1.0)"),
    ("time_to_loss(eps=0)", "theory-inputs", "th.time_to_loss(cfg, 0.0)"),
    ("verdict(tolerance=NaN)", "theory-inputs", "print(th.verdict(1.0, 1.0, float('nan')))"),
    ("TwoLayerCNN.init(init_std=1e308)", "theory-inputs", "TwoLayerCNN.init(2, 20, 1e308, ReLU(), rng=0)"),
    ("TwoLayerCNN.init(init_std=1e300)", "theory-inputs",
     "W = TwoLayerCNN.init(2, 20, 1e300, ReLU(), rng=0).W; assert np.all(np.isfinite(W)); ok()"),
]

# ---- loaders: value ranges, not only shapes
_TRAJ = ("t = train(net, data, lr=0.1, steps=4, record_every=2); t.save(tmp / 't.npz'); "
         "z = dict(np.load(tmp / 't.npz')); ")
API += [
    ("Trajectory.load learned_dimension 99 (m=2)", "loaders",
     _TRAJ + "z['learned_dimension'][:] = 99; np.savez(tmp / 't.npz', **z); cnnrank.Trajectory.load(tmp / 't.npz')"),
    ("Trajectory.load learned_dimension -1", "loaders",
     _TRAJ + "z['learned_dimension'][:] = -1; np.savez(tmp / 't.npz', **z); cnnrank.Trajectory.load(tmp / 't.npz')"),
    ("Trajectory.load signal_energy_fraction 7", "loaders",
     _TRAJ + "z['signal_energy_fraction'][:] = 7.0; np.savez(tmp / 't.npz', **z); cnnrank.Trajectory.load(tmp / 't.npz')"),
    ("Trajectory.load signal_energy_fraction NaN (a diverged record)", "loaders",
     _TRAJ + "z['signal_energy_fraction'][:] = np.nan; np.savez(tmp / 't.npz', **z); "
     "assert np.all(np.isnan(cnnrank.Trajectory.load(tmp / 't.npz').signal_energy_fraction)); ok()"),
    ("Trajectory.load train_acc 1.5", "loaders",
     _TRAJ + "z['train_acc'][:] = 1.5; np.savez(tmp / 't.npz', **z); cnnrank.Trajectory.load(tmp / 't.npz')"),
    ("Trajectory.load filter_stable_rank -3", "loaders",
     _TRAJ + "z['filter_stable_rank'][:] = -3.0; np.savez(tmp / 't.npz', **z); cnnrank.Trajectory.load(tmp / 't.npz')"),
    ("Trajectory.load steps decreasing", "loaders",
     _TRAJ + "z['steps'] = z['steps'][::-1].copy(); np.savez(tmp / 't.npz', **z); cnnrank.Trajectory.load(tmp / 't.npz')"),
    ("Trajectory.load learned_dimension float", "loaders",
     _TRAJ + "z['learned_dimension'] = z['learned_dimension'] + 0.5; np.savez(tmp / 't.npz', **z); "
     "cnnrank.Trajectory.load(tmp / 't.npz')"),
    ("Trajectory round trip", "loaders",
     "t = train(net, data, lr=0.1, steps=4, record_every=2); t.save(tmp / 't.npz'); u = cnnrank.Trajectory.load(tmp / 't.npz'); "
     "assert np.array_equal(u.gamma, t.gamma) and np.array_equal(u.learned_dimension, t.learned_dimension); ok()"),
    ("SweepResult.load a trajectory npz", "loaders",
     "from cnnrank.sweeps import SweepResult; SweepResult.load(FX / 'sim' / 'trajectory.npz')"),
    ("SweepResult.load round trip", "loaders",
     "from cnnrank.sweeps import SweepResult; r = SweepResult.load(FX / 'sweep' / 'results.npz'); "
     "s = SweepResult.load(FX / 'sweep' / 'results.json'); assert set(r.values) == set(s.values); ok()"),
    ("run_cell seed index -1", "loaders", "from cnnrank.sweeps import run_cell; run_cell(cfg.to_dict(), 0, -1)"),
    ("forged noise-family member trained as itself", "loaders",
     "fam = model.sample_noise_levels(8, [0.1, 0.5], rng=0); m = dict(fam[1].meta); "
     "nf = dict(m['noise_family']); nf['scale'] = 0.9; m['noise_family'] = nf; "
     "f = PatchData(X=fam[1].X * 3, y=fam[1].y, signals=fam[1].signals, signal_id=fam[1].signal_id, "
     "signal_pos=fam[1].signal_pos, meta=m)\n"
     "t = cnnrank.train_batched([net, net], [fam[0], f], lr=0.1, steps=3)[1]; u = train(net, f, lr=0.1, steps=3, engine='gram')\n"
     "assert np.allclose(t.coef, u.coef, rtol=1e-10, atol=1e-14), 'trained as the family member'; ok()"),
]

# ---- your own activation
_REG = ("def cube(z): return np.maximum(z, 0.0) ** 3\n"
        "def cube_grad(z): return 3.0 * np.maximum(z, 0.0) ** 2\n"
        "act = cnnrank.register_activation('my_cube', cube, cube_grad, power=3)\n")
API += [
    ("register + train by object", "activation",
     _REG + "t = train(TwoLayerCNN.init(2, 20, 0.1, act, rng=0), data, lr=0.1, steps=4); assert np.isfinite(t.train_loss[-1]); ok()"),
    ("register + RunConfig(activation=name)", "activation",
     _REG + "c = RunConfig(n=16, n_test=16, d=40, K=2, m=3, steps=10, record_every=5, activation='my_cube'); "
     "assert c.activation == 'my_cube'; ok()"),
    ("register + sweep over name", "activation",
     _REG + "from cnnrank.sweeps import SweepSpec, run_sweep\n"
     "r = run_sweep(SweepSpec(base=cfg, grid={'activation': ['my_cube', 'huber3']}), progress=False)\n"
     "assert r.values['train_loss'].shape[0] == 2 and np.all(np.isfinite(r.values['train_loss'])); ok()"),
    ("register + save/load", "activation",
     _REG + "t = train(TwoLayerCNN.init(2, 20, 0.1, act, rng=0), data, lr=0.1, steps=4); t.save(tmp / 't.npz'); "
     "u = cnnrank.Trajectory.load(tmp / 't.npz'); assert np.array_equal(u.gamma, t.gamma); ok()"),
    ("register + theory power", "activation",
     _REG + "a = th.benign_indicator(cfg.replace(activation='my_cube')); b = th.benign_indicator(cfg.replace(activation='poly3')); "
     "assert np.isclose(a, b), (a, b); ok()"),
    ("register + parse_activation", "activation",
     _REG + "from cnnrank.activations import parse_activation; assert parse_activation('my_cube') is act; ok()"),
    ("register sigma'(0) != 0", "activation",
     "cnnrank.register_activation('lin', lambda z: z, lambda z: np.ones_like(z))"),
    ("register wrong derivative", "activation",
     "cnnrank.register_activation('bad_d', lambda z: np.maximum(z, 0) ** 3, lambda z: 2 * np.maximum(z, 0) ** 2)"),
    ("register non-finite value", "activation",
     "cnnrank.register_activation('inf_v', lambda z: np.where(z > 1, np.inf, 0.0) + z ** 2, lambda z: 2 * z)"),
    ("register name 'relu'", "activation", "cnnrank.register_activation('relu', lambda z: z ** 2, lambda z: 2 * z)"),
    ("register name 3", "activation", "cnnrank.register_activation(3, lambda z: z ** 2, lambda z: 2 * z)"),
    ("register power=-1", "activation", "cnnrank.register_activation('sq', lambda z: z ** 2, lambda z: 2 * z, power=-1)"),
    ("register value not callable", "activation", "cnnrank.register_activation('sq2', 5, lambda z: 2 * z)"),
    ("register not vectorized", "activation",
     "import math; cnnrank.register_activation('sc', lambda z: math.tanh(z) ** 2, lambda z: 2 * math.tanh(z) / math.cosh(z) ** 2)"),
    ("plain Activation subclass in init", "activation",
     "from cnnrank.activations import Activation\n"
     "class Sq(Activation):\n"
     "    def __call__(self, z): return z ** 2\n"
     "    def grad(self, z): return 2 * z\n"
     "t = train(TwoLayerCNN.init(2, 20, 0.1, Sq(), rng=0), data, lr=0.1, steps=2); t.save(tmp / 't.npz'); "
     "u = cnnrank.Trajectory.load(tmp / 't.npz'); assert np.array_equal(u.gamma, t.gamma); ok()"),
    ("unknown name 'my_cub'", "activation", _REG + "from cnnrank.activations import parse_activation; parse_activation('my_cub')"),
    ("RunConfig(activation='HUBER3') canonical", "activation",
     "assert RunConfig(activation='HUBER3').activation == 'huber3'; ok()"),
    ("RunConfig(activation='huber')", "activation", "RunConfig(activation='huber')"),
    ("SweepSpec grid HUBER3 canonical", "activation",
     "from cnnrank.sweeps import SweepSpec; s = SweepSpec(base=cfg, grid={'activation': ['HUBER3', 'relu']}); "
     "assert s.grid['activation'] == ('huber3', 'relu'), s.grid; ok()"),
    ("SweepSpec grid huber3 + HUBER3", "activation",
     "from cnnrank.sweeps import SweepSpec; SweepSpec(base=cfg, grid={'activation': ['huber3', 'HUBER3']})"),
]

# ---- tidy results
API += [
    ("SweepResult.to_dataframe rows and ints", "tidy",
     "from cnnrank.sweeps import SweepResult; r = SweepResult.load(FX / 'sweep' / 'results.json'); df = r.to_dataframe(); "
     "assert len(df) == 2 * 2, len(df); assert df['learned_dimension'].dtype.kind == 'i', df.dtypes; ok()"),
    ("SweepResult.to_xarray dims", "tidy",
     "from cnnrank.sweeps import SweepResult; ds = SweepResult.load(FX / 'sweep' / 'results.npz').to_xarray(); "
     "assert dict(ds.sizes) == {'noise_std': 2, 'seed': 2}, ds.sizes; ok()"),
    ("to_dataframe(phase record)", "tidy",
     "from cnnrank.tidy import to_dataframe; df = to_dataframe(FX / 'pd' / 'phase_diagram.json'); assert len(df) > 0; ok()"),
    ("to_xarray(phase record)", "tidy",
     "from cnnrank.tidy import to_xarray; ds = to_xarray(FX / 'pd' / 'phase_diagram.json'); assert 'n' in ds.dims, ds.dims; ok()"),
    ("to_dataframe(trajectory)", "tidy",
     "from cnnrank.tidy import to_dataframe; df = to_dataframe(FX / 'sim' / 'trajectory.npz'); "
     "assert list(df['step'] if 'step' in df else df.index)[:1] == [0]; ok()"),
    ("to_dataframe(5)", "tidy", "from cnnrank.tidy import to_dataframe; to_dataframe(5)"),
    ("to_dataframe(a .npy)", "tidy", "np.save(tmp / 'x.npy', np.zeros(3)); from cnnrank.tidy import to_dataframe; to_dataframe(tmp / 'x.npy')"),
    ("to_dataframe(JSON list)", "tidy",
     "(tmp / 'r.json').write_text('[1, 2]'); from cnnrank.tidy import to_dataframe; to_dataframe(tmp / 'r.json')"),
    ("to_dataframe without pandas", "tidy",
     "sys.modules['pandas'] = None; from cnnrank.sweeps import SweepResult; SweepResult.load(FX / 'sweep' / 'results.json').to_dataframe()"),
    ("to_xarray without xarray", "tidy",
     "sys.modules['xarray'] = None; from cnnrank.sweeps import SweepResult; SweepResult.load(FX / 'sweep' / 'results.json').to_xarray()"),
]

# ---- figures and their functions (matplotlib's manner)
_FIG = "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; from cnnrank import plotting as pl\n" \
       "t = cnnrank.Trajectory.load(FX / 'sim' / 'trajectory.npz')\n"
API += [
    ("plot_losses(color='red') passes kwargs", "figures-api",
     _FIG + "fig, ax = plt.subplots(); r = pl.plot_losses(t, ax=ax, color='red'); "
     "from matplotlib.colors import to_rgba; assert ax.lines and all(to_rgba(l.get_color()) == to_rgba('red') for l in ax.lines); ok()"),
    ("plot_filter_rank(ax=ax) draws into ax", "figures-api",
     _FIG + "fig, ax = plt.subplots(); r = pl.plot_filter_rank(t, ax=ax); assert len(ax.lines) >= 1; ok()"),
    ("plot_gamma_rho(lw=3)", "figures-api",
     _FIG + "fig, ax = plt.subplots(); pl.plot_gamma_rho(t, ax=ax, lw=3); w = [l.get_linewidth() for l in ax.lines[:4]]; assert w == [3] * 4, w; ok()"),
    ("training_figure(fig=subfigure)", "figures-api",
     _FIG + "fig = plt.figure(); sf = fig.subfigures(1, 2)[0]; r = pl.training_figure(t, fig=sf); assert r is sf and sf.axes; ok()"),
    ("sweep_figure(fig=)", "figures-api",
     _FIG + "from cnnrank.sweeps import SweepResult; fig = plt.figure(); r = pl.sweep_figure(SweepResult.load(FX / 'sweep' / 'results.json'), fig=fig); "
     "assert r is fig and len(fig.axes) >= 4, len(fig.axes); "
     "assert any(a.get_yscale() == 'log' for a in fig.axes); assert 'noise_std' not in ' '.join(a.get_xlabel() for a in fig.axes); ok()"),
    ("phase_diagram_figure colour bar ticks", "figures-api",
     _FIG + "rec = json.loads((FX / 'pd' / 'phase_diagram.json').read_text()); fig = pl.phase_diagram_figure(rec); fig.canvas.draw(); "
     "assert len(fig.axes) >= 5; ok()"),
    ("phase_diagram_figure zero theory boundary", "figures-api",
     _FIG + "import warnings; warnings.simplefilter('error'); rec = json.loads((FX / 'pd' / 'phase_diagram.json').read_text()); "
     "rec['theory_boundary'] = [0.0] * len(rec['n']); pl.phase_diagram_figure(rec); ok()"),
    ("phase_diagram_figure(edgecolors=)", "figures-api",
     _FIG + "rec = json.loads((FX / 'pd' / 'phase_diagram.json').read_text()); pl.phase_diagram_figure(rec, edgecolors='k'); ok()"),
    ("phase_diagram_figure wrong shapes", "figures-api",
     _FIG + "rec = json.loads((FX / 'pd' / 'phase_diagram.json').read_text()); rec['test_acc'] = [[0.5]]; pl.phase_diagram_figure(rec)"),
    ("plot_rank_vs_noise(ax=, color=)", "figures-api",
     _FIG + "fig, ax = plt.subplots(); import inspect; assert 'ax' in inspect.signature(pl.plot_rank_vs_noise).parameters; "
     "assert any(p.kind == p.VAR_KEYWORD for p in inspect.signature(pl.plot_rank_vs_noise).parameters.values()); ok()"),
]

# ---- kernel-independent equality (grouped vs one-by-one: rounding where product shapes differ)
API += [
    (f"grouped vs cell-by-cell sweep ({cores})", "blas",
     (f"#env OPENBLAS_CORETYPE={cores}\n" if cores else "") +
     ("from cnnrank.sweeps import SweepSpec, run_sweep; from cnnrank.testing import SHAPE_RTOL, COUNT_METRICS, assert_sweeps_equal\n"
     "s = SweepSpec(base=cfg.replace(engine='gram'), grid={'noise_std': [0.1, 0.5, 1.0]}, seeds=2)\n"
     "assert_sweeps_equal(run_sweep(s, progress=False), run_sweep(s, progress=False, group=False), rtol=SHAPE_RTOL, exact=COUNT_METRICS); ok()"))
    for cores in ("", "Haswell")
] + [
    (f"train_batched B={b} = single runs", "blas",
     f"nets = [TwoLayerCNN.init(2, 20, 0.1, HuberizedReLU(1.0, 3), rng=i) for i in range({b})]\n"
     f"ts = cnnrank.train_batched(nets, [data] * {b}, lr=0.1, steps=6)\n"
     "for nt, t in zip(nets, ts):\n"
     "    u = train(nt, data, lr=0.1, steps=6, engine='gram')\n"
     "    assert np.allclose(t.coef, u.coef, rtol=1e-13, atol=1e-15 * np.abs(u.coef).max()), 'coef'\n"
     "ok()")
    for b in (1, 3, 5)
]

SMALL = ["--n", "16", "--n-test", "16", "--d", "60", "--K", "2", "--m", "4", "--steps", "20", "--record-every", "10"]
PD = ["reproduce", "phase-diagram", "--n-grid", "8,16", "--noise", "0.01,0.02", "--steps", "20", "--d", "100", "--K", "2",
      "--m", "4", "--n-test", "16", "--quiet"]

# (name, category, argv) — each must exit 2 with one stderr line and no traceback, writing nothing to OUT
CLI = [
    ("simulate lr=1e200 (diverges)", "cli", ["simulate", *SMALL, "--lr", "1e200", "--out", "{out}"]),
    ("simulate --kappa 1e200", "cli", ["simulate", *SMALL, "--kappa", "1e200", "--out", "{out}"]),
    ("simulate --out is a file", "cli", ["simulate", *SMALL, "--out", "{file}"]),
    ("simulate --out under a file", "cli", ["simulate", *SMALL, "--out", "{file}/sub"]),
    ("simulate --seed -1", "cli", ["simulate", *SMALL, "--seed", "-1", "--out", "{out}"]),
    ("simulate --engine grma", "cli", ["simulate", *SMALL, "--engine", "grma", "--out", "{out}"]),
    ("rank-vs-noise lr=1e200", "cli", ["reproduce", "rank-vs-noise", *SMALL, "--noise", "0,0.5", "--seeds", "1",
                                       "--lr", "1e200", "--out", "{out}"]),
    ("rank-vs-noise --seeds 100000000", "cli", ["reproduce", "rank-vs-noise", *SMALL, "--seeds", "100000000",
                                                "--out", "{out}"]),
    ("neural-collapse --out is a file", "cli", ["reproduce", "neural-collapse", "--quick", "--out", "{file}"]),
    ("sweep activation = 3", "cli", ["sweep", "{toml_act}", "--out", "{out}"]),
    ("sweep grid = 5", "cli", ["sweep", "{toml_grid}", "--out", "{out}"]),
    ("sweep engine typo", "cli", ["sweep", "{toml_engine}", "--out", "{out}"]),
    ("sweep store sweep.json = []", "cli", ["sweep", "{toml_ok}", "--out", "{badstore}"]),
    ("sweep grid huber3 + HUBER3", "cli", ["sweep", "{toml_dup}", "--out", "{out}"]),
    ("simulate --activation huber", "cli", ["simulate", *SMALL, "--activation", "huber", "--out", "{out}"]),
    ("simulate --activation poly", "cli", ["simulate", *SMALL, "--activation", "poly", "--out", "{out}"]),
    ("simulate --activation hubr3", "cli", ["simulate", *SMALL, "--activation", "hubr3", "--out", "{out}"]),
    ("simulate --signal-position middle", "cli", ["simulate", *SMALL, "--signal-position", "middle", "--out", "{out}"]),
    ("simulate --signal-position 7 (P=3)", "cli", ["simulate", *SMALL, "--signal-position", "7", "--out", "{out}"]),
    ("simulate --nosie-std (typo)", "cli", ["simulate", *SMALL, "--nosie-std", "0.5", "--out", "{out}"]),
    ("simulte (command typo)", "cli", ["simulte", "--out", "{out}"]),
    ("reproduce rank-vs-nose (typo)", "cli", ["reproduce", "rank-vs-nose", "--out", "{out}"]),
    ("simulate --engine feat", "cli", ["simulate", *SMALL, "--engine", "feat", "--out", "{out}"]),
    ("simulate --n 0", "cli", ["simulate", *SMALL, "--n", "0", "--out", "{out}"]),
    ("simulate --noise-std nan", "cli", ["simulate", *SMALL, "--noise-std", "nan", "--out", "{out}"]),
    ("simulate --lr -1", "cli", ["simulate", *SMALL, "--lr", "-1", "--out", "{out}"]),
    ("phase-diagram reused --out other options", "cli", [*PD, "--steps", "21", "--out", "{fxcopy_pd}"]),
    ("mnist-rank without data", "cli", ["reproduce", "mnist-rank", "--data", "{dir}", "--out", "{out}"]),
    ("export --format xlsx", "tidy", ["export", "{fx}/sweep/results.json", "--format", "xlsx", "--out", "{out}"]),
    ("export a .npy", "tidy", ["export", "{npy}", "--out", "{out}"]),
    ("export to an existing file", "tidy", ["export", "{fx}/sweep/results.json", "--out", "{file}"]),
    ("export a missing file", "tidy", ["export", "{tmp}/missing.json", "--out", "{out}"]),
    ("phase-diagram --n-test 0", "phase-diagram", [*PD, "--n-test", "0", "--out", "{out}"]),
    ("phase-diagram --noise 0.02,0.01 (reversed)", "phase-diagram", [*PD[:5], "0.02,0.01", *PD[6:], "--out", "{out}"]),
    ("phase-diagram --n-grid 8,0", "phase-diagram", [*PD[:3], "8,0", *PD[4:], "--out", "{out}"]),
    ("phase-diagram --noise -0.1,0.1", "phase-diagram", [*PD[:4], "--noise=-0.1,0.1", *PD[6:], "--out", "{out}"]),
    ("plot a directory", "plot", ["plot", "{dir}"]),
    ("plot a .npy", "plot", ["plot", "{npy}"]),
    ("plot JSON with wrong types", "plot", ["plot", "{badjson}"]),
    ("plot phase record reversed noise axis", "plot", ["plot", "{pd_reversed}"]),
    ("plot phase record negative accuracy", "plot", ["plot", "{pd_negacc}"]),
    ("plot phase record accuracy 1.5", "plot", ["plot", "{pd_acc15}"]),
    ("plot phase record NaN n", "plot", ["plot", "{pd_nan_n}"]),
    ("plot sweep results.json beside a trajectory .npz", "plot", ["plot", "{sweep_traj}"]),
    ("plot empty JSON object", "plot", ["plot", "{emptyjson}"]),
    ("plot a FIFO", "hangs", ["plot", "{fifo}"]),
    ("plot [ x 200000", "hangs", ["plot", "{nested}"]),
    ("sweep store whose sweep.json is [ x 200000", "hangs", ["sweep", "{toml_ok}", "--out", "{nested_store}"]),
    ("sweep store with a FIFO cell", "hangs", ["sweep", "{fx}/ok.toml", "--out", "{fifo_store}"]),
    ("plot a FIFO named .npz", "hangs", ["plot", "{fifo_npz}"]),
    ("export a FIFO", "hangs", ["export", "{fifo}", "--out", "{out}"]),
    ("sweep --dask unreachable, timeout 3", "dask", ["sweep", "{toml_ok}", "--out", "{out}", "--dask", "tcp://127.0.0.1:9",
                                                    "--dask-timeout", "3"]),
    ("sweep --dask-timeout 0", "dask", ["sweep", "{toml_ok}", "--out", "{out}", "--dask", "tcp://127.0.0.1:9",
                                        "--dask-timeout", "0"]),
    ("sweep --dask-timeout nan", "dask", ["sweep", "{toml_ok}", "--out", "{out}", "--dask", "tcp://127.0.0.1:9",
                                          "--dask-timeout", "nan"]),
    ("sweep --dask and --workers 2", "dask", ["sweep", "{toml_ok}", "--out", "{out}", "--dask", "tcp://127.0.0.1:9",
                                              "--workers", "2"]),
]


def _exists(*names: str) -> Callable[[Path, subprocess.CompletedProcess], str | None]:
    def check(tmp: Path, p: subprocess.CompletedProcess) -> str | None:
        missing = [n for n in names if not (tmp / n).is_file() or (tmp / n).stat().st_size == 0]
        return f"missing {missing}" if missing else None
    return check


def _pd_check(tmp: Path, p: subprocess.CompletedProcess) -> str | None:
    out = tmp / "out"
    if not ((out / "phase_diagram.json").is_file() and (out / "phase_diagram.png").is_file()):
        return f"wrote {sorted(x.name for x in out.iterdir()) if out.exists() else 'nothing'}"
    rec = json.loads((out / "phase_diagram.json").read_text())
    rows = p.stdout.splitlines()
    for n, meas in zip(rec["n"], rec["measured_boundary"]):
        row = next((r for r in rows if r.split() and r.split()[0] == str(n)), "")
        if (meas is None) != ("not reached" in row):
            return f"table row for n={n} does not match measured boundary {meas}: {row!r}"
    return None


def _json_field(path: str, key: str, want: object) -> Callable[[Path, subprocess.CompletedProcess], str | None]:
    def check(tmp: Path, p: subprocess.CompletedProcess) -> str | None:
        f = tmp / path
        if not f.is_file():
            return f"no {path}"
        rec = json.loads(f.read_text())
        got = rec
        for k in key.split("."):
            got = got.get(k) if isinstance(got, dict) else None
        return None if got == want else f"{key} = {got!r}, expected {want!r}"
    return check


def _csv_rows(path: str, rows: int) -> Callable[[Path, subprocess.CompletedProcess], str | None]:
    def check(tmp: Path, p: subprocess.CompletedProcess) -> str | None:
        f = tmp / path
        if not f.is_file():
            return f"no {path}"
        n = len(f.read_text().strip().splitlines()) - 1
        return None if n == rows else f"{n} rows, expected {rows}"
    return check


def _help_complete(tmp: Path, p: subprocess.CompletedProcess) -> str | None:
    """Every option line of the help has a description (the option and its text on one or two lines)."""
    lines = p.stdout.splitlines()
    bad = []
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("--") and "  " not in s:  # option alone on its line: its help must follow, indented
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if not nxt.startswith(" " * 10) or nxt.strip().startswith("-"):
                bad.append(s.split()[0])
    if "_int_or_random" in p.stdout or "_" + "positive" in p.stdout:
        return "internal name shown"
    return f"options without help: {bad}" if bad else None


# (name, category, argv, check, argv run first or None) — a valid command: exit 0, and the check passes
CLI_OK: list[tuple[str, str, list[str], Callable[[Path, subprocess.CompletedProcess], str | None], list[str] | None]] = [
    (f"phase-diagram {' '.join(extra) or '(reproducer)'}", "phase-diagram", [*PD, *extra, "--out", "{out}"], _pd_check, None)
    for extra in ([], ["--steps", "0"], ["--engine", "implicit"], ["--activation", "relu"], ["--init-std", "0"],
                  ["--label-noise", "0.4"], ["--signal-position", "random"], ["--signal-basis", "random"],
                  ["--project-noise", "false"], ["--K", "3"], ["--signal-norm", "0"], ["--activation", "poly3"],
                  ["--seeds", "1"], ["--signal-norm", "0", "--engine", "implicit"])
] + [
    ("phase-diagram --n-grid 8 (one n)", "phase-diagram", [*PD[:3], "8", *PD[4:], "--out", "{out}"], _pd_check, None),
    ("phase-diagram --noise 0.01 (one level)", "phase-diagram", [*PD[:5], "0.01", *PD[6:], "--out", "{out}"], _pd_check, None),
    ("phase-diagram run twice (resume)", "phase-diagram", [*PD, "--out", "{out}"], _pd_check, [*PD, "--out", "{out}"]),
    ("phase-diagram --signal-norm 0 re-run", "phase-diagram", [*PD, "--signal-norm", "0", "--out", "{out}"], _pd_check,
     [*PD, "--signal-norm", "0", "--out", "{out}"]),
    ("plot R.json --out newdir/", "plot", ["plot", "{fx}/pd/phase_diagram.json", "--out", "{tmp}/newdir/"],
     _exists("newdir/phase_diagram.png"), None),
    ("plot R.json --out existing dir", "plot", ["plot", "{fx}/pd/phase_diagram.json", "--out", "{dir}"],
     _exists("adir/phase_diagram.png"), None),
    ("plot R.json --out fig.pdf", "plot", ["plot", "{fx}/pd/phase_diagram.json", "--out", "{tmp}/fig.pdf"], _exists("fig.pdf"), None),
    ("plot sweep results.json", "plot", ["plot", "{fx}/sweep/results.json", "--out", "{tmp}/s/"], _exists("s/results.png"), None),
    ("plot trajectory.npz", "plot", ["plot", "{fx}/sim/trajectory.npz", "--out", "{tmp}/t.png"], _exists("t.png"), None),
    ("simulate --activation HUBER3 stored huber3", "cli", ["simulate", *SMALL, "--activation", "HUBER3", "--out", "{out}"],
     _json_field("out/summary.json", "config.activation", "huber3"), None),
    ("simulate --signal-position random", "cli", ["simulate", *SMALL, "--signal-position", "random", "--out", "{out}"],
     _exists("out/trajectory.npz", "out/summary.json", "out/simulate.png"), None),
    ("phase-diagram reused --out --overwrite", "cli", [*PD, "--steps", "21", "--overwrite", "--out", "{out}"],
     _pd_check, [*PD, "--out", "{out}"]),
    ("simulate same --out twice", "cli", ["simulate", *SMALL, "--out", "{out}"],
     _exists("out/trajectory.npz", "out/summary.json", "out/simulate.png"), ["simulate", *SMALL, "--out", "{out}"]),
    ("simulate --help complete", "cli", ["simulate", "--help"], _help_complete, None),
    ("sweep --help complete", "cli", ["sweep", "--help"], _help_complete, None),
    ("rank-vs-noise --help complete", "cli", ["reproduce", "rank-vs-noise", "--help"], _help_complete, None),
    ("phase-diagram --help complete", "cli", ["reproduce", "phase-diagram", "--help"], _help_complete, None),
    ("export --help complete", "cli", ["export", "--help"], _help_complete, None),
    ("export csv", "tidy", ["export", "{fx}/sweep/results.json", "--format", "csv", "--out", "{tmp}/r.csv"],
     _csv_rows("r.csv", 4), None),
    ("export netcdf", "tidy", ["export", "{fx}/sweep/results.npz", "--format", "netcdf", "--out", "{tmp}/r.nc"],
     _exists("r.nc"), None),
    ("export csv --overwrite", "tidy", ["export", "{fx}/sweep/results.json", "--out", "{tmp}/r.csv", "--overwrite"],
     _csv_rows("r.csv", 4), ["export", "{fx}/sweep/results.json", "--out", "{tmp}/r.csv"]),
    ("export phase record csv", "tidy", ["export", "{fx}/pd/phase_diagram.json", "--out", "{tmp}/p.csv"],
     _exists("p.csv"), None),
    ("export trajectory csv", "tidy", ["export", "{fx}/sim/trajectory.npz", "--out", "{tmp}/t.csv"], _exists("t.csv"), None),
    ("export the output folder", "tidy", ["export", "{fx}/sweep", "--out", "{tmp}/f.csv"], _csv_rows("f.csv", 4), None),
]

_LONG_SIM = ["simulate", "--n", "64", "--n-test", "16", "--d", "2000", "--K", "2", "--m", "8", "--steps", "100000",
             "--record-every", "1000", "--quiet", "--out", "{out}"]
_LONG_PD = ["reproduce", "phase-diagram", "--n-grid", "8,16,32", "--noise", "0.01,0.1,1", "--steps", "3000", "--d", "200",
            "--K", "2", "--m", "4", "--n-test", "16", "--quiet", "--out", "{out}"]
_LONG_SWEEP = ["sweep", "{toml_long}", "--out", "{out}", "--quiet"]
_SIM_OUT = ("trajectory.npz", "summary.json", "simulate.png")
_PD_OUT = ("phase_diagram.json", "phase_diagram.png")
_SWEEP_OUT = ("results.json", "results.npz")

# (name, argv, signal, delay in s, outputs: all or none of them in OUT)
SIGNALS = [
    ("simulate SIGTERM", _LONG_SIM, signal.SIGTERM, 4.0, _SIM_OUT),
    ("simulate SIGINT", _LONG_SIM, signal.SIGINT, 4.0, _SIM_OUT),
    ("simulate SIGHUP", _LONG_SIM, signal.SIGHUP, 4.0, _SIM_OUT),
    ("simulate SIGTERM early", _LONG_SIM, signal.SIGTERM, 0.5, _SIM_OUT),
    ("linear-cnn --quick --workers 2 SIGTERM", ["reproduce", "linear-cnn", "--quick", "--workers", "2", "--out", "{out}"],
     signal.SIGTERM, 6.0, ("linear-cnn.json", "linear-cnn.png")),
    ("linear-cnn --quick --workers 2 SIGHUP", ["reproduce", "linear-cnn", "--quick", "--workers", "2", "--out", "{out}"],
     signal.SIGHUP, 6.0, ("linear-cnn.json", "linear-cnn.png")),
    ("phase-diagram SIGTERM during cells", _LONG_PD, signal.SIGTERM, 5.0, _PD_OUT),
    ("phase-diagram SIGINT during cells", _LONG_PD, signal.SIGINT, 5.0, _PD_OUT),
    ("phase-diagram SIGHUP during cells", _LONG_PD, signal.SIGHUP, 5.0, _PD_OUT),
    ("sweep SIGTERM", _LONG_SWEEP, signal.SIGTERM, 4.0, _SWEEP_OUT),
    ("sweep --workers 2 SIGTERM", [*_LONG_SWEEP, "--workers", "2"], signal.SIGTERM, 5.0, _SWEEP_OUT),
    ("sweep --workers 2 SIGINT", [*_LONG_SWEEP, "--workers", "2"], signal.SIGINT, 5.0, _SWEEP_OUT),
    ("phase-diagram SIGKILL then re-run", _LONG_PD, signal.SIGKILL, 5.0, _PD_OUT),
    ("sweep SIGKILL then re-run", _LONG_SWEEP, signal.SIGKILL, 4.0, _SWEEP_OUT),
]

# dask cases that need a scheduler of their own (run as API code: the scheduler lives in the case's process)
API += [
    ("sweep --dask at a scheduler with no workers", "dask",
     "from distributed import LocalCluster\n"
     "(tmp / 'ok.toml').write_text('[base]\\nn = 16\\nn_test = 16\\nd = 60\\nK = 2\\nm = 4\\nsteps = 20\\nrecord_every = 10\\n"
     "[grid]\\nnoise_std = [0.0, 0.5]\\n')\n"
     "with LocalCluster(n_workers=0, processes=False, protocol='tcp', dashboard_address=None) as c:\n"
     "    t0 = __import__('time').time()\n"
     "    p = __import__('subprocess').run([sys.executable, '-m', 'cnnrank', 'sweep', str(tmp / 'ok.toml'), '--out', str(tmp / 'o'),\n"
     "        '--dask', c.scheduler_address, '--dask-timeout', '3'], capture_output=True, text=True, timeout=40)\n"
     "    dt = __import__('time').time() - t0\n"
     "assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and 'worker' in p.stderr, (p.returncode, p.stderr[-300:])\n"
     "assert dt < 25, dt; ok()"),
    ("sweep --dask at a local cluster = serial", "dask",
     "from distributed import LocalCluster\n"
     "(tmp / 'ok.toml').write_text('[base]\\nn = 16\\nn_test = 16\\nd = 60\\nK = 2\\nm = 4\\nsteps = 20\\nrecord_every = 10\\n"
     "[grid]\\nnoise_std = [0.0, 0.5]\\n')\n"
     "run = lambda *a: __import__('subprocess').run([sys.executable, '-m', 'cnnrank', 'sweep', str(tmp / 'ok.toml'), *a, '--quiet'],\n"
     "    capture_output=True, text=True, timeout=50)\n"
     "with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol='tcp', dashboard_address=None) as c:\n"
     "    p = run('--out', str(tmp / 'd'), '--dask', c.scheduler_address, '--dask-timeout', '10')\n"
     "q = run('--out', str(tmp / 's'))\n"
     "assert p.returncode == 0 and q.returncode == 0, p.stderr[-300:]\n"
     "assert (tmp / 'd' / 'results.json').read_bytes() == (tmp / 's' / 'results.json').read_bytes(); ok()"),
    ("sweep --dask scheduler killed mid-run", "dask",
     "import subprocess as sp, time\n"
     "(tmp / 'l.toml').write_text('seeds = 40\\n[base]\\nn = 16\\nn_test = 16\\nd = 40\\nK = 2\\nm = 3\\nsteps = 3000\\nrecord_every = 1000\\n"
     "[grid]\\nnoise_std = [0.0, 0.5]\\n')\n"
     "sched = sp.Popen([sys.executable, '-c', 'from distributed import LocalCluster; import time, sys\\n"
     "c = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol=\"tcp\", dashboard_address=None, scheduler_port=0)\\n"
     "print(c.scheduler_address, flush=True); time.sleep(600)'], stdout=sp.PIPE, stderr=sp.DEVNULL, text=True)\n"
     "addr = sched.stdout.readline().strip()\n"
     "p = sp.Popen([sys.executable, '-m', 'cnnrank', 'sweep', str(tmp / 'l.toml'), '--out', str(tmp / 'o'), '--quiet',\n"
     "    '--dask', addr, '--dask-timeout', '4'], stdout=sp.DEVNULL, stderr=sp.PIPE, text=True)\n"
     "time.sleep(6); sched.kill(); sched.wait(); t0 = time.time()\n"
     "err = p.communicate(timeout=40)[1]; dt = time.time() - t0\n"
     "assert p.returncode == 2 and len(err.strip().splitlines()) == 1 and 'Traceback' not in err, (p.returncode, err[-400:])\n"
     "assert 'failed' not in err.lower() or 'scheduler' in err.lower(), err\n"
     "assert dt < 25, dt; ok()"),
]


def _helpful(msg: str) -> bool:
    """A message that names what is wrong and the rule (not a NumPy/Python internal one)."""
    return any(w in msg for w in ("invalid", "must", "needs", "diverged", "refused", "truncated", "does not",
                                  "not a", "too large", "exceeds", "mismatch", "cannot", "is a folder", "has no",
                                  "labels are", "did you mean", "expected", "holds a", "not found", "no such", "exists", "twice",
                                  "unknown", "not reached", "corrupted", "worker", "scheduler", "reach", "overwrite"))


def _warned(stderr: str) -> bool:
    return "RuntimeWarning" in stderr or "leaked semaphore" in stderr


def _api_case(code: str, tmp: str, category: str, fx: Path) -> tuple[str, str]:
    script = PRELUDE.format(limit=LIMIT_AS) + "\n" + textwrap.dedent(code) + "\nprint('RETURNED')\n"
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    for line in code.splitlines():  # "#env NAME=VALUE" lines: the case's environment (read before NumPy loads)
        if line.startswith("#env "):
            k, v = line[5:].split("=", 1)
            env[k] = v
    try:
        p = subprocess.run([sys.executable, "-c", script, tmp, str(fx)], capture_output=True, text=True, timeout=LIMIT_S,
                           cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return "crash", "timeout"
    if p.returncode == 0 and "RETURNED" not in p.stdout:
        return ("raw", "warning: " + p.stderr.strip()[:140]) if _warned(p.stderr) else ("right", "")
    if p.returncode == 0:
        return "silent", "no error: " + p.stdout.replace("RETURNED", "").strip()[:120]
    last = (p.stderr.strip().splitlines() or [""])[-1]
    if p.returncode < 0 or ("MemoryError" == last.split(":")[0].split(".")[-1] and "needs" not in last):
        return "crash", last[:160]
    kind = last.split(":")[0].split(".")[-1]
    clear = {"ValueError", "TypeError", "TrainingDiverged", "ResultsFileError", "DatasetError", "InsufficientMemory",
             "LinearDivergenceError", "CollapseDivergenceError", "FileNotFoundError", "ImportError"}
    if kind == "AssertionError":
        return "silent", last[:160]
    if _warned(p.stderr):
        return "raw", "warning before: " + last[:140]
    if category == "divergence":
        return ("clear" if kind.endswith(("Diverged", "DivergenceError")) else "raw"), last[:160]
    if (kind in clear or kind.endswith("Diverged")) and _helpful(last):
        return "clear", last[:160]
    return "raw", last[:160]


def _fixtures_in(tmp: Path, fx: Path) -> dict[str, str]:
    """The files the command-line cases name, made in ``tmp``."""
    import numpy as np

    out = tmp / "out"
    (tmp / "afile").write_text("x")
    (tmp / "adir").mkdir(exist_ok=True)
    np.save(tmp / "x.npy", np.zeros(3))
    (tmp / "bad.json").write_text(json.dumps({"noise_std": "a", "data_stable_rank": 1, "filter_stable_rank": [],
                                              "test_acc": None}))
    (tmp / "empty.json").write_text("{}")
    small = "[base]\nn = 16\nn_test = 16\nd = 60\nK = 2\nm = 4\nsteps = 20\nrecord_every = 10\n"
    (tmp / "act.toml").write_text(small + "[grid]\nactivation = [3]\n")
    (tmp / "grid.toml").write_text(small.replace("[base]", "grid = 5\n[base]"))
    (tmp / "engine.toml").write_text(small + "engine = \"grma\"\n[grid]\nnoise_std = [0.0, 0.5]\n")
    (tmp / "ok.toml").write_text(small + "[grid]\nnoise_std = [0.0, 0.5]\n")
    (tmp / "dup.toml").write_text(small + "[grid]\nactivation = [\"huber3\", \"HUBER3\"]\n")
    (tmp / "long.toml").write_text("seeds = 40\n[base]\nn = 16\nn_test = 16\nd = 40\nK = 2\nm = 3\nsteps = 3000\n"
                                   "record_every = 1000\nengine = \"feature\"\n[grid]\nnoise_std = [0.0, 0.5]\n")
    (tmp / "store").mkdir(exist_ok=True)
    (tmp / "store" / "sweep.json").write_text("[]")
    (tmp / "nstore").mkdir(exist_ok=True)
    (tmp / "nstore" / "sweep.json").write_text("[" * 200000)
    (tmp / "nested.json").write_text("[" * 200000)
    os.mkfifo(tmp / "fifo")
    os.mkfifo(tmp / "fifo.npz")
    shutil.copytree(fx / "sweep", tmp / "fstore", ignore=shutil.ignore_patterns("results.*"))
    cells = sorted((tmp / "fstore" / "cells").glob("*.json"))
    cells[0].unlink()
    os.mkfifo(cells[0])
    pd = json.loads((fx / "pd" / "phase_diagram.json").read_text())
    for name, change in (("reversed", lambda r: r.update(noise_std=r["noise_std"][::-1])),
                         ("negacc", lambda r: r.update(test_acc=[[-0.5] * len(row) for row in r["test_acc"]])),
                         ("acc15", lambda r: r.update(test_acc=[[1.5] * len(row) for row in r["test_acc"]])),
                         ("nan_n", lambda r: r.update(n=[float("nan")] * len(r["n"])))):
        rec = json.loads(json.dumps(pd))
        change(rec)
        (tmp / f"pd_{name}.json").write_text(json.dumps(rec))
    (tmp / "st").mkdir()
    shutil.copy(fx / "sweep" / "results.json", tmp / "st" / "results.json")
    shutil.copy(fx / "sim" / "trajectory.npz", tmp / "st" / "results.npz")
    shutil.copytree(fx / "pd", tmp / "pdcopy")
    return {"out": str(out), "tmp": str(tmp), "fx": str(fx), "file": str(tmp / "afile"), "dir": str(tmp / "adir"),
            "npy": str(tmp / "x.npy"), "badjson": str(tmp / "bad.json"), "emptyjson": str(tmp / "empty.json"),
            "toml_act": str(tmp / "act.toml"), "toml_grid": str(tmp / "grid.toml"),
            "toml_engine": str(tmp / "engine.toml"), "toml_ok": str(tmp / "ok.toml"), "toml_dup": str(tmp / "dup.toml"),
            "toml_long": str(tmp / "long.toml"), "badstore": str(tmp / "store"), "nested_store": str(tmp / "nstore"),
            "nested": str(tmp / "nested.json"), "fifo": str(tmp / "fifo"), "fifo_npz": str(tmp / "fifo.npz"),
            "fifo_store": str(tmp / "fstore"), "sweep_traj": str(tmp / "st" / "results.json"),
            "fxcopy_pd": str(tmp / "pdcopy"),
            **{f"pd_{n}": str(tmp / f"pd_{n}.json") for n in ("reversed", "negacc", "acc15", "nan_n")}}


def _snapshot(tmp: Path) -> set[tuple[str, int, int]]:
    """Files (path, mtime, size) and folders (path) under ``tmp``: what a refused command must leave alone."""
    return {(str(p), p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else (str(p), 0, 0)
            for p in tmp.rglob("*") if not p.is_fifo() and "__pycache__" not in p.parts}


def _cli(args: list[str], tmp: Path, timeout: float = LIMIT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnrank", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=tmp, env={**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)})


def _cli_case(argv: list[str], tmp: Path, fx: Path) -> tuple[str, str]:
    files = _fixtures_in(tmp, fx)
    args = [a.format(**files) for a in argv]
    before = _snapshot(tmp)
    try:
        p = _cli(args, tmp)
    except subprocess.TimeoutExpired:
        return "crash", "timeout"
    err = p.stderr.strip()
    wrote = _snapshot(tmp) != before
    if p.returncode == 0:
        return "silent", "exit 0"
    if p.returncode < 0:
        return "crash", f"signal {-p.returncode}"
    if "Traceback" in err or p.returncode != 2 or len(err.splitlines()) != 1 or not _helpful(err):
        return "raw", f"exit {p.returncode}: " + (err.splitlines() or [""])[-1][:150]
    if any(w in err for w in ("_int_or_random", "NoneType", "KeyError")):
        return "raw", "internal name: " + err[:140]
    if wrote:
        return "raw", "wrote files: " + err[:120]
    return "clear", err[:160]


def _cli_ok_case(argv: list[str], check: Callable[[Path, subprocess.CompletedProcess], str | None],
                 first: list[str] | None, tmp: Path, fx: Path) -> tuple[str, str]:
    files = _fixtures_in(tmp, fx)
    try:
        if first is not None:
            p0 = _cli([a.format(**files) for a in first], tmp)
            if p0.returncode != 0:
                return "raw", f"first run exit {p0.returncode}: " + p0.stderr.strip()[-150:]
        p = _cli([a.format(**files) for a in argv], tmp)
    except subprocess.TimeoutExpired:
        return "crash", "timeout"
    err = p.stderr.strip()
    if p.returncode < 0:
        return "crash", f"signal {-p.returncode}"
    if p.returncode != 0:
        return "raw", f"exit {p.returncode}: " + (err.splitlines() or [""])[-1][:150]
    if "Traceback" in err or _warned(err):
        return "raw", "exit 0 but stderr: " + err[:140]
    leftovers = [q.name for q in tmp.rglob("*.tmp")]
    if leftovers:
        return "silent", f"left {leftovers}"
    why = check(tmp, p)
    return ("silent", why) if why else ("right", "")


def _sig_case(argv: list[str], signum: int, delay: float, outputs: tuple[str, ...], tmp: Path,
              fx: Path) -> tuple[str, str]:
    files = _fixtures_in(tmp, fx)
    args = [a.format(**files) for a in argv]
    out = tmp / "out"
    p = subprocess.Popen([sys.executable, "-m", "cnnrank", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, cwd=tmp, env={**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)})
    time.sleep(delay)
    if p.poll() is not None:
        p.communicate()
        return "silent", f"the command ended (exit {p.returncode}) before the signal: the case is too short"
    p.send_signal(signum)
    try:
        err = p.communicate(timeout=60)[1].strip()
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return "crash", "did not stop within 60 s of the signal"
    time.sleep(0.5)  # let worker processes finish dying
    if signum == signal.SIGKILL:
        try:
            again = _cli(args, tmp, timeout=120)
        except subprocess.TimeoutExpired:
            return "crash", "re-run timed out"
        if again.returncode != 0:
            return "raw", f"re-run exit {again.returncode}: " + again.stderr.strip()[-140:]
        if p.returncode != -signal.SIGKILL:
            return "silent", f"exit {p.returncode}"
    else:
        if p.returncode != 128 + signum:
            return "raw", f"exit {p.returncode}, stderr {err[-120:]!r}"
        if len(err.splitlines()) != 1 or "Traceback" in err or "leaked" in err:
            return "raw", f"stderr has {len(err.splitlines())} lines: {err[-140:]!r}"
    leftovers = [str(q.relative_to(tmp)) for q in tmp.rglob("*") if q.name.endswith(".tmp")]
    if leftovers:
        return "silent", f"left {leftovers[:3]}"
    there = [n for n in outputs if (out / n).exists()]
    if there and len(there) != len(outputs):
        return "silent", f"half outputs: {there} of {list(outputs)}"
    if signum == signal.SIGKILL and len(there) != len(outputs):
        return "silent", "re-run did not write the outputs"
    return "right", err[:160]


def _make_fixtures(fx: Path) -> None:
    """A small sweep, a simulate run and a phase diagram the plot/export/tidy cases read."""
    fx.mkdir(parents=True, exist_ok=True)
    (fx / "ok.toml").write_text("seeds = 2\n[base]\nn = 16\nn_test = 16\nd = 60\nK = 2\nm = 4\nsteps = 20\n"
                                "record_every = 10\n[grid]\nnoise_std = [0.0, 0.5]\n")
    cmds = [["sweep", str(fx / "ok.toml"), "--out", str(fx / "sweep"), "--quiet"],
            ["simulate", *SMALL, "--out", str(fx / "sim"), "--quiet"],
            [*PD, "--out", str(fx / "pd")]]
    with ThreadPoolExecutor(3) as pool:
        for cmd, p in zip(cmds, pool.map(lambda c: _cli(c, fx), cmds)):
            if p.returncode != 0:
                raise SystemExit(f"fixture {cmd[0]} failed: {p.stderr.strip()[-300:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--category", action="append", help="run only this category (repeatable)")
    ap.add_argument("--jobs", type=int, default=1, help="cases run at once (default: 1)")
    ap.add_argument("--json", help="also write the counts to this file")
    args = ap.parse_args(argv)
    cases: list[tuple[str, str, Callable[[Path, Path], tuple[str, str]]]] = []
    for name, cat, code in API:
        cases.append((name, cat, lambda tmp, fx, code=code, cat=cat: _api_case(code, str(tmp), cat, fx)))
    for name, cat, argv_ in CLI:
        cases.append((name, cat, lambda tmp, fx, a=argv_: _cli_case(a, tmp, fx)))
    for name, cat, argv_, check, first in CLI_OK:
        cases.append((name, cat, lambda tmp, fx, a=argv_, c=check, f=first: _cli_ok_case(a, c, f, tmp, fx)))
    for name, argv_, signum, delay, outs in SIGNALS:
        cases.append((name, "signals", lambda tmp, fx, a=argv_, s=signum, d=delay, o=outs: _sig_case(a, s, d, o, tmp, fx)))
    if args.category:
        known = {c for _, c, _ in cases}
        unknown = sorted(set(args.category) - known)
        if unknown:
            ap.error(f"--category {unknown[0]} is invalid: one of {', '.join(sorted(known))}")
        cases = [c for c in cases if c[1] in args.category]
    counts: dict[str, dict[str, int]] = {}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as fxdir:
        fx = Path(fxdir)
        _make_fixtures(fx)

        def run(case: tuple[str, str, Callable[[Path, Path], tuple[str, str]]]) -> tuple[str, str, str, str]:
            name, cat, fn = case
            with tempfile.TemporaryDirectory() as tmp:
                verdict, msg = fn(Path(tmp), fx)
            print(f"[{cat:14s}] {verdict:6s} {name}: {msg}", flush=True)
            return name, cat, verdict, msg

        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            for _, cat, verdict, _ in pool.map(run, cases):
                counts.setdefault(cat, {}).setdefault(verdict, 0)
                counts[cat][verdict] += 1
    kinds = ("clear", "right", "raw", "silent", "crash")
    total = {k: sum(c.get(k, 0) for c in counts.values()) for k in kinds}
    print()
    print("| category | tried | clear | right | raw | silent | crash |")
    print("|---|---|---|---|---|---|---|")
    for cat, c in sorted(counts.items()):
        print(f"| {cat} | {sum(c.values())} | " + " | ".join(str(c.get(k, 0)) for k in kinds) + " |")
    print(f"| **total** | {sum(total.values())} | " + " | ".join(str(total[k]) for k in kinds) + " |")
    print(f"\n{sum(total.values())} cases in {time.time() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": counts, "total": total}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
