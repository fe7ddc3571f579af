"""Simple CUDA C kernels run on the host, for the CuPy stand-in's ``RawModule`` and ``RawKernel``.

The threads of a kernel that do not talk to each other (no shared memory, no barriers, no atomics, no warp
functions) compute the same whatever order they run in. Such a kernel is compiled here as C++ by the system's
compiler (``g++``, or ``$CXX``): ``threadIdx``, ``blockIdx``, ``blockDim`` and ``gridDim`` become globals, and a
launch runs every thread of the grid in turn, in one host thread. The kernel source is the one a GPU would run,
so a kernel launched with the wrong grid, block or arguments computes the wrong thing here too.

The arguments follow CuPy's rules for ``cupy.cuda.Function``: a device array passes the address of its first
element, ``None`` a null pointer, a NumPy scalar its value in its own type, and a Python ``int``, ``float``,
``bool`` or ``complex`` is passed as int64, float64, bool or complex128. NumPy arrays are refused, as CuPy
refuses them. Where a GPU would silently read garbage, the host run refuses instead: a wrong number of
arguments, or an argument smaller than the kernel parameter (a larger one is read in its first bytes, as on a
GPU).

What it refuses (:class:`CudaCodeUnsupported`, so tests skip): kernels that use shared
memory, barriers, atomics, warp functions or headers, modules loaded from files, dynamic shared memory, and
machines without a C++ compiler. Source that the compiler rejects raises :class:`CudaCompileError`, as NVRTC
would on a GPU; a launch with an invalid grid or block raises :class:`CudaLaunchError`. Nothing checks the
kernel's memory accesses: an index past an array's end is undefined behaviour here, as on a GPU.
"""
from __future__ import annotations

import ctypes
import functools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["CudaCodeUnsupported", "CudaCompileError", "CudaLaunchError", "HostKernel", "compile_kernels"]

MAX_THREADS_PER_BLOCK = 1024            # CUDA's limit for every current GPU
MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)
# CUDA features whose result depends on threads running together: not emulated
UNSUPPORTED = re.compile(r"__shared__|__syncthreads|__syncwarp|\batomic\w*|__shfl\w*|__ballot\w*|__any_sync|"
                         r"__all_sync|__activemask|__threadfence\w*|cooperative_groups|\bwarpSize\b|#\s*include|"
                         r"\btex\d?D\w*|\bsurf\d?D\w*")
KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
PARAMETER = re.compile(r"^(.*?[\w*&\s])\s*(\w+)\s*$", re.S)
PRELUDE = """#include <cmath>
#include <cstddef>
#include <cstdint>
using namespace std;
struct dim3 { unsigned int x, y, z; };
typedef dim3 uint3;
static dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#line 1 "kernel.cu"
"""
_PYTHON_SCALARS = ((bool, np.bool_), (int, np.int64), (float, np.float64), (complex, np.complex128))


class CudaCompileError(RuntimeError):
    """The kernel source does not compile (where NVRTC raises cupy.cuda.compiler.CompileException)."""


class CudaLaunchError(RuntimeError):
    """An invalid launch: grid or block sizes, or arguments (where a GPU raises or reads garbage)."""


class CudaCodeUnsupported(NotImplementedError):
    """CUDA code that the stand-in cannot run on the host (cooperating threads, modules from files, no C++
    compiler): this path needs a GPU."""


def unsupported(what: str) -> CudaCodeUnsupported:
    return CudaCodeUnsupported(f"the CuPy stand-in cannot run {what} on the host: this path needs a GPU")


def _parameter_types(name: str, params: str) -> list[str]:
    """The C types of a kernel's parameters, in order."""
    if params.strip() in ("", "void"):
        return []
    types = []
    for p in params.split(","):
        m = PARAMETER.match(p.strip())
        if m is None or "[" in p or not m.group(1).strip():
            raise unsupported(f"kernel {name!r} (parameter {p.strip()!r} is not 'type name')")
        types.append(" ".join(m.group(1).split()))
    return types


def _launcher(name: str, types: list[str]) -> str:
    """C++ entry points for one kernel: the launch over the whole grid, and the sizes of its parameters."""
    call_args = ", ".join(f"*({t}*)a[{i}]" for i, t in enumerate(types))
    sizes = ", ".join([f"sizeof({t})" for t in types] + ["0"])
    return f"""
extern "C" void twinflow_launch_{name}(const unsigned int* g, const unsigned int* b, void** a) {{
    gridDim = {{g[0], g[1], g[2]}};
    blockDim = {{b[0], b[1], b[2]}};
    for (unsigned int bz = 0; bz < g[2]; ++bz) for (unsigned int by = 0; by < g[1]; ++by)
    for (unsigned int bx = 0; bx < g[0]; ++bx) {{
        blockIdx = {{bx, by, bz}};
        for (unsigned int tz = 0; tz < b[2]; ++tz) for (unsigned int ty = 0; ty < b[1]; ++ty)
        for (unsigned int tx = 0; tx < b[0]; ++tx) {{
            threadIdx = {{tx, ty, tz}};
            {name}({call_args});
        }}
    }}
}}
extern "C" size_t twinflow_sizes_{name}(int i) {{
    static const size_t s[] = {{{sizes}}};
    return s[i];
}}
"""


