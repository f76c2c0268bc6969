"""The command line's manners: help for every option with its default in one style, no abbreviated
options, "did you mean" for typos, readable messages for bad values (never a Python type's name),
``--overwrite`` for an ``--out`` holding a different sweep, and missing data files that say which
files are expected and where they come from."""

import argparse
import json

import pytest

from cnnrank.cli import HelpFormatter, _Parser, build_parser, main
from cnnrank.reproduce.simulate import _Swept

TINY = ["--n", "8", "--n-test", "8", "--d", "30", "--K", "2", "--m", "2", "--steps", "4", "--record-every", "2",
        "--quiet"]
#: the commands that run a sweep in a store under --out
SWEEPING = (["sweep"], ["reproduce", "rank-vs-noise"], ["reproduce", "intrinsic-dimension"],
            ["reproduce", "phase-diagram"])


def _parsers(parser=None, path=()):
    """(command path, parser) for the top parser and every sub-command below it."""
    parser = build_parser() if parser is None else parser
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _one_line_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("cnnrank: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_every_option_of_every_command_has_help_and_shows_its_default():
    parsers = list(_parsers())
    assert len(parsers) >= 12  # cnnrank, simulate, sweep, plot, reproduce and its figures
    for path, parser in parsers:
        assert parser.formatter_class is HelpFormatter, path  # one style everywhere
        formatter = parser._get_formatter()
        for action in parser._actions:
            where = f"{' '.join(path) or 'cnnrank'} {'/'.join(action.option_strings) or action.dest}"
            if isinstance(action, _Swept):  # refused with a pointer to the grid's option: hidden on purpose
                assert action.help == argparse.SUPPRESS, where
                continue
            assert isinstance(action.help, str) and action.help.strip() and action.help != argparse.SUPPRESS, where
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help and choice.help.strip(), f"{where} {choice.dest}"
                continue
            shown = formatter._get_help_string(action)
            flag = action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction)
            if action.option_strings and action.default is not None and not flag:
                assert shown.count("(default") == 1, (where, shown)
        parser.format_help()  # renders (no stray % in a help text)


