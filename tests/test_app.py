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
from streamlit.runtime import pages_manager
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

    with mock.patch("hiermodels.inference.fitting.fit_poolings", recording_fit):
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


def test_the_reml_preview_runs_only_while_a_model_compiles(app):
    """The page asks the fit plan (``FitPlan.needs_compile``): radon's default model goes to the gaussian engine,
    which never compiles, so no REML fit runs beside it; its centred form is compiled by nutpie (an empty cache
    here: AppTest starts no warm start), so the preview is computed and shown."""
    app.switch_page("pages/2_model.py").run()
    previews = []

    def recording_preview(data, spec):
        previews.append(spec.parameterization)
        return None

    with (mock.patch("hiermodels.inference.fitting.fit_poolings", fake_fit_poolings),
          mock.patch("hiermodels.inference.preview.reml_preview", recording_preview)):
        app.button[0].click().run()  # "Fit"
        assert not app.exception and previews == []
        app.radio(key="w_parameterization").set_value("centered").run()
        app.button[0].click().run()
        assert not app.exception and previews == ["centered"]


# ------------------------------------------------------------------------------------------------ a new sample
def test_a_new_sample_opens_with_its_own_model_defaults(app):
    """Eight schools fitted with partial pooling only and the careful sampler must not pass that on to baseball."""
    app.selectbox(key="sample_choice").select("Eight schools").run()
    app.switch_page("pages/2_model.py").run()
    app.radio(key="w_pooling").set_value("partial").run()
    app.radio(key="w_preset").set_value("Careful").run()
    assert app.session_state["hm_pooling_option"] == "partial"
    app.switch_page("pages/1_data.py").run()
    app.selectbox(key="sample_choice").select("Baseball batting averages").run()
    assert app.session_state["hm_pooling_option"] == "all"
    app.switch_page("pages/2_model.py").run()
    assert not app.exception
    assert app.radio(key="w_pooling").value == "all"
    assert app.radio(key="w_preset").value == "Quick"
    assert len(app.latex) == 3  # all three poolings offered again
    spec = app.session_state["hm_spec"]
    assert (spec.outcome, spec.family, spec.trials) == ("hits", "binomial", "at_bats")


# ------------------------------------------------------------------------------------------------ the link
class _NoPagesDirectory(type(Path())):
    def exists(self, *args, **kwargs) -> bool:
        return False if self.name == "pages" else super().exists(*args, **kwargs)


@pytest.fixture
def every_run_through_app():
    """Run app.py on every AppTest run, as the server does.

    With a ``pages/`` folder next to the main script, Streamlit starts in its old multipage mode until the first
    ``st.navigation`` call switches it off for the process (``PagesManager.uses_pages_directory``). AppTest resets
    that flag before each run, so from the second run on it runs the page on its own and app.py (which writes the
    link) not at all. Hiding the folder from that one check keeps the flag off (private API: if a Streamlit
    upgrade moves it, this fixture needs updating, not the app).
    """
    with mock.patch.object(pages_manager, "Path", _NoPagesDirectory):
        yield


def link(at: AppTest) -> dict[str, list[str]]:
    """The app's query parameters, every value as a list (AppTest gives a lone value as a string)."""
    return {key: value if isinstance(value, list) else [value] for key, value in at.query_params.items()}


def test_the_link_follows_the_chosen_sample_and_model(every_run_through_app, app):
    assert link(app)["sample"] == ["radon"]
    assert (link(app)["outcome"], link(app)["group"], link(app)["predictor"]) == (["log_radon"], ["county"], ["floor"])
    app.selectbox(key="sample_choice").select("Eight schools").run()
    assert link(app)["sample"] == ["eight_schools"]
    assert (link(app)["family"], link(app)["se"], link(app)["pooling"]) == (["known_se"], ["se"], ["all"])
    assert "predictor" not in link(app)
    app.switch_page("pages/2_model.py").run()
    app.radio(key="w_pooling").set_value("partial").run()
    app.radio(key="w_parameterization").set_value("centered").run()
    assert (link(app)["pooling"], link(app)["parameterization"]) == (["partial"], ["centered"])
    assert link(app)["preset"] == ["quick"] and "prior" not in link(app)
    tau = next(t for t in app.text_input if t.key.endswith("_sd(intercept)"))
    tau.set_value("halfnormal(2.5)").run()
    assert link(app)["prior"] == ["sd(intercept)=halfnormal(2.5)"]


