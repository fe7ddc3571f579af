"""verify.casefile: TOML case files load to the same Problems as the built-ins, and every mistake is named."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from verify import gaussian as G
from verify.casefile import CaseFile, CaseFileError, StudySettings, load_case
from verify.problems import ExpressionField, get_problem

OU_2D = """
[problem]
kind = "fokker-planck"
lower = [-6.0, -6.0]
upper = [6.0, 6.0]
t_final = 1.0
diffusion = 0.5
levels = [16, 32, 64, 128, 256]

[problem.initial]
mean = [1.0, -0.5]
cov = [[0.5, 0.1], [0.1, 0.3]]

[problem.drift]
matrix = [[-1.0, -0.4], [-0.4, -0.7]]
offset = [0.2, -0.1]
"""

MMS_FP_2D = """
[problem]
name = "my-mms"
kind = "fokker-planck"
lower = [0.0, 0.0]
upper = [6.283185307179586, 6.283185307179586]
t_final = 0.5
diffusion = 0.3
boundary = "periodic"
levels = [16, 32, 64, 128]
steps_per_cell = 1.0

[problem.drift]
expressions = ["0.6*sin(y) + 0.3*cos(t)", "0.5*cos(x)"]

[problem.exact]
density = "1 + 0.5*sin(x - t)*cos(y)"
"""

SDE_2D = """
[problem]
kind = "sde"
lower = [-6.0, -6.0]
upper = [6.0, 6.0]
t_final = 1.0
diffusion = [[0.5, 0.1], [0.1, 0.3]]
levels = [2, 4, 8, 16]

[problem.initial]
mean = [1.0, -0.5]
cov = [[0.3, 0.05], [0.05, 0.2]]

[problem.drift]
matrix = [[-1.0, 0.6], [-0.4, -0.7]]
offset = [0.2, -0.1]

[study]
samples = 20000
replicates = 8
observables = ["mean", "covariance"]
expected_order = 1
seed = 3
"""

ODE_ROTATION = """
[problem]
kind = "ode"
lower = [-5.0, -5.0]
upper = [5.0, 5.0]
t_final = 1.0
levels = [8, 16, 32, 64]

[problem.initial]
mean = [0.5, 0.0]
cov = [[1.0, 0.0], [0.0, 1.0]]

[problem.drift]
expressions = ["-y", "x"]

[study]
refine = "time"
norm = "Linf"
particles = 200
"""

OU_1D = """
[problem]
name = "ou-1d"
kind = "fokker-planck"
lower = [-6.0]
upper = [6.0]
t_final = 1.0
diffusion = 0.5

[problem.initial]
mean = 1.0
cov = 0.5