def test_run_configuration_options_have_their_own_help(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for needle in ("--n N training samples n (default: 128)", "--K K signals per class K",
                   "--activation ACTIVATION activation: huber<q>", "--signal-position INDEX index of the patch",
                   "--balanced BOOL exactly balanced classes", "(default: true)"):
        assert needle in out, needle
    assert "(default: True)" not in out  # booleans as they are typed


def test_defaults_are_shown_as_they_are_typed(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "rank-vs-noise", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.0,0.04,0.08,0.12,0.16,0.2,0.25,0.3,0.4,0.8)" in out and "(0.0, 0.04" not in out
    with pytest.raises(SystemExit):
        main(["reproduce", "phase-diagram", "--help"])
    assert "(default: 600; --quick: 300)" in " ".join(capsys.readouterr().out.split())


def test_no_parser_accepts_an_abbreviated_option(capsys):
    for path, parser in _parsers():
        assert parser.allow_abbrev is False, path
    # --noise was silently taken for --noise-std, --n-te for --n-test
    line = _one_line_error(capsys, ["simulate", "--noise", "0.5", "--no-save"])
    assert "unrecognized arguments: --noise 0.5" in line and "did you mean --noise-std?" in line
    line = _one_line_error(capsys, ["simulate", "--n-te", "5", "--no-save"])
    assert "did you mean --n-test?" in line
    line = _one_line_error(capsys, ["reproduce", "mnist-rank", "--n", "5"])  # --n-train, --n-test, --noise...
    assert "reproduce mnist-rank: unrecognized arguments: --n 5; did you mean" in line and "--n-test" in line


@pytest.mark.parametrize("argv,needle", [
    (["reproduce", "rank-vs-nosie"], "invalid choice: 'rank-vs-nosie'; did you mean 'rank-vs-noise'? (choose from"),
    (["simulate", "--noize", "1"], "simulate: unrecognized arguments: --noize 1; did you mean --noise-std?"),
    (["reproduce", "rank-vs-noise", "--noize", "1"], "did you mean --noise or --noise-std?"),
    (["sweep", "s.toml", "--out", "o", "--worker", "2"], "did you mean --workers?"),
    (["simulate", "--sed", "3", "--stps=3"], "--sed: did you mean --seed?; --stps: did you mean --steps?"),
    (["simulate", "--engine", "gramm"], "invalid choice: 'gramm'; did you mean 'gram'? (choose from 'auto', "),
    (["simulate", "--signal-basis", "canonicl"], "did you mean 'canonical'?"),
    (["reproduce", "intrinsic-dimension", "--k", "3"], "did you mean --K, --Ks or --kappa?"),
    (["plot", "r.json", "--output", "x.png"], "did you mean --out?"),
    (["--versoin", "simulate"], "error: unrecognized arguments: --versoin; did you mean --version?"),
])
def test_typos_get_a_suggestion(capsys, argv, needle):
    assert needle in _one_line_error(capsys, argv)


def test_no_suggestion_without_a_close_name(capsys):
    line = _one_line_error(capsys, ["frobnicate"])
    assert "invalid choice: 'frobnicate' (choose from 'simulate'" in line and "did you mean" not in line
    line = _one_line_error(capsys, ["simulate", "--zzzzzz", "1"])
    assert line.endswith("unrecognized arguments: --zzzzzz 1")


def test_signal_position_says_what_it_expects(capsys, tmp_path):
    line = _one_line_error(capsys, ["simulate", "--signal-position", "middle", "--out", str(tmp_path / "o")])
    assert "argument --signal-position: expected an integer patch index or 'random', got 'middle'" in line
    assert "_int_or_random" not in line
    assert not (tmp_path / "o").exists()


def test_no_custom_type_shows_its_python_name():
    """Every option whose type is not a builtin, given a value it cannot read: the message says what
    was expected, never ``invalid <function name> value``."""
    checked = 0
    for path, parser in _parsers():
        for action in parser._actions:
            kind = action.type
            if kind is None or kind in (int, float, str) or isinstance(kind, type):
                continue
            with pytest.raises(argparse.ArgumentError) as info:
                parser._get_value(action, "x@y")
            message = str(info.value)
            assert kind.__name__ not in message and "invalid" not in message.split(":", 1)[1][:12], (path, message)
            checked += 1
    assert checked >= 10


def test_a_type_raising_valueerror_is_reported_without_its_name(capsys):
    def _internal_parse(text):
        return int(text)

    parser = _Parser(prog="cnnrank demo")
    parser.add_argument("--x", type=_internal_parse, help="an x")
    with pytest.raises(Exception) as info:
        parser.parse_args(["--x", "abc"])
    assert str(info.value) == "cnnrank demo: argument --x: invalid value 'abc'"


def _sweep_file(tmp_path, noise, name="s.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"seeds": 1, "base": {"n": 8, "n_test": 8, "d": 30, "K": 2, "m": 2, "steps": 4,
                                                     "record_every": 2}, "grid": {"noise_std": noise}}))
    return str(path)


def _cells(store):
    return sorted(p.name for p in (store / "cells").glob("*.json"))


def test_every_sweeping_command_has_overwrite(capsys):
    for argv in SWEEPING:
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        assert "--overwrite" in capsys.readouterr().out, argv