def test_a_link_opens_its_sample_roles_and_model_choices(every_run_through_app):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({
        "sample": "sleepstudy", "outcome": "Reaction", "group": "Subject", "predictor": "Days", "family": "gaussian",
        "pooling": "partial", "vary": ["intercept", "Days"], "correlated": "false", "parameterization": "centered",
        "group_noise": "false", "preset": "careful", "prior": ["sd(intercept)=halfcauchy(5)", "sigma=halfnormal(50)"],
    })
    at.run()
    assert not at.exception
    assert not at.info  # nothing was left out
    assert at.selectbox(key="sample_choice").value == "Sleep deprivation"
    assert at.multiselect(key="w_predictors").value == ["Days"]
    at.switch_page("pages/2_model.py").run()
    assert not at.exception
    assert at.radio(key="w_pooling").value == "partial"
    assert at.multiselect(key="w_varying").value == ["intercept", "Days"]
    assert at.checkbox(key="w_correlated").value is False
    assert at.radio(key="w_parameterization").value == "centered"
    assert at.radio(key="w_preset").value == "Careful"
    assert "Reaction ~ 1 + Days + (1 + Days || Subject)" in [c.value for c in at.code]
    priors = {t.key.split("_", 3)[-1]: t.value for t in at.text_input if t.key.startswith("w_prior_")}
    assert (priors["sd(intercept)"], priors["sigma"]) == ("halfcauchy(5)", "halfnormal(50)")
    # Written back as it was read.
    assert link(at)["sample"] == ["sleepstudy"] and link(at)["vary"] == ["intercept", "Days"]
    assert link(at)["preset"] == ["careful"] and link(at)["correlated"] == ["false"]


def test_a_link_with_roles_the_table_lacks_keeps_the_samples_roles_and_says_so(every_run_through_app):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"sample": "radon", "outcome": "no_such_column", "group": "county",
                            "pooling": "sideways", "vary": ["intercept", "floor"],
                            "prior": ["sigma=__import__(0)", "sigma=normal(0, 1)"]})
    at.run()
    assert not at.exception
    assert any("could not be used" in i for i in texts(at, "info"))
    notes = "\n".join(texts(at, "text"))
    assert "'no_such_column' is not in this table" in notes and "'sideways' is not one of" in notes
    assert "prior could not be used" in notes and "'__import__'" in notes and "needs a prior on positive" in notes
    assert at.selectbox(key="w_outcome").value == "log_radon"  # the sample's roles
    spec = at.session_state["hm_spec"]
    assert spec.priors == ()
    assert spec.varying == ("intercept", "floor")  # a model choice that fits is still taken
    assert at.session_state["hm_pooling_option"] == "all"
    # Said once: the next run has no note, and the link now says what is shown.
    at.run()
    assert not any("could not be used" in i for i in texts(at, "info"))
    assert link(at)["outcome"] == ["log_radon"] and link(at)["pooling"] == ["all"]


def test_an_unknown_or_hostile_sample_in_a_link_opens_radon_and_stays_plain_text(every_run_through_app):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    hostile = "**x** <script>alert(1)</script>"
    at.query_params["sample"] = hostile
    at.run()
    assert not at.exception
    assert at.selectbox(key="sample_choice").value == "Minnesota radon"
    assert any(hostile in t and "does not exist" in t for t in texts(at, "text"))
    assert hostile not in markdown_like(at) and "<script>" not in markdown_like(at)
    assert link(at)["sample"] == ["radon"]


def test_a_link_made_with_an_upload_waits_for_the_upload(every_run_through_app):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"outcome": "y", "group": "grp", "predictor": "x", "pooling": "complete"})
    at.run()
    assert not at.exception
    assert any("cannot travel in a link" in i for i in texts(at, "info"))
    assert "sample" not in link(at) and link(at)["outcome"] == ["y"]  # the link is kept for the upload
    rows = "\n".join(f"{'ab'[i % 2]},{i * 0.37 % 2:.2f},{i % 3}" for i in range(12))
    upload(at, "mine.csv", f"y,grp,x\n{rows}\n".encode())
    assert not at.exception
    spec = at.session_state["hm_spec"]
    assert (spec.outcome, spec.group, spec.predictors) == ("y", "grp", ("x",))
    assert at.session_state["hm_pooling_option"] == "complete"
    assert not any("cannot travel in a link" in i for i in texts(at, "info"))
    assert any(c.startswith("An uploaded table cannot travel in a link") for c in texts(at, "caption"))
    assert "sample" not in link(at) and link(at)["pooling"] == ["complete"]


