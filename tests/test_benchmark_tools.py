"""The machine-speed probe that the timing scripts of benchmarks/ print beside their times."""

import importlib.util
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_host_share_reads_proc_stat_into_shares(monkeypatch):
    ms = _module("machine_speed")
    readings = iter([
        {"user": 100, "nice": 0, "system": 10, "idle": 50, "iowait": 0, "irq": 0, "softirq": 0, "steal": 0},
        {"user": 160, "nice": 0, "system": 20, "idle": 70, "iowait": 10, "irq": 0, "softirq": 0, "steal": 20},
    ])
    monkeypatch.setattr(ms, "_proc_stat", lambda: next(readings))
    with ms.HostShare() as host:
        pass
    # 120 jiffies in the span: 20 stolen, 30 idle or waiting
    assert host.steal == pytest.approx(20 / 120) and host.idle == pytest.approx(30 / 120)


def test_host_share_is_nan_without_proc_stat(monkeypatch):
    ms = _module("machine_speed")
    monkeypatch.setattr(ms, "_proc_stat", lambda: None)
    with ms.HostShare() as host:
        pass
    assert math.isnan(host.steal) and math.isnan(host.idle)


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads /proc/stat (Linux)")
def test_probe_gives_positive_rates_and_a_steal_share():
    ms = _module("machine_speed")
    reading = ms.probe(repeats=1)
    assert reading["dgemm"] > 0 and reading["python"] > 0 and 0.0 <= reading["steal"] <= 1.0
    line = ms.describe(reading)
    assert line.startswith("dgemm ") and "GFLOP/s" in line and "M it/s" in line and line.endswith(" %")


def test_suite_time_refuses_zero_runs(capsys):
    with pytest.raises(SystemExit) as stop:
        _module("suite_time").main(["--repeat", "0"])
    assert stop.value.code == 2 and "--repeat 0 is invalid" in capsys.readouterr().err


def test_load_average_is_three_numbers_or_unknown(monkeypatch):
    ms = _module("machine_speed")
    monkeypatch.setattr(ms.os, "getloadavg", lambda: (0.5, 1.0, 1.25))
    assert ms.load_average() == "0.50, 1.00, 1.25"

    def unavailable():
        raise OSError("no load average")
    monkeypatch.setattr(ms.os, "getloadavg", unavailable)
    assert ms.load_average() == "unknown"
