"""The report hole found by the fresh mutation sample at e8184a3 (seed 20261231), closed by a catalog value that
now catches its mutant, built in memory (tests/verify/mutants.py):

* ``check_diffusion``'s symmetry test without its absolute tolerance relative to the matrix
  (eulerian.diffusion.x_check_diffusion__mutmut_127): NumPy's default atol = 1e-8 then takes any matrix whose
  entries are below 1e-8 as symmetric, and every non-symmetric matrix of the catalog had entries of order 1 ->
  the 2-D open-wall Fokker-Planck solve refuses [[5e-10, 1e-10], [0, 4e-10]].
"""

import eulerian
from tests.verify.mutants import catalog_catches


def test_a_small_non_symmetric_diffusion_matrix_is_refused(monkeypatch):
    import eulerian.fokker_planck as fpk

    def make(mod):
        monkeypatch.setattr(fpk, "check_diffusion", mod.check_diffusion)
        return eulerian.solve_fokker_planck

    assert catalog_catches(monkeypatch, "eulerian.solve_fokker_planck, open walls in 2-D", "diffusion",
                           "eulerian.diffusion", "rtol=1e-12, atol=1e-14 * np.abs(arr).max()):", "rtol=1e-12, ):",
                           make)