[problem.drift]
matrix = -1.0
offset = 0.2
"""


def _write(tmp_path: Path, text: str, name: str = "case.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, f"test template lacks {old!r}"
    return text.replace(old, new, 1)


def _error(tmp_path: Path, text: str, *needles: str, name: str = "case.toml") -> str:
    """Load ``text`` expecting a CaseFileError whose message starts with the path and contains every needle."""
    path = _write(tmp_path, text, name)
    with pytest.raises(CaseFileError) as info:
        load_case(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------------------------- loading
def test_gaussian_ou_case_equals_the_builtin_ou_2d(tmp_path):
    case = load_case(_write(tmp_path, OU_2D, "my-ou.toml"))
    assert isinstance(case, CaseFile) and case.solver is None and case.study == StudySettings()
    p, ref = case.problem, get_problem("ou-2d")
    assert p.name == "my-ou"  # the file name without .toml
    assert (p.kind, p.lower, p.upper, p.t_final, p.diffusion, p.boundary, p.levels) == \
        (ref.kind, ref.lower, ref.upper, ref.t_final, ref.diffusion, ref.boundary, ref.levels)
    assert isinstance(p.drift, G.Affine) and p.gaussian
    for t in (0.0, 0.3, 1.0):
        a, b = p.exact_law(t), ref.exact_law(t)
        np.testing.assert_allclose(a.mean, b.mean, rtol=0, atol=1e-14)
        np.testing.assert_allclose(a.cov, b.cov, rtol=0, atol=1e-14)
    pts = np.random.default_rng(0).uniform(-6, 6, (7, 2))
    np.testing.assert_array_equal(p.drift(0.4, pts), ref.drift(0.4, pts))


def test_manufactured_fokker_planck_case_equals_the_builtin(tmp_path):
    p = load_case(_write(tmp_path, MMS_FP_2D)).problem
    ref = get_problem("mms-fokker-planck-2d")
    assert p.name == "my-mms" and p.manufactured is not None and p.initial is None
    assert (p.kind, p.boundary, p.levels, p.steps_per_cell, p.diffusion) == \
        (ref.kind, ref.boundary, ref.levels, ref.steps_per_cell, ref.diffusion)
    np.testing.assert_allclose(p.upper, ref.upper, rtol=0, atol=1e-15)
    assert p.time_dependent and not p.conserves_mass
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 2 * np.pi, (50, 2))
    for t in rng.uniform(0, 0.5, 5):
        np.testing.assert_allclose(p.source(t, x), ref.source(t, x), rtol=0, atol=1e-12)
        np.testing.assert_allclose(p.exact_density(t, x), ref.exact_density(t, x), rtol=0, atol=1e-14)
        np.testing.assert_allclose(p.drift(t, x), ref.drift(t, x), rtol=0, atol=1e-14)


def test_manufactured_case_with_a_matrix_diffusion(tmp_path):
    scalar = load_case(_write(tmp_path, MMS_FP_2D)).problem
    matrix = load_case(_write(tmp_path, _edit(MMS_FP_2D, "diffusion = 0.3", "diffusion = [[0.3, 0.0], [0.0, 0.3]]"),
                              "matrix.toml")).problem
    np.testing.assert_array_equal(matrix.diffusion, 0.3 * np.eye(2))
    x = np.random.default_rng(3).uniform(0, 2 * np.pi, (30, 2))
    np.testing.assert_allclose(matrix.source(0.2, x), scalar.source(0.2, x), rtol=0, atol=1e-13)


def test_sde_case_with_a_matrix_diffusion(tmp_path):
    case = load_case(_write(tmp_path, SDE_2D))
    p = case.problem
    D = np.array([[0.5, 0.1], [0.1, 0.3]])
    np.testing.assert_array_equal(p.diffusion, D)
    law = G.linear_sde(G.Gaussian([1.0, -0.5], [[0.3, 0.05], [0.05, 0.2]]),
                       G.Affine([[-1.0, 0.6], [-0.4, -0.7]], [0.2, -0.1]), D, 1.0)
    np.testing.assert_allclose(p.exact_law().cov, law.cov, rtol=0, atol=1e-14)
    np.testing.assert_allclose(p.exact_law().mean, get_problem("ou-sde-2d").exact_law().mean, atol=1e-14)
    assert case.study == StudySettings(samples=20000, replicates=8, observables=("mean", "covariance"),
                                       expected_order=1.0, seed=3)


def test_ode_case_with_an_expression_velocity(tmp_path):
    case = load_case(_write(tmp_path, ODE_ROTATION))
    p = case.problem
    assert isinstance(p.drift, ExpressionField) and p.kind == "ode" and p.diffusion == 0.0
    pts = np.array([[1.0, 2.0], [-0.5, 0.25]])
    np.testing.assert_array_equal(p.drift(0.0, pts), np.stack([-pts[:, 1], pts[:, 0]], axis=1))
    rot = np.array([[np.cos(1.0), -np.sin(1.0)], [np.sin(1.0), np.cos(1.0)]])
    np.testing.assert_allclose(p.exact_flow(pts), pts @ rot.T, atol=1e-9)
    assert case.study == StudySettings(refine="time", norm="Linf", particles=200)


def test_one_dimensional_case_with_bare_numbers(tmp_path):
    p = load_case(_write(tmp_path, OU_1D)).problem
    ref = get_problem("ou-1d")
    assert p.dim == 1 and p.name == "ou-1d"
    np.testing.assert_allclose(p.exact_law().mean, ref.exact_law().mean, rtol=0, atol=1e-14)
    np.testing.assert_allclose(p.exact_law().cov, ref.exact_law().cov, rtol=0, atol=1e-14)
    same = _edit(_edit(_edit(OU_1D, "mean = 1.0", "mean = [1.0]"), "cov = 0.5", "cov = [[0.5]]"),
                 "matrix = -1.0", "matrix = [[-1]]")
    q = load_case(_write(tmp_path, same, "list.toml")).problem
    np.testing.assert_array_equal(q.exact_law().cov, p.exact_law().cov)


def test_three_dimensional_manufactured_continuity(tmp_path):
    text = """
