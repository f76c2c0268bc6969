"""Training dynamics: the dominant-frequency reordering, its kernel-size dependence, results I/O, CLI."""

import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from cnnrank.errors import TrainingDiverged
from cnnrank.linear.data import DesignedTask
from cnnrank.linear.experiments import (
    ModeRun,
    Sweep,
    ordering_task,
    run_cnn,
    run_fcnn,
    run_saxe,
    seed_streams,
    sweep,
)
from cnnrank.linear.networks import LinearCNN, LinearFCNN
from cnnrank.linear.training import GDConfig, LinearDivergenceError, LinearTrajectory, train

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2, 3, 4)


@pytest.mark.parametrize("seed", SEEDS)
def test_cnn_learns_weak_single_frequency_mode_before_strong_spread_mode(seed):
    """Frequency reordering: mode 0 (s=1, all energy at f=2) vs mode 1 (s=2, 1/12 at each of f=4..15), N=32.

    Task and inits from independent streams (seed_streams). Measured on seeds 0-4: CNN (k=N=32, C=4)
    t½(mode 0)/t½(mode 1) = 0.56-0.68 (prediction from the per-mode rates 2.309/4 = 0.58); FCNN (H=16)
    ratio = 1.78-2.10 (Saxe from equal small init: ≈ 2 up to the log factor). Margins: CNN ratio < 0.75,
    FCNN ratio > 1.5.
    """
    task_seed, cnn_seed, fcnn_seed = seed_streams(seed, 3)
    task = ordering_task(rng=task_seed)
    cnn = run_cnn(task, channels=4, rng=cnn_seed)
    fcnn = run_fcnn(task, rng=fcnn_seed)
    assert np.all(np.isfinite(cnn.half_times)) and np.all(np.isfinite(fcnn.half_times))
    assert cnn.half_times[0] / cnn.half_times[1] < 0.75
    assert fcnn.half_times[0] / fcnn.half_times[1] > 1.5
    # both networks end at the global minimum: u_α -> s_α.
    np.testing.assert_allclose(cnn.strengths[-1], task.s, rtol=1e-3)
    np.testing.assert_allclose(fcnn.strengths[-1], task.s, rtol=1e-3)
    # the CNN's kernels put their early power on the single-frequency mode's frequency f=2:
    # at the weak mode's half-time, f=2 holds the largest summed kernel power.
    i = np.searchsorted(cnn.times, cnn.half_times[0])
    assert np.argmax(np.sum(cnn.spectra[i] ** 2, axis=0)) == 2


@pytest.mark.parametrize("seed", (0, 1, 2))
def test_one_tap_kernels_learn_both_modes_together_but_alone_follow_s(seed):
    """With k=1 the kernels are C scalars shared by all modes: W_eff grows along Σyx as a whole, so
    the two modes cross half-strength together (measured |ratio − 1| < 1e-3 on seeds 0-4; margin
    0.01). Trained alone, each mode grows at rate s as in an FCNN: measured ratio 1.86-1.88 (seeds
    0-2); margin > 1.5.
    """
    task_seed, init_seed = seed_streams(seed, 2)
    task = ordering_task(rng=task_seed)
    joint = run_cnn(task, kernel_size=1, rng=init_seed)
    assert abs(joint.half_times[0] / joint.half_times[1] - 1.0) < 0.01
    alone = [run_cnn(DesignedTask(s=task.s[a:a + 1], U=np.eye(1), V=task.V[:, a:a + 1]),
                     kernel_size=1, t_end=12.0, rng=init_seed).half_times[0] for a in range(2)]
    assert alone[0] / alone[1] > 1.5


def test_runs_are_bit_reproducible_and_round_trip(tmp_path):
    task = ordering_task(n=32, rng=7)
    a = run_cnn(task, kernel_size=8, channels=2, t_end=1.0, rng=3)
    b = run_cnn(task, kernel_size=8, channels=2, t_end=1.0, rng=3)
    assert np.array_equal(a.strengths, b.strengths) and np.array_equal(a.spectra, b.spectra)
    a.save(tmp_path / "run.npz")
    c = ModeRun.load(tmp_path / "run.npz")
    assert np.array_equal(c.strengths, a.strengths) and c.network == a.network and c.seed == 3
    s = run_saxe(task, u0=1e-2, t_end=1.0, lr=0.01)
    s.save(tmp_path / "saxe.npz")
    assert np.array_equal(ModeRun.load(tmp_path / "saxe.npz").saxe, s.saxe)
    sw = sweep("kernel_size", [2, 4], seeds=[0], t_end=0.5, isolated=True)
    with ProcessPoolExecutor(2) as ex:  # the sweep points on a pool: the same numbers
        assert np.array_equal(sweep("kernel_size", [2, 4], seeds=[0], t_end=0.5, isolated=True,
                                    executor=ex).isolated_half_times, sw.isolated_half_times, equal_nan=True)
    sw.save(tmp_path / "sw.npz")
    sw2 = Sweep.load(tmp_path / "sw.npz")
    assert np.array_equal(sw2.half_times, sw.half_times, equal_nan=True)
    assert sw2.isolated_half_times.shape == (2, 1, 2) and sw2.seeds == [0]


