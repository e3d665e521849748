"""The pooling dial's charts (hiermodels.charts): the slider parameter and its binding, the filters and look-ups
that use it, the symlog tau axis, the three summaries named, 8 and 85 groups, and offline PNG rendering.

The frames are built by hand with the columns of hiermodels.results.pooling_dial (see the contract in its module
docstring) from the closed forms of the normal model with known standard errors and a flat prior on the mean (BDA3
eqs. 5.17-5.21): mu_hat(tau) = sum(y_j w_j) / sum(w_j) with w_j = 1 / (se_j^2 + tau^2), the pooling factor
lambda_j = se_j^2 / (se_j^2 + tau^2), E[theta_j | tau, y] = lambda_j mu_hat + (1 - lambda_j) y_j, n0_j = se_j^2 / tau^2,
and p(tau | y) proportional to V_mu^(1/2) prod_j w_j^(1/2) exp(-w_j (y_j - mu_hat)^2 / 2) (uniform prior on tau).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import pytest

from hiermodels import charts
from hiermodels.errors import SpecError

SCHOOLS = ("A", "B", "C", "D", "E", "F", "G", "H")
Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])  # BDA3 table 5.2
SE = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


@dataclass(frozen=True)
class Frames:
    curve: pd.DataFrame
    tau: pd.DataFrame
    summaries: pd.DataFrame
    groups: pd.DataFrame
    start: int

    @property
    def last(self) -> int:
        return int(self.tau["position"].max())


def dial_frames(y=Y, se=SE, names=SCHOOLS, rows=None, positions: int = 60, tau_max: float | None = None) -> Frames:
    """The dial's four frames for a normal model with known se (module docstring); position 0 is tau = 0."""
    y, se = np.asarray(y, dtype=float), np.asarray(se, dtype=float)
    rows = np.ones(len(y), dtype=int) if rows is None else np.asarray(rows, dtype=int)
    tau_max = tau_max or 10 * float(se.max())
    grid = np.concatenate([[0.0], np.geomspace(tau_max / 1000, tau_max, positions)])
    curve, log_p = [], []
    for position, t in enumerate(grid):
        w = 1 / (se**2 + t**2)
        mu = float(np.sum(w * y) / np.sum(w))
        factor = se**2 / (se**2 + t**2)
        estimate = factor * mu + (1 - factor) * y
        log_p.append(0.5 * np.log(1 / np.sum(w)) + np.sum(0.5 * np.log(w) - 0.5 * w * (y - mu) ** 2))
        prior_rows = se**2 / t**2 if t > 0 else np.full(len(y), np.inf)
        curve += [{"position": position, "tau": t, "group": name, "rows": int(rows[j]), "estimate": estimate[j],
                   "lower": estimate[j] - 1.96 * se[j], "upper": estimate[j] + 1.96 * se[j],
                   "pooling_factor": factor[j], "prior_rows": prior_rows[j], "population": mu}
                  for j, name in enumerate(names)]
    curve_df = pd.DataFrame(curve)
    log_marginal = np.asarray(log_p) - max(log_p)
    density = np.exp(log_marginal)
    density /= np.trapezoid(density, grid)
    mode = int(np.argmax(log_marginal))
    reference = grid[max(mode, 1)]
    with np.errstate(divide="ignore"):
        profile = np.where(grid > 0, log_marginal - len(y) * np.log(grid / reference), np.inf)
    tau = pd.DataFrame({"position": np.arange(len(grid)), "tau": grid, "density": density,
                        "log_marginal": log_marginal, "log_joint_profile": profile,
                        "label": [f"τ = {t:.3g}" for t in grid]})
    mean_tau = float(np.trapezoid(density * grid, grid))
    mean_position = int(np.argmin(np.abs(grid - mean_tau)))
    summaries = pd.DataFrame({"summary": ["joint mode", "marginal mode", "posterior mean"],
                              "tau": [0.0, grid[mode], mean_tau], "position": [0, mode, mean_position],
                              "description": ["every group on the population value", "the type-II maximum",
                                              "the average over the posterior of tau"]})
    wide = curve_df.pivot(index="group", columns="position", values="estimate").reindex(list(names))
    averaged = np.trapezoid(wide.to_numpy() * density, grid, axis=1)
    groups = pd.DataFrame({"group": list(names), "rows": rows, "own_estimate": y, "joint_mode": wide[0].to_numpy(),
                           "marginal_mode": wide[mode].to_numpy(), "posterior_mean": averaged,
                           "averaged": averaged, "approximation_error": 0.0})
    return Frames(curve_df, tau, summaries, groups, mean_position)


