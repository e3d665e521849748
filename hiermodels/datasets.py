"""The bundled sample data sets, with the roles of their columns and a one-line story each.

The files live in ``sample_data/`` at the repository root (``sample_data/README.md`` gives sources and columns).
Each :class:`SampleDataset` carries a ready-to-fit :class:`~hiermodels.spec.ModelSpec`, so the app and the
tests can open any of them with one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hiermodels.data import read_table
from hiermodels.spec import INTERCEPT, ModelSpec

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"


@dataclass(frozen=True)
class SampleDataset:
    name: str
    filename: str
    story: str
    spec: ModelSpec

    @property
    def path(self) -> Path:
        return SAMPLE_DIR / self.filename

    def load(self) -> pd.DataFrame:
        return read_table(self.path)


SAMPLES: tuple[SampleDataset, ...] = (
    SampleDataset(
        "Minnesota radon",
        "radon.csv",
        "919 houses in 85 Minnesota counties (Gelman & Hill): log radon by floor. Counties with one or two houses "
        "borrow strength from the rest.",
        ModelSpec("log_radon", "county", ("floor",), varying=(INTERCEPT,)),
    ),
    SampleDataset(
        "Sleep deprivation",
        "sleepstudy.csv",
        "Reaction times of 18 subjects over 10 days of sleep restriction (lme4's sleepstudy): each subject has a "
        "baseline and a slope.",
        ModelSpec("Reaction", "Subject", ("Days",), varying=(INTERCEPT, "Days"), correlated=True),
    ),
    SampleDataset(
        "Eight schools",
        "eight_schools.csv",
        "Coaching effects in eight schools, each an estimate with its standard error (Rubin 1981): the classic "
        "case where the joint mode says every school is the same.",
        ModelSpec("estimate", "school", family="known_se", se="se"),
    ),
    SampleDataset(
        "Baseball batting averages",
        "baseball.csv",
        "Hits in the first 45 at-bats of 18 players in 1970 (Efron & Morris 1975): shrunken averages predict the "
        "rest of the season better than each player's own.",
        ModelSpec("hits", "player", family="binomial", trials="at_bats"),
    ),
    SampleDataset(
        "Cattle disease (cbpp)",
        "cbpp.csv",
        "New cases of contagious bovine pleuropneumonia in 15 herds over four periods (lme4's cbpp): a binomial "
        "model with a herd effect.",
        ModelSpec("incidence", "herd", ("period",), family="binomial", trials="size", categorical=(("period", "1"),)),
    ),
    SampleDataset(
        "School exam scores",
        "exam.csv",
        "Exam scores of 4,059 pupils in 65 London schools against an intake reading test (mlmRev's Exam): do "
        "schools differ in level and in slope?",
        ModelSpec("normexam", "school", ("standLRT",), varying=(INTERCEPT, "standLRT"), correlated=True),
    ),
    SampleDataset(
        "Daughters' heights",
        "daughters.csv",
        "Simulated heights of 8-year-old daughters in families of 1,000, 50, ... and 1 (gamma outcome): the "
        "family of one is pulled hardest toward the population.",
        ModelSpec("height_cm", "family", family="gamma"),
    ),
)

DEFAULT_SAMPLE = SAMPLES[0]


def sample_by_name(name: str) -> SampleDataset:
    for sample in SAMPLES:
        if sample.name == name:
            return sample
    raise KeyError(f"no sample data set named {name!r}; choose one of {', '.join(s.name for s in SAMPLES)}")
