"""The command line: one-line errors with exit status 2, the spec built from flags, and two small end-to-end fits.

The end-to-end fits are small (one chain of 300 draws) and check the JSON's structure and facts that hold in
closed form, with tolerances from the run's own effective sample size:

* eight schools (BDA3 section 5.5) under complete and no pooling are conjugate normal models, so each
  posterior is normal with precision ``1/s0^2 + sum 1/se_j^2`` (complete) or ``1/s0^2 + 1/se_j^2`` (school j
  alone), ``normal(m0, s0)`` being the intercept prior the run reports; the MAP is that posterior's mean;
* in the gaussian complete-pooling regression on sleepstudy, the joint mode satisfies the two conditional-mode
  equations: ``beta = (X'X/sigma^2 + S^-1)^-1 (X'y/sigma^2 + S^-1 m)`` and, for a halfnormal(s) prior on sigma,
  ``sigma^2 = s^2 (-n + sqrt(n^2 + 4 RSS/s^2)) / 2``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hiermodels.cli import build_parser, main, spec_from_args, spec_to_dict
from hiermodels.errors import SpecError
from hiermodels.model.spec import Prior, SamplerSettings

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"
RADON = str(SAMPLE_DATA / "radon.csv")
EIGHT_SCHOOLS = str(SAMPLE_DATA / "eight_schools.csv")
SLEEPSTUDY = str(SAMPLE_DATA / "sleepstudy.csv")
RADON_FLAGS = [RADON, "--outcome", "log_radon", "--group", "county"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m hiermodels ...`` in a child process, from the repository root."""
    return subprocess.run([sys.executable, "-m", "hiermodels", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, check=False)


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which are not JSON."""

    def reject(token: str):
        raise AssertionError(f"{token} in the JSON output")

    return json.loads(text, parse_constant=reject)


def error_line(stderr: str) -> str:
    """The single line a failed command writes on stderr."""
    assert "Traceback" not in stderr
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1, stderr
    assert lines[0].startswith("hiermodels: error: ")
    return lines[0]


# ---------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", RADON, "--outcome", "log_radon"], "the following arguments are required: --group"),
        (["fit", *RADON_FLAGS, "--family", "lognormal"], "argument --family: invalid choice: 'lognormal'"),
        (["fit", *RADON_FLAGS, "--pooling", "some"], "argument --pooling: invalid choice: 'some'"),
        (["fit", *RADON_FLAGS, "--draws", "many"], "argument --draws: invalid int value: 'many'"),
        (["fit", *RADON_FLAGS, "--centered", "--noncentered"], "not allowed with argument --centered"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_flags_end_with_one_line_and_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    line = error_line(capsys.readouterr().err)
    assert message in line
    assert line.endswith("(see 'python -m hiermodels fit --help')")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([RADON, "--outcome", "log_radn", "--group", "county"],
         "1 problem with the data: there is no column 'log_radn': did you mean 'log_radon'?"),
        ([*RADON_FLAGS, "--predictor", "flor", "--vary", "flor"], "there is no column 'flor': did you mean 'floor'?"),
        ([*RADON_FLAGS, "--prior", "sd(intercept)=halfnormal(-1)"], "parameter sigma must be positive, got -1"),
        ([*RADON_FLAGS, "--prior", "sd(intercept)"], "write NAME=DIST(ARGS)"),
        ([*RADON_FLAGS, "--prior", "intercept=normal(0, 2*3)"], "'2*3' is not a number"),
        ([*RADON_FLAGS, "--prior", "sd(intercept)=normal(0, 1)"], "sd(intercept) is a scale"),
        ([*RADON_FLAGS, "--categorical", "floor"], "--categorical takes COL=REFERENCE"),
        ([*RADON_FLAGS, "--categorical", "floor="], "--categorical takes COL=REFERENCE"),
        ([*RADON_FLAGS, "--vary", "floor"], "varying term(s) floor are not the intercept or a predictor"),
        ([*RADON_FLAGS, "--draws", "5"], "draws must be at least 10"),
        ([*RADON_FLAGS, "--target-accept", "1.2"], "target_accept must be a number in [0.5, 1)"),
        ([*RADON_FLAGS, "--family", "known_se"], "the known_se family needs a standard-error column (--se)"),
        (["nope.csv", "--outcome", "y", "--group", "g"], "no file at 'nope.csv': check the path"),
        ([*RADON_FLAGS, "--family", "poisson"], "the poisson outcome 'log_radon' must hold counts"),
        # Found when the model is built, before anything is compiled or sampled.
        ([*RADON_FLAGS, "--pooling", "complete", "--prior", "sd(intercept)=halfnormal(1)"],
         "this model has no parameter named 'sd(intercept)'; priors can be set for intercept, sigma"),
    ],
)
def test_bad_input_ends_with_one_line_and_status_2(argv, message, capsys):
    assert main(["fit", *argv, "--quiet"]) == 2
    captured = capsys.readouterr()
    assert message in error_line(captured.err)
    assert captured.out == ""


def test_several_data_problems_are_one_line(tmp_path, capsys):
    path = tmp_path / "data.csv"
    path.write_text("g,y,x\na,1,5\na,oops,5\na,3,5\n", encoding="utf-8")
    assert main(["fit", str(path), "--outcome", "y", "--group", "g", "--predictor", "x", "--quiet"]) == 2
    line = error_line(capsys.readouterr().err)
    assert line.startswith("hiermodels: error: 3 problems with the data: the column 'y' should hold numbers")
    assert line.count(" | ") == 2


def test_json_into_a_missing_folder_fails_before_fitting(tmp_path, capsys):
    out = tmp_path / "missing" / "out.json"
    assert main(["fit", *RADON_FLAGS, "--json", str(out), "--quiet"]) == 2
    assert "does not exist; create it first" in error_line(capsys.readouterr().err)
    assert main(["fit", *RADON_FLAGS, "--json", str(tmp_path), "--quiet"]) == 2
    assert "is a folder" in error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", RADON, "--outcome", "log_radon"], "the following arguments are required: --group"),
        (["fit", RADON, "--outcome", "log_radn", "--group", "county"], "there is no column 'log_radn'"),
    ],
)
def test_the_module_entry_point_fails_in_one_line(argv, message):
    result = run_cli(*argv)
    assert result.returncode == 2
    assert message in error_line(result.stderr)
    assert result.stdout == ""


# ---------------------------------------------------------------------------------------------------- spec
def test_spec_from_flags():
    args = build_parser().parse_args([
        "fit", "data.csv", "--outcome", "score", "--group", "school", "--predictor", "lrt", "--categorical",
        "sex=F", "--vary", "intercept", "--vary", "lrt", "--correlated", "--centered", "--pooling", "none",
        "--prior", "sd(lrt)=halfcauchy(2)", "--prior", "corr=lkj(3)", "--draws", "200", "--tune", "100",
        "--chains", "2", "--seed", "7", "--target-accept", "0.95",
    ])
    spec = spec_from_args(args)
    assert spec.predictors == ("lrt", "sex")  # a categorical column is a predictor without --predictor
    assert spec.categorical == (("sex", "F"),)
    assert (spec.pooling, spec.varying, spec.correlated, spec.parameterization) == (
        "none", ("intercept", "lrt"), True, "centered")
    assert spec.prior_overrides == {"sd(lrt)": Prior("halfcauchy", (2.0,)), "corr": Prior("lkj", (3.0,))}
    assert spec.sampler == SamplerSettings(draws=200, tune=100, chains=2, seed=7, target_accept=0.95)
    document = spec_to_dict(spec)
    assert document["priors"] == {"sd(lrt)": "halfcauchy(2)", "corr": "lkj(3)"}
    assert document["categorical"] == {"sex": "F"}
    assert json.loads(json.dumps(document))["sampler"]["draws"] == 200


def test_spec_defaults_from_flags():
    args = build_parser().parse_args(["fit", "d.csv", "--outcome", "y", "--group", "g"])
    spec = spec_from_args(args)
    assert (spec.pooling, spec.varying, spec.parameterization, spec.family) == (
        "partial", ("intercept",), "noncentered", "gaussian")
    assert spec.sampler == SamplerSettings()
    assert args.pooling == "all"


# ---------------------------------------------------------------------------------------------------- end to end
def conjugate_normal(y, se, prior: Prior) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of theta with y_j ~ N(theta, se_j) (summed over the given rows), theta ~ prior."""
    m0, s0 = prior.params
    precision = 1 / s0**2 + np.sum(1 / np.asarray(se) ** 2, axis=-1)
    mean = (m0 / s0**2 + np.sum(np.asarray(y) / np.asarray(se) ** 2, axis=-1)) / precision
    return mean, 1 / np.sqrt(precision)


def test_fit_eight_schools_all_poolings_to_json(tmp_path):
    out = tmp_path / "eight_schools.json"
    result = run_cli("fit", EIGHT_SCHOOLS, "--outcome", "estimate", "--group", "school", "--se", "se", "--family",
                     "known_se", "--pooling", "all", "--json", str(out), "--draws", "300", "--tune", "300",
                     "--chains", "1", "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "8 rows in 8 groups (0 rows left out for missing values)" in result.stdout
    for label in ("complete pooling", "no pooling", "partial pooling"):
        assert f"== {label} (posterior mean, 95% interval, joint mode) ==" in result.stdout

    document = strict_json(out.read_text(encoding="utf-8"))
    assert set(document) == {"spec", "population", "groups", "shrinkage", "diagnostics", "timing", "priors", "data"}
    assert document["spec"]["pooling"] == "all"
    assert (document["spec"]["outcome"], document["spec"]["family"], document["spec"]["se"]) == (
        "estimate", "known_se", "se")
    assert document["spec"]["sampler"]["draws"] == 300
    assert document["data"] == {"rows_used": 8, "rows_read": 8, "rows_dropped": {}, "groups": 8}

    # Population parameters, keyed by pooling; no pooling of a varying intercept has none (no sigma either).
    population = document["population"]
    assert set(population) == {"complete", "none", "partial"}
    assert set(population["complete"]) == {"intercept"}
    assert population["none"] == {}
    assert set(population["partial"]) == {"intercept", "sd(intercept)"}
    for entry in (*population["complete"].values(), *population["partial"].values()):
        assert set(entry) == {"mean", "sd", "lower", "upper", "map", "r_hat", "ess_bulk"}
        assert entry["lower"] < entry["mean"] < entry["upper"]
        assert entry["sd"] > 0
    assert population["partial"]["sd(intercept)"]["lower"] > 0

    # One row per pooling, school and term, with each group's own coefficient.
    groups = pd.DataFrame(document["groups"])
    assert {"pooling", "group", "term", "n", "mean", "sd", "lower", "upper", "map"} <= set(groups.columns)
    assert len(groups) == 3 * 8
    assert sorted(groups.groupby("pooling").size().items()) == [("complete", 8), ("none", 8), ("partial", 8)]
    assert set(groups["term"]) == {"intercept"} and set(groups["n"]) == {1}
    assert ((groups["lower"] < groups["mean"]) & (groups["mean"] < groups["upper"])).all()
    estimates = {p: rows.set_index("group").loc[list("ABCDEFGH")] for p, rows in groups.groupby("pooling")}

    schools = pd.read_csv(EIGHT_SCHOOLS)
    y, se = schools["estimate"].to_numpy(float), schools["se"].to_numpy(float)

    # Complete pooling: one common coefficient, the conjugate normal posterior.
    complete = estimates["complete"]
    assert complete["mean"].nunique() == 1
    prior = Prior.parse(document["priors"]["complete"]["intercept"])
    mean, sd = conjugate_normal(y, se, prior)
    intercept = population["complete"]["intercept"]
    assert intercept["map"] == pytest.approx(mean, abs=1e-3 * sd)
    assert abs(intercept["mean"] - mean) < 4 * sd / np.sqrt(intercept["ess_bulk"])
    assert intercept["sd"] == pytest.approx(sd, rel=0.3)

    # No pooling: each school alone, with the weak prior; its MAP is its conjugate posterior mean.
    none = estimates["none"]
    prior = Prior.parse(document["priors"]["none"]["intercept"])
    means, sds = conjugate_normal(y[:, None], se[:, None], prior)
    np.testing.assert_allclose(none["map"], means, atol=1e-3 * sds.min())
    min_ess = document["diagnostics"]["none"]["min_ess_bulk"]
    assert np.all(np.abs(none["mean"].to_numpy() - means) < 4 * sds / np.sqrt(min_ess))
    # The prior is weak, so each school's estimate stays within a fifth of a standard error of its observed value.
    assert np.all(np.abs(none["map"].to_numpy() - y) < 0.2 * se)
    assert np.all(np.abs(none["mean"].to_numpy() - y) < 0.2 * se + 4 * sds / np.sqrt(min_ess))

    # Partial pooling: the estimates are pulled together; school A (28 points) moves toward the population mean.
    partial = estimates["partial"]
    assert partial["mean"].std() < 0.5 * none["mean"].std()
    population_mean = population["partial"]["intercept"]["mean"]
    assert population_mean < partial.loc["A", "mean"] < none.loc["A", "mean"]
    assert partial.loc["A", "upper"] - partial.loc["A", "lower"] < none.loc["A", "upper"] - none.loc["A", "lower"]
    shrinkage = pd.DataFrame(document["shrinkage"])
    assert len(shrinkage) == 8
    assert {"group", "term", "complete", "none", "partial", "population_mean", "pooling_factor"} <= set(shrinkage)

    for pooling in ("complete", "none", "partial"):
        diagnostics = document["diagnostics"][pooling]
        assert (diagnostics["draws"], diagnostics["chains"]) == (300, 1)
        assert isinstance(diagnostics["divergences"], int) and isinstance(diagnostics["warnings"], list)
        assert diagnostics["max_r_hat"] is None or np.isfinite(diagnostics["max_r_hat"])
        timing = document["timing"][pooling]
        assert set(timing) == {"compile_s", "sample_s", "map_s", "wait_s", "total_s"}
        assert timing["total_s"] >= timing["sample_s"] > 0
    # The centred joint density is unbounded as tau -> 0, so the joint mode collapses (see mode.model_for_mode).
    assert document["diagnostics"]["partial"]["map_collapsed"] == {"sd(intercept)": True}


def test_fit_one_pooling_writes_json_to_stdout_not_keyed_by_pooling():
    result = run_cli("fit", SLEEPSTUDY, "--outcome", "Reaction", "--group", "Subject", "--predictor", "Days",
                     "--pooling", "complete", "--json", "-", "--draws", "300", "--tune", "300", "--chains", "1",
                     "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    document = strict_json(result.stdout)  # stdout holds the JSON alone, without the report
    assert document["spec"]["pooling"] == "complete"
    population = document["population"]
    assert set(population) == {"intercept", "Days", "sigma"}
    assert {"divergences", "draws", "chains", "warnings"} <= set(document["diagnostics"])
    assert set(document["timing"]) == {"compile_s", "sample_s", "map_s", "wait_s", "total_s"}
    assert set(document["priors"]) == {"intercept", "Days", "sigma"}
    groups = pd.DataFrame(document["groups"])
    assert set(groups["pooling"]) == {"complete"} and len(groups) == 18 * 2
    assert document["data"]["rows_used"] == 180 and document["data"]["groups"] == 18

    # The joint mode solves both conditional-mode equations (module docstring).
    frame = pd.read_csv(SLEEPSTUDY)
    X = np.column_stack([np.ones(len(frame)), frame["Days"]])
    y = frame["Reaction"].to_numpy(float)
    priors = {name: Prior.parse(text) for name, text in document["priors"].items()}
    m = np.array([priors["intercept"].params[0], priors["Days"].params[0]])
    S_inv = np.diag([1 / priors["intercept"].params[1] ** 2, 1 / priors["Days"].params[1] ** 2])
    beta_map = np.array([population["intercept"]["map"], population["Days"]["map"]])
    sigma_map = population["sigma"]["map"]
    beta = np.linalg.solve(X.T @ X / sigma_map**2 + S_inv, X.T @ y / sigma_map**2 + S_inv @ m)
    np.testing.assert_allclose(beta_map, beta, atol=1e-3)
    s, n, rss = priors["sigma"].params[0], len(y), float(np.sum((y - X @ beta_map) ** 2))
    sigma = np.sqrt(s**2 * (-n + np.sqrt(n**2 + 4 * rss / s**2)) / 2)
    assert sigma_map == pytest.approx(sigma, rel=1e-4)
    # The posterior mean of the slope agrees with least squares (lm(Reaction ~ Days, sleepstudy): 10.467) within
    # Monte Carlo error; the weak prior moves it by about 0.02.
    ols, *_ = np.linalg.lstsq(X, y, rcond=None)
    assert ols[1] == pytest.approx(10.467, abs=1e-3)
    ols_se = np.sqrt(np.sum((y - X @ ols) ** 2) / (n - 2) / np.sum((X[:, 1] - X[:, 1].mean()) ** 2))
    slope = population["Days"]
    assert abs(slope["mean"] - ols[1]) < 4 * ols_se / np.sqrt(slope["ess_bulk"]) + 0.05
    assert slope["sd"] == pytest.approx(ols_se, rel=0.3)


# ---------------------------------------------------------------------------------------------------- imports
def test_importing_the_cli_loads_no_fitting_library():
    """Parsing flags needs none of numpy, pandas, PyMC or nutpie: they load when a command runs."""
    code = ("import sys, hiermodels.cli; "
            "print(sorted(m for m in ('numpy', 'pandas', 'pymc', 'nutpie', 'arviz', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert done.stdout.strip() == "[]"


def test_public_names_load_on_first_use():
    import hiermodels
    from hiermodels.inference.fitting import fit
    from hiermodels.model.spec import ModelSpec

    assert sorted(hiermodels._HOMES) == sorted(hiermodels.__all__)
    assert hiermodels.fit is fit and hiermodels.ModelSpec is ModelSpec
    assert set(hiermodels.__all__) <= set(dir(hiermodels))
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        hiermodels.fitt  # noqa: B018


def test_nutpie_reads_only_the_arviz_names_the_cli_provides():
    """defer_full_arviz gives nutpie a stand-in arviz with these names only: a nutpie that reads another one
    must fail here, not in a user's fit."""
    import re
    from importlib.util import find_spec

    from hiermodels.engine.nutpie_adapter import NUTPIE_ARVIZ_NAMES

    spec = find_spec("nutpie.sample")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text(encoding="utf-8")
    assert set(re.findall(r"\barviz\.(\w+)", source)) == set(NUTPIE_ARVIZ_NAMES)
    assert re.findall(r"^[ \t]*(?:import arviz\b.*|from arviz\b.*)$", source, re.MULTILINE) == ["import arviz"]


def test_the_stand_in_arviz_holds_arviz_base_functions_and_loads_arviz_for_anything_else():
    code = ("import sys; from hiermodels.engine.nutpie_adapter import defer_full_arviz; defer_full_arviz(); "
            "import arviz, arviz_base; assert arviz.from_dict is arviz_base.from_dict; "
            "assert 'arviz_stats' not in sys.modules; "
            "import nutpie; assert 'arviz_stats' not in sys.modules and 'scipy.stats' not in sys.modules; "
            "arviz.ess; assert 'arviz_stats' in sys.modules and sys.modules['arviz'] is not arviz; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.stdout.strip() == "ok", done.stderr


# ---------------------------------------------------------------------------------------------------- --formula
RADON_COLUMNS = tuple(pd.read_csv(RADON, nrows=0).columns)


def test_spec_from_a_formula_with_options():
    args = build_parser().parse_args([
        "fit", RADON, "--formula", "log_radon ~ floor + (1 + floor | county)", "--pooling", "none",
        "--family", "gaussian", "--prior", "sd(floor)=halfcauchy(2)", "--draws", "200", "--centered",
    ])
    spec = spec_from_args(args, RADON_COLUMNS)
    assert (spec.outcome, spec.group, spec.predictors, spec.varying, spec.correlated) == (
        "log_radon", "county", ("floor",), ("intercept", "floor"), True)
    assert (spec.pooling, spec.parameterization, spec.sampler.draws) == ("none", "centered", 200)
    assert spec.prior_overrides == {"sd(floor)": Prior("halfcauchy", (2.0,))}


def test_the_flags_and_their_formula_give_the_same_spec():
    flags = build_parser().parse_args(["fit", *RADON_FLAGS, "--predictor", "floor", "--vary", "intercept",
                                       "--vary", "floor", "--pooling", "partial"])
    formula = build_parser().parse_args(["fit", RADON, "--formula", "log_radon ~ floor + (1 + floor || county)",
                                         "--pooling", "partial"])
    assert spec_from_args(formula, RADON_COLUMNS) == spec_from_args(flags)


def test_pooling_applies_to_every_factor_of_a_formula():
    args = build_parser().parse_args(["fit", "p.csv", "--formula", "diameter ~ 1 + (1 | plate) + (1 | sample)",
                                      "--pooling", "complete"])
    spec = spec_from_args(args, ("diameter", "plate", "sample"))
    assert (spec.pooling, spec.group, [f.column for f in spec.factors]) == ("complete", "plate", ["sample"])


def test_a_formula_is_read_against_the_data_columns():
    args = build_parser().parse_args(["fit", RADON, "--formula", "log_radon ~ floor + (1 | county)"])
    with pytest.raises(SpecError, match="--formula is read against the data's columns"):
        spec_from_args(args)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([RADON, "--formula", "log_radon ~ floor + (1 | county)", "--group", "county", "--vary", "floor"],
         "give the model either as --formula or with --group, --vary, not both"),
        ([RADON], "the following arguments are required: --outcome, --group (or give the whole model as --formula"),
    ],
)
def test_formula_and_model_flags_exclude_each_other(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["fit", *argv])
    assert caught.value.code == 2
    line = error_line(capsys.readouterr().err)
    assert message in line and line.endswith("(see 'python -m hiermodels fit --help')")


def test_a_formula_naming_missing_columns_ends_with_one_line(capsys):
    assert main(["fit", RADON, "--formula", "log_radn ~ flor + (1 | county)", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert error_line(captured.err) == (
        "hiermodels: error: 2 problems with the formula: there is no column 'log_radn': did you mean 'log_radon'? | "
        "there is no column 'flor': did you mean 'floor'?")
    assert captured.out == ""


def test_a_formula_syntax_error_shows_the_formula_and_a_caret():
    result = run_cli("fit", RADON, "--formula", "log_radon ~ floor + (1 + floor | county", "--quiet")
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.split("\n") == [
        "hiermodels: error: cannot read the formula at its end: a '(' is not closed: add its ')'",
        "  log_radon ~ floor + (1 + floor | county",
        "                                         ^",
        "",
    ]


def test_a_one_factor_formula_fits_like_its_flags(tmp_path, capsys):
    """The same model given as a formula and as flags: the same parameters, terms and groups in the JSON, and the
    formula's note (floor varies but was not written in the fixed part) on standard error and in the JSON."""
    sampler = ["--pooling", "partial", "--draws", "100", "--tune", "100", "--chains", "2", "--quiet"]
    by_formula, by_flags = tmp_path / "formula.json", tmp_path / "flags.json"
    assert main(["fit", RADON, "--formula", "log_radon ~ 1 + (1 + floor | county)", *sampler,
                 "--json", str(by_formula)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("hiermodels: note: floor varies over county but is not in the fixed part; it is added")
    assert main(["fit", *RADON_FLAGS, "--predictor", "floor", "--vary", "intercept", "--vary", "floor",
                 "--correlated", *sampler, "--json", str(by_flags)]) == 0
    formula, flags = (strict_json(path.read_text(encoding="utf-8")) for path in (by_formula, by_flags))
    notes = formula["spec"].pop("notes"), flags["spec"].pop("notes")
    assert len(notes[0]) == 1 and notes[0][0] in err and notes[1] == []
    assert formula["spec"] == flags["spec"]
    assert formula["spec"]["formula"] == "log_radon ~ floor + (1 + floor | county)"
    assert set(formula["population"]) == set(flags["population"]) == {
        "intercept", "floor", "sd(intercept)", "sd(floor)", "corr(intercept,floor)", "sigma"}
    assert set(formula["priors"]) == set(flags["priors"])
    groups = [pd.DataFrame(document["groups"]) for document in (formula, flags)]
    assert set(groups[0]["term"]) == set(groups[1]["term"]) == {"intercept", "floor"}
    assert sorted(set(groups[0]["group"])) == sorted(set(groups[1]["group"])) and groups[0]["group"].nunique() == 85
