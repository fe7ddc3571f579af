"""A CPU stand-in for CuPy: run the CuPy code paths of an array code without a GPU.

``with cupy_standin() as cp:`` installs modules named ``cupy``, ``cupyx.scipy.fft``, ``cupyx.scipy.sparse``
and ``cupyx.scipy.sparse.linalg`` whose arrays live in host memory and compute with NumPy and SciPy, and
removes them on exit (a CuPy that was imported before is put back). Inside the block,
``eulerian.get_backend("cupy")`` and ``lagrangian.get_namespace("cupy")`` return the stand-in, so every branch
written for CuPy runs: device detection, host copies, device memory queries, CuPy's random generator.

It is strict where CuPy is strict, so the mistakes that only show on a GPU show on the CPU:

- an implicit host conversion (``np.asarray(x)``, ``np.array(x)``) of a device array raises TypeError, as in
  CuPy; the host copy is ``x.get()`` or ``cupy.asnumpy(x)``;
- a NumPy array given to a device function, ufunc or operator raises TypeError (CuPy accepts host arrays only
  in ``cupy.array``/``asarray``, as index arrays and as values assigned to a slice);
- only the names, parameters and methods of the recorded CuPy API exist (``cupy_api.json``, recorded from
  CuPy 14.2 by ``verify/cupy_api_record.py``): ``xp.errstate`` or a ufunc's ``where=`` raise as they would;
- reductions and element access return 0-d device arrays, not NumPy scalars, and a device array has no
  ``__index__``; the sparse matrices hold only bool, float and complex data, and ``splu``/``spsolve`` take
  device arrays only.

What it cannot show: the speed, the memory and the rounding of a GPU (the stand-in computes exactly as NumPy
does, and runs the CUDA C kernels of ``RawModule`` and ``RawKernel`` on the host, one thread at a time:
:mod:`verify.cuda_host`), kernels whose threads cooperate (they raise :class:`CudaCodeUnsupported`), streams,
and the behaviour of CuPy functions that differ from NumPy's in values. A run that passes on the stand-in has no host
round trip and no NumPy-only call on its CuPy path; only a GPU shows that it is also right there.
"""
from __future__ import annotations

import contextlib
import functools
import json
import operator
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft
import scipy.sparse
import scipy.sparse.linalg

from verify.cuda_host import CudaCodeUnsupported, compile_kernels, unsupported

__all__ = ["cupy_standin", "cupy_or_standin", "is_standin", "CudaCodeUnsupported", "DEFAULT_DEVICE_MEMORY"]

DEFAULT_DEVICE_MEMORY = 16 * 2**30   # bytes the stand-in's device reports (cupy.cuda.Device().mem_info)
_SPARSE_DTYPES = "?fdFD"   # CuPy's sparse matrices: bool, float32, float64, complex64, complex128
_SPARSE_STORAGE = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
                   "coo": ("data", "row", "col"), "dia": ("data", "offsets")}
_UFUNC_KEYWORDS = ("out", "casting", "dtype")   # CuPy's ufuncs take no where=, order= or subok=
_HOST_IN = {"cupy.array", "cupy.asarray", "cupy.asanyarray"}   # functions that copy host arrays to the device
_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy "
             "array explicitly. (CuPy stand-in)")


@functools.lru_cache(maxsize=1)
def _api() -> dict:
    """The recorded CuPy API (names, kinds, parameters), read once."""
    return json.loads(Path(__file__).with_name("cupy_api.json").read_text())


def is_standin(module: Any) -> bool:
    """True for the stand-in's ``cupy`` module (and for its submodules)."""
    return isinstance(module, _Namespace)


