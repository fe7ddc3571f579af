"""What tests/guard_sites.py, tests/boundary_sites.py and tests/errstate_sites.py share: the library's files they
read (eulerian, lagrangian, verify.gaussian), paths relative to the checkout, and the function each node of a
syntax tree is written in. Nothing here is part of twinflow."""
from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = [*sorted((ROOT / "eulerian").glob("*.py")), *sorted((ROOT / "lagrangian").glob("*.py")),
         ROOT / "verify" / "gaussian.py"]


@functools.lru_cache(maxsize=None)   # the spies call it for every np.errstate and every refusal
def relative(path: Path | str) -> str:
    """``path`` relative to the checkout ("eulerian/grid.py"), or as given for a file elsewhere."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    """The name of the function each node is written in ("<module>" outside any; a lambda or a comprehension
    counts as the function around it)."""
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            owner[child] = name
            visit(child, name)

    visit(tree, "<module>")
    return owner
