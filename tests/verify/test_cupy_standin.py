"""The CPU stand-in of CuPy: strict where CuPy is strict, NumPy's numbers otherwise, and it leaves no trace."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse

from verify.cupy_standin import DEFAULT_DEVICE_MEMORY, CudaCodeUnsupported, cupy_or_standin, cupy_standin, is_standin


def test_installs_and_restores_the_modules():
    before = {name: sys.modules.get(name) for name in ("cupy", "cupyx", "cupyx.scipy.sparse")}
    with cupy_standin() as cp:
        assert sys.modules["cupy"] is cp and is_standin(cp)
        import cupyx.scipy.sparse.linalg as splinalg

        assert is_standin(splinalg)
        with pytest.raises(RuntimeError, match="already installed"):
            with cupy_standin():
                pass
    assert {name: sys.modules.get(name) for name in before} == before


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_device_memory_is_validated(bad, error):
    with pytest.raises(error, match="device_memory"):
        with cupy_standin(bad):
            pass


def test_arrays_compute_as_numpy_and_stay_on_the_device(cp):
    a = np.arange(12.0).reshape(3, 4)
    x = cp.asarray(a)
    assert type(x).__module__ == "cupy" and isinstance(x, cp.ndarray)
    y = cp.exp(x) * 2.0 - x.T.T
    assert isinstance(y, cp.ndarray) and np.array_equal(y.get(), np.exp(a) * 2.0 - a)
    s = x.sum()   # reductions and element access give 0-d device arrays, as in CuPy
    assert isinstance(s, cp.ndarray) and s.ndim == 0 and float(s) == a.sum()
    assert isinstance(x[1, 2], cp.ndarray) and x[1, 2].ndim == 0
    assert cp.asarray(x) is x and cp.asnumpy(x).base is None
    x[0] = np.array([9.0, 9.0, 9.0, 9.0])   # host values may be assigned to a slice
    assert float(x[0, 0]) == 9.0
    assert cp.get_array_module(x) is cp and cp.get_array_module(a) is np
    assert f"{x[0, 0]:.2f}" == "9.00"


def test_implicit_host_conversion_and_numpy_operands_are_refused(cp):
    x = cp.asarray(np.ones(3))
    for convert in (np.asarray, np.array, lambda v: np.asarray(v, dtype=float)):
        with pytest.raises(TypeError, match="Implicit conversion"):
            convert(x)
    for mixed in (lambda: x + np.ones(3), lambda: np.ones(3) + x):
        with pytest.raises(TypeError, match="NumPy array"):
            mixed()
    with pytest.raises(TypeError, match="NumPy array"):
        cp.concatenate([x, np.ones(3)])
    with pytest.raises(TypeError):
        range(x.sum())   # no __index__ on CuPy arrays


def test_only_cupys_names_and_parameters_exist(cp):
    with pytest.raises(AttributeError, match="errstate"):
        cp.errstate
    with pytest.raises(TypeError, match="where"):
        cp.exp(cp.ones(2), where=cp.ones(2) > 0)
    with pytest.raises(TypeError, match="workers"):
        import cupyx.scipy.fft

        cupyx.scipy.fft.dct(cp.ones(4), workers=2)
    with pytest.raises(AttributeError, match="tofile|byteswap|nothing"):
        cp.ones(2).nothing


def test_sparse_matrices_and_their_solvers_take_device_arrays_only(cp):
    import cupyx.scipy.sparse as sparse
    import cupyx.scipy.sparse.linalg as splinalg

    A = sparse.csr_matrix(scipy.sparse.diags([[-1.0] * 3, [3.0] * 4, [-1.0] * 3], [-1, 0, 1]).tocsr())
    b = cp.asarray(np.arange(4.0))
    x = splinalg.splu(A.tocsc()).solve(b)
    assert isinstance(x, cp.ndarray) and np.allclose((A @ x).get(), b.get())
    assert np.allclose(splinalg.spsolve(A, b).get(), x.get())
    assert isinstance(A.data, cp.ndarray) and abs(-A).nnz == A.nnz
    with pytest.raises(TypeError, match="cupy.ndarray"):
        splinalg.splu(A.tocsc()).solve(np.arange(4.0))
    with pytest.raises(TypeError, match="NumPy array"):
        A @ np.arange(4.0)
    with pytest.raises(ValueError, match="float32, float64"):
        sparse.csr_matrix(scipy.sparse.identity(3, dtype=np.int64, format="csr"))


def test_device_queries_random_numbers_and_cuda_code(cp):
    assert cp.cuda.is_available() and cp.cuda.Device().mem_info == (DEFAULT_DEVICE_MEMORY,) * 2
    assert cp.cuda.runtime.memGetInfo()[1] == DEFAULT_DEVICE_MEMORY
    z = cp.random.default_rng(4).standard_normal(size=(5, 2))
    assert isinstance(z, cp.ndarray) and z.shape == (5, 2)
    with pytest.raises(CudaCodeUnsupported, match="needs a GPU"):   # threads that cooperate
        cp.RawModule(code="extern \"C\" __global__ void k() { __syncthreads(); }").get_function("k")


def test_cupy_or_standin_falls_back_to_the_standin_without_a_gpu():
    if "cupy" in sys.modules and not is_standin(sys.modules["cupy"]):
        pytest.skip("a real CuPy is imported in this process")
    with cupy_or_standin(2**26) as (cp, on_gpu):
        if on_gpu:
            pytest.skip("a usable GPU: the real CuPy is used")
        assert is_standin(cp) and cp.cuda.Device().mem_info[1] == 2**26
    with pytest.raises(ValueError, match="device_memory"):
        with cupy_or_standin(0):
            pass