@functools.lru_cache(maxsize=32)
def compile_kernels(code: str, defines: tuple[str, ...] = ()) -> dict[str, "HostKernel"]:
    """The ``extern "C" __global__`` kernels of ``code`` compiled for the host: {name: HostKernel}.

    defines: ``-D`` options passed on to the compiler (as NVRTC options would be). Compiled once per process
    for each (code, defines)."""
    found = UNSUPPORTED.search(code)
    if found:
        raise unsupported(f"CUDA C using {found.group(0)!r} (threads that cooperate)")
    kernels = {m.group(1): _parameter_types(m.group(1), m.group(2)) for m in KERNEL.finditer(code)}
    compiler = shlex.split(os.environ.get("CXX", "")) or [shutil.which("g++") or shutil.which("c++") or "g++"]
    if shutil.which(compiler[0]) is None:
        raise unsupported(f"CUDA C without a C++ compiler ({compiler[0]} not found; set CXX)")
    source = PRELUDE + code + "".join(_launcher(n, t) for n, t in kernels.items())
    with tempfile.TemporaryDirectory(prefix="twinflow-cuda-") as tmp:
        src, lib = Path(tmp) / "kernel.cpp", Path(tmp) / "kernel.so"
        src.write_text(source)
        run = subprocess.run([*compiler, "-std=c++17", "-O2", "-shared", "-fPIC", "-w", *defines, str(src), "-o",
                              str(lib)], capture_output=True, text=True)
        if run.returncode != 0:
            first = next((line for line in run.stderr.splitlines() if "error" in line), run.stderr.strip())
            raise CudaCompileError(f"the CUDA C source does not compile (host compiler {Path(compiler[0]).name}): "
                                   f"{first}")
        handle = ctypes.CDLL(str(lib))   # mapped: the file may go
    out, lock = {}, threading.Lock()   # the kernels of one library share threadIdx, blockIdx, ...
    for name, types in kernels.items():
        launch = getattr(handle, f"twinflow_launch_{name}")
        launch.argtypes = [ctypes.POINTER(ctypes.c_uint)] * 2 + [ctypes.POINTER(ctypes.c_void_p)]
        launch.restype = None
        size = getattr(handle, f"twinflow_sizes_{name}")
        size.argtypes, size.restype = [ctypes.c_int], ctypes.c_size_t
        out[name] = HostKernel(name, tuple(types), tuple(size(i) for i in range(len(types))), launch, handle, lock)
    return out


def _dims(value: Any, what: str, limit: tuple[int, ...]) -> tuple[int, int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    if not isinstance(value, tuple) or not 1 <= len(value) <= 3 or any(
            isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) for v in value):
        raise TypeError(f"{what} must be a tuple of 1 to 3 integers, got {value!r}")
    dims = tuple(int(v) for v in value) + (1,) * (3 - len(value))
    if any(not 1 <= d <= cap for d, cap in zip(dims, limit)):
        raise CudaLaunchError(f"CUDA_ERROR_INVALID_VALUE: {what} {value!r} outside 1..{limit}")
    return dims


def _argument(value: Any, is_device: Callable[[Any], bool], host: Callable[[Any], np.ndarray]) -> Any:
    """A ctypes object holding the value CuPy passes for ``value``."""
    if value is None:
        return ctypes.c_void_p(None)
    if is_device(value):
        return ctypes.c_void_p(host(value).ctypes.data)
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)}: a NumPy array given to a CUDA kernel; copy it to the "
                        "device with cupy.asarray (CuPy stand-in)")
    if not isinstance(value, np.generic):
        kind = next((t for py, t in _PYTHON_SCALARS if isinstance(value, py)), None)
        if kind is None:
            raise TypeError(f"Unsupported type {type(value)} as a CUDA kernel argument (CuPy stand-in)")
        value = kind(value)
    return np.array([value])   # its buffer holds the value


@dataclass(frozen=True)
class HostKernel:
    """One compiled kernel: ``launch(grid, block, args, ...)`` as ``cupy.cuda.Function.__call__``."""

    name: str
    types: tuple[str, ...]        # the C types of its parameters
    sizes: tuple[int, ...]        # their sizes in bytes
    _launch: Any
    _handle: Any                  # keeps the library loaded
    _lock: Any                    # one launch at a time per library (its thread indices are globals)

    def launch(self, grid: Any, block: Any, args: tuple, is_device: Callable[[Any], bool],
               host: Callable[[Any], np.ndarray], shared_mem: int = 0) -> None:
        g = _dims(grid, "grid", MAX_GRID)
        b = _dims(block, "block", MAX_BLOCK)
        if b[0] * b[1] * b[2] > MAX_THREADS_PER_BLOCK:
            raise CudaLaunchError(f"CUDA_ERROR_INVALID_VALUE: block {block!r} has more than "
                                  f"{MAX_THREADS_PER_BLOCK} threads")
        if shared_mem:
            raise unsupported("a launch with dynamic shared memory")
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"args must be a tuple of kernel arguments, got {type(args).__name__}")
        if len(args) != len(self.types):
            raise CudaLaunchError(f"kernel {self.name!r} takes {len(self.types)} arguments ({', '.join(self.types)})"
                                  f", got {len(args)}")
        held = [_argument(a, is_device, host) for a in args]
        for i, (h, t, size) in enumerate(zip(held, self.types, self.sizes)):
            given = ctypes.sizeof(h) if isinstance(h, ctypes.c_void_p) else h.itemsize
            if given < size:   # (a larger value is read in its first bytes, as by the GPU)
                raise CudaLaunchError(f"argument {i} of kernel {self.name!r} is {given} bytes ({args[i]!r}) but "
                                      f"its parameter '{t}' takes {size}: on a GPU it would read garbage")
        addresses = (ctypes.c_void_p * max(len(held), 1))(
            *[ctypes.addressof(h) if isinstance(h, ctypes.c_void_p) else h.ctypes.data for h in held])
        with self._lock:
            self._launch((ctypes.c_uint * 3)(*g), (ctypes.c_uint * 3)(*b), addresses)
