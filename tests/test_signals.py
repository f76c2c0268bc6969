"""A signal at any moment of a command: one line on stderr, exit status 128 + signum, the result files
complete or absent (never a part), no temporary file left, an output folder the command created and left
empty removed, finished sweep cells kept; temporary files of a killed run removed by the next run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cnnrank.results
import cnnrank.results.atomic
from cnnrank.cli import main

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP") or not Path("/proc/self/stat").exists(),
                                reason="POSIX signals and /proc (Linux)")

#: a phase diagram of 4 cells that takes a fraction of a second
PHASE = ["reproduce", "phase-diagram", "--n-grid", "8,16", "--noise", "0.01,0.02", "--steps", "20", "--d", "100",
         "--K", "2", "--m", "4", "--n-test", "16", "--seeds", "1", "--quiet"]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _kill_self_after(monkeypatch, target, name, sig, when="phase_diagram.json"):
    """Wrap ``target.name`` so that its first call about a file named ``when`` sends ``sig`` to this
    process once it returns (the results' files, not the sweep's cells)."""
    original = getattr(target, name)
    count = [0]

    def wrapped(*args, **kwargs):
        out = original(*args, **kwargs)
        if any(isinstance(a, (str, Path)) and Path(a).name == when for a in args):
            count[0] += 1
            if count[0] == 1:
                os.kill(os.getpid(), sig)
        return out

    monkeypatch.setattr(target, name, wrapped)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["TERM", "HUP", "INT"])
def test_signal_after_the_sweep_while_files_are_written_leaves_none_and_no_temp(tmp_path, capsys, monkeypatch, sig):
    """The signal arrives after the first temporary file is written: no result file, no temporary file,
    the store is kept and named, one line, 128 + signum."""
    out = tmp_path / "out"
    _kill_self_after(monkeypatch, cnnrank.results.atomic, "_write_temp", sig)
    assert main([*PHASE, "--out", str(out)]) == 128 + sig
    err = capsys.readouterr().err.strip()
    assert err == (f"cnnrank: interrupted by {signal.Signals(sig).name}; finished cells are kept in {out / 'sweep'} "
                   "(re-run the command to resume)"), err
    assert sorted(p.name for p in out.iterdir()) == ["sweep"]
    assert _leftovers(out) == []
    monkeypatch.undo()
    assert main([*PHASE, "--out", str(out)]) == 0  # resumes from the store and writes both files
    assert {"phase_diagram.json", "phase_diagram.png"} <= {p.name for p in out.iterdir()}


def test_signal_while_the_files_are_renamed_waits_until_all_are_in_place(tmp_path, capsys, monkeypatch):
    """A signal between the two renames is held until both files are in place: complete outputs."""
    out = tmp_path / "out"
    _kill_self_after(monkeypatch, cnnrank.results.atomic.os, "replace", signal.SIGTERM)
    assert main([*PHASE, "--out", str(out)]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err.count("\n") == 1
    json.loads((out / "phase_diagram.json").read_text())
    assert (out / "phase_diagram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _leftovers(out) == []


def test_an_error_between_the_writes_leaves_neither_file(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    original = cnnrank.results.atomic.os.replace
    calls = [0]

    def second_fails(src, dst):
        calls[0] += Path(dst).name.startswith("phase_diagram")
        if calls[0] == 2:
            raise OSError(28, "No space left on device")
        return original(src, dst)

    monkeypatch.setattr(cnnrank.results.atomic.os, "replace", second_fails)
    assert main([*PHASE, "--out", str(out)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["sweep"]


def test_stale_temporary_files_of_a_killed_run_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [out / ".phase_diagram.json.k3j_x9q1.tmp",  # written by an older version (no pid)
             out / f".phase_diagram.png.{dead.pid}.abcd1234.tmp"]  # its writer is gone
    live = out / f".phase_diagram.json.{os.getppid()}.abcd1234.tmp"  # a live writer, written just now
    for p in [*stale, live]:
        p.write_bytes(b"partial")
    assert main([*PHASE, "--out", str(out)]) == 0
    assert not any(p.exists() for p in stale)
    assert live.exists()
    os.utime(live, (time.time() - 2 * cnnrank.results.STALE_SECONDS,) * 2)  # an hour old: stale all the same
    assert cnnrank.results.remove_stale_temps(out, ["phase_diagram.json"]) == [live]


def _run(argv, sig, ready, bound=60.0):
    """Start ``python -m cnnrank argv``, wait until ``ready(proc)``, send ``sig``; (status, stderr, seconds)."""
    proc = subprocess.Popen([sys.executable, "-m", "cnnrank", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and proc.poll() is None and not ready(proc):
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(sig)
    start = time.monotonic()
    rc = proc.wait(timeout=60)
    err = proc.stderr.read()
    proc.stderr.close()
    return rc, err, time.monotonic() - start


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(d.name))
    return out


def test_sigterm_to_simulate_one_line_and_no_empty_folder(tmp_path):
    out = tmp_path / "new" / "out"
    rc, err, _ = _run(["simulate", "--n", "64", "--d", "300", "--steps", "100000", "--quiet", "--out", str(out)],
                      signal.SIGTERM, lambda p: out.is_dir())
    assert rc == 128 + signal.SIGTERM and err == "cnnrank: interrupted by SIGTERM\n", (rc, err)
    assert not (tmp_path / "new").exists()  # the folders it created held nothing: removed


def test_sigterm_to_linear_cnn_with_workers_ends_them_one_line_no_leak_warning(tmp_path):
    """(SIGHUP to a pool: tests/test_sweep_workers.py.)"""
    sig = signal.SIGTERM
    out = tmp_path / "out"
    seen: list[int] = []

    def pool_running(proc):
        kids = [k for k in _children(proc.pid) if Path(f"/proc/{k}/cmdline").read_bytes().count(b"spawn_main")]
        seen[:] = kids
        return len(kids) >= 2

    rc, err, _ = _run(["reproduce", "linear-cnn", "--quick", "--workers", "2", "--out", str(out)], sig, pool_running)
    assert rc == 128 + sig and err == f"cnnrank: interrupted by {signal.Signals(sig).name}\n", (rc, err)
    assert not out.exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{k}").exists() for k in seen):
        time.sleep(0.05)
    assert not any(Path(f"/proc/{k}").exists() for k in seen), "workers survived"


def test_a_killed_writer_s_sweep_json_temporary_files_are_removed_on_resume(tmp_path):
    from cnnrank.experiments import RunConfig
    from cnnrank.sweeps import SweepSpec, run_sweep

    spec = SweepSpec(base=RunConfig(n=8, n_test=8, d=30, K=2, m=3, steps=2, record_every=1, engine="feature"),
                     grid={"noise_std": [0.1]}, seeds=1)
    run_sweep(spec, store=tmp_path, progress=False)
    stale = [tmp_path / ".sweep.json.999999.tmp", tmp_path / "..sweep.json.999999.tmp.999999.abcd1234.tmp",
             tmp_path / "cells" / ".g0000-s000.json.999999.abcd1234.tmp"]
    for p in stale:
        p.write_text("{")
    run_sweep(spec, store=tmp_path, progress=False)
    assert not any(p.exists() for p in stale)


def test_a_signal_inside_a_deferred_section_is_raised_at_its_end_and_a_repeat_is_ignored():
    from cnnrank._signals import Interrupted, deferred, handle_signals

    done = []
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    with handle_signals():
        with pytest.raises(Interrupted) as info:
            with deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.01)
                done.append("the section ran to its end")
        assert info.value.signum == signal.SIGTERM and done
        os.kill(os.getpid(), signal.SIGHUP)  # within the grace period: the command is cleaning up
        time.sleep(0.01)
    assert {sig: signal.getsignal(sig) for sig in before} == before  # the previous handlers are back


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_python_m_cnnrank_imports_is_one_line(sig):
    """``python -m cnnrank`` imports the package with ``sys.argv[0] == "-m"``: from then on a signal, even
    before the command's own handlers exist, ends it with one line and 128 + signum (not the default
    death by the signal)."""
    code = (f"import sys; sys.argv[0] = '-m'; import cnnrank, os, time; os.kill(os.getpid(), {int(sig)}); "
            "time.sleep(30)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert p.returncode == 128 + sig, (p.returncode, p.stderr)
    assert p.stderr == f"cnnrank: interrupted by {signal.Signals(sig).name}\n"
