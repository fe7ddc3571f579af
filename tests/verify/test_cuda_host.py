"""CUDA C kernels run on the host by the CuPy stand-in (verify.cuda_host): results against NumPy, CuPy's argument
rules, and the launches and sources it refuses."""
import shutil

import numpy as np
import pytest

from verify.cuda_host import CudaCodeUnsupported, CudaCompileError, CudaLaunchError, compile_kernels

pytestmark = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                                reason="no C++ compiler to build the host kernels")

# y[i, j] = a x[i, j] + i - 2 j over a 2-D launch: every built-in index and dimension takes part
AXPY = r"""
extern "C" __global__ void axpy2d(const double* x, double* y, const double a, const long long rows,
                                  const int cols) {
    const long long i = (long long)blockIdx.y * blockDim.y + threadIdx.y;
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows || j >= cols) return;
    y[i * cols + j] = a * x[i * cols + j] + (double)i - 2.0 * (double)j + 0.0 * gridDim.x;
}
extern "C" __global__ void count(long long* hits, const unsigned char flag) {
    hits[blockIdx.x * blockDim.x + threadIdx.x] += 1 + flag;
}
"""


def test_a_2d_launch_matches_numpy_and_covers_partial_blocks(cp):
    rows, cols = 37, 70                      # neither a multiple of the block
    x = cp.asarray(np.random.default_rng(3).standard_normal((rows, cols)))
    y = cp.zeros((rows, cols))
    kernel = cp.RawModule(code=AXPY).get_function("axpy2d")
    block = (16, 8)
    grid = ((cols + block[0] - 1) // block[0], (rows + block[1] - 1) // block[1])
    kernel(grid, block, (x, y, 1.5, np.int64(rows), np.int32(cols)))
    i, j = np.indices((rows, cols))
    np.testing.assert_array_equal(y.get(), 1.5 * x.get() + i - 2.0 * j)
    # one block short along x: the last columns are not written (as on a GPU)
    y2 = cp.zeros((rows, cols))
    kernel((grid[0] - 1, grid[1]), block, (x, y2, 1.5, np.int64(rows), np.int32(cols)))
    assert float(abs(y2[:, 64:]).max()) == 0.0 and float(abs(y2[:, :64] - y[:, :64]).max()) == 0.0


def test_every_thread_runs_once_and_rawkernel_and_python_scalars(cp):
    hits = cp.zeros(3 * 128, dtype=cp.int64)
    count = cp.RawKernel(AXPY, "count")
    count((3,), (128,), (hits, np.uint8(1)))
    assert int(hits.min()) == 2 and int(hits.max()) == 2
    count((3,), (128,), (hits, 2))   # a Python int is passed as int64 and read in its first byte, as on a GPU
    assert int(hits.min()) == 5 and int(hits.max()) == 5


@pytest.mark.parametrize("grid, block, args, error, match", [
    ((1,), (1025,), "ok", CudaLaunchError, "block"),
    ((1,), (32, 33), "ok", CudaLaunchError, "more than 1024 threads"),
    ((0,), (32,), "ok", CudaLaunchError, "grid"),
    ((1.0,), (32,), "ok", TypeError, "grid must be a tuple"),
    ((1,), (32,), "short", CudaLaunchError, "takes 5 arguments"),
    ((1,), (32,), "int32 rows", CudaLaunchError, "argument 3 .* 4 bytes .* takes 8"),
    ((1,), (32,), "numpy x", TypeError, "NumPy array"),
    ((1,), (32,), "string", TypeError, "Unsupported type"),
])
def test_bad_launches_are_refused(cp, grid, block, args, error, match):
    x, y = cp.ones((2, 2)), cp.zeros((2, 2))
    full = {"ok": (x, y, 1.0, np.int64(2), np.int32(2)), "short": (x, y, 1.0, np.int64(2)),
            "int32 rows": (x, y, 1.0, np.int32(2), np.int32(2)), "numpy x": (np.ones((2, 2)), y, 1.0, np.int64(2),
                                                                          np.int32(2)),
            "string": (x, y, "1", np.int64(2), np.int32(2))}[args]
    kernel = cp.RawModule(code=AXPY).get_function("axpy2d")
    with pytest.raises(error, match=match):
        kernel(grid, block, full)
    assert float(abs(y).max()) == 0.0     # nothing ran


def test_sources_it_cannot_run_or_compile(cp):
    with pytest.raises(CudaCompileError, match="does not compile"):
        cp.RawModule(code="XX" + AXPY).get_function("axpy2d")
    with pytest.raises(RuntimeError, match="named symbol not found"):
        cp.RawModule(code=AXPY).get_function("axpy")
    for feature in ("__shared__ double s[32];", "atomicAdd(hits, 1);", "__syncthreads();"):
        code = 'extern "C" __global__ void k(long long* hits) { ' + feature + " }"
        with pytest.raises(CudaCodeUnsupported, match="needs a GPU"):
            cp.RawModule(code=code).get_function("k")
    with pytest.raises(CudaCodeUnsupported, match="without CUDA C source"):
        cp.RawModule(path="kernels.cubin").get_function("k")
    kernel = cp.RawModule(code=AXPY).get_function("count")
    with pytest.raises(CudaCodeUnsupported, match="dynamic shared memory"):
        kernel((1,), (1,), (cp.zeros(1, dtype=cp.int64), np.uint8(0)), shared_mem=64)


def test_defines_reach_the_compiler():
    code = 'extern "C" __global__ void k(double* out) { out[threadIdx.x] = SCALE; }'
    kernels = compile_kernels(code, ("-DSCALE=2.5",))
    out = np.zeros(4)
    kernels["k"].launch((1,), (4,), (out,), lambda a: isinstance(a, np.ndarray), lambda a: a)
    np.testing.assert_array_equal(out, 2.5)


def test_without_a_compiler_the_kernels_are_unsupported(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/g++ -O0")
    with pytest.raises(CudaCodeUnsupported, match="nonexistent/g.. not found; set CXX"):
        compile_kernels(AXPY + "// another source: not cached")
