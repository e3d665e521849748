"""Data: choose a bundled sample or upload a table, pick the roles of its columns, see every problem at once."""

import streamlit as st

from hiermodels import charts
from hiermodels.data.datasets import SAMPLES, sample_by_name
from hiermodels.data.preparing import group_level_notes, numeric_columns
from hiermodels.data.roles import index_column_note, index_columns, suggest_spec
from hiermodels.errors import DataError, FileReadError, SpecError
from hiermodels.model.spec import FAMILIES, FAMILY_LABELS, INTERCEPT, ModelSpec
from hiermodels.results import interpret
from hiermodels_ui import cache, navigation, state, widgets

widgets.require_frame()

PREVIEW_ROWS = 500
UPLOAD_ERROR = "hm_upload_error"
# A new uploader key empties the uploader, so that the same file can be uploaded again after a sample.
UPLOAD_GENERATION = "hm_upload_generation"


def uploader_key() -> str:
    return f"upload_{st.session_state.get(UPLOAD_GENERATION, 0)}"


def load_sample() -> None:
    name = st.session_state["sample_choice"]
    if name is None:
        return
    sample = sample_by_name(name)
    frame = cache.sample_table(sample.name)
    state.set_table(state.LoadedTable(frame, sample.name, f"sample:{sample.name}", sample), sample.spec)
    st.session_state.pop(UPLOAD_ERROR, None)
    st.session_state[UPLOAD_GENERATION] = st.session_state.get(UPLOAD_GENERATION, 0) + 1


def load_upload() -> None:
    uploaded = st.session_state.get(uploader_key())
    st.session_state.pop(UPLOAD_ERROR, None)
    if uploaded is None:
        return
    content = uploaded.getvalue()
    try:
        frame = cache.uploaded_table(content, uploaded.name)
    except FileReadError as error:
        st.session_state[UPLOAD_ERROR] = str(error)
        return
    suggestion = suggest_spec(frame)
    if suggestion is None:
        st.session_state[UPLOAD_ERROR] = (
            f"{uploaded.name!r} needs at least one column of numbers (the outcome) and another column naming the "
            "groups"
        )
        return
    state.set_table(state.LoadedTable(frame, uploaded.name, cache.content_fingerprint(content)), suggestion)
    st.session_state["sample_choice"] = None  # the table is no longer a sample


st.title("Data")
st.markdown(
    "Grouped data: *many related little data sets*. Start from a bundled sample or upload your own table, then "
    "say which column is the outcome, which names the groups, and which are predictors."
)

left, right = st.columns(2)
with left:
    names = [s.name for s in SAMPLES]
    loaded = state.table()
    state.seed("sample_choice", loaded.sample.name if loaded.sample else None, [*names, None])
    st.selectbox("Sample data set", names, key="sample_choice", on_change=load_sample,
                 placeholder="Choose a sample (your upload is in use)")
    if st.session_state["sample_choice"] is not None:
        st.caption(sample_by_name(st.session_state["sample_choice"]).story)
with right:
    st.file_uploader("Upload a table (CSV, TSV, Parquet, Excel)", type=["csv", "tsv", "tab", "txt", "parquet", "pq",
                     "xlsx"], key=uploader_key(), on_change=load_upload)

if UPLOAD_ERROR in st.session_state:
    widgets.problems("That file could not be used.", [st.session_state[UPLOAD_ERROR]])

loaded = state.table()
frame = loaded.frame
st.subheader("Preview")
st.text(f"{loaded.name}: {len(frame):,} rows, {frame.shape[1]} columns"
        + (f" (first {PREVIEW_ROWS} shown)" if len(frame) > PREVIEW_ROWS else ""))
# What was read differently from the file as it stands (hiermodels.data.reading.read_table).
if frame.attrs.get("notes"):
    st.info("Read with notes:", icon=":material/info:")
    st.text("\n".join(f"• {note}" for note in frame.attrs["notes"]))
st.dataframe(frame.head(PREVIEW_ROWS), hide_index=True, height=260)

# ---------------------------------------------------------------------------------------------------- roles
st.subheader("Roles of the columns")
current = state.spec()
# Row names or numbers saved as a column (an R or pandas export) are not data: left out of the choices, and said.
index = [c for c in index_columns(frame) if c not in (current.outcome, current.group)]
columns = [str(c) for c in frame.columns if str(c) not in index]
if not columns:  # nothing but row names: offer them rather than nothing
    index, columns = [], [str(c) for c in frame.columns]
for column in index:
    st.text(index_column_note(frame, column))
