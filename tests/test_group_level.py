"""Group-level predictors: no pooling leaves them out (and says so), Gelman & Hill's group-level regression frame
(:mod:`hiermodels.results.group_level`) and its chart (:func:`hiermodels.charts.group_level_chart`).

The frames are checked on fake posteriors built from numpy draws (``fakes.fake_fit``), against closed forms
computed here from the same draws: the partial-pooling level a_j = b_j + gamma * u_j, the predicted value
gamma_0 + gamma * u_j and the line, draw by draw, then summarised.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from fakes import constant, fake_fit
from scipy import special

from hiermodels import charts
from hiermodels.data.preparing import PreparedData, check_identified, group_level_predictors
from hiermodels.errors import SpecError
from hiermodels.model import build as m
from hiermodels.model.priors import data_for, dropped_under_no_pooling, no_pooling_notes, specs_for_poolings
from hiermodels.model.spec import INTERCEPT, POOLING_LABELS, POOLINGS, ModelSpec, Prior
from hiermodels.results.comparison import PoolingComparison
from hiermodels.results.group_level import group_level_regression, numeric_group_predictors

SIZES = (1, 2, 3, 5, 8, 13)
U = np.linspace(-1.0, 1.0, len(SIZES))  # one value per group
SPEC = ModelSpec("y", "g", ("x", "u"), varying=(INTERCEPT,))
CHAINS, DRAWS = 2, 300


def group_data(seed: int = 0, labels: tuple[str, ...] | None = None) -> PreparedData:
    """Groups g0..g5 (or ``labels``) of SIZES rows; ``x`` alternates 0/1 by row (a row-level predictor), ``u`` is
    the group's own value in every row (a group-level predictor)."""
    rng = np.random.default_rng(seed)
    group_index = np.repeat(np.arange(len(SIZES)), SIZES)
    n = group_index.size
    x = (np.arange(n) % 2).astype(float)
    return PreparedData(
        y=rng.normal(size=n),
        X=np.column_stack([np.ones(n), x, U[group_index]]),
        terms=(INTERCEPT, "x", "u"),
        group_index=group_index,
        group_labels=labels or tuple(f"g{j}" for j in range(len(SIZES))),
        predictor_terms={"x": ("x",), "u": ("u",)},
        rows_read=n,
    )


def fake_comparison(family: str = "gaussian", seed: int = 1, labels: tuple[str, ...] | None = None
                    ) -> PoolingComparison:
    """All three poolings as ``fit_poolings`` makes them: no pooling without ``u``, on the data without it."""
    rng = np.random.default_rng(seed)
    data = group_data(labels=labels)
    spec = replace(SPEC, family=family)
    specs = specs_for_poolings(data, spec, POOLINGS)
    J = len(SIZES)

    def noisy(centre, sd, shape=()):
        return constant(centre, CHAINS, DRAWS) + rng.normal(0, sd, (CHAINS, DRAWS, *np.shape(centre), *shape))

    sigma = {m.SIGMA: constant(1.0, CHAINS, DRAWS)} if family == "gaussian" else {}
    mu = noisy(np.array([1.0]), 0.05)
    results = {
        "complete": fake_fit(specs["complete"], data, {m.COMMON: noisy(np.array([1.0, -0.5, 0.7]), 0.05), **sigma}),
        "none": fake_fit(specs["none"], data_for(data, specs["none"]), {
            m.COMMON: noisy(np.array([-0.5]), 0.05),
            m.GROUP_COEFFICIENT: noisy((1.0 + 0.9 * U)[:, None], 0.3),
            **sigma,
        }),
        "partial": fake_fit(specs["partial"], data, {
            m.COMMON: noisy(np.array([-0.5, 0.7]), 0.05),
            m.POPULATION_MEAN: mu,
            m.GROUP_SD: noisy(np.array([0.4]), 0.05),
            m.GROUP_COEFFICIENT: mu[:, :, None, :] + rng.normal(0, 0.2, (CHAINS, DRAWS, J, 1)),
            **sigma,
        }),
    }
    return PoolingComparison(results)


@pytest.fixture(scope="module")
def comparison() -> PoolingComparison:
    return fake_comparison()


def _flat(values) -> np.ndarray:
    values = np.asarray(values)
    return values.reshape(CHAINS * DRAWS, *values.shape[2:])


