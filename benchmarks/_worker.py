"""One benchmark measurement in a fresh process (so peak memory and thread settings are its own).

Usage (from ``run.py``): ``python _worker.py JSON_SPEC`` prints one JSON line. The spec names the
engine (``peer`` (PyTorch), ``jax`` (the jitted JAX peer), ``feature``, ``gram``, ``implicit``, ``bare``, ``sweep_batched``,
``sweep_sequential``), the shapes, steps and thread count, and where to save the final weights.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

SPEC = json.loads(sys.argv[1])
_T = str(SPEC["threads"])
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = _T  # before numpy / torch load their BLAS

import numpy as np  # noqa: E402

import cnnrank  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident memory above the level at ``__enter__``, polled every 2 ms in a thread."""

    def __enter__(self):
        self.base = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_bytes())
        self.extra_mb = (self.peak - self.base) / 2**20


def problem(d: int, n: int, P: int, K: int, m: int, seed: int = 0):
    """The paper regime (docs/theory.md §5) with σ_p scaled so that σ_p² d stays at its d = 2000 value."""
    model = cnnrank.SignalNoiseModel(d=d, K=K, patches=P, signal_norm=5.0,
                                     noise_std=0.8 * np.sqrt(2000.0 / d), balanced=True)
    data = model.sample(n, rng=seed)
    net = cnnrank.TwoLayerCNN.init(m=m, d=d, init_std=0.01, activation=cnnrank.HuberizedReLU(1.0, 3.0),
                                   rng=seed + 1)
    return model, data, net


