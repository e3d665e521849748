"""Result tables: which no-pooling coefficients a group's own data can identify."""

from __future__ import annotations

import pandas as pd

from hiermodels import ModelSpec, prepare
from hiermodels.results import identified_matrix


def test_identifiability_follows_each_groups_design():
    """one: a single row (its slope needs a second x); flat: x constant within the group (slope confounded with
    the intercept); zeros: x always 0 (the intercept is still identified, the slope is not); good: varied x."""
    rows = [("one", 1.0, 2.0)]
    rows += [("flat", y, 3.0) for y in (1.0, 2.0, 4.0)]
    rows += [("zeros", y, 0.0) for y in (1.0, 2.0, 3.0)]
    rows += [("good", y, x) for y, x in ((1.0, 0.0), (2.0, 1.0), (2.5, 2.0))]
    frame = pd.DataFrame(rows, columns=["g", "y", "x"])
    spec = ModelSpec("y", "g", ("x",), pooling="none", varying=("intercept", "x"))
    data = prepare(frame, spec)
    table = pd.DataFrame(identified_matrix(data, ("intercept", "x")), index=list(data.group_labels),
                         columns=["intercept", "x"])
    assert table.loc["good"].tolist() == [True, True]
    assert table.loc["one"].tolist() == [True, False]
    assert table.loc["flat"].tolist() == [True, False]
    assert table.loc["zeros"].tolist() == [True, False]
    # Only the slope varies: a group whose x is all 0 cannot identify it; a constant non-zero x can.
    slope_only = identified_matrix(data, ("x",))[:, 0]
    assert dict(zip(data.group_labels, slope_only, strict=True)) == {
        "one": True, "flat": True, "zeros": False, "good": True}