# ------------------------------------------------------------------------------------------ conversion
def _unwrap(value: Any, host_ok: bool, seen: dict[int, Any], where: str) -> Any:
    """The host buffers of ``value`` (arrays, lists and tuples of them); ``seen`` gets each device array by the id
    of its buffer, so that a result that is an argument's buffer comes back as that argument (``cupy.asarray(x) is
    x``, ``out=`` returns ``out``). A NumPy array raises unless ``host_ok``."""
    if isinstance(value, ndarray):
        seen[id(value._a)] = value
        return value._a
    if isinstance(value, spmatrix):
        return value._m
    if isinstance(value, np.ndarray):
        if host_ok:
            return value
        raise TypeError(f"Unsupported type {type(value)} in {where}: a NumPy array given to a CuPy function; "
                        "copy it to the device with cupy.asarray first (CuPy stand-in)")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, host_ok, seen, where) for v in value)
    return value


def _wrap(value: Any, seen: dict[int, Any] | None = None) -> Any:
    """Device arrays (and stand-in sparse matrices) for the host results in ``value``."""
    if isinstance(value, np.ndarray):
        if seen is not None and id(value) in seen:
            return seen[id(value)]
        if value.dtype.kind in "OUSVMm":
            raise TypeError(f"CuPy has no arrays of dtype {value.dtype} (CuPy stand-in)")
        return ndarray(value)
    if isinstance(value, np.generic):
        return ndarray(np.asarray(value))   # CuPy's reductions and element access give 0-d arrays
    if scipy.sparse.issparse(value):
        return spmatrix(value)
    if isinstance(value, tuple):
        return tuple(_wrap(v, seen) for v in value)
    if isinstance(value, list):
        return [_wrap(v, seen) for v in value]
    return value


def _check_call(qualname: str, spec: dict, args: tuple, kwargs: dict) -> None:
    """Refuse what CuPy's signature refuses: unknown keywords and too many positional arguments."""
    if spec.get("kind") == "ufunc":
        allowed, n_positional, open_keywords = _UFUNC_KEYWORDS, spec["nin"] + spec["nout"], False
    elif "params" in spec:
        allowed, n_positional = spec["params"], (None if spec["var_positional"] else len(spec["params"]))
        open_keywords = spec["var_keyword"]
    else:   # a Cython function whose signature CuPy does not show
        return
    unknown = [k for k in kwargs if k not in allowed]
    if unknown and not open_keywords:
        raise TypeError(f"{qualname}() got an unexpected keyword argument {unknown[0]!r}: CuPy "
                        f"{_api()['cupy_version']} takes {', '.join(allowed) or 'none'} (CuPy stand-in)")
    if n_positional is not None and len(args) > n_positional:
        raise TypeError(f"{qualname}() takes at most {n_positional} positional arguments in CuPy "
                        f"{_api()['cupy_version']}, got {len(args)} (CuPy stand-in)")


def _device_function(qualname: str, spec: dict, target: Any, host_ok: bool = False) -> Any:
    """CuPy's ``qualname`` computed by NumPy/SciPy's ``target`` on the arrays' host buffers."""

    @functools.wraps(target)
    def call(*args: Any, **kwargs: Any) -> Any:
        _check_call(qualname, spec, args, kwargs)
        seen: dict[int, Any] = {}
        a = _unwrap(args, host_ok, seen, qualname)
        k = {key: _unwrap(v, host_ok and key != "out", seen, qualname) for key, v in kwargs.items()}
        return _wrap(target(*a, **k), seen)

    call.__module__, call.__qualname__ = qualname.rsplit(".", 1)[0], qualname.rsplit(".", 1)[1]
    return call


def _class_method(cls_path: str, obj: Any, name: str) -> Any:
    """Attribute ``name`` of the host object ``obj`` as the CuPy class ``cls_path`` has it (methods on device
    arrays); AttributeError for what CuPy's class lacks."""
    spec = _api()["classes"][cls_path].get(name)
    if spec is None:
        short = cls_path.rsplit(".", 1)[1]
        raise AttributeError(f"'{short}' object has no attribute {name!r} in CuPy {_api()['cupy_version']} "
                             "(CuPy stand-in)")
    value = getattr(obj, name)
    if spec["kind"] != "function":
        return _wrap(value)
    return _device_function(f"{cls_path}.{name}", spec, value)


