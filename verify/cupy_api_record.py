"""Record the CuPy API that the CPU stand-in (verify.cupy_standin) allows: names and their parameters.

Run it as a script where CuPy is installed (no GPU needed; it imports only the standard library and CuPy):

    python verify/cupy_api_record.py verify/cupy_api.json

For every public name of ``cupy``, ``cupy.fft``, ``cupy.linalg``, ``cupy.random``, ``cupyx.scipy.fft``,
``cupyx.scipy.sparse`` and ``cupyx.scipy.sparse.linalg``, and for the methods of ``cupy.ndarray``,
``cupy.random.Generator``, the sparse matrix classes and ``SuperLU``, it writes the kind ("function",
"ufunc", "class", "module" or "value") and, where the signature can be read (from ``inspect`` or from the
first docstring line of a Cython method), its parameter names.
"""
from __future__ import annotations

import inspect
import json
import re
import sys
from pathlib import Path

NAMESPACES = ("cupy", "cupy.fft", "cupy.linalg", "cupy.random", "cupyx.scipy.fft", "cupyx.scipy.sparse",
              "cupyx.scipy.sparse.linalg")
CLASSES = ("cupy.ndarray", "cupy.random.Generator", "cupyx.scipy.sparse.csr_matrix", "cupyx.scipy.sparse.csc_matrix",
           "cupyx.scipy.sparse.coo_matrix", "cupyx.scipy.sparse.dia_matrix", "cupyx.scipy.sparse.linalg.SuperLU")
_DOC_SIGNATURE = re.compile(r"^[\w.]+\((.*)\)")


def _params_from_text(text: str) -> dict:
    """Parameter names of a signature's text "self, axis=None, *shape, **kw" (Cython types dropped)."""
    spec = {"params": [], "var_positional": False, "var_keyword": False}
    for raw in (p.strip() for p in text.split(",")):
        if raw in ("", "self", "/", "*", "\\*", "$self"):
            continue
        name = raw.split("=")[0].strip().split()[-1].replace("\\", "")
        if name.startswith("**"):
            spec["var_keyword"] = True
        elif name.startswith("*"):
            spec["var_positional"] = True
        elif name != "self":
            spec["params"].append(name)
    return spec


def _describe(obj) -> dict:
    """Kind and parameters of one CuPy attribute."""
    if type(obj).__name__ == "ufunc":
        return {"kind": "ufunc", "nin": int(obj.nin), "nout": int(obj.nout)}
    if inspect.ismodule(obj):
        return {"kind": "module"}
    if inspect.isclass(obj):
        return {"kind": "class"}
    if not callable(obj):
        return {"kind": "value"}
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        first = (obj.__doc__ or "").strip().splitlines()
        match = _DOC_SIGNATURE.match(first[0]) if first else None
        return {"kind": "function", **_params_from_text(match.group(1))} if match else {"kind": "function"}
    spec = {"kind": "function", "params": [], "var_positional": False, "var_keyword": False}
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            spec["var_positional"] = True
        elif p.kind is p.VAR_KEYWORD:
            spec["var_keyword"] = True
        elif p.name != "self":
            spec["params"].append(p.name)
    return spec


def _stub_missing_cuda_libraries() -> None:
    """Let the Python modules of cupyx import on a machine without the CUDA libraries (no GPU is needed to read
    names and signatures): the library bindings they import at module level become empty placeholders."""
    import types

    import cupy_backends.cuda.libs as libs

    for lib in ("cublas", "cusparse", "cusolver", "curand", "cufft"):
        try:
            getattr(libs, lib)
        except (ImportError, AttributeError):
            placeholder = types.ModuleType(f"cupy_backends.cuda.libs.{lib}")
            setattr(libs, lib, placeholder)
            sys.modules[placeholder.__name__] = placeholder


def _record() -> dict:
    """{"cupy_version", "namespaces": {module: {name: spec}}, "classes": {class: {method: spec}}}."""
    import importlib

    import cupy

    _stub_missing_cuda_libraries()

    out = {"cupy_version": cupy.__version__, "namespaces": {}, "classes": {}}
    for name in NAMESPACES:
        module = importlib.import_module(name)
        out["namespaces"][name] = {a: _describe(getattr(module, a)) for a in sorted(dir(module))
                                   if not a.startswith("_")}
    for path in CLASSES:
        module_name, cls_name = path.rsplit(".", 1)
        cls = getattr(importlib.import_module(module_name), cls_name)
        out["classes"][path] = {a: _describe(getattr(cls, a)) for a in sorted(dir(cls))
                                if not a.startswith("_") or a in ("__array__", "__float__", "__int__", "__bool__")}
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("cupy_api.json"))
    target.write_text(json.dumps(_record(), indent=0, sort_keys=True) + "\n")
    print(f"wrote {target}")
