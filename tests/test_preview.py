"""The REML preview shown while the posterior is sampled, against lme4."""

from __future__ import annotations

from pathlib import Path

import pytest

from hiermodels import ModelSpec, prepare, read_table
from hiermodels.inference.preview import reml_preview

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"


def test_sleepstudy_preview_matches_lme4_reml():
    """lme4's ``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)`` (REML, the default), ``summary()``:
    fixed effects 251.405 (SE 6.825) and 10.467 (SE 1.546); SDs 24.741 and 5.922, correlation 0.066; residual
    25.592 (Bates, Maechler, Bolker & Walker 2015, J. Stat. Softw. 67(1), section 3)."""
    spec = ModelSpec("Reaction", "Subject", ("Days",), varying=("intercept", "Days"), correlated=True)
    preview = reml_preview(prepare(read_table(SAMPLE_DATA / "sleepstudy.csv"), spec), spec).set_index("name")
    assert preview.loc["intercept", "estimate"] == pytest.approx(251.405, abs=0.01)
    assert preview.loc["Days", "estimate"] == pytest.approx(10.467, abs=0.01)
    assert preview.loc["intercept", "se"] == pytest.approx(6.825, abs=0.01)
    assert preview.loc["Days", "se"] == pytest.approx(1.546, abs=0.01)
    assert preview.loc["sd(intercept)", "estimate"] == pytest.approx(24.741, abs=0.02)
    assert preview.loc["sd(Days)", "estimate"] == pytest.approx(5.922, abs=0.01)
    assert preview.loc["corr(intercept,Days)", "estimate"] == pytest.approx(0.066, abs=0.005)
    assert preview.loc["sigma", "estimate"] == pytest.approx(25.592, abs=0.01)


def test_radon_preview_matches_gelman_hill():
    """Gelman & Hill (2007), section 12.4: ``lmer(y ~ x + (1 | county))``: 1.46, -0.69, 0.33, 0.76."""
    spec = ModelSpec("log_radon", "county", ("floor",))
    preview = reml_preview(prepare(read_table(SAMPLE_DATA / "radon.csv"), spec), spec).set_index("name")
    assert preview["estimate"].round(2).to_dict() == {"intercept": 1.46, "floor": -0.69, "sd(intercept)": 0.33,
                                                      "sigma": 0.76}


@pytest.mark.parametrize("spec", [
    ModelSpec("y", "g", pooling="none"),
    ModelSpec("y", "g", family="poisson"),
    ModelSpec("y", "g", group_noise=True),
])
def test_no_preview_where_reml_does_not_apply(spec):
    assert reml_preview(None, spec) is None