# ------------------------------------------------------------------------------------------ arrays
class ndarray(np.lib.mixins.NDArrayOperatorsMixin):
    """A device array of the stand-in: a NumPy array that refuses implicit host conversion."""

    __slots__ = ("_a",)
    __array_priority__ = 100

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # NumPy protocols: device arrays do not become NumPy arrays implicitly
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        spec = _api()["namespaces"]["cupy"].get(ufunc.__name__)
        if spec is None or spec["kind"] not in ("ufunc", "function"):   # (cupy.matmul is a generalised ufunc)
            return NotImplemented
        if method != "__call__":   # reduce, accumulate, outer, at: signatures CuPy does not record
            return _device_function(f"cupy.{ufunc.__name__}.{method}", {}, getattr(ufunc, method))(*inputs, **kwargs)
        out = kwargs.get("out")
        if isinstance(out, tuple):
            kwargs["out"] = out[0] if len(out) == 1 else out
        return _device_function(f"cupy.{ufunc.__name__}", spec, ufunc)(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        module = {"numpy": "cupy", "numpy.linalg": "cupy.linalg", "numpy.fft": "cupy.fft"}.get(func.__module__)
        if module is None or func.__name__ not in _api()["namespaces"][module]:
            return NotImplemented
        return getattr(sys.modules[module], func.__name__)(*args, **kwargs)

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "strides": None if self._a.flags.c_contiguous
                else self._a.strides, "data": (self._a.__array_interface__["data"][0], False), "version": 3}

    # host copies
    def get(self, stream: Any = None, order: str = "C", out: np.ndarray | None = None,
            blocking: bool = True) -> np.ndarray:
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _class_method("cupy.ndarray", self._a, name)

    # attributes CuPy computes on the host
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    mT = property(lambda self: ndarray(self._a.mT))
    real = property(lambda self: ndarray(self._a.real))
    imag = property(lambda self: ndarray(self._a.imag))

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._a[_unwrap(key, True, {}, "cupy.ndarray.__getitem__")])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap(key, True, {}, "__setitem__")] = _unwrap(value, True, {}, "cupy.ndarray.__setitem__")

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Iterator[Any]:
        return (_wrap(row) for row in self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __complex__(self) -> complex:
        return complex(self._a)

    def __format__(self, spec: str) -> str:
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    def __repr__(self) -> str:
        return repr(self._a)

    def __str__(self) -> str:
        return str(self._a)


ndarray.__module__ = "cupy"


def _operator(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[[Any, Any], Any]:
    """The binary operator ``op`` of a stand-in sparse matrix (``reflected``: with the matrix on the right)."""
    return lambda self, other: self._binary(other, op, reflected)


class spmatrix:
    """A sparse matrix of the stand-in (csr, csc, coo or dia) holding a SciPy matrix in host memory."""

    __slots__ = ("_m",)

    def __init__(self, m: Any) -> None:
        if m.format not in ("csr", "csc", "coo", "dia"):
            m = m.tocoo()   # cupyx's kron and bmat return coo where SciPy returns bsr
        if m.dtype.char not in _SPARSE_DTYPES:
            raise ValueError(f"Only bool, float32, float64, complex64 and complex128 are supported, got {m.dtype} "
                             "(a CuPy sparse matrix; CuPy stand-in)")
        self._m = m

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _SPARSE_STORAGE[self._m.format]:   # instance attributes: the device arrays of the storage
            return ndarray(getattr(self._m, name))
        return _class_method(f"cupyx.scipy.sparse.{self._m.format}_matrix", self._m, name)

    shape = property(lambda self: self._m.shape)
    dtype = property(lambda self: self._m.dtype)
    nnz = property(lambda self: self._m.nnz)
    format = property(lambda self: self._m.format)
    T = property(lambda self: spmatrix(self._m.T))

    def _binary(self, other: Any, op: Callable[[Any, Any], Any], reflected: bool = False) -> Any:
        seen: dict[int, Any] = {}
        o = _unwrap(other, False, seen, "cupyx.scipy.sparse")   # a NumPy operand raises, as in CuPy
        return _wrap(op(o, self._m) if reflected else op(self._m, o), seen)

    __matmul__ = _operator(operator.matmul)
    __rmatmul__ = _operator(operator.matmul, reflected=True)
    __mul__ = _operator(operator.mul)
    __rmul__ = _operator(operator.mul, reflected=True)
    __add__ = _operator(operator.add)
    __radd__ = _operator(operator.add, reflected=True)
    __sub__ = _operator(operator.sub)
    __rsub__ = _operator(operator.sub, reflected=True)
    __truediv__ = _operator(operator.truediv)
    __pow__ = _operator(operator.pow)

    def __abs__(self) -> "spmatrix":
        return spmatrix(abs(self._m))

    def __neg__(self) -> "spmatrix":
        return spmatrix(-self._m)

    def __repr__(self) -> str:
        return f"<CuPy stand-in {self._m.format}_matrix {self._m.shape}, {self._m.nnz} stored, {self._m.dtype}>"


spmatrix.__module__ = "cupyx.scipy.sparse"


class _SuperLU:
    """cupyx.scipy.sparse.linalg.SuperLU: SciPy's factors; ``solve`` takes and returns device arrays."""

    def __init__(self, lu: Any) -> None:
        self._lu = lu

    def solve(self, rhs: Any, trans: str = "N") -> ndarray:
        if not isinstance(rhs, ndarray):
            raise TypeError(f"ojb must be cupy.ndarray, got {type(rhs).__name__} (SuperLU.solve; CuPy stand-in)")
        return ndarray(self._lu.solve(rhs._a, trans=trans))


def _sparse_operand(A: Any, where: str) -> Any:
    if not isinstance(A, spmatrix):
        raise TypeError(f"A must be cupyx.scipy.sparse.spmatrix, got {type(A).__name__} ({where}; CuPy stand-in)")
    if A.dtype.char not in "fdFD":
        raise TypeError(f"Invalid dtype (actual: {A.dtype}) ({where}; CuPy stand-in)")
    return A._m


def _splu(A: Any, permc_spec: Any = None, diag_pivot_thresh: Any = None, relax: Any = None,
          panel_size: Any = None, options: Any = None) -> _SuperLU:
    kwargs = {k: v for k, v in dict(permc_spec=permc_spec, diag_pivot_thresh=diag_pivot_thresh, relax=relax,
                                     panel_size=panel_size, options=options).items() if v is not None}
    return _SuperLU(scipy.sparse.linalg.splu(_sparse_operand(A, "splu").tocsc(), **kwargs))


def _spsolve(A: Any, b: Any) -> ndarray:
    m = _sparse_operand(A, "spsolve")
    if not isinstance(b, ndarray):
        raise TypeError(f"b must be cupy.ndarray, got {type(b).__name__} (spsolve; CuPy stand-in)")
    return ndarray(np.asarray(scipy.sparse.linalg.spsolve(m.tocsc(), b._a)))


# ------------------------------------------------------------------------------------------ modules
class _Namespace(types.ModuleType):
    """A stand-in module: the recorded CuPy names of ``name``, each computed by the same name in ``impl``."""

    def __init__(self, name: str, impl: Any, special: dict[str, Any] | None = None,
                 host_ok: bool = False) -> None:
        super().__init__(name, f"CuPy stand-in for {name} (verify.cupy_standin)")
        self._impl, self._special, self._host_ok = impl, dict(special or {}), host_ok

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in self._special:
            return self._special[attr]
        spec = _api()["namespaces"].get(self.__name__, {}).get(attr)
        if spec is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}: CuPy "
                                 f"{_api()['cupy_version']} has none (CuPy stand-in)")
        target = getattr(self._impl, attr, None) if self._impl is not None else None
        if target is None or spec["kind"] == "module":
            raise AttributeError(f"{self.__name__}.{attr} exists in CuPy but the stand-in does not emulate it; "
                                 "run this on a GPU (CuPy stand-in)")
        if spec["kind"] == "class" and self.__name__ == "cupyx.scipy.sparse" and attr.endswith("_matrix"):
            spec = {"kind": "function"}   # the constructors (csr_matrix(...)) make stand-in matrices
        if spec["kind"] in ("function", "ufunc"):
            host_ok = self._host_ok or f"{self.__name__}.{attr}" in _HOST_IN
            target = _device_function(f"{self.__name__}.{attr}", spec, target, host_ok)
        self.__dict__[attr] = target   # resolved once per installed stand-in
        return target