def test_train_returns_a_trajectory_that_round_trips(tmp_path):
    net = LinearCNN(8, 2, 2, 3)
    task = ordering_task(n=8, f_single=1, spread_freqs=(2, 3, 4), rng=0)
    traj = train(net, net.init(0.1, rng=0), np.eye(8), task.sigma_yx, GDConfig(0.01, 20, 7))
    assert isinstance(traj, LinearTrajectory) and len(traj) == 4
    assert traj.steps.tolist() == [0, 7, 14, 20]  # the core's record steps: 0, r, 2r, ..., and the last
    traj.save(tmp_path / "t.npz")
    back = LinearTrajectory.load(tmp_path / "t.npz")
    for f in ("steps", "times", "losses", "weff", "kernels", "final_first", "final_second"):
        assert np.array_equal(getattr(back, f), getattr(traj, f)), f
    assert back.network == traj.network and back.network["kind"] == "LinearCNN" and back.lr == traj.lr
    # the final parameters continue the run: 20 + 10 steps = 30 steps in one go
    more = train(net, traj.final_params, np.eye(8), task.sigma_yx, GDConfig(0.01, 10, 10))
    once = train(net, net.init(0.1, rng=0), np.eye(8), task.sigma_yx, GDConfig(0.01, 30, 10))
    assert np.array_equal(more.weff[-1], once.weff[-1])
    fc = train(LinearFCNN(8, 2, 3), LinearFCNN(8, 2, 3).init(0.1, rng=1), np.eye(8), task.sigma_yx,
               GDConfig(0.01, 5))
    fc.save(tmp_path / "f.npz")
    assert LinearTrajectory.load(tmp_path / "f.npz").kernels.shape == (6, 0, 0)


def test_divergence_is_a_training_diverged_with_the_partial_record():
    net = LinearCNN(8, 2, 2, 3)
    task = ordering_task(n=8, f_single=1, spread_freqs=(2, 3, 4), rng=0)
    with pytest.raises(LinearDivergenceError, match=r"at step \d+ .*smaller lr") as info:
        train(net, net.init(3.0, rng=0), np.eye(8), 50 * task.sigma_yx, GDConfig(5.0, 200))
    exc = info.value
    assert isinstance(exc, TrainingDiverged) and isinstance(exc, FloatingPointError)
    assert exc.lr == 5.0 and exc.step >= 1 and f"step {exc.step}" in str(exc)
    rec = exc.trajectory
    assert isinstance(rec, LinearTrajectory) and rec.steps.size == exc.step  # record_every=1: steps 0..step-1
    assert np.all(np.isfinite(rec.losses))
    assert all(np.all(np.isfinite(p)) for p in rec.final_params)
    with pytest.raises(ValueError, match="lr=-1"):
        GDConfig(-1, 10)
    with pytest.raises(ValueError, match="parameter='width'"):
        sweep("width", [1])


def test_plotting_returns_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from cnnrank.linear.plotting import linear_cnn_figure, plot_kernel_spectra, plot_mode_strengths, plot_sweep

    task = ordering_task(rng=0)
    cnn = run_cnn(task, t_end=0.5, n_records=10)
    fc = run_fcnn(task, t_end=0.5, n_records=10)
    sx = run_saxe(task, u0=0.05, t_end=0.5, lr=0.01)
    sws = [sweep(p, v, seeds=[0], t_end=0.3, isolated=(p == "kernel_size"))
           for p, v in (("share", [0.5, 1.0]), ("kernel_size", [2, 32]), ("channels", [1, 2]))]
    for fig in (plot_mode_strengths(cnn), plot_kernel_spectra(cnn), plot_sweep(sws[0]),
                linear_cnn_figure(sx, fc, cnn, sws)):
        assert isinstance(fig, Figure)
        plt.close(fig)
    with pytest.raises(ValueError, match="no 1D kernel spectra"):
        plot_kernel_spectra(fc)


