"""``sweep --dask``: a scheduler without workers, an unreachable or impossible address, or a scheduler
lost during the sweep each end in one line naming the address within ``--dask-timeout`` seconds."""

import importlib.util
import json
import subprocess
import sys
import time

import pytest

from cnnrank.cli import main

# found, not imported: importing distributed takes most of a second, in each collecting worker
pytestmark = pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="needs the 'dist' extra")

SPEC = {"seeds": 40, "root_seed": 1, "grid": {"noise_std": [0.0, 0.5, 1.0]},
        "base": {"n": 16, "n_test": 16, "d": 40, "K": 2, "m": 3, "steps": 1500, "record_every": 500, "lr": 0.5,
                 "init_std": 0.05, "engine": "feature"}}

#: a scheduler (with ``argv[1]`` in-process workers) on a free TCP port of this host; prints its address
SCHEDULER = """
import sys, time
from distributed import LocalCluster
c = LocalCluster(n_workers=int(sys.argv[1]), threads_per_worker=1, processes=False, dashboard_address=None,
                 protocol="tcp", host="127.0.0.1")
print(c.scheduler_address, flush=True)
time.sleep(600)
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(SPEC))
    return path


def test_a_scheduler_without_workers_is_one_line_within_the_timeout(tmp_path, config, capsys):
    from distributed import LocalCluster

    out = tmp_path / "out"
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None, protocol="tcp", host="127.0.0.1") as c:
        start = time.monotonic()
        rc = main(["sweep", str(config), "--out", str(out), "--dask", c.scheduler_address, "--dask-timeout", "1",
                   "--quiet"])
        seconds = time.monotonic() - start
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "has no worker after 1 s" in err, err
    assert c.scheduler_address in err
    assert seconds < 15, seconds
    assert not out.exists()


@pytest.mark.parametrize("address, needle", [("foo", "missing port"), ("inproc://1.2.3.4/1/1", "inside one process"),
                                             ("tcp://127.0.0.1:1", "cannot reach")])
def test_an_impossible_or_unreachable_address_is_one_line(tmp_path, config, capsys, address, needle):
    rc = main(["sweep", str(config), "--out", str(tmp_path / "out"), "--dask", address, "--dask-timeout", "1",
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and needle in err and err.startswith("cnnrank: error: --dask"), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_dask_timeout_must_be_positive(tmp_path, config, capsys, value):
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--dask-timeout", value]) == 2
    assert "--dask-timeout" in capsys.readouterr().err


def test_a_scheduler_lost_during_the_sweep_is_one_line_naming_it_not_the_cells(tmp_path, config):
    sched = subprocess.Popen([sys.executable, "-c", SCHEDULER, "1"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        address = sched.stdout.readline().strip()
        out = tmp_path / "out"
        proc = subprocess.Popen([sys.executable, "-m", "cnnrank", "sweep", str(config), "--out", str(out),
                                 "--dask", address, "--dask-timeout", "5", "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and len(list(out.glob("cells/*.json"))) < 1:
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read()
    finally:
        sched.kill()
        sched.wait()
    start = time.monotonic()
    rc = proc.wait(timeout=60)
    seconds = time.monotonic() - start
    err = proc.stderr.read()
    proc.stderr.close()
    assert rc == 2 and err.count("\n") == 1, err
    assert f"--dask {address}: lost the Dask scheduler" in err and "g00" not in err, err
    assert seconds < 15, seconds
    assert list(out.glob("cells/*.json"))  # the finished cells are kept
