"""Population & prediction: what the poolings say about groups in general, how the outcome's variance splits
between the grouping factors and the residual, and predictions for an existing group and for a new, unseen one.

With several grouping factors a "Grouping factor" choice picks whose group-level parameters are shown beside the
population-level ones. A further factor's groups are deviations around the population mean of each term
(``FitResult.factor_groups``), so its population value is that mean. Predictions are for the groups of the first
grouping factor, with every other factor at its average group (a deviation of 0): the page says so. A prediction
is for a case given by its predictor columns (a number, or a level of a category); the design terms (dummies,
interaction products) follow from them, so no input can describe a case no row could be.
"""

import streamlit as st

from hiermodels import charts
from hiermodels.model import names
from hiermodels.model.spec import POOLING_LABELS
from hiermodels.results import interpret
from hiermodels.results.variance import unavailable_reason
from hiermodels_ui import cache, state, widgets

widgets.require_frame()

PREDICTION_CAPTIONS = {
    "partial": "Compare the widths: the new group's prediction is wider because its coefficients are uncertain too.",
    "none": "Compare the panels: the group mean is known far better than a single new observation.",
    "complete": "The two predictions coincide: under complete pooling a new group is just like every other group.",
}

st.title("Population & prediction")
key, fit = widgets.current_fit()
widgets.fitted_model(fit)
scale = widgets.scale_choice(fit)
factor = widgets.factor_choice(fit)

population = cache.population_table(fit, key, scale)
if factor is not None:  # the shared parameters, and the group-level ones of the chosen factor only
    population = population[population["name"].map(lambda name: names.split_factor(name)[1] in (None, factor))]
widgets.chart(
    charts.population_chart(population),
    "Compare the colours within each panel: the poolings agree on well-measured parameters and differ where "
    "the groups disagree.",
    "population", key="w_population_chart",
)
widgets.table(population, "population")
# The same numbers as plain text, to read aloud or copy: posterior mean [95% interval] per pooling.
# Four significant digits, as the charts print them (charts.NUMBER_FORMAT).
st.text("\n".join(
    f"{POOLING_LABELS[pooling]}: " + ("; ".join(
        f"{row.name} {row.mean:.4g} [{row.lower:.4g}, {row.upper:.4g}]"
        for row in population[population["pooling"] == pooling].itertuples())
        or "no population-level parameter (every coefficient is each group's own)")
    for pooling in fit.poolings))

partial = fit["partial"] if "partial" in fit.poolings else None
st.header("Where the variance lies")
decomposition = cache.variance_table(fit, key) if partial is not None else None
if decomposition is None:
    st.info(unavailable_reason(partial) if partial is not None else
            "The variance decomposition needs partial pooling: fit it on the **Model & fit** page.",
            icon=":material/info:")
else:
    widgets.chart(
        charts.variance_chart(decomposition.summary, decomposition.residual_note, prob=decomposition.prob),
        "Compare the bars: a grouping factor with a large share is where the outcome differs most; a wide "
        "interval means the data say little about that factor's spread (few groups).",
        "variance_shares", key="w_variance_chart",
    )
    widgets.table(decomposition.summary, "variance_shares")

st.header("Prediction: an existing group vs a new group")
st.markdown(
    "An **existing** group is predicted from its own coefficients. A **new** group, one the data have never "
    "seen, gets coefficients drawn from the population distribution that partial pooling learns, so its "
    "predictions are wider. **No pooling** learns nothing about groups in general and cannot predict a new "
    "group; **complete pooling** ignores the groups, so it predicts every group, old or new, the same."
)

pooling = widgets.pooling_choice("Predict with", "w_predict_pooling", fit)
result = fit[pooling]
if pooling == "none":
    st.info("No pooling cannot predict a new group: only the existing group is shown.", icon=":material/info:")
elif pooling == "complete":
    st.info("Complete pooling ignores the groups: the existing and the new group get the same prediction.",
            icon=":material/info:")

labels = list(result.data.group_labels)
state.seed("w_predict_group", state.highlight() if state.highlight() in labels else labels[0], labels)
group = st.selectbox("Existing group", labels, key="w_predict_group")

# With several factors each prediction also belongs to a group of every further factor: a known one, or a new
# one (partial pooling draws its effect from that factor's population; a new student rating a known lecturer).
NEW_GROUP = "a new group"
factor_groups: dict[str, str | None] = {}
if result.spec.factors and pooling != "complete":
    st.text(f"The groups above are those of {result.spec.group}, the first grouping factor. For each further "
            "factor, choose " + ("one of its groups (no pooling cannot predict a new one)." if pooling == "none"
                                 else "a known group or a new one."))
    columns = st.columns(min(len(result.data.factors), 3))
    for index, factor_data in enumerate(result.data.factors):
        options = ([] if pooling == "none" else [NEW_GROUP]) + list(factor_data.labels)
        column = columns[index % len(columns)]
        column.text(f"Group of {factor_data.name}")
        choice = column.selectbox("Group of the further factor", options, key=f"w_predict_factor_{index}",
                                  label_visibility="collapsed")
        factor_groups[factor_data.name] = None if choice == NEW_GROUP else choice

# One input per predictor column (never per design term): a category is one of its levels, and its dummies and
# every interaction product follow from the columns (preparing.design_row), so the case is one a row could be.
predictor_columns = result.data.predictor_columns()
values: dict[str, float | str] = {}
if predictor_columns:
    st.caption("Predictor values: a numeric predictor starts at its mean in the data; a 0/1 predictor starts at 0, "
               "the reference, where a mean such as 0.17 would describe no real case; a category starts at its "
               "reference level. Interactions have no input: they are computed from these values.")
    columns = st.columns(min(len(predictor_columns), 4))
    for index, predictor_column in enumerate(predictor_columns):
        column = columns[index % len(columns)]
        name = predictor_column.name
        column.text(name)
        if predictor_column.levels is not None:
            # Levels are the user's text: options of a selectbox are plain text. It starts at the reference, and
            # goes back to it when another table's column of that name lacks the level chosen before.
            levels = list(predictor_column.levels)
            state.seed(f"w_predict_level_{name}", predictor_column.reference, levels)
            values[name] = column.selectbox("Level", levels, key=f"w_predict_level_{name}",
                                            label_visibility="collapsed", help="Starts at the reference level.")
            continue
        binary = predictor_column.binary
        start = 0.0 if binary else float(f"{predictor_column.mean:.4g}")
        values[name] = column.number_input(
            "Predictor value", value=start, format="%g", key=f"w_predict_value_{name}", label_visibility="collapsed",
            help="0/1 in the data: starts at 0, the reference; 1 is the other case." if binary else
            "Starts at the mean of this predictor in the data.",
        )
        if binary:
            column.caption("0/1: starts at 0, the reference")
else:
    st.caption("The model has no predictors: the predictions are for the intercept alone.")

widgets.chart(
    charts.prediction_chart(interpret.prediction_draws(result, group, values, factor_groups=factor_groups)),
    PREDICTION_CAPTIONS[pooling],
    f"prediction_{pooling}", key="w_prediction_chart",
)
