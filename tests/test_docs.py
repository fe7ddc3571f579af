"""The documentation: every public name has a docstring, every page's Python runs as written, and the Sphinx build
has no warnings (when Sphinx is installed: `pip install ".[docs]"`; the test extra installs it)."""
import importlib
import inspect
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = ("eulerian", "lagrangian", "verify")


def public_modules():
    for package in PACKAGES:
        yield importlib.import_module(package)
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
            if not info.name.startswith("_") and info.name not in ("cli", "command", "cases"):
                yield importlib.import_module(f"{package}.{info.name}")


def public_names():
    """(qualified name, object) of each public class and function: a module's __all__, or else what it defines
    without a leading underscore."""
    for module in public_modules():
        names = getattr(module, "__all__", None) or [
            n for n, o in vars(module).items() if not n.startswith("_") and getattr(o, "__module__", None) == module.__name__]
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj


def test_every_public_module_has_a_docstring():
    missing = [m.__name__ for m in public_modules() if not (m.__doc__ or "").strip()]
    assert not missing, f"modules without a docstring: {missing}"


def test_every_public_function_and_class_has_a_docstring():
    missing = sorted({name for name, obj in public_names() if not (inspect.getdoc(obj) or "").strip()})
    assert not missing, f"public names without a docstring: {missing}"


def doc_pages():
    return sorted(DOCS.rglob("*.md"))


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_every_python_block_of_a_page_runs(page, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{page.name} python block {i + 1}", "exec"), namespace)  # noqa: S102 - our docs
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{page.name}: python block {i + 1} raised {type(exc).__name__}: {exc}\n{block}")


def test_sphinx_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx", reason="Sphinx not installed: pip install '.[docs]'")
    pytest.importorskip("myst_parser", reason="myst-parser not installed: pip install '.[docs]'")
    # a copy of the sources: sphinx-gallery writes its pages into the source tree and skips the scripts it ran
    # before (by their checksums), so a build in the checkout would not run them again
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "gallery", "sg_execution_times.rst"))
    shutil.copytree(ROOT / "examples" / "gallery", tmp_path / "examples" / "gallery")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(source),
                          str(tmp_path / "html")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    html = tmp_path / "html"
    assert (html / "api.html").is_file() and (html / "theory.html").is_file()
    # every gallery script ran as written and drew its picture (tests/test_gallery.py does not run them again)
    pictures = {p.name for p in (html / "_images").glob("sphx_glr_plot_*_001.png")}
    scripts = sorted((ROOT / "examples" / "gallery").glob("plot_*.py"))
    assert len(scripts) >= 4 and pictures == {f"sphx_glr_{s.stem}_001.png" for s in scripts}, pictures
    from sphinx.util.inventory import InventoryFile

    with open(html / "objects.inv", "rb") as fh:
        inventory = InventoryFile.load(fh, "", lambda base, uri: uri)
    documented = {name for kind, entries in inventory.items() if kind.startswith("py:") for name in entries}
    missing = [name for name, obj in public_names() if not {
        name, f"{obj.__module__}.{obj.__qualname__}", f"{name.split('.')[0]}.{obj.__name__}"} & documented]
    assert not missing, f"public names missing from the API reference: {missing}"