def radon_like(n_groups: int = 85, seed: int = 1) -> Frames:
    """85 groups of 1 to 59 rows (radon's counties, in shape): se_j = 0.8 / sqrt(n_j)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(1, 60, n_groups)
    se = 0.8 / np.sqrt(rows)
    y = rng.normal(1.3, 0.35, n_groups) + rng.normal(0, 1, n_groups) * se
    return dial_frames(y, se, [f"COUNTY {j:02d}" for j in range(n_groups)], rows, tau_max=5.0)


@pytest.fixture(scope="module")
def schools() -> Frames:
    return dial_frames()


@pytest.fixture(scope="module")
def counties() -> Frames:
    return radon_like()


def dial(frames: Frames, **options) -> alt.VConcatChart:
    return charts.pooling_dial_chart(frames.curve, frames.tau, frames.summaries, groups=frames.groups,
                                     start_position=options.pop("start", frames.start), value_title="effect",
                                     tau_title="sd(intercept)", **options)


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def datasets(spec: dict) -> list[pd.DataFrame]:
    return [pd.DataFrame(rows) for rows in spec.get("datasets", {}).values()]


def dataset_with(spec: dict, *columns: str) -> pd.DataFrame:
    return next(frame for frame in datasets(spec) if set(columns) <= set(frame.columns))


def texts(spec: dict) -> set[str]:
    """Every text a text mark can print: the values of the fields its text channel reads."""
    fields = {d["text"]["field"] for d in walk(spec) if isinstance(d.get("text"), dict) and "field" in d["text"]}
    return {str(v) for frame in datasets(spec) for field in fields if field in frame for v in frame[field]}


def is_png(data: bytes) -> bool:
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# ------------------------------------------------------------------------------------------------ the dial
@pytest.mark.parametrize("which", ["schools", "counties"])
def test_one_slider_parameter_from_0_to_the_last_position_drives_every_panel(which, request):
    frames = request.getfixturevalue(which)
    spec = dial(frames).to_dict()  # validated against Vega-Lite's schema
    params = spec["params"]
    assert [p["name"] for p in params] == [charts.DIAL_PARAM]
    bind = params[0]["bind"]
    assert (bind["input"], bind["min"], bind["max"], bind["step"]) == ("range", 0, frames.last, 1)
    assert params[0]["value"] == frames.start
    filters = [t["filter"] for d in walk(spec) for t in d.get("transform", []) if isinstance(t.get("filter"), str)]
    assert sum(f == f"datum.position == {charts.DIAL_PARAM}" for f in filters) >= 4  # dial rule, label, population,
    calculates = {t["as"]: t["calculate"] for d in walk(spec) for t in d.get("transform", []) if "calculate" in t}
    assert calculates["at_dial"] == f"datum['at_' + {charts.DIAL_PARAM}]"  # each group's estimate at the dial
    assert len(spec["vconcat"]) == 3


def test_every_position_is_in_the_data_one_row_per_group(counties):
    """The browser needs no server: each group's estimate and pooling factor at every position is in its row."""
    spec = dial(counties).to_dict()
    lookup = dataset_with(spec, "group", "at_0", f"at_{counties.last}")
    assert len(lookup) == 85
    for position in (0, counties.start, counties.last):
        at = counties.curve[counties.curve["position"] == position].set_index("group")
        np.testing.assert_allclose(lookup.set_index("group")[f"at_{position}"], at["estimate"].loc[lookup["group"]])
        np.testing.assert_allclose(lookup.set_index("group")[f"pf_{position}"],
                                   at["pooling_factor"].loc[lookup["group"]])
    assert all(len(frame) < 5000 for frame in datasets(spec))


def test_the_tau_axis_is_symlog_so_that_tau_0_shows(schools):
    spec = dial(schools).to_dict()
    smallest = float(schools.tau.loc[schools.tau["tau"] > 0, "tau"].min())
    scales = [d["x"]["scale"] for d in walk(spec) if isinstance(d.get("x"), dict) and d["x"].get("field") == "tau"
              and "scale" in d["x"]]
    assert scales and all(s["type"] == "symlog" and s["constant"] == smallest and s["domain"][0] == 0 for s in scales)
    axis = next(d["x"]["axis"] for d in walk(spec) if isinstance(d.get("x"), dict) and "axis" in d["x"]
                and d["x"].get("field") == "tau")
    assert axis["values"][0] == 0


