"""``python -m cnnrank plot FILE``: redraw a figure from saved results.

Understands ``rank_vs_noise.json`` (the headline figure), ``intrinsic_dimension.json``, a saved ``Trajectory`` (``.npz``: γ/ρ,
losses and ranks over training) and a sweep's ``results.npz``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DESCRIPTION = ("Redraw a figure from saved results (rank_vs_noise.json, intrinsic_dimension.json, a trajectory "
               ".npz, a sweep results.npz).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="results file")
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default: beside the results)")


def run(args: argparse.Namespace) -> int:
    from cnnrank.results import ResultsFileError, load_npz

    path: Path = args.results
    if not path.is_file():
        raise ValueError(f"results file {str(path)!r} does not exist")
    out = args.out or path.with_suffix(".png")
    if path.suffix == ".json":
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ResultsFileError(f"results file {str(path)!r} is not valid JSON ({exc})") from None
        if isinstance(record, dict) and {"K", "learned_dimension", "expected_filter_stable_rank"} <= set(record):
            from cnnrank.plotting import intrinsic_dimension_figure

            fig = intrinsic_dimension_figure(record)
            out.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(out, dpi=130)
            print(f"wrote {out}")
            return 0
        needed = {"noise_std", "data_stable_rank", "filter_stable_rank", "test_acc"}
        if not isinstance(record, dict) or not needed <= set(record):
            raise ResultsFileError(f"results file {str(path)!r} is not a rank-vs-noise record "
                                   f"(needs keys {sorted(needed)})")
        from cnnrank.plotting import rank_vs_noise_figure

        predicted = None
        if "predicted_data_stable_rank" in record:  # the theory curve at the measured levels
            predicted = (record["noise_std"], record["predicted_data_stable_rank"])
        fig = rank_vs_noise_figure(record, predicted)
    else:
        _, meta = load_npz(path)
        kind = meta.get("kind")
        if kind == "Trajectory":
            from cnnrank.plotting import training_figure
            from cnnrank.train import Trajectory

            fig = training_figure(Trajectory.load(path))
        elif kind == "SweepResult":
            from cnnrank.plotting import sweep_figure
            from cnnrank.sweeps import SweepResult

            fig = sweep_figure(SweepResult.load(path))
        else:
            raise ResultsFileError(f"results file {str(path)!r} holds a {kind!r} result, which has no plot")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    print(f"wrote {out}")
    return 0