[problem]
kind = "continuity"
lower = [0, 0, 0]
upper = [1, 1, 1]
t_final = 0.25
boundary = "periodic"
[problem.drift]
expressions = ["1", "0.5", "0.25*cos(t)"]
[problem.exact]
density = "2 + sin(2*pi*(x - t))*cos(2*pi*y)*cos(2*pi*z)"
"""
    p = load_case(_write(tmp_path, text)).problem
    assert p.dim == 3 and p.manufactured is not None
    x = np.random.default_rng(2).uniform(0, 1, (20, 3))
    # ρ is transported by b = (1, 1/2, cos(t)/4): ∂ρ/∂t + b·∇ρ = 0 leaves S = b_y ∂ρ/∂y + b_z ∂ρ/∂z (div b = 0)
    k = 2 * np.pi
    s, cy, cz = np.sin(k * (x[:, 0] - 0.1)), np.cos(k * x[:, 1]), np.cos(k * x[:, 2])
    expected = -0.5 * k * s * np.sin(k * x[:, 1]) * cz - 0.25 * np.cos(0.1) * k * s * cy * np.sin(k * x[:, 2])
    np.testing.assert_allclose(p.source(0.1, x), expected, atol=1e-12)


def test_full_study_and_solver_tables(tmp_path):
    text = OU_2D + """
[study]
refine = "space"
norm = "L2"
levels = [16, 32, 64]
steps = 64
cells = 32
expected_order = 2
band = [0.2, inf]
mass_tol = 1e-8
seed = 0