def timeit(fn, reps: int = 1) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def chunked(advance, steps: int, chunks: int = 5) -> list[float]:
    """Per-step seconds of ``chunks`` consecutive pieces of ``steps`` steps (robust to load spikes)."""
    sizes = [steps // chunks + (1 if i < steps % chunks else 0) for i in range(chunks)]
    out = []
    for k in sizes:
        if k:
            t = time.perf_counter()
            advance(k)
            out.append((time.perf_counter() - t) / k)
    return out


def bare_gram(M1: int, m2: int) -> float:
    """Seconds for the one ``(M+1, M+1) × (M+1, 2m)`` product a Gram step needs."""
    rng = np.random.default_rng(0)
    G, D, out = rng.standard_normal((M1, M1)), rng.standard_normal((M1, m2)), np.empty((M1, m2))
    np.matmul(G, D, out=out)
    reps = max(20, int(0.3 / max(timeit(lambda: np.matmul(G, D, out=out)), 1e-6)))
    return min(timeit(lambda: np.matmul(G, D, out=out), reps) for _ in range(3))


def bare_feature(nP: int, d: int, m2: int) -> float:
    """Seconds for the two ``(nP, d)``-sized products a feature step needs (forward and gradient)."""
    rng = np.random.default_rng(0)
    X, W, A = rng.standard_normal((nP, d)), rng.standard_normal((m2, d)), rng.standard_normal((nP, m2))
    f = lambda: (X @ W.T, A.T @ X)
    f()
    reps = max(3, int(0.5 / max(timeit(f), 1e-6)))
    return min(timeit(f, reps) for _ in range(2))


def sweep(s: dict, out: dict) -> dict:
    """24 runs (3 seeds × 4 noise levels × 2 step sizes; the levels of a seed drawn with common random
    numbers by ``sample_noise_levels``, one initialization per seed): ``mode`` ``"sequential"``
    (``train`` one by one, each level on its own data), ``"batched"`` (``train_batched``: the 8 runs of
    a seed share one Gram matrix with row scales) or ``"loop"`` (the step loop alone: 3 family cores of
    8 runs against 24 single-run cores). Each mode runs in its own process, so neither inherits the
    other's memory state."""
    import hashlib

    from cnnrank.batched import _explicit_problems, _pad_scales, train_batched
    from cnnrank.engines.gram import GramCore, GramProblem
    d, n, P, K, m, steps, mode = s["d"], s["n"], s["P"], s["K"], s["m"], s["steps"], s["mode"]
    act = cnnrank.HuberizedReLU(1.0, 3.0)
    nets, datas, lrs = [], [], []
    for seed in range(3):
        model = cnnrank.SignalNoiseModel(d=d, K=K, patches=P, signal_norm=5.0, noise_std=1.0, balanced=True)
        family = model.sample_noise_levels(n, [v * np.sqrt(2000.0 / d) for v in (0.4, 0.8, 1.2, 1.6)], rng=seed)
        net = cnnrank.TwoLayerCNN.init(m=m, d=d, init_std=0.01, activation=act, rng=seed + 100)
        for data in family:
            for lr in (1.0, 2.0):
                datas.append(data)
                nets.append(net)
                lrs.append(lr)
    B = len(nets)
    out.update(B=B, mode=mode)
    if mode == "loop":
        probs = [GramProblem.from_vectors(net.W, dat)[0] for net, dat in zip(nets, datas)]
        M = max(p.M for p in probs)
        if any(p.M != M for p in probs):  # pragma: no cover - balanced data: every signal occurs
            raise SystemExit("unequal M")
        k = min(steps, 200)
        built, scales, _ = _explicit_problems(nets, datas, [None] * B)
        fam = [GramCore([built[b][0] for b in range(i, i + 8)], act, scales=_pad_scales(scales[i: i + 8], M))
               for i in range(0, B, 8)]
        for c, i in zip(fam, range(0, B, 8)):
            c.advance(2, np.array(lrs[i: i + 8]))
        t_big = sum(timeit(lambda c=c, i=i: c.advance(k, np.array(lrs[i: i + 8]))) for c, i in zip(fam, range(0, B, 8))) / k
        del fam
        t_one = 0.0
        for p, lr in zip(probs, lrs):
            c = GramCore([p], act)
            c.advance(2, lr)
            t_one += timeit(lambda c=c, lr=lr: c.advance(k, lr)) / k
        out.update(M=M, step_loop_seq_s=t_one, step_loop_batched_s=t_big, step_loop_speedup=t_one / t_big)
        return out
    t0 = time.perf_counter()
    if mode == "batched":
        trajs = train_batched(nets, datas, lrs, steps=steps, blas_threads=None)  # honour --threads
        out["stacked"] = trajs[0].metadata["stacked"]
    else:
        trajs = [cnnrank.train(net, dat, lr=lr, steps=steps, engine="gram", blas_threads=None)
                 for net, dat, lr in zip(nets, datas, lrs)]
    out["seconds"] = time.perf_counter() - t0
    h = hashlib.sha256()
    for t in trajs:
        h.update(t.coef.tobytes())
        h.update(t.W_final.tobytes())
    out["sha256"] = h.hexdigest()
    np.savez(s["save"], coef=np.stack([t.coef[-1] for t in trajs]), W=np.stack([t.W_final for t in trajs]))
    return out


def main() -> dict:
    s = SPEC
    eng, d, steps = s["engine"], s["d"], s["steps"]
    n, P, K, m, lr = s["n"], s["P"], s["K"], s["m"], s["lr"]
    out: dict = {"engine": eng, "d": d, "steps": steps, "threads": s["threads"]}
    if eng == "implicit":
        model = cnnrank.SignalNoiseModel(d=d, K=K, patches=P, signal_norm=5.0,
                                         noise_std=0.8 * np.sqrt(2000.0 / d), balanced=True)
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            sample = model.sample_gram(n, m, 0.01 * np.sqrt(2000.0 / d), rng=0)
            from cnnrank.engines import ImplicitEngine
            e = ImplicitEngine(sample, cnnrank.HuberizedReLU(1.0, 3.0))
            setup = time.perf_counter() - t0
            e.advance(2, lr)
            per = chunked(lambda k: e.advance(k, lr), steps)
        out.update(setup_s=setup, step_s=float(np.median(per)), step_s_min=min(per), peak_mb=mem.extra_mb,
                   M=e.problem.M,
                   bare_s=bare_gram(e.problem.M + 1, 2 * m), loss=e.snapshot().train_loss)
        return out
    if eng.startswith("sweep"):
        return sweep(s, out)
    model, data, net = problem(d, n, P, K, m)
    if eng == "peer":
        import torch
        torch.set_num_threads(s["threads"])
        sys.path.insert(0, os.path.dirname(__file__))
        from peer_torch import TorchPeer
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            p = TorchPeer(net.W, data.X, data.y, lr)
            setup = time.perf_counter() - t0
            per = chunked(p.advance, steps)
        W = p.weights()
        out.update(setup_s=setup, step_s=float(np.median(per)), step_s_min=min(per), peak_mb=mem.extra_mb,
                   loss=float(p.loss().detach()),
                   bare_s=bare_feature(n * P, d, 2 * m), torch_threads=torch.get_num_threads())
    elif eng == "jax":
        sys.path.insert(0, os.path.dirname(__file__))
        from peer_jax import JaxPeer, configure
        configure(s["threads"])  # XLA_FLAGS, before jax is imported
        import jax
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            p = JaxPeer(net.W, data.X, data.y, lr)  # device transfer + ahead-of-time compilation
            setup = time.perf_counter() - t0
            per = chunked(p.advance, steps)
        W = p.weights()
        out.update(setup_s=setup, compile_s=p.compile_s, transfer_s=p.transfer_s, step_s=float(np.median(per)),
                   step_s_min=min(per), peak_mb=mem.extra_mb, loss=p.loss(),
                   bare_s=bare_feature(n * P, d, 2 * m), jax=jax.__version__,
                   xla_flags=os.environ.get("XLA_FLAGS", ""))
    elif eng in ("feature", "gram"):
        from cnnrank.engines import ENGINES
        save_at = s.get("save_at", steps)
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            e = ENGINES[eng](net.W, data, net.activation)
            setup = time.perf_counter() - t0
            per = chunked(lambda k: e.advance(k, lr), save_at)
            t1 = time.perf_counter()
            W = e.weights()
            rebuild = time.perf_counter() - t1
        snap = e.snapshot()
        if steps > save_at:  # more steps for the timing only
            per += chunked(lambda k: e.advance(k, lr), steps - save_at)
        out.update(setup_s=setup, step_s=float(np.median(per)), step_s_min=min(per), peak_mb=mem.extra_mb,
                   loss=snap.train_loss,
                   weights_s=rebuild, save_at=save_at)
        if eng == "gram":
            out.update(M=e.problem.M, bare_s=bare_gram(e.problem.M + 1, 2 * m))
        else:
            out.update(bare_s=bare_feature(n * P, d, 2 * m))
        np.savez(s["save"].replace(".npy", "_snap.npz"), coef=snap.coef, filter_gram=snap.filter_gram,
                 learned_gram=snap.learned_gram, loss=snap.train_loss)
    else:
        raise SystemExit(f"unknown engine {eng!r}")
    if s.get("save"):
        np.save(s["save"], W)
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