class _Device:
    """cupy.cuda.Device: device 0 with the stand-in's memory."""

    def __init__(self, device: int | None = None, memory: int = DEFAULT_DEVICE_MEMORY) -> None:
        if device not in (None, 0):
            raise ValueError(f"the CuPy stand-in has one device (0), got device={device!r}")
        self.id, self._memory = 0, memory

    @property
    def mem_info(self) -> tuple[int, int]:
        return self._memory, self._memory

    def use(self) -> None:
        return None

    def synchronize(self) -> None:
        return None

    def __enter__(self) -> "_Device":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class _Function:
    """cupy.cuda.Function (a kernel of a RawModule) and cupy.RawKernel: the kernel's CUDA C run on the host
    (:mod:`verify.cuda_host`)."""

    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel

    def __call__(self, grid: Any, block: Any, args: tuple, shared_mem: int = 0, stream: Any = None) -> None:
        self._kernel.launch(grid, block, args, lambda x: isinstance(x, ndarray), lambda x: x._a, shared_mem)


def _compile(code: Any, options: Any) -> dict:
    if not isinstance(code, str):
        raise unsupported("a RawModule without CUDA C source (code=...)")
    return compile_kernels(code, tuple(o for o in options if isinstance(o, str) and o.startswith("-D")))


class _RawModule:
    """cupy.RawModule(code=...): its kernels compiled and run on the host (:mod:`verify.cuda_host`)."""

    def __init__(self, code: str | None = None, *, path: str | None = None, options: tuple = (), **kwargs: Any
                 ) -> None:
        self.code, self.options = code, tuple(options)

    def get_function(self, name: str) -> _Function:
        kernels = _compile(self.code, self.options)
        if name not in kernels:
            raise RuntimeError(f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name!r} is not an extern \"C\" "
                               f"__global__ kernel of the module (it has {sorted(kernels)}) (CuPy stand-in)")
        return _Function(kernels[name])


