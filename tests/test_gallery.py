"""The gallery scripts (examples/gallery/plot_*.py) run as written at their small sizes and draw a figure: here
where Sphinx is not installed, else in the documentation build of tests/test_docs.py."""
import importlib.util
import runpy
from pathlib import Path

import matplotlib
import pytest

GALLERY = Path(__file__).resolve().parents[1] / "examples" / "gallery"


def _sphinx_runs_the_gallery() -> bool:
    """True where tests/test_docs.py builds the documentation, whose sphinx-gallery runs every script and checks
    its picture: the scripts are not run twice."""
    return all(importlib.util.find_spec(m) is not None for m in ("sphinx", "myst_parser", "sphinx_gallery"))


@pytest.mark.skipif(_sphinx_runs_the_gallery(), reason="run by the Sphinx build of tests/test_docs.py")
@pytest.mark.parametrize("script", sorted(GALLERY.glob("plot_*.py")), ids=lambda p: p.stem)
def test_gallery_script_runs_and_draws(script, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    assert plt.get_fignums(), f"{script.name} drew no pyplot figure (the gallery shows pyplot figures only)"
    plt.close("all")


def test_the_gallery_has_its_pictures():
    assert {p.stem for p in GALLERY.glob("plot_*.py")} >= {
        "plot_ou_grid_particles_exact", "plot_mccann_geodesic", "plot_user_scheme_convergence",
        "plot_attention_tokens"}
    assert (GALLERY / "README.txt").is_file()