[solver]
name = "mymod.sub:solve"
"""
    case = load_case(str(_write(tmp_path, text)))
    assert case.solver == "mymod.sub:solve"
    assert case.study == StudySettings(refine="space", norm="L2", levels=(16, 32, 64), steps=64, cells=32,
                                       expected_order=2.0, band=(0.2, float("inf")), mass_tol=1e-8, seed=0)
    off = load_case(_write(tmp_path, OU_2D + "[study]\nmass_tol = false\nband = 0.3\n", "off.toml")).study
    assert off.mass_tol is None and off.band == 0.3
    assert load_case(_write(tmp_path, OU_2D, "default.toml")).study.mass_tol is True


# --------------------------------------------------------------------------------------------- reading errors
def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "my.toml"
    with pytest.raises(CaseFileError, match=r"my\.toml: cannot read the file: .*check the path"):
        load_case(missing)
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    with pytest.raises(CaseFileError, match=r"dir\.toml: cannot read the file: it is a directory"):
        load_case(folder)
    with pytest.raises(TypeError):
        load_case(3)  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = _write(tmp_path, OU_2D)
    path.chmod(0)
    try:
        with pytest.raises(CaseFileError, match="cannot read the file"):
            load_case(path)
    finally:
        path.chmod(0o600)


def test_not_utf8(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"[problem]\nname = \"\xff\"\n")
    with pytest.raises(CaseFileError, match="cannot read the file: it is not UTF-8 text.*save it as UTF-8"):
        load_case(path)


def test_toml_syntax_errors_give_line_and_column(tmp_path):
    text = _edit(OU_2D, "t_final = 1.0", "t_final = 1.0.0")
    msg = _error(tmp_path, text, "TOML syntax error at line 6, column", "t_final = 1.0.0", "(fix the line and rerun)",
                 name="bad.toml")
    assert msg.startswith(str(tmp_path / "bad.toml"))
    _error(tmp_path, "[problem]\nkind = ", "TOML syntax error at the end of the file", "fix the line")
    _error(tmp_path, OU_2D + "\n[problem]\n", "TOML syntax error at line", "twice")


def test_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff".encode() + OU_2D.encode())
    assert load_case(path).problem.name == "bom"


# --------------------------------------------------------------------------------------------- unknown keys, tables
def test_unknown_key_with_a_suggestion(tmp_path):
    text = _edit(OU_2D, "diffusion = 0.5", "diffusoin = 0.5")
    _error(tmp_path, text, "[problem] unknown key 'diffusoin'", "did you mean 'diffusion'?", "allowed keys: name, kind")
    _error(tmp_path, _edit(OU_2D, "offset =", "ofset ="), "[problem.drift] unknown key 'ofset'", "'offset'")
    _error(tmp_path, _edit(OU_2D, "cov =", "covariance ="), "[problem.initial] unknown key 'covariance'", "'cov'")


def test_key_in_the_wrong_table_says_where_it_belongs(tmp_path):
    _error(tmp_path, _edit(OU_2D, "t_final = 1.0", "t_final = 1.0\nrefine = \"space\""),
           "[problem] unknown key 'refine'", "belongs in [study]")
    _error(tmp_path, "kind = \"sde\"\n" + OU_2D, "(top level) unknown key 'kind'", "belongs in [problem]")
    _error(tmp_path, "foo = 1\n" + OU_2D, "unknown key 'foo'", "below a table header")


def test_unknown_tables(tmp_path):
    _error(tmp_path, _edit(OU_2D, "[problem.initial]", "[problem.intial]"), "[problem.intial] is an unknown table",
           "did you mean [problem.initial]?", "[problem.drift]")
    _error(tmp_path, OU_2D + "[studdy]\nnorm = \"L1\"\n", "[studdy] is an unknown table", "did you mean [study]?",
           "[problem], [study], [solver]")
    _error(tmp_path, OU_2D.replace("[problem.drift]", "[problem.drift.extra]\n[problem.drift]"),
           "[problem.drift.extra] is an unknown table", "none")


def test_tables_given_as_values(tmp_path):
    _error(tmp_path, 'solver = "mymod:solve"\n' + OU_2D, "solver must be a table", "[solver]")
    text = _edit(OU_2D.split("[problem.drift]")[0], "t_final = 1.0", "t_final = 1.0\ndrift = [[1.0, 0.0], [0.0, 1.0]]")
    _error(tmp_path, text, "[problem] drift must be a table", "[problem.drift]")


# --------------------------------------------------------------------------------------------- missing keys
@pytest.mark.parametrize("line, key", [('kind = "fokker-planck"', "kind"), ("lower = [-6.0, -6.0]", "lower"),
                                       ("upper = [6.0, 6.0]", "upper"), ("t_final = 1.0", "t_final"),
                                       ("diffusion = 0.5", "diffusion")])
def test_missing_required_keys(tmp_path, line, key):
    _error(tmp_path, _edit(OU_2D, line + "\n", ""), f"[problem] missing key '{key}'", "add" if key != "diffusion"
           else "needs diffusion > 0")


def test_missing_tables(tmp_path):
    _error(tmp_path, "[study]\nseed = 1\n", "missing table [problem]", "kind, lower, upper")
    no_drift = OU_2D.split("[problem.drift]")[0]
    _error(tmp_path, no_drift, "missing table [problem.drift]", "matrix", "expressions")
    no_initial = _edit(OU_2D, "[problem.initial]\nmean = [1.0, -0.5]\ncov = [[0.5, 0.1], [0.1, 0.3]]\n", "")
    _error(tmp_path, no_initial, "missing table [problem.initial] or [problem.exact]", "exact reference")
    _error(tmp_path, _edit(SDE_2D, "[problem.initial]\nmean = [1.0, -0.5]\ncov = [[0.3, 0.05], [0.05, 0.2]]\n", ""),
           "missing table [problem.initial]", "a sde problem samples")
    _error(tmp_path, _edit(OU_2D, "cov = [[0.5, 0.1], [0.1, 0.3]]\n", ""), "[problem.initial] missing key 'cov'")
    _error(tmp_path, _edit(MMS_FP_2D, 'density = "1 + 0.5*sin(x - t)*cos(y)"\n', ""),
           "[problem.exact] missing key 'density'")


# --------------------------------------------------------------------------------------------- wrong values
@pytest.mark.parametrize("old, new, needles", [
    ("t_final = 1.0", "t_final = true", ("[problem] t_final must be a number", "a boolean (true)")),
    ("t_final = 1.0", 't_final = "1.0"', ("t_final must be a number", "write it without quotes")),
    ("t_final = 1.0", "t_final = nan", ("t_final must be a finite number", "nan and inf are not allowed")),
    ("t_final = 1.0", "t_final = -1.0", ("t_final must be > 0",)),
    ("t_final = 1.0", "t_final = 1979-05-27", ("t_final must be a number", "a date/time")),
    ("diffusion = 0.5", 'diffusion = "1+2j"', ("diffusion must be a number", "complex numbers are not supported")),
    ("diffusion = 0.5", "diffusion = -0.5", ("diffusion must be ≥ 0",)),
    ("lower = [-6.0, -6.0]", "lower = [-inf, -6.0]", ("lower[0] must be a finite number",)),
    ("lower = [-6.0, -6.0]", "lower = -6.0", ("lower must be an array of 1 to 3 numbers", "lower = [-6.0]")),
    ("lower = [-6.0, -6.0]", "lower = [-6.0, -6.0, -6.0, -6.0]", ("lower must be an array of 1 to 3", "4 entries")),
    ("upper = [6.0, 6.0]", "upper = [6.0, 6.0, 6.0]", ("upper must be an array of 2 numbers like lower",)),
    ("upper = [6.0, 6.0]", "upper = [6.0, -7.0]", ("the box is empty on axis 1", "must be > lower[1]")),
    ("levels = [16, 32, 64, 128, 256]", "levels = [16, 32.5, 64]", ("levels[1] must be a whole number",)),
    ("levels = [16, 32, 64, 128, 256]", "levels = [16, 32.0, 64]", ("levels[1] must be a whole number", "write 32")),
    ("levels = [16, 32, 64, 128, 256]", "levels = [16, 32]", ("levels has 2 entries", "at least 3")),
    ("levels = [16, 32, 64, 128, 256]", "levels = [16, 32, 32]", ("levels must be distinct",)),
    ("levels = [16, 32, 64, 128, 256]", "levels = [0, 32, 64]", ("levels[0] must be a whole number ≥ 1",)),
    ("levels = [16, 32, 64, 128, 256]", 'levels = "16,32,64"', ("levels must be an array of whole numbers",)),
    ('kind = "fokker-planck"', 'kind = "fokker_planck"', ("kind = 'fokker_planck' is not allowed",
                                                          "did you mean 'fokker-planck'?", "continuity, sde, ode")),
    ('kind = "fokker-planck"', "kind = 1", ("kind must be a string in quotes",)),
    ("diffusion = 0.5", 'diffusion = 0.5\nboundary = "periodc"', ("did you mean 'periodic'?",)),
    ("diffusion = 0.5", "diffusion = 0.5\nsteps_per_cell = 0", ("steps_per_cell must be > 0",)),
    ("diffusion = 0.5", 'diffusion = 0.5\nname = ""', ("name must not be empty",)),
])
def test_wrong_problem_values(tmp_path, old, new, needles):
    _error(tmp_path, _edit(OU_2D, old, new), *needles)


@pytest.mark.parametrize("old, new, needles", [
    ("matrix = [[-1.0, -0.4], [-0.4, -0.7]]", "matrix = [[-1.0, -0.4], [-0.4]]",
     ("[problem.drift] matrix row 1 has 1 entries", "square, not ragged")),
    ("matrix = [[-1.0, -0.4], [-0.4, -0.7]]", "matrix = [[-1.0, -0.4], [-0.4, -0.7], [0.0, 0.0]]",
     ("matrix has 3 rows but the problem is 2-D", "2×2")),
    ("matrix = [[-1.0, -0.4], [-0.4, -0.7]]", "matrix = [-1.0, -0.4, -0.4, -0.7]",
     ("matrix must be a 2×2 matrix written as 2 rows", "got a flat array")),
    ("matrix = [[-1.0, -0.4], [-0.4, -0.7]]", "matrix = [[-1.0, false], [-0.4, -0.7]]",
     ("matrix[0][1] must be a number", "a boolean (false)")),
    ("matrix = [[-1.0, -0.4], [-0.4, -0.7]]", 'matrix = [[-1.0, "2j"], [-0.4, -0.7]]',
     ("matrix[0][1] must be a number", "complex numbers are not supported")),
    ("offset = [0.2, -0.1]", "offset = [0.2]", ("[problem.drift] offset has 1 entries but the problem is 2-D",)),
    ("mean = [1.0, -0.5]", "mean = [1.0, -0.5, 0.0]", ("[problem.initial] mean has 3 entries",)),
    ("cov = [[0.5, 0.1], [0.1, 0.3]]", "cov = [[0.5, 0.2], [0.1, 0.3]]",
     ("[problem.initial] cov must be symmetric", "cov[0][1] = 0.2", "write the same number in both")),
    ("cov = [[0.5, 0.1], [0.1, 0.3]]", "cov = [[0.5, 0.9], [0.9, 0.3]]",
     ("[problem.initial] cov must be positive definite", "every eigenvalue > 0")),
    ("diffusion = 0.5", "diffusion = [[0.5, 0.1], [0.2, 0.3]]", ("[problem] diffusion must be symmetric",)),
    ("diffusion = 0.5", "diffusion = [[0.5, 0.1, 0.0], [0.1, 0.3, 0.0]]", ("diffusion row 0 has 3 entries",)),
    ("diffusion = 0.5", "diffusion = [[0.1, 0.5], [0.5, 0.1]]", ("[problem] diffusion", "positive semi-definite")),
])
def test_wrong_arrays_and_matrices(tmp_path, old, new, needles):
    _error(tmp_path, _edit(OU_2D, old, new), *needles)


def test_problem_constructor_errors_are_wrapped(tmp_path):
    cont = _edit(_edit(OU_2D, 'kind = "fokker-planck"', 'kind = "continuity"'), "diffusion = 0.5\n", "")
    assert load_case(_write(tmp_path, cont, "ok.toml")).problem.kind == "continuity"
    _error(tmp_path, _edit(cont, "t_final = 1.0", "t_final = 1.0\ndiffusion = 0.5"),
           "[problem] a continuity problem has no diffusion", "fokker-planck")
    _error(tmp_path, _edit(OU_2D, "diffusion = 0.5", 'diffusion = 0.5\nboundary = "periodic"'),
           "[problem] the Gaussian reference lives on the whole space", "zero-flux")
    _error(tmp_path, _edit(OU_2D, "diffusion = 0.5", "diffusion = 0.0"), "[problem] a Fokker–Planck problem needs "
           "diffusion D > 0", "continuity")


# --------------------------------------------------------------------------------------------- expressions
@pytest.mark.parametrize("formula, needles", [
    ("__import__('os').system('echo hi')", ("not allowed in expressions: attribute access ('.system')",)),
    ("__import__('os')", ("underscore/dunder name '__import__'",)),
    ("x.__class__", ("attribute access",)),
    ("open('f')", ("string literal",)),
    ("open(x)", ("function 'open' is not allowed",)),
    ("w + x", ("unknown name 'w'", "allowed variables: t, x, y")),
    ("z", ("unknown name 'z'",)),
    ("x +", ("not a valid expression",)),
    ("lambda: 1", ("not allowed in expressions",)),
    ("1/0", ("undefined",)),
])
def test_unsafe_or_invalid_expressions(tmp_path, formula, needles):
    text = _edit(MMS_FP_2D, '"0.6*sin(y) + 0.3*cos(t)"', '"' + formula + '"')  # a TOML basic string
    _error(tmp_path, text, "[problem.drift] expressions[0]: ", *needles, "a formula may use numbers")


def test_an_expression_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    text = _edit(MMS_FP_2D, '"0.5*cos(x)"', f"\"__import__('os').system('touch {marker}')\"")
    _error(tmp_path, text, "[problem.drift] expressions[1]: ", "not allowed in expressions")
    density = _edit(MMS_FP_2D, '"1 + 0.5*sin(x - t)*cos(y)"', f"\"exec('open(\\\"{marker}\\\", \\\"w\\\")')\"")
    _error(tmp_path, density, "[problem.exact] density: ", "string literal")
    assert not marker.exists()


def test_expression_lists(tmp_path):
    _error(tmp_path, _edit(MMS_FP_2D, '"0.5*cos(x)"', '"0.5*cos(x)", "1"'),
           "[problem.drift] expressions has 3 entries but the problem is 2-D", "give 2 formulas")
    _error(tmp_path, _edit(MMS_FP_2D, '"0.5*cos(x)"', "0.5"), "expressions[1] must be a formula in quotes")
    _error(tmp_path, _edit(MMS_FP_2D, 'expressions = ["0.6*sin(y) + 0.3*cos(t)", "0.5*cos(x)"]', 'expressions = "x"'),
           "expressions must be an array of 2 formulas")


# --------------------------------------------------------------------------------------------- drift / reference
def test_drift_matrix_and_expressions_together_or_neither(tmp_path):
    _error(tmp_path, _edit(OU_2D, "offset = [0.2, -0.1]", 'offset = [0.2, -0.1]\nexpressions = ["-x", "-y"]'),
           "[problem.drift] gives both matrix and expressions", "keep one")
    _error(tmp_path, _edit(OU_2D, "matrix = [[-1.0, -0.4], [-0.4, -0.7]]\n", ""),
           "[problem.drift] offset alone is not a drift", "add matrix")
    _error(tmp_path, _edit(OU_2D, "matrix = [[-1.0, -0.4], [-0.4, -0.7]]\noffset = [0.2, -0.1]\n", ""),
           "[problem.drift] is empty", "expressions")
    _error(tmp_path, _edit(MMS_FP_2D, "[problem.exact]", "offset = [0.0, 1.0]\n[problem.exact]"),
           "offset goes with matrix", "add the constant to each expression")


def test_exact_density_conflicts(tmp_path):
    both = MMS_FP_2D + "[problem.initial]\nmean = [1.0, 1.0]\ncov = [[1.0, 0.0], [0.0, 1.0]]\n"
    _error(tmp_path, both, "[problem.exact] and [problem.initial] are both given", "remove one")
    matrix = _edit(MMS_FP_2D, 'expressions = ["0.6*sin(y) + 0.3*cos(t)", "0.5*cos(x)"]',
                   "matrix = [[-1.0, 0.0], [0.0, -1.0]]")
    _error(tmp_path, matrix, "[problem.exact] needs drift expressions", "write the drift as expressions")
    sde = _edit(_edit(MMS_FP_2D, 'kind = "fokker-planck"', 'kind = "sde"'), 'boundary = "periodic"\n', "")
    _error(tmp_path, sde, "[problem.exact] a manufactured density needs a grid problem", "[problem.initial]")


def test_references_that_do_not_exist(tmp_path):
    sde = _edit(SDE_2D, "matrix = [[-1.0, 0.6], [-0.4, -0.7]]\noffset = [0.2, -0.1]", 'expressions = ["-x", "-y"]')
    _error(tmp_path, sde, "[problem.drift] an sde problem needs a matrix drift")
    fp = _edit(OU_2D, "matrix = [[-1.0, -0.4], [-0.4, -0.7]]\noffset = [0.2, -0.1]", 'expressions = ["-x", "-y"]')
    _error(tmp_path, fp, "[problem.drift] expressions on a fokker-planck problem need [problem.exact]",
           "use a matrix drift")


# --------------------------------------------------------------------------------------------- [study], [solver]
@pytest.mark.parametrize("lines, needles", [
    ('refine = "spacetime"', ("[study] refine = 'spacetime' is not allowed", "did you mean 'space-time'?",
                              "space-time, space, time")),
    ('norm = "l2"', ("norm = 'l2' is not allowed", "did you mean 'L2'?", "L1, L2, Linf")),
    ("band = -0.1", ("[study] band must be ≥ 0",)),
    ("band = 0", ("band = 0 accepts nothing",)),
    ("band = [0.1]", ("band as an array must be [below, above]",)),
    ("band = [-0.1, 0.2]", ("band[0] must be ≥ 0",)),
    ("band = [0.1, nan]", ("band[1] must be a finite number",)),
    ("band = [inf, inf]", ("at least one side must be finite",)),
    ('expected_order = "two"', ("expected_order must be a number", "write a number without quotes")),
    ("expected_order = true", ("expected_order must be a number", "a boolean")),
    ("expected_order = 0", ("expected_order must be > 0",)),
    ("mass_tol = true", ("mass_tol = true is not a tolerance", "false")),
    ("mass_tol = -1e-6", ("mass_tol must be > 0",)),
    ("levels = [16, 32]", ("[study] levels has 2 entries", "at least 3")),
    ('refine = "time"\nlevels = [16, 32, 64]', ("levels has 3 entries", "at least 4")),
    ("steps = 0", ("steps must be a whole number ≥ 1",)),
    ("cells = 64.0", ("cells must be a whole number", "write 64")),
    ("seed = -1", ("seed must be a whole number ≥ 0",)),
    ("samples = 1000", ("samples does not apply to a fokker-planck problem", "sde", "remove it")),
    ("particles = 10", ("particles does not apply to a fokker-planck problem",)),
    ("refnie = \"space\"", ("[study] unknown key 'refnie'", "did you mean 'refine'?")),
])
def test_wrong_study_values(tmp_path, lines, needles):
    _error(tmp_path, OU_2D + "[study]\n" + lines + "\n", *needles)


def test_study_values_that_need_another_kind(tmp_path):
    _error(tmp_path, _edit(ODE_ROTATION, 'refine = "time"', 'refine = "space"'), "an ode problem is refined in time")
    _error(tmp_path, SDE_2D + 'norm = "L2"\n', "[study] norm does not apply to a sde problem")
    _error(tmp_path, SDE_2D + "mass_tol = 1e-3\n", "mass_tol does not apply to a sde problem")
    _error(tmp_path, _edit(SDE_2D, '"covariance"', '"variance", "skew"'), "observables[2] = 'skew' is not allowed")
    _error(tmp_path, _edit(SDE_2D, 'observables = ["mean", "covariance"]', "observables = []"),
           "observables must be a non-empty array")
    _error(tmp_path, _edit(SDE_2D, "replicates = 8", "replicates = 1"), "replicates must be a whole number ≥ 2")


def test_solver_table(tmp_path):
    _error(tmp_path, OU_2D + '[solver]\nname = "mymod.solve"\n', "[solver] name = 'mymod.solve' is not "
           "module:function", 'name = "mymod:solve"')
    _error(tmp_path, OU_2D + "[solver]\nname = 1\n", "[solver] name must be a string")
    _error(tmp_path, OU_2D + '[solver]\nfunction = "mymod:solve"\n', "[solver] unknown key 'function'",
           "allowed keys: name")
    assert load_case(_write(tmp_path, OU_2D + "[solver]\n", "empty.toml")).solver is None