numeric = numeric_columns(frame)
role_cols = st.columns(3)
state.seed("w_outcome", current.outcome if current.outcome in columns else columns[-1], columns)
state.seed("w_group", current.group if current.group in columns else columns[0], columns)
state.seed("w_family", current.family, FAMILIES)
outcome = role_cols[0].selectbox("Outcome", columns, key="w_outcome")
group = role_cols[1].selectbox("Group", columns, key="w_group")
family = role_cols[2].selectbox("Family", FAMILIES, key="w_family", format_func=FAMILY_LABELS.get)

candidates = [c for c in columns if c not in (outcome, group)]
state.seed("w_predictors", [p for p in current.predictors if p in candidates], candidates)
predictors = st.multiselect("Predictors", candidates, key="w_predictors")

extra_cols = st.columns(3)
others = [c for c in candidates if c not in predictors]
trials = exposure = se = None
if family == "binomial":
    options = ["(none: the outcome is 0/1)", *others]
    state.seed("w_trials", current.trials or options[0], options)
    choice = extra_cols[0].selectbox("Trials", options, key="w_trials")
    trials = None if choice == options[0] else choice
elif family == "poisson":
    options = ["(none)", *others]
    state.seed("w_exposure", current.exposure or options[0], options)
    choice = extra_cols[0].selectbox("Exposure", options, key="w_exposure")
    exposure = None if choice == options[0] else choice
elif family == "known_se":
    options = others or ["(no column left)"]
    state.seed("w_se", current.se or options[0], options)
    se = extra_cols[0].selectbox("Standard error", options, key="w_se")

# Predictors that are not numbers must be dummy-coded against a reference level; numbers may be too.
must_be_categorical = [p for p in predictors if p not in numeric]
state.seed("w_categorical", sorted({*must_be_categorical, *(c for c, _ in current.categorical if c in predictors)}),
           predictors)
categorical_columns = extra_cols[1].multiselect(
    "Categorical predictors", predictors, key="w_categorical",
    help="Dummy-coded against a reference level. Predictors that are not numbers must be categorical.",
)
categorical = []
for column in dict.fromkeys([*must_be_categorical, *categorical_columns]):
    levels = sorted(frame[column].dropna().astype(str).unique().tolist())[:200]
    remembered = dict(current.categorical).get(column, levels[0] if levels else "")
    state.seed(f"w_ref_{column}", remembered, levels)
    reference = extra_cols[2].selectbox("Reference level", levels, key=f"w_ref_{column}")
    extra_cols[2].text(f"for {column}")
    categorical.append((column, reference))

# ---------------------------------------------------------------------------------------------------- validate
varying = tuple(v for v in current.varying if v == INTERCEPT or v in predictors) or (INTERCEPT,)
# Prior overrides name parameters of the current model: keep them only while the roles stay the same.
same_roles = (outcome, group, family, tuple(predictors), tuple(categorical)) == (
    current.outcome, current.group, current.family, current.predictors, current.categorical)
try:
    spec = ModelSpec(
        outcome=outcome, group=group, predictors=tuple(predictors), pooling=current.pooling, varying=varying,
        correlated=current.correlated and len(varying) > 1, parameterization=current.parameterization,
        group_noise=current.group_noise and family == "gaussian", family=family, trials=trials,
        exposure=exposure, se=se, categorical=tuple(categorical), priors=current.priors if same_roles else (),
        sampler=current.sampler,
        factors=current.factors if same_roles else (),  # further grouping factors come from the formula
    )
except SpecError as error:
    widgets.problems("These roles do not make a model yet:", str(error).split("; "))
    st.stop()

state.set_spec(spec)

try:
    prepared = cache.prepared_data(frame, loaded.fingerprint, spec)
except DataError as error:
    count = len(error.problems)
    widgets.problems(f"{count} problem{'s' if count > 1 else ''} with these data:", error.problems)
    st.stop()

summary = f"Ready: {prepared.n_rows:,} rows in {prepared.n_groups:,} groups."
if prepared.rows_dropped:
    summary += f" {prepared.rows_dropped:,} rows left out for missing values: " + ", ".join(
        f"{n:,} in {column}" for column, n in prepared.dropped.items())
st.success("The data are ready to fit.", icon=":material/check_circle:")
st.text(summary)
for note in group_level_notes(prepared, spec):  # predictors that are properties of the group
    st.text(note)
navigation.link(navigation.MODEL, "Next: choose the model and fit", ":material/arrow_forward:")

st.subheader("Group sizes")
if prepared.n_groups <= 2000:
    widgets.chart(charts.group_sizes_chart(interpret.group_sizes(prepared)),
                  "Partial pooling matters most for the small groups: their own data say little, so they borrow "
                  "from the rest.", "group_sizes", key="group_sizes")
else:
    st.info("Too many groups to draw one bar each; the model page still fits them all.")