class _RawKernel(_Function):
    """cupy.RawKernel(code, name): the kernel ``name`` of ``code`` run on the host."""

    def __init__(self, code: str, name: str, options: tuple = (), **kwargs: Any) -> None:
        super().__init__(_RawModule(code, options=options).get_function(name)._kernel)


def _asnumpy(a: Any, stream: Any = None, order: str = "C", out: np.ndarray | None = None,
             blocking: bool = True) -> np.ndarray:
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def _build(device_memory: int) -> dict[str, types.ModuleType]:
    """Fresh stand-in modules (nothing is shared between two installations)."""

    def device(n: int | None = None) -> _Device:
        return _Device(n, device_memory)

    runtime = types.ModuleType("cupy.cuda.runtime", "CuPy stand-in for cupy.cuda.runtime")
    runtime.memGetInfo = lambda: (device_memory, device_memory)
    runtime.getDeviceCount = lambda: 1
    runtime.getDevice = lambda: 0
    cuda = types.ModuleType("cupy.cuda", "CuPy stand-in for cupy.cuda")
    cuda.is_available, cuda.Device, cuda.runtime = (lambda: True), device, runtime
    cuda.get_device_id = lambda: 0

    def default_rng(seed: Any = None) -> Any:
        return _Generator(np.random.default_rng(seed))

    random = _Namespace("cupy.random", np.random, {"default_rng": default_rng})
    fft = _Namespace("cupy.fft", np.fft)
    linalg = _Namespace("cupy.linalg", np.linalg)
    cupy = _Namespace("cupy", np, {
        "ndarray": ndarray, "cuda": cuda, "random": random, "fft": fft, "linalg": linalg,
        "asnumpy": _asnumpy, "RawModule": _RawModule, "RawKernel": _RawKernel,
        "__version__": f"{_api()['cupy_version']}+standin",
        "get_array_module": lambda *args: cupy if any(isinstance(a, (ndarray, spmatrix)) for a in args) else np,
    })
    splinalg = _Namespace("cupyx.scipy.sparse.linalg", scipy.sparse.linalg,
                          {"splu": _splu, "spsolve": _spsolve, "SuperLU": _SuperLU})
    sparse = _Namespace("cupyx.scipy.sparse", scipy.sparse, {"linalg": splinalg, "spmatrix": spmatrix,
                                                            "issparse": lambda x: isinstance(x, spmatrix)},
                        host_ok=True)
    sfft = _Namespace("cupyx.scipy.fft", scipy.fft)
    cupyx = types.ModuleType("cupyx", "CuPy stand-in for cupyx")
    cupyx_scipy = types.ModuleType("cupyx.scipy", "CuPy stand-in for cupyx.scipy")
    cupyx.scipy, cupyx_scipy.fft, cupyx_scipy.sparse = cupyx_scipy, sfft, sparse
    return {"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.runtime": runtime, "cupy.fft": fft, "cupy.linalg": linalg,
            "cupy.random": random, "cupyx": cupyx, "cupyx.scipy": cupyx_scipy, "cupyx.scipy.fft": sfft,
            "cupyx.scipy.sparse": sparse, "cupyx.scipy.sparse.linalg": splinalg}


