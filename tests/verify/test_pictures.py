"""Density pictures and convergence plots of the report: what a case records, and what is drawn."""
import json

import numpy as np
import pytest

from eulerian import Grid
from verify.adapters import FokkerPlanckSolver
from verify.cases._pictures import density_picture
from verify.convergence import accepted_band, convergence_study
from verify.harness import IMAGE_PIXELS, CaseContext, Slopes, _block_mean
from verify.report import case_svgs


def test_block_mean_averages_blocks_and_keeps_the_mean():
    a = np.arange(96 * 64, dtype=float).reshape(96, 64)
    small = _block_mean(a, 48)
    assert small.shape == (48, 48)
    assert np.allclose(small[:, :], _block_mean(a.reshape(48, 2, 64).mean(axis=1), 48))   # 2-row blocks on axis 0
    assert small.mean() == pytest.approx(a.mean())
    b = np.random.default_rng(0).random((50, 30))     # near-equal blocks when 48 does not divide 50
    assert _block_mean(b, 48).shape == (48, 30) and _block_mean(b, 48).mean() == pytest.approx(b.mean(), rel=0.05)


def test_image_is_recorded_small_and_rounded():
    ctx = CaseContext("t")
    rho = np.random.default_rng(1).random((128, 96))
    ctx.image("pic", {"grid": rho, "exact": rho + 1e-3}, extent=(0, 1, -1, 1), difference=("grid", "exact"))
    d = ctx.images[0].to_dict()
    values = np.array(d["panels"][0]["values"])
    assert values.shape == (IMAGE_PIXELS, IMAGE_PIXELS)
    assert np.allclose(values, _block_mean(rho, IMAGE_PIXELS), rtol=5e-4, atol=0)   # four significant digits
    assert d["difference"] == ["grid", "exact"] and d["extent"] == [0.0, 1.0, -1.0, 1.0]
    json.dumps(d)


@pytest.mark.parametrize("kw, match", [
    ({"panels": {"grid": np.ones((4, 4)), "exact": np.ones((4, 5))}}, "one shape"),
    ({"panels": {"grid": np.ones(4)}}, "2D arrays"),
    ({"panels": {"grid": np.ones((4, 4))}, "difference": ("grid", "exact")}, "names a panel"),
    ({"panels": {"grid": np.ones((4, 4))}, "extent": (0, 1, 0, np.nan)}, "extent"),
])
def test_image_rejects_bad_input(kw, match):
    kw = {"extent": (0, 1, 0, 1), **kw}
    with pytest.raises(ValueError, match=match):
        CaseContext("t").image("pic", **kw)


def test_slopes_reject_nan_and_series_want_a_slopes():
    with pytest.raises(ValueError, match="Slopes"):
        Slopes(float("nan"), (1.0, 2.0), 2.0, (1.8, 2.2))
    with pytest.raises(TypeError, match="slopes must be a Slopes"):
        CaseContext("t").series("s", [1, 2], [1, 2], xlabel="h", ylabel="e", slopes={"fitted": 2})


def test_study_slopes_are_the_verdict_band():
    study = convergence_study(FokkerPlanckSolver(), "heat-2d", (16, 32, 64))
    slopes = study.slopes(2.0, (0.2, float("inf")))
    assert slopes.fitted == study.fit.order and slopes.interval == study.fit.interval()
    assert slopes.claimed == 2.0 and slopes.accepted == accepted_band(2.0, (0.2, float("inf"))) == (1.8, float("inf"))


def test_convergence_plot_states_fitted_claimed_and_accepted_slopes():
    h = np.array([0.4, 0.2, 0.1, 0.05])
    ctx = CaseContext("t")
    ctx.series("err", h, 3 * h**2, xlabel="h", ylabel="L1 error", logx=True, logy=True, label="scheme",
               slopes=Slopes(2.0, (1.97, 2.03), 2.0, (1.85, 2.15)))
    svg, = case_svgs({"series": [s.to_dict() for s in ctx.series_list], "images": []})
    assert "scheme: slope 2.00 [1.97, 2.03], claimed 2 [1.85, 2.15]" in svg
    assert "shaded: accepted slopes" in svg


def test_density_picture_deposits_particles_and_draws_every_panel():
    grid = Grid((-3.0, -2.0), (3.0, 2.0), (30, 20))
    x = grid.centers()
    rho = np.exp(-0.5 * np.sum(x**2, axis=-1))
    rho /= grid.mass(rho)
    particles = np.random.default_rng(2).standard_normal((20_000, 2)) * 0.7
    ctx = CaseContext("t")
    density_picture(ctx, "pic", grid, rho, particles=particles, exact=rho)
    image = ctx.images[0].to_dict()
    panels = {p["label"]: np.array(p["values"]) for p in image["panels"]}
    assert list(panels) == ["grid", "particles", "exact"] and image["difference"] == ["grid", "exact"]
    assert panels["particles"].sum() * grid.cell_volume == pytest.approx(1.0, abs=1e-3)
    assert image["extent"] == [-3.0, 3.0, -2.0, 2.0]
    svg, = case_svgs({"series": [], "images": [image]})
    assert svg.count("<image") == 6   # three panels on one scale, the difference, and their two colour bars
    assert "grid − exact" in svg
    with pytest.raises(ValueError, match="2D grids"):
        density_picture(ctx, "pic", Grid((0.0,), (1.0,), (8,)), np.ones(8))
