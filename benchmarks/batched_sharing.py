"""Batched runs that share their data (and so their Gram matrix) against the same runs one by one.

A paper-regime sweep (n=128 balanced, P=3, K=4, m=40, d=2000, q=3, 300 steps) of 24 runs on ONE data set
(24 initialization seeds, step size 2): ``train(..., engine="gram")`` run by run against
``train_batched`` (one Gram matrix, one wide product ``G [ΔĈ_1 … ΔĈ_B]`` per step). One BLAS thread,
both timed in this process, alternately, ``--repeats`` times (best of each); the load average is
printed, since the machine is shared. Set-up (the Gram matrix, ``Z0``) is included on both sides.

    python benchmarks/batched_sharing.py [--runs 24] [--steps 300] [--repeats 3] [--chunk-mib 1.5 8 inf]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS

import argparse  # noqa: E402
import functools  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

import cnnrank  # noqa: E402
from cnnrank.batched import train_batched  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=24)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--d", type=int, default=2000)
    ap.add_argument("--record-every", type=int, default=None,
                    help="record cadence (default steps // 100, as train's; records cost as much as steps)")
    ap.add_argument("--chunk-mib", type=float, nargs="*", default=[],
                    help="extra chunk_bytes budgets (MiB) to time besides the default")
    args = ap.parse_args()
    act = cnnrank.HuberizedReLU(1.0, 3.0)
    model = cnnrank.SignalNoiseModel(d=args.d, K=4, patches=3, signal_norm=5.0, noise_std=0.8, balanced=True)
    data = model.sample(128, rng=0)
    nets = [cnnrank.TwoLayerCNN.init(m=40, d=args.d, init_std=0.01, activation=act, rng=100 + s)
            for s in range(args.runs)]
    lr, steps, every = 2.0, args.steps, args.record_every

    def one_by_one():
        return [cnnrank.train(net, data, lr=lr, steps=steps, engine="gram", blas_threads=None,
                              record_every=every) for net in nets]

    def batched(chunk_bytes: float = 1.5 * 2**20):
        return train_batched(nets, data, lr, steps, every, chunk_bytes=chunk_bytes, blas_threads=None)

    variants: dict[str, Callable[[], list]] = {"batched (default)": batched}
    for c in args.chunk_mib:
        variants[f"batched chunk {c:g} MiB"] = functools.partial(batched, c * 2**20)
    load0 = os.getloadavg()
    best = {k: float("inf") for k in ["one by one", *variants]}
    results = {}
    for _ in range(args.repeats):  # alternate, so a load change hits both
        for name, fn in [("one by one", one_by_one), *variants.items()]:
            t0 = time.perf_counter()
            results[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    ref = results["one by one"]
    print(f"cnnrank batched sharing — {time.strftime('%Y-%m-%dT%H:%M:%S')} — {args.runs} runs on one data set, "
          f"n=128 P=3 K=4 m=40 d={args.d} q=3, {steps} steps, {len(ref[0])} records, one BLAS thread, best of {args.repeats}; "
          f"load avg {load0[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end (2 cores)")
    print("| mode | seconds | speed-up vs one by one | stacked | final W: bit for bit | max rel ΔW |")
    print("|---|---|---|---|---|---|")
    for name, secs in best.items():
        got = results[name]
        same = sum(np.array_equal(a.W_final, b.W_final) and np.array_equal(a.coef, b.coef)
                   for a, b in zip(got, ref))
        dw = max(float(np.max(np.abs(a.W_final - b.W_final)) / np.max(np.abs(b.W_final))) for a, b in zip(got, ref))
        stacked = got[0].metadata.get("stacked", 1)
        print(f"| {name} | {secs:.3f} | {best['one by one'] / secs:.2f}× | {stacked} | {same}/{len(got)} | {dw:.1e} |")

    # where the time goes: the step loop alone and the bare product, 24 narrow against one wide
    from dataclasses import replace

    from scipy.linalg.blas import dgemm

    from cnnrank.engines.gram import GramCore, GramProblem
    p0, rows = GramProblem.from_vectors(nets[0].W, data)
    probs = [p0] + [replace(p0, Z0=rows.product(net.W.reshape(80, -1))) for net in nets[1:]]
    k = min(steps, 100)
    loop = {"one by one": float("inf"), "one shared group": float("inf")}
    bare = {"one by one": float("inf"), "one shared group": float("inf")}
    M1, B = p0.M + 1, len(nets)
    G = np.random.default_rng(0).standard_normal((M1, M1))
    Zw, Dw = np.zeros((M1, B * 80)), np.random.default_rng(1).standard_normal((M1, B * 80)) * 1e-3
    narrow = [(np.ascontiguousarray(Dw[:, i * 80:(i + 1) * 80]), np.zeros((M1, 80))) for i in range(B)]
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for p in probs:
            GramCore([p], act).advance(k, lr)
        loop["one by one"] = min(loop["one by one"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        GramCore(probs, act).advance(k, lr)
        loop["one shared group"] = min(loop["one shared group"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(k):
            for D, Z in narrow:
                dgemm(1.0, D.T, G.T, 1.0, Z.T, overwrite_c=1)
        bare["one by one"] = min(bare["one by one"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(k):
            dgemm(1.0, Dw.T, G.T, 1.0, Zw.T, overwrite_c=1)
        bare["one shared group"] = min(bare["one shared group"], time.perf_counter() - t0)
    print(f"\nper run-step (M={p0.M}, {k} steps): step loop one by one {1e3 * loop['one by one'] / k / B:.3f} ms, "
          f"one shared group of {B} {1e3 * loop['one shared group'] / k / B:.3f} ms "
          f"({loop['one by one'] / loop['one shared group']:.2f}×); bare product 2m={80} wide "
          f"{1e3 * bare['one by one'] / k / B:.3f} ms, {B * 80} wide {1e3 * bare['one shared group'] / k / B:.3f} ms "
          f"({bare['one by one'] / bare['one shared group']:.2f}×); load avg {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
