"""The grouping factors' widgets on Model & fit (issue 12): each further factor with what varies over it, Add
(crossed or nested) and Remove, in step with the formula box, the session's spec and the link.

No fit runs here. Penicillin (plates crossed with samples), Pastes (casks nested in batches) and Exam (a slope that
can vary over a further factor) are the bundled samples used; the refusals use Pastes with three added columns.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import test_app
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, link, markdown_like, texts, upload

from hiermodels.model.spec import INTERCEPT, GroupingFactor

# test_app.py's fixtures, found by pytest under these names: a fresh session on radon, and app.py on every run.
app = test_app.app
every_run_through_app = test_app.every_run_through_app
PASTES = Path(__file__).resolve().parent.parent / "sample_data" / "pastes.csv"


def model_page(at: AppTest, sample: str) -> None:
    at.switch_page("pages/1_data.py").run()
    at.selectbox(key="sample_choice").select(sample).run()
    at.switch_page("pages/2_model.py").run()
    assert not at.exception


def formula_shown(at: AppTest) -> str:
    return at.text_input(key="w_formula").value


def add(at: AppTest, column: str, within: str | None = None) -> None:
    at.selectbox(key="w_new_factor").select(column)
    at.selectbox(key="w_new_factor_within").set_value(within or "")  # "": crossed
    at.button_group(key="add_factor").set_value("add").run()
    assert not at.exception


def remove(at: AppTest, name: str) -> None:
    at.button_group(key=f"remove_factor_{name}").set_value("remove").run()
    assert not at.exception


def fit_offered(at: AppTest) -> bool:
    return any(button.label == "Fit" for button in at.button)


def test_each_further_factor_is_shown_with_its_terms_and_a_change_reaches_formula_and_spec(app):
    model_page(app, "Penicillin plates and samples")
    assert app.multiselect(key="w_factor_varying_sample").value == [INTERCEPT]
    assert app.checkbox(key="w_factor_correlated_sample").disabled  # one term: nothing to correlate
    assert "sample, crossed" in texts(app, "text")
    assert app.checkbox(key="w_group_noise").disabled  # several factors (already so)
    # Exam: a slope can vary over a further factor too.
    model_page(app, "School exam scores")
    assert formula_shown(app) == "normexam ~ standLRT + (1 + standLRT | school)"
    add(app, "sex")
    assert formula_shown(app) == "normexam ~ standLRT + (1 + standLRT | school) + (1 | sex)"
    app.multiselect(key="w_factor_varying_sex").set_value([INTERCEPT, "standLRT"]).run()
    assert not app.exception
    assert formula_shown(app) == "normexam ~ standLRT + (1 + standLRT | school) + (1 + standLRT || sex)"
    assert app.session_state["hm_spec"].factors == (GroupingFactor("sex", (INTERCEPT, "standLRT")),)
    assert not app.checkbox(key="w_factor_correlated_sex").disabled
    app.checkbox(key="w_factor_correlated_sex").check().run()
    assert formula_shown(app) == "normexam ~ standLRT + (1 + standLRT | school) + (1 + standLRT | sex)"
    assert app.session_state["hm_spec"].factors == (GroupingFactor("sex", (INTERCEPT, "standLRT"), True),)
    assert any("Varying by school" in t and "(1 + standLRT | sex)" in t for t in texts(app, "text"))
    # Nothing varying over a factor: said, the spec kept, no traceback.
    before = app.session_state["hm_spec"]
    app.multiselect(key="w_factor_varying_sex").set_value([]).run()
    assert not app.exception
    assert any("cannot be built yet" in e for e in texts(app, "error"))
    assert any("'sex' needs at least one term that varies over it" in t for t in texts(app, "text"))
    assert app.session_state["hm_spec"] == before
    assert not fit_offered(app)
    app.multiselect(key="w_factor_varying_sex").set_value([INTERCEPT]).run()
    assert fit_offered(app)
    assert app.session_state["hm_spec"].factors == (GroupingFactor("sex"),)


def test_a_crossed_factor_added_and_removed_by_widget(app):
    model_page(app, "Penicillin plates and samples")
    sample_spec = app.session_state["hm_spec"]
    remove(app, "sample")
    assert formula_shown(app) == "diameter ~ 1 + (1 | plate)"
    assert app.session_state["hm_spec"] == replace(sample_spec, factors=())
    assert app.multiselect(key="w_varying").label == "Varying by group"
    assert app.selectbox(key="w_new_factor").options == ["sample"]  # not the outcome, not the group
    assert app.selectbox(key="w_new_factor_within").options == ["crossed with the other factors", "nested in plate"]
    add(app, "sample")
    assert formula_shown(app) == "diameter ~ 1 + (1 | plate) + (1 | sample)"
    assert app.session_state["hm_spec"] == sample_spec
    assert fit_offered(app)
    # Every column has a role now: nothing left to add, and said.
    assert not [s for s in app.selectbox if s.key == "w_new_factor"]
    assert any("none left to add" in c for c in texts(app, "caption"))


def test_a_nested_factor_added_and_removed_by_widget(app):
    model_page(app, "Paste strength (nested)")
    sample_spec = app.session_state["hm_spec"]
    assert formula_shown(app) == "strength ~ 1 + (1 | batch/cask)"
    assert "cask, nested in batch" in texts(app, "text")
    remove(app, "cask:batch")
    assert formula_shown(app) == "strength ~ 1 + (1 | batch)"
    assert app.session_state["hm_spec"].factors == ()
    add(app, "cask", within="batch")
    assert app.session_state["hm_spec"].factors == (GroupingFactor("cask", within="batch"),)
    assert formula_shown(app) == "strength ~ 1 + (1 | batch/cask)"
    assert app.session_state["hm_spec"] == sample_spec
    remove(app, "cask:batch")
    assert app.session_state["hm_spec"] == replace(sample_spec, factors=())


def test_removing_a_factor_removes_the_factors_nested_in_it_and_says_so(app):
    model_page(app, "Paste strength (nested)")
    app.text_input(key="w_formula").set_value("strength ~ 1 + (1 | cask) + (1 | batch/cask)").run()
    assert not app.exception
    assert [f.name for f in app.session_state["hm_spec"].factors] == ["batch", "cask:batch"]
    remove(app, "batch")
    assert app.session_state["hm_spec"].factors == ()
    assert formula_shown(app) == "strength ~ 1 + (1 | cask)"
    assert any("cask:batch was nested in a factor removed" in t for t in texts(app, "text"))


def test_a_formula_that_adds_or_changes_a_factor_seeds_its_widgets(app):
    model_page(app, "School exam scores")
    add(app, "sex")
    assert app.multiselect(key="w_factor_varying_sex").value == [INTERCEPT]
    # The widget exists with [intercept]: the formula's terms replace its value.
    app.text_input(key="w_formula").set_value(
        "normexam ~ standLRT + (1 + standLRT | school) + (1 + standLRT | sex) + (1 | schgend)").run()
    assert not app.exception
    assert app.multiselect(key="w_factor_varying_sex").value == [INTERCEPT, "standLRT"]
    assert app.checkbox(key="w_factor_correlated_sex").value is True
    assert app.multiselect(key="w_factor_varying_schgend").value == [INTERCEPT]
    assert [f.column for f in app.session_state["hm_spec"].factors] == ["sex", "schgend"]
    # A formula without them takes their widgets away.
    app.text_input(key="w_formula").set_value("normexam ~ standLRT + (1 + standLRT | school)").run()
    assert not app.exception
    assert not [m for m in app.multiselect if m.key.startswith("w_factor_varying_")]
    assert app.session_state["hm_spec"].factors == ()


def test_adding_a_factor_renames_the_priors_and_turns_group_noise_off(app):
    model_page(app, "School exam scores")
    app.checkbox(key="w_group_noise").check().run()
    tau = next(t for t in app.text_input if t.key.endswith("_sd(intercept)"))
    tau.set_value("halfnormal(2)").run()
    assert app.session_state["hm_spec"].group_noise
    add(app, "sex")
    spec = app.session_state["hm_spec"]
    assert not spec.group_noise and app.checkbox(key="w_group_noise").disabled
    assert app.checkbox(key="w_group_noise").value is False
    assert dict(spec.priors) == {"sd(intercept|school)": spec.priors[0][1]}
    assert str(spec.priors[0][1]) == "halfnormal(2)"
    notes = "\n".join(texts(app, "text"))
    assert "sd(intercept) = halfnormal(2) is now named sd(intercept|school)" in notes
    assert "no longer varies by group" in notes
    renamed = next(t for t in app.text_input if t.key.endswith("_sd(intercept|school)"))
    assert renamed.value == "halfnormal(2)"


def refusing_table() -> bytes:
    """Pastes with three columns the data refuse as a further factor: ``lab`` has one level, ``assay`` a label
    per row, and ``site`` (one per batch) holds the batches, so it cannot be nested in them."""
    frame = pd.read_csv(PASTES, dtype=str)
    frame["lab"] = "L1"
    frame["assay"] = [f"r{i}" for i in range(len(frame))]
    frame["site"] = frame["batch"].map(lambda batch: "north" if batch < "F" else "south")
    return frame.to_csv(index=False).encode()


def test_a_factor_the_data_refuse_is_said_and_can_be_removed(app):
    upload(app, "pastes_more.csv", refusing_table())
    app.selectbox(key="w_outcome").select("strength")
    app.selectbox(key="w_group").select("batch").run()
    app.switch_page("pages/2_model.py").run()
    assert not app.exception
    before = app.session_state["hm_spec"]
    assert before.factors == () and fit_offered(app)
    assert app.selectbox(key="w_new_factor").options == ["cask", "lab", "assay", "site"]
    refusals = {
        ("lab", None): "the grouping factor 'lab' has a single level ('L1')",
        ("assay", None): "the grouping factor 'assay' has a different value in every row",
        ("site", "batch"): "the labels say 'batch' is nested in 'site'",
    }
    for (column, within), message in refusals.items():
        add(app, column, within)
        factor = GroupingFactor(column, within=within)
        assert app.session_state["hm_spec"].factors == (factor,)  # kept, to be changed or removed
        assert any("The data refuse these grouping factors" in e for e in texts(app, "error"))
        assert any(message in t for t in texts(app, "text")), texts(app, "text")
        assert not fit_offered(app)
        remove(app, factor.name)
        assert app.session_state["hm_spec"] == before
        assert not app.error and fit_offered(app)
        assert formula_shown(app) == "strength ~ 1 + (1 | batch)"
    # Crossed, the sites are fine.
    add(app, "site")
    assert not app.error and fit_offered(app)
    assert formula_shown(app) == "strength ~ 1 + (1 | batch) + (1 | site)"
    assert app.selectbox(key="w_new_factor_within").options == [
        "crossed with the other factors", "nested in batch", "nested in site"]  # one per factor, the first too


def test_hostile_factor_names_stay_plain_text(app):
    hostile = "**x** <script>alert(1)</script>"
    frame = pd.read_csv(PASTES, dtype=str)
    frame[hostile] = frame["cask"]
    upload(app, "hostile.csv", frame.to_csv(index=False).encode())
    app.selectbox(key="w_outcome").select("strength")
    app.selectbox(key="w_group").select("batch").run()
    app.switch_page("pages/2_model.py").run()
    add(app, hostile, within="batch")
    assert [f.column for f in app.session_state["hm_spec"].factors] == [hostile]
    assert f"{hostile}, nested in batch" in texts(app, "text")
    assert hostile not in markdown_like(app) and "<script>" not in markdown_like(app)


def test_a_factor_added_by_widget_survives_a_link(every_run_through_app, app):
    model_page(app, "School exam scores")
    add(app, "sex", within="school")
    add(app, "schgend")
    app.multiselect(key="w_factor_varying_schgend").set_value([INTERCEPT, "standLRT"]).run()
    spec = app.session_state["hm_spec"]
    assert spec.factors == (GroupingFactor("sex", within="school"), GroupingFactor("schgend", (INTERCEPT, "standLRT")))
    assert link(app)["formula"] == [
        "normexam ~ standLRT + (1 + standLRT | school) + (1 | school:sex) + (1 + standLRT || schgend)"]
    opened = AppTest.from_file(APP, default_timeout=TIMEOUT)
    opened.query_params.update(link(app))
    opened.run()
    assert not opened.exception and not opened.info
    assert opened.session_state["hm_spec"] == spec
    opened.switch_page("pages/2_model.py").run()
    assert not opened.exception
    assert opened.multiselect(key="w_factor_varying_sex:school").value == [INTERCEPT]
    assert opened.multiselect(key="w_factor_varying_schgend").value == [INTERCEPT, "standLRT"]
    assert "sex, nested in school" in texts(opened, "text")