def test_the_three_summaries_the_two_ends_and_the_three_rows_are_named(schools):
    spec = dial(schools).to_dict()
    printed = texts(spec)
    marginal = float(schools.summaries["tau"].iloc[1])
    mean = float(schools.summaries["tau"].iloc[2])
    assert {"joint mode: τ = 0", f"marginal mode: τ = {charts._number(marginal)}",
            f"posterior mean: τ = {charts._number(mean)}"} <= printed
    assert {charts.COMPLETE_END, charts.NO_POOLING_END} <= printed
    assert "complete pooling (τ = 0)" == charts.COMPLETE_END and "no pooling (τ → ∞)" == charts.NO_POOLING_END
    label_exprs = [d["labelExpr"] for d in walk(spec) if "labelExpr" in d]
    assert any(all(row in expr for row in charts.DIAL_ROWS) for expr in label_exprs)
    # The dial's tau as text, for every position.
    assert {f"dial: {label}" for label in schools.tau["label"]} <= printed


def test_the_population_rule_follows_the_dial(schools):
    spec = dial(schools).to_dict()
    rule = dataset_with(spec, "position", "population", "text")
    assert len(rule) == schools.last + 1
    at_zero = float(rule.loc[rule["position"] == 0, "population"].iloc[0])
    precision = 1 / SE**2
    assert at_zero == pytest.approx(float(np.sum(precision * Y) / np.sum(precision)))  # 7.69, BDA3 p. 119
    assert rule.loc[rule["position"] == 0, "text"].iloc[0] == "population value at this τ: 7.686"


def test_only_the_highlighted_group_is_named_and_it_defaults_to_the_smallest(counties):
    spec = dial(counties).to_dict()
    lookup = dataset_with(spec, "group", "highlighted", "at_0")
    smallest = counties.groups.loc[counties.groups["rows"].idxmin(), "group"]
    assert set(lookup.loc[lookup["highlighted"], "group"]) == {smallest}
    # The name is drawn only for the highlighted row; no layer prints every group's name.
    named = [d for d in walk(spec) if isinstance(d.get("text"), dict) and d["text"].get("field") == "group"]
    assert len(named) == 2  # one label (and its white halo beneath), filtered to the highlighted row
    assert spec["vconcat"][2]["title"]["text"].startswith(f"The weights of {smallest} (")
    chosen = dial(counties, highlight="COUNTY 07").to_dict()
    lookup = dataset_with(chosen, "group", "highlighted", "at_0")
    assert set(lookup.loc[lookup["highlighted"], "group"]) == {"COUNTY 07"}


def test_the_weights_bar_is_the_pooling_factor_and_says_what_the_population_is_worth(schools):
    spec = dial(schools, highlight="A").to_dict()
    weights = dataset_with(spec, "position", "part", "start", "end", "worth")
    a = schools.curve[schools.curve["group"] == "A"].set_index("position")
    population = weights[weights["part"] == "the population"].set_index("position")
    np.testing.assert_allclose(population["share"], a["pooling_factor"].loc[population.index])
    assert (population["end"] == 1.0).all()
    assert set(weights["part"]) == {"its own 1 row", "the population"}
    assert population.loc[0, "worth"] == "τ = 0: the population is worth all the rows (complete pooling)"
    # se_A^2 / tau^2 at the start position, rounded as read aloud.
    n0 = float(a.loc[schools.start, "prior_rows"])
    assert population.loc[schools.start, "worth"] == charts._prior_rows_text(n0)
    assert str(round(n0, 1)) in population.loc[schools.start, "worth"]


@pytest.mark.parametrize(("n0", "text"), [
    (float("inf"), "τ = 0: the population is worth all the rows (complete pooling)"),
    (1234.5, "the population is worth 1,234 rows"), (42.4, "the population is worth 42 rows"),
    (3.46, "the population is worth 3.5 rows"), (1.0, "the population is worth 1.0 row"),
    (0.123, "the population is worth 0.12 rows"),
    (0.001, "the population is worth less than 0.01 rows: as good as no pooling"),
])
def test_prior_rows_are_rounded_for_reading_aloud(n0, text):
    assert charts._prior_rows_text(n0) == text


