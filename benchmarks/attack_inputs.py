"""Try the kinds of bad input a tester reported again, and count how each ends.

    python benchmarks/attack_inputs.py            # prints one line per input and the counts

Every case runs in its own subprocess (a crash or a hang cannot take the others down) with a time and
memory limit, and ends in one of:

* ``clear``  — a ``ValueError``/``TypeError``/``MemoryError`` family error or ``cnnrank.TrainingDiverged``
  whose message is one line (CLI: exit status 2, one line on stderr, no traceback, nothing written);
* ``right``  — the call succeeds with the right result (for inputs that are valid after all);
* ``raw``    — any other exception type, or a traceback on the command line;
* ``silent`` — the call succeeds although it should not (a wrong result or an unnoticed bad input);
* ``crash``  — the process died, ran out of memory or exceeded its time limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
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
"""

# (name, category, code that should fail) — the code raises or returns; success means "silent"
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
    ("trajectory train_loss 2 of 5 records", "files",
     "t = train(net, data, lr=0.1, steps=4, record_every=1); t.train_loss = t.train_loss[:2]; t.save(tmp / 't.npz'); "
     "cnnrank.Trajectory.load(tmp / 't.npz').summary()"),
    ("trajectory lr='abc'", "files",
     "t = train(net, data, lr=0.1, steps=2); t.lr = 'abc'; t.save(tmp / 't.npz'); cnnrank.Trajectory.load(tmp / 't.npz')"),
    ("npz header claims 1e12 floats", "files",
     "import zipfile; from numpy.lib import format as F\n"
     "buf = io.BytesIO(); F.write_array_header_1_0(buf, {'descr': '<f8', 'fortran_order': False, 'shape': (10**12,)})\n"
     "with zipfile.ZipFile(tmp / 'h.npz', 'w') as z: z.writestr('x.npy', buf.getvalue())\n"
     "from cnnrank.results import load_npz; load_npz(tmp / 'h.npz')"),
    ("mnist gz bomb 1 MB", "files",
     "d = tmp / 'm'; d.mkdir(); hdr = struct.pack('>IIII', 0x803, 10**6, 28, 28)\n"
     "with gzip.open(d / 't10k-images-idx3-ubyte.gz', 'wb') as f:\n"
     "    f.write(hdr)\n"
     "    [f.write(b'\\0' * 2**20) for _ in range(700)]\n"
     "with gzip.open(d / 't10k-labels-idx1-ubyte.gz', 'wb') as f: f.write(struct.pack('>II', 0x801, 10**6) + b'\\0' * 10**6)\n"
     "from cnnrank.datasets import load_mnist; load_mnist(d, split='test')"),
    ("mnist zero dim", "files",
     "d = tmp / 'z'; d.mkdir(); (d / 't10k-images-idx3-ubyte').write_bytes(struct.pack('>IIII', 0x803, 10, 0, 28))\n"
     "(d / 't10k-labels-idx1-ubyte').write_bytes(struct.pack('>II', 0x801, 10) + b'\\0' * 10)\n"
     "from cnnrank.datasets import load_mnist; load_mnist(d, split='test')"),
    ("cifar ndarray((600000, 3072))", "files",
     "d = tmp / 'c'; d.mkdir()\n"
     "class P:\n"
     "    def __reduce__(self): return (np.ndarray, ((600000, 3072), 'u1'))\n"
     "(d / 'test_batch').write_bytes(pickle.dumps({'data': P(), 'labels': [0] * 600000}, protocol=2))\n"
     "from cnnrank.datasets import load_cifar10; load_cifar10(d, split='test')"),
    ("cifar labels [10**100]", "files",
     "d = tmp / 'c2'; d.mkdir()\n"
     "(d / 'test_batch').write_bytes(pickle.dumps({'data': np.zeros((1, 3072), np.uint8), 'labels': [10**100]}, protocol=2))\n"
     "from cnnrank.datasets import load_cifar10; load_cifar10(d, split='test')"),
]

SMALL = ["--n", "16", "--n-test", "16", "--d", "60", "--K", "2", "--m", "4", "--steps", "20", "--record-every", "10"]

# (name, argv) — each must exit 2 with one stderr line and no traceback, writing nothing to OUT
CLI = [
    ("simulate lr=1e200 (diverges)", ["simulate", *SMALL, "--lr", "1e200", "--out", "{out}"]),
    ("simulate --kappa 1e200", ["simulate", *SMALL, "--kappa", "1e200", "--out", "{out}"]),
    ("simulate --out is a file", ["simulate", *SMALL, "--out", "{file}"]),
    ("simulate --out under a file", ["simulate", *SMALL, "--out", "{file}/sub"]),
    ("simulate --seed -1", ["simulate", *SMALL, "--seed", "-1", "--out", "{out}"]),
    ("simulate --engine grma", ["simulate", *SMALL, "--engine", "grma", "--out", "{out}"]),
    ("rank-vs-noise lr=1e200", ["reproduce", "rank-vs-noise", *SMALL, "--noise", "0,0.5", "--seeds", "1",
                                "--lr", "1e200", "--out", "{out}"]),
    ("rank-vs-noise --seeds 100000000", ["reproduce", "rank-vs-noise", *SMALL, "--seeds", "100000000",
                                         "--out", "{out}"]),
    ("neural-collapse --out is a file", ["reproduce", "neural-collapse", "--quick", "--out", "{file}"]),
    ("plot a directory", ["plot", "{dir}"]),
    ("plot a .npy", ["plot", "{npy}"]),
    ("plot JSON with wrong types", ["plot", "{badjson}"]),
    ("sweep activation = 3", ["sweep", "{toml_act}", "--out", "{out}"]),
    ("sweep grid = 5", ["sweep", "{toml_grid}", "--out", "{out}"]),
    ("sweep engine typo", ["sweep", "{toml_engine}", "--out", "{out}"]),
    ("sweep store sweep.json = []", ["sweep", "{toml_ok}", "--out", "{badstore}"]),
]


