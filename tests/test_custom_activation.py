"""Your own activation (cnnrank.register_activation): the contract, and the name wherever a built-in's works."""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

import cnnrank
from cnnrank import theory
from cnnrank.activations import (
    FD_TOLERANCE,
    Activation,
    PolyReLU,
    RegisteredActivation,
    ReLU,
    activation_from_spec,
    canonical_activation_name,
    parse_activation,
    registered_activations,
    unregister_activation,
)
from cnnrank.experiments import RunConfig, config_from_dict, run_once

# Module-level functions: a process-pool worker finds them by reference (it imports this module).


def cube(z):
    return np.maximum(z, 0.0) ** 3


def cube_grad(z):
    return 3.0 * np.maximum(z, 0.0) ** 2


def smooth(z):  # z tanh(z): smooth, σ(0) = σ'(0) = 0, no power head
    return z * np.tanh(z)


def smooth_grad(z):
    return np.tanh(z) + z / np.cosh(z) ** 2


@pytest.fixture(autouse=True)
def clean_registry():
    """Each test starts and ends with no registered activation."""
    from cnnrank import activations

    saved = dict(activations._REGISTERED)
    activations._REGISTERED.clear()
    yield
    activations._REGISTERED.clear()
    activations._REGISTERED.update(saved)


SMALL = dict(n=16, n_test=16, d=40, K=2, m=3, steps=30, record_every=10, lr=0.5)


# --- the contract -------------------------------------------------------------------------------


def test_register_returns_an_activation_usable_directly_and_by_name():
    act = cnnrank.register_activation("cube", cube, cube_grad, power=3)
    assert isinstance(act, Activation) and act.power == 3.0 and act.kinks() == (0.0,)
    assert parse_activation("cube") is act and activation_from_spec(act.spec()) is act
    assert act.spec() == {"name": "cube"}
    z = np.linspace(-2, 2, 9).reshape(3, 3)
    np.testing.assert_array_equal(act(z), cube(z))
    np.testing.assert_array_equal(act.grad(z), cube_grad(z))
    net = cnnrank.TwoLayerCNN.init(m=2, d=5, init_std=0.1, activation=act, rng=0)
    assert net.activation is act
    # registering the same functions again (a module imported twice) returns the registered one
    assert cnnrank.register_activation("cube", cube, cube_grad, power=3) is act


@pytest.mark.parametrize("value, derivative, needle", [
    (lambda z: np.maximum(z, 0.0) + 0.0 * z, lambda z: (z >= 0) * 1.0, r"σ'\(0\) = 1: must be 0"),
    (lambda z: z * z + 1.0, lambda z: 2 * z, r"σ\(0\) = 1: must be 0"),
    (lambda z: np.where(z > 7, np.inf, np.maximum(z, 0.0) ** 2), lambda z: 2 * np.maximum(z, 0.0),
     r"σ\(z\) = inf at z = 7.00781: must be finite"),
    (cube, lambda z: np.where(z < -7, np.nan, cube_grad(z)), r"σ'\(z\) = nan at z = -8: must be finite"),
    (cube, lambda z: 2.0 * np.maximum(z, 0.0) ** 2, "derivative is not the derivative of value"),
    (lambda z: np.maximum(z - 1.0, 0.0), lambda z: (z > 1.0) * 1.0, "at z = 1,.*declared with kinks="),
    (lambda z: 0.0, lambda z: 0 * z, "must be vectorized"),
    (lambda z: np.maximum(z, 0.0) ** 2 * (1 + 0 * z.size), lambda z: z.ravel()[:1] * 0, "must be vectorized"),
    (lambda z: np.maximum(z, 0.0) ** 2 * (z.ndim == 1), lambda z: 2 * np.maximum(z, 0.0) * (z.ndim == 1),
     "not elementwise"),
    (lambda z: np.asarray(z).astype("M8[s]"), cube_grad, "must be vectorized"),
    (lambda z: 1 / 0, cube_grad, "raised ZeroDivisionError"),
    (lambda z: np.maximum(z, 0.0, out=z) ** 2, lambda z: 2 * np.maximum(z, 0.0), "raised ValueError: .*read-only"),
], ids=["grad0", "value0", "nonfinite", "nonfinite-grad", "wrong-derivative", "undeclared-kink", "scalar", "shape",
        "not-elementwise", "dtype", "raises", "writes-into-z"])