def test_bad_input_is_refused_with_the_reason(schools):
    with pytest.raises(SpecError, match="start position 999 is not between 0 and 60"):
        dial(schools, start=999)
    with pytest.raises(SpecError, match="cannot highlight 'Z'"):
        dial(schools, highlight="Z")
    with pytest.raises(ValueError, match="needs the column"):
        charts.pooling_dial_chart(schools.curve.drop(columns="prior_rows"), schools.tau, schools.summaries,
                                  start_position=0, value_title="v", tau_title="t")
    with pytest.raises(SpecError, match="joint mode, marginal mode, posterior mean in that order"):
        charts.pooling_dial_chart(schools.curve, schools.tau, schools.summaries.iloc[::-1], start_position=0,
                                  value_title="v", tau_title="t")


def test_without_the_groups_frame_the_ghosts_average_the_curve_over_the_density(schools):
    spec = charts.pooling_dial_chart(schools.curve, schools.tau, schools.summaries, start_position=schools.start,
                                     value_title="effect", tau_title="sd").to_dict()
    lookup = dataset_with(spec, "group", "posterior_mean", "own").set_index("group").loc[list(SCHOOLS)]
    # the trapezoid average and the chart's (density * gradient of tau) agree to the grid's resolution
    np.testing.assert_allclose(lookup["posterior_mean"], schools.groups["posterior_mean"], atol=0.1)
    end = schools.curve[schools.curve["position"] == schools.last].set_index("group")["estimate"]
    np.testing.assert_allclose(lookup["own"], end.loc[list(SCHOOLS)])  # the no-pooling end of the grid


# ------------------------------------------------------------------------------------------------ the other charts
@pytest.mark.parametrize("which", ["schools", "counties"])
def test_the_trajectory_has_a_line_per_group_over_tau_and_the_posterior_of_tau_beneath(which, request):
    frames = request.getfixturevalue(which)
    highlight = str(frames.groups["group"].iloc[0])
    spec = charts.pooling_trajectory_chart(frames.curve, frames.tau, frames.summaries, value_title="effect",
                                           tau_title="sd(intercept)", highlight=highlight).to_dict()
    lines = dataset_with(spec, "group", "estimate", "highlighted")
    assert len(lines) <= charts.MAX_CURVE_ROWS
    assert set(lines["group"]) == set(frames.groups["group"])
    assert {0, frames.last, *frames.summaries["position"]} <= set(lines["position"])
    assert set(lines.loc[lines["highlighted"], "group"]) == {highlight}
    widths = [d["mark"]["strokeWidth"] for d in walk(spec) if isinstance(d.get("mark"), dict)
              and d["mark"].get("type") == "line"]
    assert max(widths) == 5 and min(widths) < 5  # the highlighted line thicker
    scales = [d["x"]["scale"] for d in walk(spec) if isinstance(d.get("x"), dict) and "scale" in d["x"]]
    assert len(scales) >= 2 and all(s["type"] == "symlog" for s in scales)  # lines and density on one tau axis
    printed = texts(spec)
    assert "joint mode: τ = 0" in printed
    named = set(dataset_with(spec, "group", "label_y")["group"])  # the names at the lines' right ends
    assert named == (set(frames.groups["group"]) if which == "schools" else {highlight})


def test_three_summaries_against_the_own_estimates(counties):
    spec = charts.three_summaries_chart(counties.groups, value_title="log radon").to_dict()
    long = dataset_with(spec, "group", "summary", "estimate", "own_estimate")
    assert len(long) == 3 * 85
    assert list(dict.fromkeys(long["summary"])) == list(charts.SUMMARY_NAMES)
    joint = long[long["summary"] == "joint mode"]["estimate"]
    assert joint.nunique() == 1  # every group on the population value
    colour = next(d["color"]["scale"] for d in walk(spec) if isinstance(d.get("color"), dict)
                  and "scale" in d["color"] and d["color"].get("field") == "summary")
    assert colour["domain"] == list(charts.SUMMARY_NAMES)
    assert "no pooling: estimate = own estimate" in texts(spec)


