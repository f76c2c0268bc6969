"""Regenerate docs/api.md from the docstrings: ``python docs/make_api.py``."""

import importlib
import inspect
from pathlib import Path

MODULES = [
    "cnnrank", "cnnrank.trajectory", "cnnrank.theory", "cnnrank.experiments", "cnnrank.sweeps", "cnnrank.tidy", "cnnrank.plotting",
    "cnnrank.plotting.real_images",
    "cnnrank.rank", "cnnrank.subspace", "cnnrank.engines", "cnnrank.results", "cnnrank.testing", "cnnrank.testing.strategies",
    "cnnrank.datasets", "cnnrank.linear", "cnnrank.collapse",
]


def first_paragraph(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def render() -> str:
    """The text of docs/api.md, from the docstrings of the modules listed in ``MODULES``."""
    lines = ["# API reference", "",
             "Generated from the docstrings by `python docs/make_api.py`; the docstrings hold the formulas, "
             "array shapes and errors in full (`help(cnnrank.train)`).", ""]
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError as exc:  # an optional part that is not installed
            lines += [f"## `{name}`", "", f"(not importable here: {exc})", ""]
            continue
        lines += [f"## `{name}`", "", first_paragraph(mod), ""]
        names = getattr(mod, "__all__", [n for n in dir(mod) if not n.startswith("_")])
        for attr in names:
            if name == "cnnrank" and attr == "__version__":
                continue
            obj = getattr(mod, attr, None)
            if obj is None or inspect.ismodule(obj):
                continue
            kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "value"
            sig = signature(obj) if kind != "value" else ""
            lines.append(f"- **`{attr}{sig}`** ({kind}) — {first_paragraph(obj) if kind != 'value' else repr(obj)[:80]}")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    Path(__file__).with_name("api.md").write_text(render())


if __name__ == "__main__":
    main()