def test_contract_is_checked_when_registered(value, derivative, needle):
    with pytest.raises(ValueError, match=needle) as info:
        cnnrank.register_activation("bad", value, derivative)
    assert "\n" not in str(info.value) and "'bad'" in str(info.value)
    assert "bad" not in registered_activations()


def test_a_function_writing_into_its_argument_fails_loudly():
    def clobber(z):
        out = np.maximum(z, 0.0) ** 2
        if z.size > 3000:  # not on the test grid: only inside training
            z[...] = 0.0
        return out

    act = cnnrank.register_activation("clobber", clobber, lambda z: 2 * np.maximum(z, 0.0))
    with pytest.raises(ValueError, match="read-only"):
        act(np.ones(4000))


def test_runconfig_names_the_activation_object_it_was_given():
    act = cnnrank.register_activation("cube", cube, cube_grad, power=3)
    with pytest.raises(TypeError, match="must be a name.*this activation's name is 'cube'"):
        RunConfig(activation=act)


def test_a_declared_kink_passes_the_finite_difference_check_and_the_tolerance_is_the_stated_one():
    act = cnnrank.register_activation("shifted", lambda z: np.maximum(z - 1.0, 0.0) ** 1 * (z > 1) + 0 * z,
                                      lambda z: (z > 1.0) * 1.0, kinks=(0.0, 1.0))
    assert act.kinks() == (0.0, 1.0)
    # a derivative off by FD_TOLERANCE/10 relative passes, by 10 FD_TOLERANCE fails
    cnnrank.register_activation("close", cube, lambda z: cube_grad(z) * (1 + FD_TOLERANCE / 10))
    with pytest.raises(ValueError, match="not the derivative"):
        cnnrank.register_activation("far", cube, lambda z: cube_grad(z) * (1 + 10 * FD_TOLERANCE))


@pytest.mark.parametrize("kwargs, exc, needle", [
    (dict(name="huber5"), ValueError, "built-in"),
    (dict(name="ReLU"), ValueError, "built-in"),
    (dict(name="poly"), ValueError, "built-in"),
    (dict(name="huberized_relu"), ValueError, "built-in"),
    (dict(name="my act"), ValueError, "letters, digits"),
    (dict(name="a,b"), ValueError, "letters, digits"),
    (dict(name=3), ValueError, "name=3 is invalid"),
    (dict(power=0.5), ValueError, "power=0.5 is invalid"),
    (dict(power=float("nan")), ValueError, "power=nan is invalid"),
    (dict(value=3.0), TypeError, "value=3.0 is invalid"),
    (dict(kinks="0"), TypeError, "kinks='0' is invalid"),
    (dict(kinks=(float("inf"),)), ValueError, "kinks=inf is invalid"),
    (dict(overwrite="yes"), TypeError, "overwrite='yes' is invalid"),
])
def test_bad_registration_arguments_are_refused_naming_them(kwargs, exc, needle):
    args = dict(name="cube", value=cube, derivative=cube_grad) | kwargs
    with pytest.raises(exc, match=needle):
        cnnrank.register_activation(**args)


def test_another_function_under_a_registered_name_needs_overwrite():
    first = cnnrank.register_activation("mine", cube, cube_grad, power=3)
    with pytest.raises(ValueError, match="another activation is registered under it; pass overwrite=True"):
        cnnrank.register_activation("mine", smooth, smooth_grad)
    assert parse_activation("mine") is first
    second = cnnrank.register_activation("mine", smooth, smooth_grad, overwrite=True)
    assert parse_activation("mine") is second
    # the replaced activation is no longer accepted by a network: saving it would name the other one
    with pytest.raises(ValueError, match="another activation has been registered under its name"):
        cnnrank.TwoLayerCNN.init(2, 5, 0.1, first, rng=0)


def test_an_unregistered_activation_is_refused_at_network_creation_naming_it():
    act = cnnrank.register_activation("cube", cube, cube_grad)
    unregister_activation("cube")
    never_registered = RegisteredActivation("cube2", cube, cube_grad)  # made, checked, but not registered
    for make in (lambda: cnnrank.TwoLayerCNN.init(2, 5, 0.1, act, rng=0),
                 lambda: cnnrank.TwoLayerCNN.init(2, 5, 0.1, never_registered, rng=0)):
        with pytest.raises(ValueError, match="no activation is registered under that name") as info:
            make()
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="no activation is registered under it"):
        unregister_activation("cube")


# --- plain subclasses ---------------------------------------------------------------------------


