import numpy as np
import pytest

from eulerian import BackendUnavailable, Grid, cupy_available, get_backend, solve_continuity, solve_fokker_planck


def test_numpy_backend():
    be = get_backend("numpy")
    assert be.name == "numpy" and be.xp is np
    a = be.asarray([1, 2, 3])
    assert a.dtype == np.float64
    assert isinstance(be.to_numpy(a), np.ndarray)
    assert get_backend(be) is be
    assert get_backend("NumPy").name == "numpy"


def test_unknown_backend_lists_valid_names():
    with pytest.raises(ValueError, match="numpy.*cupy"):
        get_backend("torch")
    with pytest.raises(TypeError):
        get_backend(3)


@pytest.mark.skipif(cupy_available(), reason="a GPU is usable here")
def test_cupy_without_gpu_is_a_clear_error():
    with pytest.raises(BackendUnavailable, match="GPU"):
        get_backend("cupy")
    g = Grid((0,), (1,), (8,))
    rho = np.ones(8)
    with pytest.raises(BackendUnavailable):
        solve_fokker_planck(g, rho, lambda t, x: 0 * x, 0.1, 0.1, 2, backend="cupy")
    with pytest.raises(BackendUnavailable):
        solve_continuity(g, rho, lambda t, x: 0 * x + 1, 0.1, backend="cupy")


@pytest.mark.gpu
def test_cupy_backend_roundtrip(cupy):
    be = get_backend("cupy")
    a = be.asarray(np.arange(4.0))
    assert isinstance(a, cupy.ndarray)
    np.testing.assert_array_equal(be.to_numpy(a), np.arange(4.0))
