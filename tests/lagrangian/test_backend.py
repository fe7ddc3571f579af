"""Backend selection and the package's dependency rule (lagrangian never imports eulerian or verify)."""
import ast
import pathlib

import numpy as np
import pytest

import lagrangian
from lagrangian import BackendUnavailable, get_namespace, get_xp


def test_namespace_selection():
    assert get_namespace("numpy") is np
    assert get_xp(np.zeros(3)) is np
    with pytest.raises(ValueError, match="unknown backend"):
        get_namespace("jax")
    try:
        import cupy

        usable = bool(cupy.cuda.is_available())
    except Exception:
        usable = False
    if not usable:
        with pytest.raises(BackendUnavailable, match="CUDA GPU"):
            get_namespace("cupy")


def test_lagrangian_imports_neither_eulerian_nor_verify():
    root = pathlib.Path(lagrangian.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            assert not any(n.split(".")[0] in ("eulerian", "verify") for n in names), (path.name, names)


def test_public_names_importable_from_package():
    for name in ("integrate_ode", "integrate_sde", "affine_field", "gradient_field",
                 "flow_matching_field_from_samples", "probability_flow_field", "grid_velocity_field",
                 "attention_field", "network_field", "w2", "w2_squared", "sliced_w2", "deposit", "gaussian_kde"):
        assert callable(getattr(lagrangian, name))