def _helpful(msg: str) -> bool:
    """A message that names what is wrong and the rule (not a NumPy/Python internal one)."""
    return any(w in msg for w in ("invalid", "must", "needs", "diverged", "refused", "truncated", "does not",
                                  "not a", "too large", "exceeds", "mismatch", "cannot", "is a folder", "has no",
                                  "labels are"))


def _api_case(code: str, tmp: str, category: str) -> tuple[str, str]:
    script = PRELUDE.format(limit=LIMIT_AS) + "\n" + textwrap.dedent(code) + "\nprint('RETURNED')\n"
    try:
        p = subprocess.run([sys.executable, "-c", script, tmp], capture_output=True, text=True, timeout=LIMIT_S,
                           cwd=ROOT)
    except subprocess.TimeoutExpired:
        return "crash", "timeout"
    if p.returncode == 0 and "RETURNED" not in p.stdout:
        return "right", ""
    if p.returncode == 0:
        return "silent", "no error"
    last = (p.stderr.strip().splitlines() or [""])[-1]
    if p.returncode < 0 or ("MemoryError" == last.split(":")[0].split(".")[-1] and "needs" not in last):
        return "crash", last[:160]
    kind = last.split(":")[0].split(".")[-1]
    clear = {"ValueError", "TypeError", "TrainingDiverged", "ResultsFileError", "DatasetError", "InsufficientMemory",
             "LinearDivergenceError", "CollapseDivergenceError", "FileNotFoundError", "ImportError"}
    if category == "divergence":
        return ("clear" if kind.endswith(("Diverged", "DivergenceError")) else "raw"), last[:160]
    if (kind in clear or kind.endswith("Diverged")) and _helpful(last):
        return "clear", last[:160]
    if kind == "AssertionError":
        return "silent", last[:160]
    return "raw", last[:160]


def _cli_case(argv: list[str], tmp: Path) -> tuple[str, str]:
    out = tmp / "out"
    files = {"out": str(out), "file": str(tmp / "afile"), "dir": str(tmp / "adir"), "npy": str(tmp / "x.npy"),
             "badjson": str(tmp / "bad.json"), "toml_act": str(tmp / "act.toml"), "toml_grid": str(tmp / "grid.toml"),
             "toml_engine": str(tmp / "engine.toml"), "toml_ok": str(tmp / "ok.toml"), "badstore": str(tmp / "store")}
    (tmp / "afile").write_text("x")
    (tmp / "adir").mkdir(exist_ok=True)
    import numpy as np

    np.save(tmp / "x.npy", np.zeros(3))
    (tmp / "bad.json").write_text(json.dumps({"noise_std": "a", "data_stable_rank": 1, "filter_stable_rank": [],
                                              "test_acc": None}))
    small = "[base]\nn = 16\nn_test = 16\nd = 60\nK = 2\nm = 4\nsteps = 20\nrecord_every = 10\n"
    (tmp / "act.toml").write_text(small + "[grid]\nactivation = [3]\n")
    (tmp / "grid.toml").write_text(small.replace("[base]", "grid = 5\n[base]"))
    (tmp / "engine.toml").write_text(small + "engine = \"grma\"\n[grid]\nnoise_std = [0.0, 0.5]\n")
    (tmp / "ok.toml").write_text(small + "[grid]\nnoise_std = [0.0, 0.5]\n")
    (tmp / "store").mkdir(exist_ok=True)
    (tmp / "store" / "sweep.json").write_text("[]")
    args = [a.format(**files) for a in argv]
    before = set((tmp / "store").iterdir())
    try:
        p = subprocess.run([sys.executable, "-m", "cnnrank", *args], capture_output=True, text=True,
                           timeout=LIMIT_S, cwd=tmp, env={**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        return "crash", "timeout"
    err = p.stderr.strip()
    wrote = out.exists() or set((tmp / "store").iterdir()) != before
    if p.returncode == 0:
        return "silent", "exit 0"
    if p.returncode < 0:
        return "crash", f"signal {-p.returncode}"
    if "Traceback" in err or p.returncode != 2 or len(err.splitlines()) != 1 or not _helpful(err):
        return "raw", (err.splitlines() or [""])[-1][:160]
    if wrote:
        return "raw", "wrote files: " + err[:120]
    return "clear", err[:160]


def main() -> int:
    counts: dict[str, dict[str, int]] = {}
    for name, cat, code in API:
        with tempfile.TemporaryDirectory() as tmp:
            verdict, msg = _api_case(code, tmp, cat)
        counts.setdefault(cat, {}).setdefault(verdict, 0)
        counts[cat][verdict] += 1
        print(f"[{cat:10s}] {verdict:6s} {name}: {msg}", flush=True)
    for name, argv in CLI:
        with tempfile.TemporaryDirectory() as tmp:
            verdict, msg = _cli_case(argv, Path(tmp))
        counts.setdefault("cli", {}).setdefault(verdict, 0)
        counts["cli"][verdict] += 1
        print(f"[cli       ] {verdict:6s} {name}: {msg}", flush=True)
    print()
    print("| category | tried | clear | right | raw | silent | crash |")
    print("|---|---|---|---|---|---|---|")
    for cat, c in counts.items():
        print(f"| {cat} | {sum(c.values())} | " + " | ".join(str(c.get(k, 0)) for k in
                                                              ("clear", "right", "raw", "silent", "crash")) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