def test_the_mode_profile_is_clipped_and_says_so(schools):
    spec = charts.mode_profile_chart(schools.tau, schools.summaries, tau_title="sd(intercept)").to_dict()
    y_scales = [d["y"]["scale"] for d in walk(spec) if isinstance(d.get("y"), dict) and d["y"].get("field") == "value"]
    low, high = y_scales[0]["domain"]
    assert low == -high and 4 <= high <= 12
    subtitle = " ".join(spec["title"]["subtitle"])
    assert f"cut at ±{high:.3g}" in subtitle
    # The joint's way to +inf at tau = 0: a dashed segment from its first finite value up past the top edge.
    toward = next(frame for frame in datasets(spec) if list(frame.columns) == ["tau", "value"])
    first = schools.tau[np.isfinite(schools.tau["log_joint_profile"])].iloc[0]
    assert list(toward["tau"]) == [0.0, first["tau"]] and toward["value"].iloc[0] > high
    profile = dataset_with(spec, "curve", "value")
    joint = profile[profile["curve"].str.startswith("joint")].sort_values("tau")
    assert joint["value"].iloc[0] is None or np.isnan(joint["value"].iloc[0])  # +inf at tau = 0: left out
    assert joint["value"].iloc[1] > joint["value"].iloc[10]  # rising toward tau = 0
    assert set(profile["curve"]) == {"joint log-density, maximised over the rest",
                                     "marginal log-posterior of τ (groups integrated out)"}


# ------------------------------------------------------------------------------------------------ rendering
def test_every_dial_chart_renders_offline(schools):
    """vl-convert draws every chart (the 85-county charts are drawn from the core's own dial below)."""
    frames = schools
    for chart in (
        dial(frames, start=0), dial(frames, start=frames.last),
        charts.pooling_trajectory_chart(frames.curve, frames.tau, frames.summaries, value_title="v", tau_title="t"),
        charts.three_summaries_chart(frames.groups, value_title="v"),
        charts.mode_profile_chart(frames.tau, frames.summaries, tau_title="t"),
    ):
        assert is_png(charts.to_png(chart, scale=1))
        json.dumps(chart.to_dict())  # plain JSON: no inf or NaN left in the data


# ------------------------------------------------------------------------------------------------ the real core
@pytest.fixture(scope="module")
def core_dials():
    """The core's dials (hiermodels.results.pooling_dial) of fake draws: 8 groups (fakes.comparison) and radon's 85
    counties (fakes.fake_fit_poolings), no sampling."""
    from fakes import comparison, fake_fit_poolings

    from hiermodels.data.datasets import sample_by_name
    from hiermodels.data.preparing import prepare
    from hiermodels.results.pooling_dial import pooling_dial

    radon = sample_by_name("Minnesota radon")
    fit = fake_fit_poolings(prepare(radon.load(), radon.spec), radon.spec, ("partial",))
    return {"eight": pooling_dial(comparison()["partial"]), "radon": pooling_dial(fit["partial"])}


@pytest.mark.parametrize("which", ["eight", "radon"])
def test_the_cores_dial_draws_and_renders(core_dials, which):
    d = core_dials[which]
    chart = charts.pooling_dial_chart(d.curve, d.tau, d.summaries, groups=d.groups, start_position=d.start_position,
                                      value_title=d.value_title, tau_title=d.tau_title)
    spec = chart.to_dict()
    assert spec["params"][0]["bind"]["max"] == int(d.tau["position"].max())
    lookup = dataset_with(spec, "group", "at_0")
    assert len(lookup) == d.groups.shape[0] and all(len(frame) < 5000 for frame in datasets(spec))
    np.testing.assert_allclose(lookup.set_index("group")["posterior_mean"].loc[d.groups["group"]],
                               d.groups["posterior_mean"])
    for figure in (chart,
                   charts.pooling_trajectory_chart(d.curve, d.tau, d.summaries, value_title=d.value_title,
                                                   tau_title=d.tau_title),
                   charts.three_summaries_chart(d.groups, value_title=d.value_title),
                   charts.mode_profile_chart(d.tau, d.summaries, tau_title=d.tau_title)):
        json.dumps(figure.to_dict())  # plain JSON: no inf or NaN left in the data
        if which == "radon":  # drawing is slow (seconds per chart): the 85 counties stand for both sizes
            assert is_png(charts.to_png(figure, scale=1))
