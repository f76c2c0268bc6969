"""cnnrank engines against PyTorch and JAX peers, the implicit engine across d, and a batched sweep.

    python benchmarks/run.py                 # full run (several minutes), threads = CPU count
    python benchmarks/run.py --threads 1     # single-threaded BLAS / torch everywhere
    python benchmarks/run.py --quick         # d in {1e3, 1e4}, fewer steps (smoke test)

Peers: ``peer_torch.py`` (PyTorch eager, autograd, ``torch.optim.SGD``) and ``peer_jax.py`` (JAX, jitted,
autodiff, the whole loop in one ``lax.fori_loop``; its set-up is the device transfer plus the
ahead-of-time compilation, ``compile_s``). "Set-up included" speed-ups compare
``(set-up + S · step) / S`` for ``S = --setup-steps`` (default 300 steps).

Every measurement runs in a fresh process (``_worker.py``) with the same thread count for OpenBLAS
(numpy), OpenMP and ``torch.set_num_threads``; peak memory is the resident-set growth during set-up
and training, polled every 2 ms. Time per step is the median over 5 or more
consecutive chunks of the run, which keeps a load spike from another process out of the figure.
The table is printed and the raw numbers are written to
``benchmarks/results/<UTC time>.json`` (gitignored).

Paper regime: n = 128, P = 3, K = 4, m = 40, ‖μ‖ = 5, σ_0 = 0.01, Huberized ReLU (κ = 1, q = 3),
η = 2, and σ_p = 0.8 · sqrt(2000 / d) (the noise energy σ_p² d of the d = 2000 run of docs/theory.md §5, so
the same step size is stable at every d). At large d the feature-space runs (peer, feature engine) are
shorter (``CMP_STEPS``); their time per step is the mean over those steps, and the Gram engine is
compared with them at that same step count for the weights.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHAPE = dict(n=128, P=3, K=4, m=40, lr=2.0)
CMP_STEPS = {10**3: 1000, 10**4: 200, 10**5: 20}  # steps of the feature-space runs at each d


def worker(spec: dict) -> dict:
    res = subprocess.run([sys.executable, str(HERE / "_worker.py"), json.dumps(spec)],
                         capture_output=True, text=True, cwd=HERE)
    if res.returncode != 0:
        raise RuntimeError(f"worker failed for {spec}:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    import numpy as np
    try:
        import torch
        tv = torch.__version__
    except ImportError:  # pragma: no cover
        tv = None
    try:
        import jax
        jv = jax.__version__
    except ImportError:  # pragma: no cover
        jv = None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "torch": tv, "jax": jv, "load_avg": os.getloadavg()}


def rel(a, b) -> float:
    import numpy as np
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--setup-steps", type=int, default=300,
                    help="S of the set-up-included speed-ups, (set-up + S·step) / S")
    ap.add_argument("--no-sweeps", action="store_true", help="skip the batched-sweep table")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import numpy as np

    from cnnrank.rank import stable_rank_from_gram

    dims = [10**3, 10**4] if args.quick else [10**3, 10**4, 10**5]
    steps = 200 if args.quick else args.steps
    th = args.threads
    rows, raw = [], {"machine": machine(), "threads": th, "steps": steps, "shape": SHAPE,
                     "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    tmp = Path(tempfile.mkdtemp(prefix="cnnrank-bench-"))

    def incl(r: dict, S: int = args.setup_steps) -> float:  # seconds per step over S steps, set-up included
        return (r["setup_s"] + S * r["step_s"]) / S

    for d in dims:
        cmp = min(CMP_STEPS[d], steps)
        base = dict(SHAPE, d=d, threads=th)
        res = {}
        for eng in ("peer", "jax", "feature", "gram"):
            spec = dict(base, engine=eng, steps=steps if eng == "gram" else cmp, save_at=cmp,
                        save=str(tmp / f"{eng}_{d}.npy"))
            print(f"  d={d:g} {eng} ...", file=sys.stderr, flush=True)
            res[eng] = worker(spec)
        print(f"  d={d:g} implicit ...", file=sys.stderr, flush=True)
        res["implicit"] = worker(dict(base, engine="implicit", steps=steps))
        W = {e: np.load(tmp / f"{e}_{d}.npy") for e in ("peer", "jax", "feature", "gram")}
        snap = {e: np.load(tmp / f"{e}_{d}_snap.npz") for e in ("feature", "gram")}
        agree = {
            "W_feature_vs_peer": rel(W["feature"], W["peer"]),
            "W_gram_vs_peer": rel(W["gram"], W["peer"]),
            "W_gram_vs_feature": rel(W["gram"], W["feature"]),
            "W_jax_vs_feature": rel(W["jax"], W["feature"]),
            "W_jax_vs_peer": rel(W["jax"], W["peer"]),
            "loss_gram_vs_feature": abs(snap["gram"]["loss"] - snap["feature"]["loss"]) / snap["feature"]["loss"],
            "coef_gram_vs_feature": rel(snap["gram"]["coef"], snap["feature"]["coef"]),
            "srank_gram_vs_feature": abs(stable_rank_from_gram(snap["gram"]["filter_gram"])
                                         - stable_rank_from_gram(snap["feature"]["filter_gram"]))
            / stable_rank_from_gram(snap["feature"]["filter_gram"]),
            "at_step": cmp,
        }
        raw[f"d={d}"] = {"results": res, "agreement": agree}
        peer_step, jax_step = res["peer"]["step_s"], res["jax"]["step_s"]
        for eng in ("peer", "jax", "feature", "gram", "implicit"):
            r = res[eng]
            rows.append({
                "d": d, "engine": eng, "steps": r["steps"], "step_ms": 1e3 * r["step_s"],
                "setup_s": r["setup_s"], "compile_s": r.get("compile_s"),
                "vs_peer": peer_step / r["step_s"], "vs_jax": jax_step / r["step_s"],
                "vs_peer_setup": incl(res["peer"]) / incl(r), "vs_jax_setup": incl(res["jax"]) / incl(r),
                "peak_mb": r["peak_mb"], "vs_bare": r["step_s"] / r["bare_s"],
                "dW_peer": {"peer": 0.0, "jax": agree["W_jax_vs_peer"], "feature": agree["W_feature_vs_peer"],
                            "gram": agree["W_gram_vs_peer"]}.get(eng),
                "dW_feature": {"peer": agree["W_feature_vs_peer"], "jax": agree["W_jax_vs_feature"],
                               "feature": 0.0, "gram": agree["W_gram_vs_feature"]}.get(eng),
            })
    # the implicit engine far beyond any explicit d
    print("  implicit d=1e9 ...", file=sys.stderr, flush=True)
    big = worker(dict(SHAPE, d=10**9, threads=th, engine="implicit", steps=steps))
    raw["implicit_1e9"] = big
    imp1k = raw[f"d={dims[0]}"]["results"]["implicit"]
    rows.append({"d": 10**9, "engine": "implicit", "steps": steps, "step_ms": 1e3 * big["step_s"],
                 "setup_s": big["setup_s"], "compile_s": None, "vs_peer": None, "vs_jax": None,
                 "vs_peer_setup": None, "vs_jax_setup": None, "peak_mb": big["peak_mb"],
                 "vs_bare": big["step_s"] / big["bare_s"], "dW_peer": None, "dW_feature": None})
    # batched sweeps: the paper regime and a small one where per-call overhead dominates
    sweeps = {}
    shapes = () if args.no_sweeps else (("paper n=128 m=40", dict(n=128, P=3, K=4, m=40)),
                                        ("small n=16 m=4", dict(n=16, P=3, K=2, m=4)))
    for label, shp in shapes:
        print(f"  sweep {label} ...", file=sys.stderr, flush=True)
        spec = dict(shp, d=2000, lr=2.0, threads=th, engine="sweep", steps=steps)
        r = {mode: worker(dict(spec, mode=mode, save=str(tmp / f"sweep_{shp['n']}_{mode}.npz")))
             for mode in ("sequential", "batched", "loop")}
        a, b = (np.load(tmp / f"sweep_{shp['n']}_{mode}.npz") for mode in ("batched", "sequential"))
        sweeps[label] = dict(
            M=r["loop"]["M"], stacked=r["batched"]["stacked"], seq_s=r["sequential"]["seconds"],
            batched_s=r["batched"]["seconds"], speedup=r["sequential"]["seconds"] / r["batched"]["seconds"],
            step_loop_seq_s=r["loop"]["step_loop_seq_s"], step_loop_batched_s=r["loop"]["step_loop_batched_s"],
            step_loop_speedup=r["loop"]["step_loop_speedup"],
            max_rel_diff=max(rel(a["coef"], b["coef"]), rel(a["W"], b["W"])),
            bit_for_bit=r["batched"]["sha256"] == r["sequential"]["sha256"])
    raw["sweeps"] = sweeps

    # ------------------------------------------------------------------ report
    out = []
    out.append(f"cnnrank benchmarks — {raw['started']} — {raw['machine']['cpu']} "
               f"({raw['machine']['cores']} cores), threads={th}, numpy {raw['machine']['numpy']}, "
               f"torch {raw['machine']['torch']}, jax {raw['machine']['jax']}, load avg at start {raw['machine']['load_avg'][0]:.2f}")
    out.append(f"paper regime n=128 P=3 K=4 m=40; Gram/implicit {steps} steps; peer/feature "
               f"{', '.join(f'{CMP_STEPS[d]} steps at d={d:g}' for d in dims)}")
    out.append("peer = PyTorch eager (peer_torch.py), jax = jitted JAX peer (peer_jax.py; set-up = transfer + "
               f"compile); 'set-up incl.' = (set-up + {args.setup_steps}·step) / {args.setup_steps}")
    out.append("")
    out.append("| d | engine | steps | ms/step | set-up s | speed-up vs peer | speed-up vs jax "
               "| vs peer, set-up incl. | vs jax, set-up incl. | peak MB | step / bare BLAS "
               "| max rel ΔW vs peer | max rel ΔW vs feature |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def fx(v, spec):
        return "" if v is None else format(v, spec)

    for r in rows:
        out.append(f"| {r['d']:.0e} | {r['engine']} | {r['steps']} | {r['step_ms']:.3f} | {r['setup_s']:.3f} | "
                   f"{fx(r['vs_peer'], '.1f')}{'' if r['vs_peer'] is None else '×'} | "
                   f"{fx(r['vs_jax'], '.1f')}{'' if r['vs_jax'] is None else '×'} | "
                   f"{fx(r['vs_peer_setup'], '.1f')}{'' if r['vs_peer_setup'] is None else '×'} | "
                   f"{fx(r['vs_jax_setup'], '.1f')}{'' if r['vs_jax_setup'] is None else '×'} | "
                   f"{r['peak_mb']:.1f} | {r['vs_bare']:.2f} | {fx(r['dW_peer'], '.1e')} | "
                   f"{fx(r['dW_feature'], '.1e')} |")
    out.append("")
    out.append("Agreement at the compared step (relative, normwise):")
    for d in dims:
        a = raw[f"d={d}"]["agreement"]
        jr = raw[f"d={d}"]["results"]["jax"]
        out.append(f"- d={d:.0e} (step {a['at_step']}): W feature vs peer {a['W_feature_vs_peer']:.1e}, "
                   f"W jax vs feature {a['W_jax_vs_feature']:.1e}, jax compile {jr['compile_s']:.3f} s, "
                   f"W gram vs feature {a['W_gram_vs_feature']:.1e}, loss {a['loss_gram_vs_feature']:.1e}, "
                   f"coefficients {a['coef_gram_vs_feature']:.1e}, filter stable rank "
                   f"{a['srank_gram_vs_feature']:.1e}")
    out.append(f"- implicit step time d=1e9 / d=1e3: {big['step_s'] / imp1k['step_s']:.2f} "
               f"(sampling {big['setup_s']:.3f} s vs {imp1k['setup_s']:.3f} s)")
    if sweeps:
        out.append("")
        out.append("Batched noise sweep, 24 runs (3 seeds × 4 noise levels (common random numbers) × 2 step "
                   f"sizes), d=2000, {steps} steps, records every {max(1, steps // 100)}; end to end (set-up, "
                   "steps, records, trajectories), each mode in its own process; batched: the 8 runs of a seed "
                   "share one Gram matrix (row scales), so agreement is to rounding ('max rel diff' of the final "
                   "coefficients and weights; 'bit for bit' compares SHA-256 of all coefficient records and "
                   "final weights):")
        out.append("")
        out.append("| shape | one by one s | batched s | speed-up | step loop only: one by one ms | batched ms "
                   "| speed-up | max rel diff | bit for bit |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for label, s in sweeps.items():
            out.append(f"| {label} (M={s['M']}, {s['stacked']} stacked) | {s['seq_s']:.2f} | "
                       f"{s['batched_s']:.2f} | {s['speedup']:.2f}× | "
                       f"{1e3 * s['step_loop_seq_s']:.2f} | {1e3 * s['step_loop_batched_s']:.2f} | "
                       f"{s['step_loop_speedup']:.2f}× | {s['max_rel_diff']:.1e} | {s['bit_for_bit']} |")
    text = "\n".join(out)
    print(text)
    path = args.out or HERE / "results" / (_dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                                            + f"-t{th}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    raw["rows"], raw["table"] = rows, text
    path.write_text(json.dumps(raw, indent=1, default=float))
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