class _Generator:
    """cupy.random.Generator: NumPy's generator (another stream than CuPy's) returning device arrays."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _class_method("cupy.random.Generator", self._rng, name)


@contextlib.contextmanager
def cupy_standin(device_memory: int = DEFAULT_DEVICE_MEMORY) -> Iterator[types.ModuleType]:
    """Install the CPU stand-in as ``cupy`` and ``cupyx`` for the block and yield its ``cupy`` module.

    device_memory : bytes the stand-in device reports (``cupy.cuda.Device().mem_info``), for the memory
        refusals that read the device's memory (default 16 GiB).

    Not thread-safe (it replaces entries of ``sys.modules``); the modules in place before are restored on exit.
    """
    if isinstance(device_memory, bool) or not isinstance(device_memory, (int, np.integer)):
        raise TypeError(f"device_memory must be an integer number of bytes, got {type(device_memory).__name__}")
    if device_memory <= 0:
        raise ValueError(f"device_memory must be positive (bytes), got {device_memory}")
    if is_standin(sys.modules.get("cupy")):
        raise RuntimeError("the CuPy stand-in is already installed; nest no second one")
    modules = _build(int(device_memory))
    saved = {name: sys.modules.get(name) for name in modules}
    try:
        sys.modules.update(modules)
        _clear_device_caches()
        yield modules["cupy"]
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        _clear_device_caches()


@contextlib.contextmanager
def cupy_or_standin(device_memory: int = DEFAULT_DEVICE_MEMORY) -> Iterator[tuple[types.ModuleType, bool]]:
    """(cupy, on_gpu): the real CuPy where it imports and a CUDA device is usable (``cupy.cuda.is_available()``),
    else the CPU stand-in, installed for the block with ``device_memory`` bytes."""
    try:
        import cupy

        usable = bool(cupy.cuda.is_available())
    except Exception:  # noqa: BLE001 - not installed, no driver
        usable = False
    if usable:
        yield cupy, True
        return
    with cupy_standin(device_memory) as standin:
        yield standin, False


def _clear_device_caches() -> None:
    """Forget the device memory cached by lagrangian.backend, so that the stand-in's (and afterwards a real
    GPU's) is read."""
    backend = sys.modules.get("lagrangian.backend")
    cached = getattr(backend, "_device_memory", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()
