"""Hyperparameter search for the two-layer CNN of docs/theory.md §2 on real images (a prototype).

The network is the theorem's: ``F_j(W, x) = (1/m) Σ_r a_{j,r} Σ_p σ(<w_{j,r}, x^(p)>)`` for the two
classes ``j = ±1``, filters ``w_{j,r}`` shared over the ``P`` patches, sum pooling, output
``f = F_{+1} - F_{-1}``, logistic loss ``log(1 + exp(-y f))``. The head ``a_{j,r}`` is either fixed
(``a = 1``: the theorem's ±1/m second layer) or trained jointly from ``a_{j,r}(0) = a0``. Knobs:
filters ``m``, activation (``relu``, ``huber<q>`` with ``kappa``, ``poly<q>``), weight decay ``λ`` on
every trained parameter, optimizer (``gd``, ``sign``, ``adam``), step size, steps, minibatch size
(a seeded permutation per epoch), patch size and stride, and the image preprocessing (the pipeline's
``standardize`` / ``center`` / ``none`` of :mod:`cnnrank.experiments.preprocess`, optional
grayscale, and two extras fit on the training images only: ``pixel`` = per-pixel standardization,
and ZCA whitening of the patches).

Data are what the real-image pipeline sees: :func:`cnnrank.datasets.load_cifar10` /
:func:`cnnrank.datasets.load_mnist`, :func:`cnnrank.datasets.tasks.binary_task` for the validation
split, :func:`cnnrank.experiments.preprocess.preprocess_images`, and the pipeline's patch order
(:func:`cnnrank.datasets.noise.to_patches`) for non-overlapping patches. σ = 0: no noise is added.

Protocol: settings are chosen on a validation split carved from the training images only
(``binary_task(train set, n_train, n_val, rng=seed)``); the chosen settings are then retrained on all
the training images and the held-out images are scored once per final candidate.

    python benchmarks/cifar_search.py search --budget 40           # random search, validation only
    python benchmarks/cifar_search.py final --config '{"m": 64}'   # retrain on all, score held-out
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnnrank.datasets import load_cifar10, load_mnist
from cnnrank.datasets.noise import to_patches, to_unit_float
from cnnrank.datasets.tasks import binary_task
from cnnrank.experiments.preprocess import preprocess_images
from cnnrank.experiments.real_config import RealRankConfig

DATA = Path(os.environ.get("CNNRANK_DATA", "/work/shared/data"))
RESULTS = Path(os.environ.get("CS_RESULTS", Path(__file__).with_name("cifar_search_results.json")))

BASE: dict[str, Any] = dict(
    dataset="cifar10", classes=(0, 1), preprocess="standardize", grayscale=False, pixel_std=False,
    patch=4, stride=4, zca=0.0, m=20, activation="huber3", kappa=1.0, init_std=0.01, head="fixed",
    a0=1.0, wd=0.0, optimizer="gd", lr=0.5, beta1=0.9, beta2=0.999, eps=1e-8, steps=1000,
    batch_size=0, seed=0,
)


# ---------------------------------------------------------------- data
def load_split(cfg: dict[str, Any], final: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clean images in [0, 1] and labels ±1: (train, y_train, eval, y_eval).

    ``final=False``: the training images split by ``binary_task`` into train / validation (80 / 20,
    balanced, seeded). ``final=True``: all training images of the two classes, and the held-out
    images (CIFAR-10: ``test_batch``; MNIST: the pipeline's held-out split of the test file).
    """
    a, b = cfg["classes"]
    if cfg["dataset"] == "cifar10":
        tr = load_cifar10(DATA / "cifar10", split="train")
        if not final:
            n = int(np.isin(tr.labels, (a, b)).sum())
            n_val = int(round(0.2 * n))
            t = binary_task(tr, (a, b), n_train=n - n_val, n_test=n_val, balanced=True,
                            rng=np.random.default_rng(cfg.get("val_seed", 0)))
            return t.train_images, t.y_train, t.test_images, t.y_test
        te = load_cifar10(DATA / "cifar10", split="test")
        out = []
        for s in (tr, te):
            idx = np.flatnonzero(np.isin(s.labels, (a, b)))
            out += [to_unit_float(s.images[idx]), np.where(s.labels[idx] == a, 1.0, -1.0)]
        return out[0], out[1], out[2], out[3]
    # MNIST: the pipeline draws its task from the 10,000-image test file (split="test"), train / held-out
    # by binary_task with the first SeedSequence stream; validation is carved from that training part
    mn = load_mnist(DATA / "mnist", split="test")
    n_train, n_test = cfg.get("n_train", 900), cfg.get("n_test", 1000)
    split_ss = np.random.SeedSequence(cfg.get("split_seed", 0)).spawn(4)[0]
    t = binary_task(mn, (a, b), n_train=n_train, n_test=n_test, rng=np.random.default_rng(split_ss))
    if final:
        return t.train_images, t.y_train, t.test_images, t.y_test
    rng = np.random.default_rng(cfg.get("val_seed", 0))
    perm = rng.permutation(n_train)
    n_val = int(round(0.2 * n_train))
    v, r = perm[:n_val], perm[n_val:]
    return t.train_images[r], t.y_train[r], t.train_images[v], t.y_train[v]