# ------------------------------------------------------------------------------------------------ the formula box
PENICILLIN = Path(__file__).resolve().parent.parent / "sample_data" / "penicillin.csv"


def test_the_formula_box_follows_the_widgets(app):
    app.selectbox(key="sample_choice").select("Sleep deprivation").run()
    app.switch_page("pages/2_model.py").run()
    assert app.text_input(key="w_formula").value == "Reaction ~ Days + (1 + Days | Subject)"
    app.checkbox(key="w_correlated").uncheck().run()
    assert app.text_input(key="w_formula").value == "Reaction ~ Days + (1 + Days || Subject)"
    app.multiselect(key="w_varying").set_value(["intercept"]).run()
    assert not app.exception
    assert app.text_input(key="w_formula").value == "Reaction ~ Days + (1 | Subject)"
    # A formula's notes are said (as plain text), and its varying terms reach the widgets.
    app.text_input(key="w_formula").set_value("Reaction ~ 1 + (1 + Days | Subject)").run()
    assert not app.exception
    assert any("what the reading decided" in i for i in texts(app, "info"))
    assert any("Days varies over Subject but is not in the fixed part" in t for t in texts(app, "text"))
    assert app.multiselect(key="w_varying").value == ["intercept", "Days"]
    assert app.checkbox(key="w_correlated").value is True
    assert app.text_input(key="w_formula").value == "Reaction ~ Days + (1 + Days | Subject)"


def test_a_crossed_formula_typed_in_the_box_becomes_the_spec(app):
    upload(app, "penicillin.csv", PENICILLIN.read_bytes())
    app.selectbox(key="w_outcome").select("diameter")
    app.selectbox(key="w_group").select("plate").run()
    app.switch_page("pages/2_model.py").run()
    assert not app.exception
    assert app.text_input(key="w_formula").value == "diameter ~ 1 + (1 | plate)"
    app.text_input(key="w_formula").set_value("diameter ~ 1 + (1|plate) + (1|sample)").run()
    assert not app.exception
    spec = app.session_state["hm_spec"]
    assert spec.group == "plate" and [f.column for f in spec.factors] == ["sample"]
    assert app.text_input(key="w_formula").value == "diameter ~ 1 + (1 | plate) + (1 | sample)"
    assert app.multiselect(key="w_varying").label == "Varying by the first grouping factor"
    assert any("(1 | sample)" in t and "Varying by plate" in t for t in texts(app, "text"))
    assert app.checkbox(key="w_group_noise").disabled
    # A widget still changes the formula, and keeps the further factor.
    app.radio(key="w_pooling").set_value("partial").run()
    assert app.session_state["hm_spec"].factors == spec.factors


def test_a_bad_formula_points_at_the_character_and_the_page_still_works(app):
    app.switch_page("pages/2_model.py").run()
    before = app.session_state["hm_spec"]
    app.text_input(key="w_formula").set_value("log_radon ~ floor + (1 | county").run()
    assert not app.exception
    assert any("could not be used" in e for e in texts(app, "error"))
    assert any("'(' is not closed" in t for t in texts(app, "text"))
    assert any(c.value.rstrip().endswith("^") for c in app.code)  # the caret line
    assert app.text_input(key="w_formula").value == "log_radon ~ floor + (1 | county"  # kept to be fixed
    assert app.session_state["hm_spec"] == before
    # A missing column gets the closest name, as plain text; the spec is still the old one.
    app.text_input(key="w_formula").set_value("log_radon ~ flor + (1 | county)").run()
    assert not app.exception
    assert any("flor" in t and "floor" in t for t in texts(app, "text"))
    assert app.session_state["hm_spec"] == before
    # A widget change replaces the refused text with the model's formula; the page still fits.
    app.multiselect(key="w_varying").set_value(["intercept", "floor"]).run()
    assert not app.exception
    assert app.text_input(key="w_formula").value == "log_radon ~ floor + (1 + floor || county)"
    assert not any("could not be used" in e for e in texts(app, "error"))
    with mock.patch("hiermodels.inference.fitting.fit_poolings", fake_fit_poolings):
        app.button[0].click().run()
    assert not app.exception
    assert any(s.startswith("Fitted") for s in texts(app, "success"))