# ------------------------------------------------------------------------------------------------ no pooling
def test_no_pooling_leaves_out_a_group_level_predictor_and_says_why():
    data = group_data()
    assert group_level_predictors(data) == ("u",)
    assert dropped_under_no_pooling(data, SPEC) == ("u",)
    specs = specs_for_poolings(data, SPEC, POOLINGS)
    assert specs["none"].predictors == ("x",)
    assert specs["complete"].predictors == specs["partial"].predictors == ("x", "u")
    check_identified(data, list(specs.values()))  # nothing refused any more
    assert data_for(data, specs["none"]).terms == (INTERCEPT, "x")
    np.testing.assert_array_equal(data_for(data, specs["none"]).X, data.X[:, :2])
    assert data_for(data, specs["partial"]) is data
    assert no_pooling_notes(data, SPEC) == [
        "'u' is a property of 'g': under no pooling each group's own intercept absorbs it, so it is left out of "
        "the no-pooling fit"
    ]


def test_a_direct_no_pooling_spec_is_still_refused_and_a_varying_slope_of_the_group_is_never_dropped():
    data = group_data()
    with pytest.raises(SpecError, match="not identified"):
        check_identified(data, [SPEC.with_pooling("none")])
    slope = replace(SPEC, varying=(INTERCEPT, "u"))
    assert dropped_under_no_pooling(data, slope) == ()
    specs = specs_for_poolings(data, slope, POOLINGS)
    assert specs["none"].predictors == ("x", "u")
    with pytest.raises(SpecError, match="confounded"):
        check_identified(data, list(specs.values()))
    # Without a varying intercept nothing absorbs u: it stays.
    assert dropped_under_no_pooling(data, replace(SPEC, varying=("x",))) == ()


def test_a_prior_on_the_dropped_predictor_is_kept_where_it_is_fitted():
    specs = specs_for_poolings(group_data(), replace(SPEC, priors={"u": Prior("normal", (0.0, 1.0))}), POOLINGS)
    assert dict(specs["partial"].priors) == {"u": Prior("normal", (0.0, 1.0))}
    assert specs["none"].priors == ()


def test_the_comparison_copes_with_one_predictor_fewer_under_no_pooling(comparison):
    population = comparison.population()
    assert set(population.loc[population["pooling"] == "none", "name"]) == {"x", "sigma"}
    assert "u" in set(population.loc[population["pooling"] == "partial", "name"])
    shrinkage = comparison.shrinkage()
    assert len(shrinkage) == len(SIZES) and set(shrinkage["term"]) == {INTERCEPT}
    assert np.isfinite(shrinkage[["none", "partial", "complete"]].to_numpy(float)).all()
    assert comparison.dropped_under_no_pooling() == ("u",)