class Leaky(Activation):  # a plain subclass, σ'(0) = 0.1: excluded by docs/theory.md §2
    def __call__(self, z):
        return np.where(z > 0, z, 0.1 * z)

    def grad(self, z):
        return np.where(z > 0, 1.0, 0.1)


class Squared(Activation):  # a plain subclass keeping σ'(0) = 0, but not savable or checked
    def __call__(self, z):
        return np.maximum(z, 0.0) ** 2

    def grad(self, z):
        return 2 * np.maximum(z, 0.0)


class CountingReLU(ReLU):  # a subclass of a built-in is not the built-in
    pass


@pytest.mark.parametrize("act", [Leaky(), Squared(), CountingReLU()], ids=["leaky", "squared", "builtin-subclass"])
def test_a_plain_subclass_is_refused_at_network_creation_in_one_line(act):
    X = np.ones((2, 2, 5))
    for make in (lambda: cnnrank.TwoLayerCNN.init(2, 5, 0.1, act, rng=0),
                 lambda: cnnrank.network_output(np.ones((2, 2, 5)), X, act),
                 lambda: cnnrank.train_implicit(act, cnnrank.SignalNoiseModel(d=20).sample_gram(4, 2, 0.1, rng=0),
                                                lr=0.1, steps=1)):
        with pytest.raises(TypeError, match="must come from cnnrank.register_activation") as info:
            make()
        assert "\n" not in str(info.value)


def test_the_base_class_declares_no_power_or_kinks_by_default():
    assert Squared().power is None
    with pytest.raises(NotImplementedError):
        Squared().kinks()
    assert ReLU().power == 1.0 and PolyReLU(q=4).power == 4.0 and ReLU().kinks() == (0.0,)


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, stored", [("HUBER3", "huber3"), ("huber3.0", "huber3"), (" relu ", "relu"),
                                          ("Poly2.5", "poly2.5"), ("huber2", "huber2")])
def test_names_are_stored_canonically(text, stored):
    cfg = RunConfig(activation=text)
    assert cfg.activation == stored and type(cfg.activation) is str
    assert cfg.to_dict()["activation"] == stored


@pytest.mark.parametrize("text, needle", [
    ("huber", r"'huber' is ambiguous: name the power, one of 'huber2', 'huber3', 'huber4'.*did you mean 'huber3'\?"),
    ("poly", r"'poly' is ambiguous.*did you mean 'poly3'\?"),
    ("HUBER", r"'HUBER' is ambiguous.*did you mean 'huber3'\?"),
    ("hub", r"'hub' is ambiguous: it could be 'huber2', 'huber3', 'huber4'.*did you mean 'huber3'\?"),
    ("rel", r"'rel' is invalid.*did you mean 'relu'\?"),
    ("rleu", r"'rleu' is invalid: must be 'relu', 'huber<q>' or 'poly<q>'.*did you mean 'relu'\?"),
    ("huber0.5", r"'huber0.5' is invalid: q=0.5 is invalid"),
    ("tanh", r"'tanh' is invalid: must be"),
])
def test_ambiguous_and_unknown_names_are_refused_with_a_suggestion(text, needle):
    for make in (lambda: parse_activation(text), lambda: RunConfig(activation=text)):
        with pytest.raises(ValueError, match=needle) as info:
            make()
        assert "\n" not in str(info.value)


def test_registered_names_are_case_sensitive_and_suggested():
    cnnrank.register_activation("Cube", cube, cube_grad)
    with pytest.raises(ValueError, match=r"registered name \['Cube'\]; did you mean 'Cube'\?"):
        parse_activation("cube")


# --- every engine, RunConfig, theory ------------------------------------------------------------