def test_a_different_sweep_in_out_is_refused_naming_overwrite_which_replaces_it(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", _sweep_file(tmp_path, [0.1, 0.5], "a.json"), "--out", str(out), "--quiet"]) == 0
    first = _cells(out)
    assert len(first) == 2
    line = _one_line_error(capsys, ["sweep", _sweep_file(tmp_path, [0.2, 0.5], "b.json"), "--out", str(out)])
    assert f"--out {str(out)!r} holds a different sweep (grid.noise_std: [0.1, 0.5] -> [0.2, 0.5])" in line
    assert "pass --overwrite to replace it" in line
    assert _cells(out) == first  # nothing touched
    assert main(["sweep", _sweep_file(tmp_path, [0.2, 0.5], "b.json"), "--out", str(out), "--quiet",
                 "--overwrite"]) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["spec"]["grid"] == {"noise_std": [0.2, 0.5]}
    stored = json.loads((out / "sweep.json").read_text())
    assert stored["spec"]["grid"] == [["noise_std", [0.2, 0.5]]]
    cells = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    assert len(cells) == 2 and {c["sweep"] for c in cells} == {stored["fingerprint"]}  # the old cells are gone
    # the same sweep again, with or without --overwrite: resumed (nothing deleted, nothing recomputed)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    assert main(["sweep", _sweep_file(tmp_path, [0.2, 0.5], "b.json"), "--out", str(out), "--quiet",
                 "--overwrite"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")} == mtimes


def test_overwrite_never_deletes_under_a_running_sweep(tmp_path, capsys):
    from cnnrank.sweeps import _StoreLock

    out = tmp_path / "out"
    assert main(["sweep", _sweep_file(tmp_path, [0.1], "a.json"), "--out", str(out), "--quiet"]) == 0
    first = _cells(out)
    lock = _StoreLock(out)  # another sweep running in the folder
    try:
        line = _one_line_error(capsys, ["sweep", _sweep_file(tmp_path, [0.3], "b.json"), "--out", str(out),
                                        "--overwrite"])
    finally:
        lock.release()
    assert "another sweep is running in it" in line
    assert _cells(out) == first


def test_reproduce_commands_refuse_a_different_run_before_computing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    base = ["reproduce", "rank-vs-noise", *TINY, "--seeds", "1", "--out", str(out)]
    assert main([*base, "--noise", "0,0.5"]) == 0
    capsys.readouterr()
    import cnnrank.sweeps

    def no_sweep(*args, **kwargs):
        raise AssertionError("computed before refusing")

    with monkeypatch.context() as m:
        m.setattr(cnnrank.sweeps, "run_sweep", no_sweep)
        line = _one_line_error(capsys, [*base, "--noise", "0,0.6"])
    assert "holds a different sweep (grid.noise_std: [0.0, 0.5] -> [0.0, 0.6])" in line
    assert "pass --overwrite" in line
    assert main([*base, "--noise", "0,0.6", "--overwrite"]) == 0
    assert json.loads((out / "rank_vs_noise.json").read_text())["noise_std"] == [0.0, 0.6]


MNIST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.mark.parametrize("where", ["nothing", "missing folder", "empty folder"])
def test_mnist_without_data_names_the_files_and_where_they_come_from(tmp_path, capsys, monkeypatch, where):
    monkeypatch.delenv("CNNRANK_DATA", raising=False)
    extra = {"nothing": [], "missing folder": ["--data-dir", str(tmp_path / "nope")],
             "empty folder": ["--data-dir", str(tmp_path)]}[where]
    out = tmp_path / "out"
    line = _one_line_error(capsys, ["reproduce", "mnist-rank", *extra, "--out", str(out)])
    for needle in (*MNIST_FILES, "official MNIST distribution", "--data-dir", "CNNRANK_DATA", "nothing is downloaded"):
        assert needle in line, (needle, line)
    assert not out.exists()


def test_the_train_split_and_cifar10_name_their_own_files(tmp_path, capsys):
    line = _one_line_error(capsys, ["reproduce", "mnist-rank", "--split", "train", "--data-dir", str(tmp_path)])
    assert "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz" in line
    line = _one_line_error(capsys, ["reproduce", "cifar10-rank", "--data-dir", str(tmp_path)])
    for needle in ("data_batch_1, data_batch_2, data_batch_3, data_batch_4 and data_batch_5",
                   "official CIFAR-10 distribution", "cifar-10-batches-py", "--data-dir", "CNNRANK_DATA"):
        assert needle in line, (needle, line)


def test_the_library_loaders_say_the_same(tmp_path):
    from cnnrank.datasets import DatasetError, load_cifar10, load_mnist

    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz from the official MNIST distribution"):
        load_mnist(tmp_path, split="test")
    with pytest.raises(DatasetError, match="test_batch from the python version of the official CIFAR-10"):
        load_cifar10(tmp_path, split="test")