def patches(images: np.ndarray, k: int, s: int) -> np.ndarray:
    """``(n, P, d)`` patches of side ``k`` and stride ``s`` in (row, column, channel) order."""
    if s == k and images.shape[1] % k == 0:
        return to_patches(images, k)
    n, h, w, c = images.shape
    win = np.lib.stride_tricks.sliding_window_view(images, (k, k), axis=(1, 2))[:, ::s, ::s]
    # win: (n, H', W', C, k, k) -> (n, H', W', k, k, C)
    win = win.transpose(0, 1, 2, 4, 5, 3)
    return np.ascontiguousarray(win.reshape(n, win.shape[1] * win.shape[2], k * k * c))


def prepare(cfg: dict[str, Any], final: bool, dtype: Any = np.float64
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Patches ``(n, P, d)`` of the preprocessed train and eval images, and the labels."""
    Xtr, ytr, Xev, yev = load_split(cfg, final)
    rc = RealRankConfig(dataset=cfg["dataset"], split="train", preprocess=cfg["preprocess"],
                        grayscale=cfg["grayscale"], patch_size=4)
    gray = (lambda x: x.mean(axis=3, keepdims=True)) if cfg["grayscale"] else (lambda x: x)
    mean_image = gray(Xtr).mean(axis=0) if cfg["preprocess"] == "center" else None
    Ptr = preprocess_images(rc, Xtr, mean_image)
    Pev = preprocess_images(rc, Xev, mean_image)
    if cfg["pixel_std"]:  # per-pixel standardization, statistics of the training images only
        mu, sd = Ptr.mean(axis=0), Ptr.std(axis=0)
        sd = np.where(sd > 1e-8, sd, 1.0)
        Ptr, Pev = (Ptr - mu) / sd, (Pev - mu) / sd
    Ztr, Zev = patches(Ptr, cfg["patch"], cfg["stride"]), patches(Pev, cfg["patch"], cfg["stride"])
    if cfg["zca"] > 0:  # ZCA whitening of the patches: C^{-1/2} with eigenvalue floor zca * mean eig
        d = Ztr.shape[2]
        flat = Ztr.reshape(-1, d)
        mu = flat.mean(axis=0)
        cov = np.cov(flat - mu, rowvar=False)
        ev, U = np.linalg.eigh(cov)
        ev = np.maximum(ev, 0.0)
        M = (U / np.sqrt(ev + cfg["zca"] * ev.mean())) @ U.T * np.sqrt(ev.mean())
        Ztr = (Ztr - mu) @ M
        Zev = (Zev - mu) @ M
    return Ztr.astype(dtype), ytr.astype(dtype), Zev.astype(dtype), yev.astype(dtype)


# ---------------------------------------------------------------- activation
def _ipow(u: np.ndarray, p: float) -> np.ndarray:
    """``u**p`` for ``u >= 0``, by products when ``p`` is a small integer."""
    if p == int(p) and 0 <= p <= 4:
        out = np.ones_like(u)
        for _ in range(int(p)):
            out = out * u
        return out
    return u ** p


def activation(name: str, kappa: float):
    """``(σ, σ')`` vectorized, as :mod:`cnnrank.activations` defines them."""
    if name == "relu":
        return (lambda z: np.maximum(z, 0)), (lambda z: (z > 0).astype(z.dtype))
    if name.startswith("huber"):
        q = float(name[5:])

        def der(z: np.ndarray) -> np.ndarray:   # min((z/κ)^(q-1), 1) for z > 0
            u = np.clip(z * (1.0 / kappa), 0.0, 1.0)
            return _ipow(u, q - 1)

        def val(z: np.ndarray) -> np.ndarray:   # z^q/(qκ^(q-1)) below κ, z - (1-1/q)κ above
            u = np.clip(z * (1.0 / kappa), 0.0, 1.0)
            return kappa / q * _ipow(u, q) + np.maximum(z - kappa, 0.0)
        return val, der
    if name.startswith("poly"):
        q = float(name[4:])
        return (lambda z: np.maximum(z, 0) ** q), (lambda z: q * np.maximum(z, 0) ** (q - 1))
    raise ValueError(f"activation={name!r} is invalid: relu, huber<q> or poly<q>")


# ---------------------------------------------------------------- model
def forward(W: np.ndarray, a: np.ndarray, X: np.ndarray, act, chunk: int = 512) -> np.ndarray:
    """``f(x) = F_{+1} - F_{-1}`` for ``X (n, P, d)``; ``W (2m, d)`` (first m: class +1), ``a (2m,)``."""
    m2 = W.shape[0]
    coef = a * np.repeat([1.0, -1.0], m2 // 2).astype(W.dtype) / (m2 // 2)
    out = np.empty(X.shape[0], dtype=W.dtype)
    for i in range(0, X.shape[0], chunk):  # chunks of samples, for memory only
        Xc = X[i:i + chunk]
        S = act((Xc.reshape(-1, Xc.shape[2]) @ W.T).reshape(len(Xc), -1, m2)).sum(axis=1)
        out[i:i + chunk] = S @ coef
    return out


def train(cfg: dict[str, Any], X: np.ndarray, y: np.ndarray, Xev: np.ndarray | None = None,
          yev: np.ndarray | None = None, evals: int = 10, log: bool = False) -> dict[str, Any]:
    """Train from ``cfg``; returns final train/eval accuracy, the eval curve and the seconds."""
    n, P, d = X.shape
    m = cfg["m"]
    dt = X.dtype
    rng = np.random.default_rng(cfg["seed"])
    W = (cfg["init_std"] * rng.standard_normal((2 * m, d))).astype(dt)
    a = np.full(2 * m, cfg["a0"] if cfg["head"] == "trained" else 1.0, dtype=dt)
    sgn = (np.repeat([1.0, -1.0], m) / m).astype(dt)
    act, dact = activation(cfg["activation"], cfg["kappa"])
    train_head = cfg["head"] == "trained"
    params = [W, a] if train_head else [W]
    mom = [np.zeros_like(p) for p in params]
    vel = [np.zeros_like(p) for p in params]
    b1, b2, eps, lr, wd = cfg["beta1"], cfg["beta2"], cfg["eps"], cfg["lr"], cfg["wd"]
    bs = cfg["batch_size"] if 0 < cfg["batch_size"] < n else n
    order = np.arange(n)
    pos = n
    curve = []
    every = max(1, cfg["steps"] // evals)
    t0 = time.perf_counter()
    for step in range(1, cfg["steps"] + 1):
        if bs == n:
            Xb, yb = X, y
        else:
            if pos + bs > n:
                order, pos = rng.permutation(n), 0
            idx = order[pos:pos + bs]
            pos += bs
            Xb, yb = X[idx], y[idx]
        Z = (Xb.reshape(-1, d) @ W.T).reshape(len(Xb), P, 2 * m)   # (b, P, 2m); 2-D: the 3-D matmul is slow
        S = act(Z).sum(axis=1)                        # (b, 2m)
        coef = a * sgn
        f = S @ coef
        g = -yb / (1.0 + np.exp(np.clip(yb * f, -50, 50))) / len(yb)   # dL/df
        dZ = dact(Z) * (g[:, None] * coef)[:, None, :]
        gW = (Xb.reshape(-1, d).T @ dZ.reshape(-1, 2 * m)).T   # this order: OpenBLAS is slow on Zᵀ X
        grads = [gW + wd * W]
        if train_head:
            grads.append((g @ S) * sgn + wd * a)
        for i, (p, gr) in enumerate(zip(params, grads)):
            if cfg["optimizer"] == "gd":
                p -= lr * gr
            elif cfg["optimizer"] == "sign":
                p -= lr * np.sign(gr)
            elif cfg["optimizer"] == "adam":
                mom[i] = b1 * mom[i] + (1 - b1) * gr
                vel[i] = b2 * vel[i] + (1 - b2) * gr * gr
                mh = mom[i] / (1 - b1 ** step)
                vh = vel[i] / (1 - b2 ** step)
                p -= lr * mh / (np.sqrt(vh) + eps)
            else:
                raise ValueError(f"optimizer={cfg['optimizer']!r} is invalid: gd, sign or adam")
        if not np.isfinite(W).all():
            return {"diverged": True, "step": step, "seconds": time.perf_counter() - t0}
        if Xev is not None and (step % every == 0 or step == cfg["steps"]):
            acc = float(np.mean(np.sign(forward(W, a, Xev, act)) == yev))
            curve.append((step, acc))
            if log:
                print(f"  step {step}: eval acc {acc:.3f}", flush=True)
    seconds = time.perf_counter() - t0
    ftr = forward(W, a, X, act)
    out = {"diverged": False, "seconds": seconds, "W": W, "a": a,
           "train_acc": float(np.mean(np.sign(ftr) == y)),
           "train_loss": float(np.mean(np.logaddexp(0, -y * ftr)))}
    if Xev is not None:
        out["eval_acc"] = curve[-1][1]
        out["curve"] = curve
    return out


# ---------------------------------------------------------------- search
SPACE: dict[str, list[Any]] = {
    "preprocess": ["standardize", "center"],
    "pixel_std": [False, True],
    "grayscale": [False],
    "patch_stride": [(4, 4), (8, 8), (4, 2), (6, 2), (8, 4), (5, 3)],
    "zca": [0.0, 0.01, 0.1],
    "m": [20, 50, 100],
    "activation": ["relu", "huber2", "huber3"],
    "kappa": [0.5, 1.0],
    "head": ["fixed", "trained"],
    "a0": [0.1, 1.0],
    "wd": [0.0, 1e-4, 1e-3],
    "optimizer": ["adam", "gd", "sign"],
    "lr_adam": [1e-3, 3e-3, 1e-2],
    "lr_gd": [0.1, 0.5, 2.0],
    "lr_sign": [1e-4, 3e-4, 1e-3],
    "steps": [300, 600],
    "batch_size": [0, 64, 128],
    "init_std": [0.01, 0.1],
}


def sample(rng: np.random.Generator, space: dict[str, list[Any]]) -> dict[str, Any]:
    c = dict(BASE)
    pick = {k: v[rng.integers(len(v))] for k, v in space.items()}
    c["patch"], c["stride"] = pick.pop("patch_stride")
    lr = {o: pick.pop(f"lr_{o}") for o in ("adam", "gd", "sign")}
    c.update(pick)
    c["lr"] = lr[c["optimizer"]]
    return c


def key_of(c: dict[str, Any]) -> str:
    return json.dumps({k: c[k] for k in sorted(c)}, default=list)


def cost(c: dict[str, Any]) -> float:
    """Rough multiply-adds of the training (relative), to skip settings far above the time budget."""
    side = 28 if c["dataset"] == "mnist" else 32
    npos = ((side - c["patch"]) // c["stride"] + 1) ** 2
    d = c["patch"] ** 2 * (1 if c["grayscale"] or c["dataset"] == "mnist" else 3)
    n = c["batch_size"] if c["batch_size"] else 766
    return 2 * n * npos * d * 2 * c["m"] * c["steps"]


def load_results() -> dict[str, Any]:
    if RESULTS.exists():
        return json.loads(RESULTS.read_text())
    return {"search": [], "final": []}


def save_results(res: dict[str, Any]) -> None:
    RESULTS.write_text(json.dumps(res, indent=1, default=list))


def run_search(args: argparse.Namespace) -> None:
    res = load_results()
    done = {r["key"] for r in res["search"]}
    rng = np.random.default_rng(args.seed)
    cache: dict[str, Any] = {}
    space = dict(SPACE)
    if args.space:
        space.update(json.loads(args.space))
    fixed = json.loads(args.fixed) if args.fixed else {}
    tried = 0
    while tried < args.budget:
        c = sample(rng, space)
        c.update(fixed)
        if cost(c) > args.max_cost:
            continue
        k = key_of(c)
        if k in done:
            continue
        done.add(k)
        tried += 1
        dkey = json.dumps([c[x] for x in ("dataset", "classes", "preprocess", "grayscale", "pixel_std",
                                          "patch", "stride", "zca")])
        if dkey not in cache:
            cache.clear()
            cache[dkey] = prepare(c, final=False, dtype=np.float32)
        X, y, Xv, yv = cache[dkey]
        r = train(c, X, y, Xv, yv, evals=4)
        r.pop("W", None), r.pop("a", None)
        rec = {"key": k, "config": c, "stage": args.stage, **r}
        res["search"].append(rec)
        save_results(res)
        print(f"[{tried}/{args.budget}] val {r.get('eval_acc', float('nan')):.3f} train "
              f"{r.get('train_acc', float('nan')):.3f} {r['seconds']:.1f}s  "
              + " ".join(f"{x}={c[x]}" for x in ("preprocess", "pixel_std", "patch", "stride", "zca", "m",
                                                    "activation", "head", "wd", "optimizer", "lr", "steps",
                                                    "batch_size", "init_std")), flush=True)


def run_final(args: argparse.Namespace) -> None:
    c = dict(BASE)
    c.update(json.loads(args.config))
    dtype = np.float32 if args.float32 else np.float64
    out: dict[str, Any] = {"config": c, "dtype": np.dtype(dtype).name, "mode": args.mode}
    if args.mode == "val":  # the float64 check of a candidate on the validation split
        vals = []
        for vs in args.val_seeds:
            c2 = dict(c, val_seed=vs)
            X, y, Xv, yv = prepare(c2, final=False, dtype=dtype)
            r = train(c2, X, y, Xv, yv, evals=5, log=True)
            r.pop("W", None), r.pop("a", None)
            vals.append(r)
            print(f"val_seed {vs}: val {r['eval_acc']:.3f} train {r['train_acc']:.3f} {r['seconds']:.1f}s")
        out["val"] = [{"val_seed": vs, **r} for vs, r in zip(args.val_seeds, vals)]
        out["val_acc_mean"] = float(np.mean([r["eval_acc"] for r in vals]))
    else:  # retrain on all training images, score the held-out images once
        t0 = time.perf_counter()
        X, y, Xt, yt = prepare(c, final=True, dtype=dtype)
        prep = time.perf_counter() - t0
        r = train(c, X, y)
        act, _ = activation(c["activation"], c["kappa"])
        W, a = r.pop("W"), r.pop("a")
        out.update(r)
        out["prep_seconds"] = prep
        out["n_train"], out["n_heldout"] = int(X.shape[0]), int(Xt.shape[0])
        out["P"], out["d"] = int(X.shape[1]), int(X.shape[2])
        # the held-out images are scored once, after training, with the final weights
        out["heldout_acc"] = float(np.mean(np.sign(forward(W, a, Xt, act)) == yt))
        print(f"train acc {out['train_acc']:.3f}  held-out acc {out['heldout_acc']:.3f}  "
              f"train {out['seconds']:.1f}s + prep {prep:.1f}s  (n={X.shape[0]}, P={X.shape[1]}, d={X.shape[2]})")
    out["note"] = args.note
    res = load_results()
    res["final"].append(out)
    save_results(res)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("search")
    s.add_argument("--budget", type=int, default=20)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--stage", default="random")
    s.add_argument("--space", default="", help="JSON dict overriding lists of SPACE")
    s.add_argument("--fixed", default="", help="JSON dict of fixed knobs")
    s.add_argument("--max-cost", type=float, default=4e11)
    f = sub.add_parser("final")
    f.add_argument("--config", required=True, help="JSON dict of knobs over BASE")
    f.add_argument("--mode", choices=("val", "heldout"), default="val")
    f.add_argument("--val-seeds", type=int, nargs="+", default=[0])
    f.add_argument("--float32", action="store_true")
    f.add_argument("--note", default="")
    args = p.parse_args(argv)
    run_search(args) if args.cmd == "search" else run_final(args)


if __name__ == "__main__":
    main()