@pytest.mark.parametrize("engine", ["feature", "gram"])
def test_every_engine_trains_the_registered_functions(engine):
    """A registered copy of the polynomial ReLU (q = 3) trains as the built-in does, to rounding."""
    act = cnnrank.register_activation("cube", cube, cube_grad, power=3)
    model = cnnrank.SignalNoiseModel(d=30, K=2, noise_std=0.3)
    data = model.sample(12, rng=1)
    runs = [cnnrank.train(cnnrank.TwoLayerCNN.init(3, 30, 0.05, a, rng=2), data, lr=0.5, steps=20,
                          record_every=10, engine=engine) for a in (act, PolyReLU(q=3))]
    np.testing.assert_allclose(runs[0].coef, runs[1].coef, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(runs[0].train_loss, runs[1].train_loss, rtol=1e-10)
    assert runs[0].activation == {"name": "cube"}


def test_implicit_and_batched_engines_train_the_registered_functions():
    act = cnnrank.register_activation("cube", cube, cube_grad, power=3)
    sample = cnnrank.SignalNoiseModel(d=30, K=2, noise_std=0.3).sample_gram(12, 3, 0.05, rng=1)
    mine, ref = (cnnrank.train_implicit(a, sample, lr=0.5, steps=20) for a in (act, PolyReLU(q=3)))
    np.testing.assert_allclose(mine.coef, ref.coef, rtol=1e-9, atol=1e-14)
    batch = cnnrank.train_batched(act, [sample, sample], lr=[0.5, 0.25], steps=20)
    np.testing.assert_allclose(batch[0].coef, ref.coef, rtol=1e-9, atol=1e-14)


def test_runconfig_run_once_and_config_dicts_take_the_registered_name():
    cnnrank.register_activation("cube", cube, cube_grad, power=3)
    cfg = RunConfig(activation="cube", **SMALL)
    assert cfg.activation == "cube" and cfg.make_activation() is parse_activation("cube")
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    ref = run_once(cfg.replace(activation="poly3"), rng=0).trajectory
    out = run_once(cfg, rng=0).trajectory
    np.testing.assert_allclose(out.coef, ref.coef, rtol=1e-9, atol=1e-14)
    implicit = run_once(cfg.replace(engine="implicit"), rng=0).trajectory
    assert implicit.activation == {"name": "cube"}


def test_theory_uses_the_declared_power_and_refuses_a_missing_one():
    cnnrank.register_activation("cube", cube, cube_grad, power=3)
    cnnrank.register_activation("smooth", smooth, smooth_grad)
    cfg = RunConfig(activation="cube", noise_std=1.0)
    ref = cfg.replace(activation="poly3")
    assert theory.benign_indicator(cfg) == theory.benign_indicator(ref)
    assert theory.regime(cfg) == theory.regime(ref) and theory.benign_limit(cfg) == theory.benign_limit(ref)
    assert theory.snr(cfg.replace(activation="smooth")) == theory.snr(cfg)  # needs no power
    for fn in (theory.benign_indicator, theory.regime, theory.benign_limit, theory.signal_learning_time):
        with pytest.raises(ValueError, match=r"activation='smooth' is invalid here: it declares no power q.*power=q"):
            fn(cfg.replace(activation="smooth"))
    with pytest.raises(ValueError, match="integrates the head of huber<q> or poly<q>"):
        theory.signal_learning_time(cfg)


# --- save / load --------------------------------------------------------------------------------


def test_save_and_load_with_the_name_registered_and_a_one_line_error_without(tmp_path):
    cnnrank.register_activation("cube", cube, cube_grad, power=3)
    traj = run_once(RunConfig(activation="cube", **SMALL), rng=0).trajectory
    path = tmp_path / "cube.npz"
    traj.save(path)
    loaded = cnnrank.Trajectory.load(path)
    assert loaded.get_activation() is parse_activation("cube")
    np.testing.assert_array_equal(loaded.coef, traj.coef)
    unregister_activation("cube")
    with pytest.raises(ValueError) as info:
        cnnrank.Trajectory.load(path)
    msg = str(info.value)
    assert "\n" not in msg and "activation='cube' is invalid: no activation is registered" in msg
    assert msg.count("activation=") == 1 and "must name one of" not in msg


def test_a_bad_builtin_spec_on_load_names_it_once():
    with pytest.raises(ValueError) as info:
        activation_from_spec({"name": "huberized_relu", "kappa": -1.0})
    assert str(info.value).count("is invalid") == 2 and str(info.value).count("activation=") == 1  # kappa's own
    with pytest.raises(ValueError, match=r"must be a dict whose 'name' is one of \['huberized_relu'"):
        activation_from_spec({"name": 3})


# --- worker processes: the configuration carries the activation --------------------------------


def test_a_pickled_configuration_registers_the_activation_in_a_fresh_process():
    """pickle (a process pool) carries module-level functions; cloudpickle (Dask) carries lambdas too."""
    cnnrank.register_activation("cube", cube, cube_grad, power=3)
    cnnrank.register_activation("sq", lambda z: np.maximum(z, 0.0) ** 2, lambda z: 2.0 * np.maximum(z, 0.0), power=2)
    blobs = [pickle.dumps(RunConfig(activation="cube", **SMALL).to_dict())]
    with pytest.raises((pickle.PicklingError, AttributeError), match="lambda"):  # the standard pickle cannot
        pickle.dumps(RunConfig(activation="sq").to_dict())
    try:
        import cloudpickle
    except ImportError:  # the 'dist' extra is not installed: the process-pool half only
        cloudpickle = None
    if cloudpickle is not None:
        blobs.append(cloudpickle.dumps(RunConfig(activation="sq", **SMALL).to_dict()))
    code = ("import pickle, sys, numpy as np; from cnnrank.experiments import RunConfig\n"
            "from cnnrank.activations import registered_activations as r\n"
            "assert not r()\n"
            "for blob in pickle.loads(sys.stdin.buffer.read()):\n"
            "    c = RunConfig(**pickle.loads(blob)); a = c.make_activation()\n"
            "    print(c.activation, a.power, float(a(np.array(3.0))), float(a.grad(np.array(3.0))))\n"
            "print(sorted(r()))")
    res = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(blobs), capture_output=True,
                         cwd=str(_here()), env=_env(), timeout=120)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    lines = res.stdout.decode().splitlines()
    assert lines[0].split() == ["cube", "3.0", "27.0", "27.0"]
    if cloudpickle is not None:
        assert lines[1].split() == ["sq", "2.0", "9.0", "6.0"]
    assert lines[-1] == str(sorted(["cube", "sq"][:len(blobs)]))


