"""The documentation is not allowed to go stale: the API reference is regenerated from the docstrings
and compared, and every module of the layer table is documented in docs/architecture.md."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make_api():
    spec = importlib.util.spec_from_file_location("make_api", ROOT / "docs" / "make_api.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_reference_matches_the_docstrings():
    fresh = _make_api().render()
    current = (ROOT / "docs" / "api.md").read_text()
    assert current == fresh, "docs/api.md is stale: run `python docs/make_api.py` and commit the result"


def test_docs_cite_the_theory_in_the_repository():
    outside = "THEORY" + ".md"  # spelled in two parts so that this file does not match itself
    for path in [*ROOT.glob("docs/*.md"), *ROOT.glob("cnnrank/**/*.py"), *ROOT.glob("tests/*.py"),
                 *ROOT.glob("benchmarks/*.py"), *ROOT.glob("examples/*.py"), ROOT / "README.md"]:
        text = path.read_text()
        assert outside not in text, f"{path} cites a file outside the repository"
        assert not re.search(r"\b[Ii]ssues? #?\d+", text), f"{path} cites an issue number instead of the claim"