def test_a_formula_that_makes_no_model_is_refused_with_the_reason(app):
    app.switch_page("pages/2_model.py").run()
    before = app.session_state["hm_spec"]
    app.text_input(key="w_formula").set_value("log_radon ~ floor + (1 | county) + (1 | floor)").run()
    assert not app.exception
    assert app.session_state["hm_spec"] == before
    assert any("could not be used" in e for e in texts(app, "error"))
    assert any("'floor' cannot be both a grouping factor and a predictor" in t for t in texts(app, "text"))


def test_a_crossed_model_from_the_formula_flows_to_the_results_and_survives_the_data_page(app):
    upload(app, "penicillin.csv", PENICILLIN.read_bytes())
    app.selectbox(key="w_outcome").select("diameter")
    app.selectbox(key="w_group").select("plate").run()
    app.switch_page("pages/2_model.py").run()
    app.text_input(key="w_formula").set_value("diameter ~ 1 + (1 | plate) + (1 | sample)").run()
    with mock.patch("hiermodels.inference.fitting.fit_poolings", fake_fit_poolings):
        app.button[0].click().run()
    assert not app.exception
    assert any(s.startswith("Fitted") for s in texts(app, "success"))
    assert [f.column for f in app.session_state["hm_fit_key"].spec.factors] == ["sample"]
    assert any("(1 | sample)" in c.value for c in app.code)  # the pooled model's formula
    app.switch_page("pages/3_shrinkage.py").run()
    assert not app.exception
    app.selectbox(key="w_factor").select("sample").run()
    assert not app.exception
    table = next(df.value for df in app.dataframe if "pooling_factor" in df.value)
    assert sorted(table["group"]) == list("ABCDEF")
    # Through the Data page and back: the roles are unchanged, so the further factor is kept.
    app.switch_page("pages/1_data.py").run()
    assert not app.exception
    assert app.session_state["hm_spec"].factors == app.session_state["hm_fit_key"].spec.factors
    app.switch_page("pages/2_model.py").run()
    assert app.text_input(key="w_formula").value == "diameter ~ 1 + (1 | plate) + (1 | sample)"


def test_a_formula_that_changes_the_roles_reaches_the_data_page(app):
    app.selectbox(key="sample_choice").select("Sleep deprivation").run()
    app.switch_page("pages/2_model.py").run()
    app.text_input(key="w_formula").set_value("Reaction ~ 1 + (1 | Subject)").run()
    assert not app.exception
    assert app.session_state["hm_spec"].predictors == ()
    app.switch_page("pages/1_data.py").run()
    assert not app.exception
    assert app.multiselect(key="w_predictors").value == []
    assert app.session_state["hm_spec"].predictors == ()


def test_a_link_carries_the_further_grouping_factors(every_run_through_app, app):
    app.selectbox(key="sample_choice").select("Penicillin plates and samples").run()
    assert link(app)["formula"] == ["diameter ~ 1 + (1 | plate) + (1 | sample)"]
    app.switch_page("pages/2_model.py").run()
    app.text_input(key="w_formula").set_value("diameter ~ 1 + (1 | plate)").run()
    assert not app.exception
    assert link(app)["formula"] == ["diameter ~ 1 + (1 | plate)"]  # the sample's own factor taken out, and said
    opened = AppTest.from_file(APP, default_timeout=TIMEOUT)
    opened.query_params.update(link(app))
    opened.run()
    assert not opened.exception and not opened.info
    assert opened.session_state["hm_spec"].factors == ()
    crossed = AppTest.from_file(APP, default_timeout=TIMEOUT)
    crossed.query_params.update({"sample": "penicillin", "formula": "diameter ~ (1 | sample) + (1 | plate)"})
    crossed.run()
    spec = crossed.session_state["hm_spec"]
    assert spec.group == "sample" and [f.column for f in spec.factors] == ["plate"]


def test_a_links_bad_formula_is_left_out_and_said(every_run_through_app):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"sample": "penicillin", "formula": "diameter ~ (1 | plate) + (1 | nope"})
    at.run()
    assert not at.exception
    assert any("formula could not be used" in t and "not closed" in t for t in texts(at, "text"))
    assert [f.column for f in at.session_state["hm_spec"].factors] == ["sample"]  # the sample's own model
    assert link(at)["formula"] == ["diameter ~ 1 + (1 | plate) + (1 | sample)"]  # the link now says what is shown
