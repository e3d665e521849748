"""The app's frame, Data page and Model & fit page, through Streamlit's AppTest (the fit itself is patched).

The results pages have their own tests (test_app_results.py); the browser tests drive the real thing.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from fakes import fake_fit_poolings
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    return [element.value for element in getattr(at, kind)]


def chart_data(element) -> list[pd.DataFrame]:
    """The datasets Streamlit sends with a vega_lite_chart element."""
    frames = [convert_arrow_bytes_to_pandas_df(d.data.data) for d in element.proto.datasets]
    if element.proto.data.data:
        frames.append(convert_arrow_bytes_to_pandas_df(element.proto.data.data))
    return frames


def markdown_like(at: AppTest) -> str:
    """Everything rendered through markdown (where user strings must never go)."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += [str(element.value) for element in getattr(at, kind)]
    return "\n".join(parts)


def upload(at: AppTest, filename: str, content: bytes) -> None:
    at.file_uploader[0].set_value((filename, content, "text/csv"))
    at.run()


def test_opens_on_radon_ready_to_fit(app):
    assert app.selectbox(key="sample_choice").value == "Minnesota radon"
    assert app.selectbox(key="w_outcome").value == "log_radon"
    assert app.selectbox(key="w_group").value == "county"
    assert app.multiselect(key="w_predictors").value == ["floor"]
    assert any("ready to fit" in s for s in texts(app, "success"))
    assert any("919 rows in 85 groups" in t for t in texts(app, "text"))
    charts = app.get("vega_lite_chart")
    assert len(charts) == 1  # the group sizes
    sizes = next(frame for frame in chart_data(charts[0]) if {"group", "n"} <= set(frame.columns))
    assert len(sizes) == 85 and sizes["n"].sum() == 919


def test_choosing_another_sample_resets_the_roles(app):
    app.selectbox(key="sample_choice").select("Eight schools").run()
    assert not app.exception
    assert app.selectbox(key="w_family").value == "known_se"
    assert app.selectbox(key="w_se").value == "se"
    assert any("8 rows in 8 groups" in t for t in texts(app, "text"))


def test_every_problem_of_a_bad_upload_is_listed_and_the_session_recovers(app):
    content = b"grp,y,x\na,1.5,1\na,abc,2\nb,2.5,3\nb,inf,4\n"
    upload(app, "bad.csv", content)
    assert not app.exception
    app.selectbox(key="w_outcome").select("y")
    app.selectbox(key="w_group").select("grp").run()
    assert any("problem" in e.lower() for e in texts(app, "error"))
    listing = "\n".join(texts(app, "text"))
    assert "'y' should hold numbers, but data row 2 hold" in listing or "data row 2" in listing
    # Back to a sample: the app is usable again.
    app.selectbox(key="sample_choice").select("Minnesota radon").run()
    assert not app.exception
    assert any("ready to fit" in s for s in texts(app, "success"))


def test_binary_garbage_gets_a_message_not_a_traceback(app):
    upload(app, "garbage.csv", bytes(range(256)) * 4)
    assert not app.exception
    assert any("could not be used" in e for e in texts(app, "error"))
    assert any("UTF-8" in t for t in texts(app, "text"))


def test_hostile_names_never_reach_markdown(app):
    hostile = "**bold** <script>alert(1)</script> [x](javascript:alert(1))"
    rows = "\n".join(f'"{hostile if i % 2 else "plain"}",{i * 0.7 % 3:.2f}' for i in range(20))
    upload(app, "hostile.csv", f'"{hostile}",y\n{rows}\n'.encode())
    assert not app.exception
    assert hostile not in markdown_like(app)
    assert "<script>" not in markdown_like(app)


def test_fit_flows_to_the_success_message_and_is_cached(app):
    app.switch_page("pages/2_model.py").run()
    assert not app.exception
    assert app.radio(key="w_pooling").value == "all"
    assert "log_radon ~ 1 + floor + (1 | county)" in [c.value for c in app.code]
    assert len(app.latex) == 3  # one per pooling tab
    calls = []

    def recording_fit(*args, **kwargs):
        calls.append(args)
        return fake_fit_poolings(*args, **kwargs)

    with mock.patch("hiermodels.fitting.fit_poolings", recording_fit):
        app.button[0].click().run()  # "Fit"
        assert not app.exception
        assert any(s.startswith("Fitted") for s in texts(app, "success"))
        prepared, spec, poolings = calls[0]
        assert prepared.n_groups == 85 and spec.outcome == "log_radon" and poolings == ("complete", "none", "partial")
        # Switching away and back to the same choices: no new fit.
        app.radio(key="w_pooling").set_value("partial").run()
        app.radio(key="w_pooling").set_value("all").run()
        assert len(calls) == 1
        assert any(s.startswith("Fitted") for s in texts(app, "success"))
        assert app.session_state["hm_fit_key"].poolings == ("complete", "none", "partial")


def test_model_choices_reach_the_spec_and_the_formula(app):
    app.selectbox(key="sample_choice").select("Sleep deprivation").run()
    app.switch_page("pages/2_model.py").run()
    assert not app.exception
    assert app.multiselect(key="w_varying").value == ["intercept", "Days"]
    assert "Reaction ~ 1 + Days + (1 + Days | Subject)" in [c.value for c in app.code]
    app.checkbox(key="w_correlated").uncheck().run()
    assert "Reaction ~ 1 + Days + (1 + Days || Subject)" in [c.value for c in app.code]
    assert app.session_state["hm_spec"].correlated is False


def test_a_bad_prior_is_reported_by_name(app):
    app.switch_page("pages/2_model.py").run()
    prior_inputs = [t for t in app.text_input if t.key and t.key.startswith("w_prior_") and t.key.endswith("sigma")]
    prior_inputs[0].set_value("halfnormal(-1)").run()
    assert not app.exception
    assert any("could not be used" in e for e in texts(app, "error"))
    assert any("sigma" in t and "positive" in t for t in texts(app, "text"))