def test_a_sweep_on_a_process_pool_runs_a_name_registered_only_in_the_parent():
    from cnnrank._parallel import WorkerPool
    from cnnrank.sweeps import SweepSpec, run_sweep
    from cnnrank.testing import assert_sweeps_equal

    cnnrank.register_activation("cube", cube, cube_grad, power=3)  # not at import time: only the parent has it
    spec = SweepSpec(base=RunConfig(**SMALL), grid={"activation": ["cube", "poly3"], "noise_std": [0.0, 0.5]},
                     seeds=1, root_seed=0)
    serial = run_sweep(spec)
    with WorkerPool(2) as pool:
        pooled = run_sweep(spec, executor=pool)
    assert_sweeps_equal(serial, pooled)
    np.testing.assert_allclose(serial.mean("train_loss")[0], serial.mean("train_loss")[1], rtol=1e-9)


# --- command line -------------------------------------------------------------------------------


def test_a_script_that_registers_can_name_the_activation_on_the_command_line(tmp_path, capsys):
    from cnnrank.cli import main

    cnnrank.register_activation("cube", cube, cube_grad, power=3)
    out = tmp_path / "run"
    argv = ["simulate", "--activation", "cube", "--n", "16", "--n-test", "16", "--d", "40", "--m", "3",
            "--steps", "10", "--record-every", "5", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    assert json.loads((out / "summary.json").read_text())["config"]["activation"] == "cube"
    assert cnnrank.Trajectory.load(out / "trajectory.npz").activation == {"name": "cube"}


def test_the_command_line_stores_the_canonical_name_and_refuses_ambiguous_ones(tmp_path, capsys):
    from cnnrank.cli import build_parser, main

    for command in (["simulate"], ["reproduce", "mnist-rank"]):
        args = build_parser().parse_args([*command, "--activation", "HUBER3"])
        assert args.activation == "huber3" and type(args.activation) is str
    small = ["--n", "16", "--n-test", "16", "--d", "40", "--m", "3", "--steps", "5", "--quiet"]
    for text, hint in (("huber", "did you mean 'huber3'?"), ("poly", "did you mean 'poly3'?"),
                       ("rleu", "did you mean 'relu'?"), ("cube", "(your own: cnnrank.register_activation)")):
        assert main(["simulate", "--activation", text, *small, "--out", str(tmp_path / text)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("cnnrank: error:") and "\n" not in err and "--activation" in err
        assert hint in err and not (tmp_path / text).exists()


def test_canonical_name_of_a_registered_activation_is_a_string_carrying_it():
    act = cnnrank.register_activation("cube", cube, cube_grad, power=3)
    name = canonical_activation_name("cube")
    assert name == "cube" and isinstance(name, str) and name.activation is act
    assert json.dumps(name) == '"cube"' and hash(name) == hash("cube")
    assert pickle.loads(pickle.dumps(name)).activation == act


def _here():
    from pathlib import Path

    return Path(__file__).resolve().parent


def _env():
    import os

    root = str(_here().parent)
    return dict(os.environ, PYTHONPATH=os.pathsep.join([root, str(_here())]))