def _cli(*args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "cnnrank", "reproduce", "linear-cnn", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_reproduce_rejects_bad_values_before_writing(tmp_path, capsys):
    from cnnrank.cli import main

    out = tmp_path / "out"
    assert main(["reproduce", "linear-cnn", "--out", str(out), "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "seed=-1" in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.slow
def test_reproduce_quick_writes_figure_and_json(tmp_path):
    out = tmp_path / "out"
    r = _cli("--out", str(out), "--quick", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "linear-cnn.json").read_text())
    assert (out / "linear-cnn.png").stat().st_size > 10_000
    ht = data["b_ordering"]["cnn_half_times"]
    assert ht[0] < ht[1]
    assert max(data["a_saxe"]["max_abs_error_over_s"]) < 0.01


def _einsum_grad_moments(net, params, sxx, syx, syy):
    """The moments' gradient as first written, with ``np.einsum(..., optimize=True)``."""
    kern, read = params
    circ = net.circulants(kern)
    weff = np.einsum("mcd,cde->me", read, circ, optimize=True)
    g = weff @ sxx - syx
    loss = 0.5 * np.sum(weff * (weff @ sxx)) - np.sum(weff * syx) + 0.5 * syy
    g_read = np.einsum("me,cde->mcd", g, circ, optimize=True)
    h = np.einsum("mcd,me->cde", read, g, optimize=True)
    rows, idx = net._index
    return float(loss), (h[:, rows, idx].sum(axis=1), g_read), weff


@pytest.mark.parametrize("dims, n", [(1, 32), (1, 9), (2, 6)])
def test_written_out_contractions_are_einsums_to_the_bit(dims, n):
    """grad_moments and effective skip einsum's path search; the numbers must stay einsum's."""
    rng = np.random.default_rng(dims * 100 + n)
    for channels in (1, 3, 16):
        for k in (1, 2, min(n, 5)):
            for n_out in (1, 2, 5):
                net = LinearCNN(n=n, kernel_size=k, channels=channels, n_out=n_out, dims=dims)
                p = net.init(1.0, rng)
                A = rng.standard_normal((net.n_in, net.n_in))
                sxx, syx = A @ A.T / net.n_in, rng.standard_normal((n_out, net.n_in))
                loss, (gk, gr) = net.grad_moments(p, sxx, syx, 0.3)
                loss0, (gk0, gr0), weff0 = _einsum_grad_moments(net, p, sxx, syx, 0.3)
                assert loss == loss0 and gk.tobytes() == gk0.tobytes() and gr.tobytes() == gr0.tobytes()
                assert gk.shape == gk0.shape and gr.shape == gr0.shape
                assert net.effective(p).tobytes() == weff0.tobytes()
    # control: the product in the order the formula is written (R reshaped, times Circ) is not einsum's
    # on this grid, so the test tells the two apart
    net = LinearCNN(n=6, kernel_size=2, channels=2, n_out=2, dims=2)
    kern, read = net.init(1.0, np.random.default_rng(0))
    plain = read.reshape(2, -1) @ net.circulants(kern).reshape(-1, net.n_in)
    assert dims != 2 or plain.tobytes() != net.effective((kern, read)).tobytes()


@pytest.mark.parametrize("dims, n", [(1, 32), (1, 9), (2, 6)])
def test_circulants_gather_and_scatter_give_the_same_array(dims, n):
    """Long kernels are gathered, short ones scattered: the same values and the same memory layout (the
    products that read the array round by its layout)."""
    for k in range(1, n + 1):
        for channels in (1, 4):
            net = LinearCNN(n=n, kernel_size=k, channels=channels, n_out=2, dims=dims)
            kern, _ = net.init(1.0, np.random.default_rng(k))
            rows, idx = net._index
            scattered = np.zeros((channels, net.n_in, net.n_in))
            scattered[:, rows, idx] = kern[:, None, :]
            got = net.circulants(kern)
            assert got.tobytes() == scattered.tobytes() and got.strides == scattered.strides, (k, channels)
    # control: a gather by plain fancy indexing has the right values but another layout
    net = LinearCNN(n=n, kernel_size=n, channels=4, n_out=2, dims=dims)
    kern, _ = net.init(1.0, np.random.default_rng(0))
    padded = np.zeros((4, net.taps + 1))
    padded[:, : net.taps] = kern
    assert padded[:, net._tap_of].strides != net.circulants(kern).strides
