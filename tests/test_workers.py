"""``--workers``: every command that trains more than one network defaults to the CPUs this process may
use (``$CNNRANK_WORKERS`` overrides the default; the suite sets it to 1 in conftest.py), and writes the
same bits whatever the number of workers (the grouping of a sweep does not depend on it)."""

import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cnnrank._parallel import available_cores, default_workers
from cnnrank.cli import build_parser, main
from cnnrank.experiments.runs import RunConfig
from cnnrank.sweeps import SweepSpec, run_sweep

#: the commands that train more than one network and take --workers
COMMANDS = ("rank-vs-noise", "phase-diagram", "intrinsic-dimension", "linear-cnn", "calibration", "mnist-rank",
            "cifar10-rank", "neural-collapse")
SMALL = ["--n", "16", "--n-test", "16", "--d", "60", "--m", "4", "--steps", "40", "--record-every", "20",
         "--lr", "0.5", "--init-std", "0.05", "--quiet"]


def test_default_workers_is_the_affinity_unless_the_environment_says(monkeypatch):
    monkeypatch.delenv("CNNRANK_WORKERS", raising=False)
    assert available_cores() == len(os.sched_getaffinity(0))
    assert default_workers() == available_cores()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert default_workers() == 3
    monkeypatch.setenv("CNNRANK_WORKERS", "5")
    assert default_workers() == 5
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("CNNRANK_WORKERS", bad)
        with pytest.raises(ValueError, match="CNNRANK_WORKERS"):
            default_workers()


@pytest.mark.parametrize("command", COMMANDS + ("sweep",))
def test_every_command_defaults_to_the_cores(monkeypatch, command):
    from cnnrank.reproduce._sweeping import resolve_workers

    monkeypatch.delenv("CNNRANK_WORKERS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    argv = ["sweep", "s.json", "--out", "o"] if command == "sweep" else ["reproduce", command]
    args = build_parser().parse_args(argv)
    assert args.workers is None
    assert resolve_workers(args) == 3 and args.workers == 3
    assert resolve_workers(build_parser().parse_args(argv + ["--workers", "1"])) == 1
    with pytest.raises(ValueError, match="--workers 0"):
        resolve_workers(build_parser().parse_args(argv + ["--workers", "0"]))


def test_workers_zero_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["reproduce", "intrinsic-dimension", "--Ks", "1,2", "--workers", "0", "--out", str(out), *SMALL]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "--workers 0 is invalid" in err and "Traceback" not in err


def test_unbalanced_sweep_keeps_the_serial_groups_and_bits(monkeypatch):
    """balance=False (what the commands use): two workers run the serial grouping, the same bits; the
    default balance splits the one group in two halves for the workers."""
    base = RunConfig(n=24, d=60, K=2, patches=3, m=6, steps=40, record_every=20, engine="gram", n_test=32)
    spec = SweepSpec(base=base, grid={"noise_std": [0.1, 0.3, 0.6], "lr": [0.5, 1.0]}, seeds=1, root_seed=3)
    sizes = []
    from cnnrank.sweeps import runner  # the runner looks run_cell_group up in its own module

    many = runner.run_cell_group

    def group(configs, root_seed, seed_index, errors="raise"):
        sizes.append(len(configs))
        return many(configs, root_seed, seed_index, errors)

    monkeypatch.setattr(runner, "run_cell_group", group)
    serial = run_sweep(spec, progress=False)
    assert sizes == [6]
    sizes.clear()
    with ThreadPoolExecutor(2) as ex:
        pooled = run_sweep(spec, executor=ex, progress=False, balance=False)
    assert sizes == [6]
    for key, value in serial.values.items():
        assert np.array_equal(pooled.values[key], value, equal_nan=True), key
    sizes.clear()
    with ThreadPoolExecutor(2) as ex:
        run_sweep(spec, executor=ex, progress=False)
    assert sizes == [3, 3]
    with pytest.raises(TypeError, match="balance="):
        run_sweep(spec, balance=1)  # type: ignore[arg-type]


def _bytes(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.json"))
            if "sweep" not in p.relative_to(out).parts[0]}


@pytest.mark.parametrize("argv", [
    ["reproduce", "rank-vs-noise", "--ablation", "--noise", "0,1", "--seeds", "1", "--K", "2", *SMALL],
    ["reproduce", "intrinsic-dimension", "--Ks", "1,2", "--seeds", "1", *SMALL],
    ["reproduce", "phase-diagram", "--n-grid", "16,32", "--noise", "0.02,1.5", "--seeds", "1", "--steps", "60",
     "--n-test", "64", "--quiet"],
], ids=["rank-vs-noise", "intrinsic-dimension", "phase-diagram"])
def test_one_and_two_workers_write_the_same_bytes(tmp_path, capsys, argv):
    files = []
    for workers in ("1", "2"):
        out = tmp_path / workers
        assert main([*argv, "--out", str(out), "--workers", workers]) == 0
        files.append(_bytes(out))
    capsys.readouterr()
    assert files[0] and files[0] == files[1]
    record = next(v for k, v in files[0].items() if "/" not in k)
    assert json.loads(record)  # a real record, not an empty file