def test_the_shrinkage_table_compares_levels_and_shrinks_toward_each_groups_predicted_value(comparison):
    """No pooling's intercept is the group's level (u left out), so the other poolings' intercepts become levels
    too: partial = mean(b_j + gamma u_j), complete = mean(beta_0 + beta_u u_j); the population mean is the
    predicted level mean(gamma_0 + gamma u_j), and the pooling factor is (none - partial) / (none - predicted)."""
    table = comparison.shrinkage().set_index("group")
    partial = comparison["partial"].draws
    gamma0 = _flat(partial[m.POPULATION_MEAN].sel({m.VARYING_DIM: INTERCEPT}))
    gamma = _flat(partial[m.COMMON].sel({m.COMMON_DIM: "u"}))
    own = _flat(partial[m.GROUP_COEFFICIENT].sel({m.VARYING_DIM: INTERCEPT}).transpose("chain", "draw", m.GROUP_DIM))
    labels = list(comparison["partial"].data.group_labels)
    np.testing.assert_allclose(table.loc[labels, "partial"], (own + gamma[:, None] * U).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(table.loc[labels, "population_mean"], gamma0.mean() + gamma.mean() * U, rtol=1e-12)
    complete = comparison["complete"].draws[m.COMMON]
    beta0, beta_u = (_flat(complete.sel({m.COMMON_DIM: t})) for t in (INTERCEPT, "u"))
    np.testing.assert_allclose(table.loc[labels, "complete"], (beta0[:, None] + beta_u[:, None] * U).mean(axis=0),
                               rtol=1e-12)
    factor = (table["none"] - table["partial"]) / (table["none"] - table["population_mean"])
    usable = table["pooling_factor"].notna()
    assert usable.any()
    np.testing.assert_allclose(table.loc[usable, "pooling_factor"], factor[usable], rtol=1e-12)
    # A flat line would be wrong: the shrinkage chart draws no population-mean or complete-pooling line for it.
    rules = [layer for layer in charts.shrinkage_chart(comparison.shrinkage(), INTERCEPT).to_dict()["layer"]
             if layer.get("mark", {}).get("type") == "rule" and "strokeDash" in layer.get("encoding", {})]
    assert rules == []


# ------------------------------------------------------------------------------------------------ the frame
def test_numeric_group_predictors(comparison):
    assert numeric_group_predictors(comparison["partial"]) == ("u",)
    assert numeric_group_predictors(comparison["none"]) == ()
    assert numeric_group_predictors(comparison["complete"]) == ()


def test_group_level_frame_has_one_row_per_group_and_the_line(comparison):
    result = group_level_regression(comparison, "u", line_points=25)
    frame = result.groups
    assert list(frame.columns) == ["group", "n", "u", "none", "none_lower", "none_upper", "identified", "partial",
                                   "partial_lower", "partial_upper", "predicted", "predicted_lower",
                                   "predicted_upper"]
    assert list(frame["group"]) == [f"g{j}" for j in range(len(SIZES))]
    np.testing.assert_array_equal(frame["n"], SIZES)
    np.testing.assert_array_equal(frame["u"], U)
    for name in ("none", "partial", "predicted"):
        assert (frame[f"{name}_lower"] < frame[name]).all() and (frame[name] < frame[f"{name}_upper"]).all()
    assert list(result.line.columns) == ["u", "mean", "lower", "upper"]
    assert len(result.line) == 25
    assert result.line["u"].iloc[0] == U.min() and result.line["u"].iloc[-1] == U.max()
    assert (result.predictor, result.group, result.reference, result.shown_as) == ("u", "g", "at x = 0", "")
    assert result.value_title == "g intercept, at x = 0"


def test_group_level_frame_matches_the_closed_forms_draw_by_draw(comparison):
    """partial = mean(b_j + gamma * u_j), predicted = mean(gamma_0 + gamma * u_j), the line likewise at every u of
    the grid, each interval the 2.5% and 97.5% quantiles of the same draws; no pooling's columns are its own
    intercepts (the group's level: u left out)."""
    result = group_level_regression(comparison, "u")
    draws = comparison["partial"].draws
    gamma0 = _flat(draws[m.POPULATION_MEAN].sel({m.VARYING_DIM: INTERCEPT}))
    gamma = _flat(draws[m.COMMON].sel({m.COMMON_DIM: "u"}))
    own = _flat(draws[m.GROUP_COEFFICIENT].sel({m.VARYING_DIM: INTERCEPT}).transpose("chain", "draw", m.GROUP_DIM))
    level = own + gamma[:, None] * U[None, :]
    predicted = gamma0[:, None] + gamma[:, None] * U[None, :]
    frame = result.groups
    np.testing.assert_allclose(frame["partial"], level.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(frame["predicted"], predicted.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(frame["predicted_lower"], np.quantile(predicted, 0.025, axis=0), rtol=1e-12)
    np.testing.assert_allclose(frame["partial_upper"], np.quantile(level, 0.975, axis=0), rtol=1e-12)
    # Linear in the draws: the predicted mean is gamma_0's mean plus gamma's mean times u_j.
    np.testing.assert_allclose(frame["predicted"], gamma0.mean() + gamma.mean() * U, rtol=1e-12)
    line = result.line
    np.testing.assert_allclose(line["mean"], gamma0.mean() + gamma.mean() * line["u"], rtol=1e-12)
    np.testing.assert_allclose(line["lower"], np.quantile(gamma0[:, None] + gamma[:, None] * line["u"].to_numpy(),
                                                          0.025, axis=0), rtol=1e-12)
    # The line passes through every group's predicted value (u is the only group-level predictor).
    np.testing.assert_allclose(np.interp(U, line["u"], line["mean"]), frame["predicted"], rtol=1e-9)
    none = comparison["none"].groups().query("term == 'intercept'").set_index("group")
    np.testing.assert_allclose(frame.set_index("group")["none"], none.loc[frame["group"], "mean"], rtol=1e-12)
    assert frame["identified"].all()


def test_on_the_natural_scale_each_draw_goes_through_the_inverse_link():
    binomial = fake_comparison("binomial")
    result = group_level_regression(binomial, "u", scale="natural")
    draws = binomial["partial"].draws
    gamma0 = _flat(draws[m.POPULATION_MEAN].sel({m.VARYING_DIM: INTERCEPT}))
    gamma = _flat(draws[m.COMMON].sel({m.COMMON_DIM: "u"}))
    np.testing.assert_allclose(result.groups["predicted"],
                               special.expit(gamma0[:, None] + gamma[:, None] * U[None, :]).mean(axis=0), rtol=1e-12)
    assert result.shown_as == "probability"
    assert result.value_title == "g intercept (probability), at x = 0"
    link = group_level_regression(binomial, "u", scale="link")
    np.testing.assert_allclose(link.groups["predicted"], gamma0.mean() + gamma.mean() * U, rtol=1e-12)


def test_without_no_pooling_the_own_estimates_are_empty(comparison):
    partial_only = PoolingComparison({"partial": comparison["partial"]})
    frame = group_level_regression(partial_only, "u").groups
    assert frame["none"].isna().all() and np.isfinite(frame["partial"]).all()
    spec = charts.group_level_chart(group_level_regression(partial_only, "u")).to_dict()
    legend = [scale["domain"] for scale in _colour_domains(spec)]
    assert all(POOLING_LABELS["none"] not in domain for domain in legend)


def test_bad_requests_say_what_to_choose(comparison):
    with pytest.raises(SpecError, match=r"'x' is not a numeric group-level predictor.*choose one of 'u'"):
        group_level_regression(comparison, "x")
    with pytest.raises(SpecError, match="needs the partial-pooling fit"):
        group_level_regression(PoolingComparison({"none": comparison["none"]}), "u")


# ------------------------------------------------------------------------------------------------ the chart
def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _colour_domains(spec: dict) -> list[dict]:
    encodings = [d["color"] for d in _walk(spec) if isinstance(d.get("color"), dict)]
    return [e["scale"] for e in encodings if isinstance(e.get("scale"), dict) and "domain" in e["scale"]]


def _mark(layer: dict) -> tuple[str, bool | None]:
    mark = layer["mark"]
    return (mark, None) if isinstance(mark, str) else (mark["type"], mark.get("filled"))


def test_group_level_chart_layers_and_encodings(comparison):
    regression = group_level_regression(comparison, "u")
    spec = charts.group_level_chart(regression).to_dict()
    layers = spec["layer"]
    marks = [_mark(layer) for layer in layers]
    # band, line, partial-pooling intervals, rules own -> partial, hollow own points, filled partial points, names
    assert marks[:6] == [("area", None), ("line", None), ("rule", None), ("rule", None), ("point", False),
                         ("point", True)]
    assert all(mark == "text" for mark, _ in marks[6:]) and len(marks) > 6
    band, line, intervals, shafts, own, shrunk = layers[:6]
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == ("lower", "upper")
    assert line["encoding"]["y"]["field"] == "mean"
    assert (intervals["encoding"]["y"]["field"], intervals["encoding"]["y2"]["field"]) == ("partial_lower",
                                                                                            "partial_upper")
    assert (shafts["encoding"]["y"]["field"], shafts["encoding"]["y2"]["field"]) == ("none", "partial")
    assert own["encoding"]["y"]["field"] == "none" and shrunk["encoding"]["y"]["field"] == "partial"
    for layer in layers[:6]:
        assert layer["encoding"]["x"]["field"] == "u"
    # The axis titles name the columns; the legend names the poolings and the line, in the poolings' colours.
    assert band["encoding"]["x"]["title"] == "u (one value per g)"
    assert shrunk["encoding"]["y"]["title"] == "g intercept, at x = 0"
    domains = _colour_domains(spec)
    assert domains and all(d["domain"] == [POOLING_LABELS["none"], POOLING_LABELS["partial"],
                                           charts.REGRESSION_LABEL] for d in domains)
    assert domains[0]["range"] == [charts.POOLING_COLORS["none"], charts.POOLING_COLORS["partial"],
                                   charts.POPULATION_COLOR]
    assert "pulled toward its own predicted value" in " ".join(spec["title"]["subtitle"])
    # Every group's name stands beside its point (six groups), and the chart renders offline with the theme.
    assert charts.to_svg(charts.group_level_chart(regression)).startswith("<svg")


def test_group_level_chart_without_intervals_highlight_and_selection(comparison):
    regression = group_level_regression(comparison, "u")
    plain = charts.group_level_chart(regression, show_intervals=False).to_dict()
    assert [_mark(layer)[0] for layer in plain["layer"]].count("rule") == 1
    chosen = charts.group_level_chart(regression, highlight="g3", selectable=True).to_dict()
    params = [p for d in _walk(chosen) for p in d.get("params", []) if isinstance(p, dict)]
    assert [p["name"] for p in params] == ["group_pick"]
    sizes = [layer["encoding"]["size"] for layer in chosen["layer"] if "size" in layer.get("encoding", {})]
    assert sizes and all(size["condition"]["test"] == "datum.highlighted" for size in sizes)
    with pytest.raises(SpecError, match="no such group"):
        charts.group_level_chart(regression, highlight="nobody")


def test_group_labels_travel_only_as_data():
    tricky = "O'Brien \"the\" {group} [x] \\ <b>"
    labels = (tricky, *(f"g{j}" for j in range(1, len(SIZES))))
    regression = group_level_regression(fake_comparison(labels=labels), "u")
    assert regression.groups["group"].iloc[0] == tricky
    spec = charts.group_level_chart(regression, highlight=tricky).to_dict()
    expressions = [str(v) for d in _walk(spec) for k, v in d.items() if k in ("expr", "test", "filter")]
    assert expressions and not any(tricky in e for e in expressions)
