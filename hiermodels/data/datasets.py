"""The bundled sample data sets, with the roles of their columns and a one-line story each.

The files live in ``sample_data/`` at the repository root (``sample_data/README.md`` gives sources and columns).
Each :class:`SampleDataset` carries a ready-to-fit :class:`~hiermodels.model.spec.ModelSpec`, so the app and the
tests can open any of them with one call.

Some samples also carry a held-out **truth** per group (:class:`Truth`): a value of the same quantity that the
sample's own model estimates for each group (its mean outcome on the natural scale), known from outside the
data: Efron & Morris's rest-of-season batting averages, the simulated daughters' true family means. The app
compares every pooling's estimates with it (:func:`hiermodels.results.interpret.truth_errors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hiermodels.data.reading import read_table
from hiermodels.errors import SpecError
from hiermodels.model.spec import INTERCEPT, GroupingFactor, ModelSpec

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"


@dataclass(frozen=True)
class Truth:
    """Where a sample keeps each group's true value of the quantity its model estimates per group.

    ``column`` holds the truth, one row per group, in ``filename`` (None: the sample's own file) keyed by ``key``
    (None: the sample's group column). ``label`` names the quantity for people (an axis title), ``source`` says
    where the truth comes from (a caption). The value is on the natural scale of the estimate (a probability for
    a binomial model, the mean outcome for a gamma one), never on the link scale.
    """

    column: str
    label: str
    source: str
    filename: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class SampleDataset:
    name: str
    filename: str
    story: str
    spec: ModelSpec
    truth: Truth | None = None

    @property
    def path(self) -> Path:
        return SAMPLE_DIR / self.filename

    def load(self) -> pd.DataFrame:
        return read_table(self.path)

    def truth_applies(self, spec: ModelSpec) -> bool:
        """Whether a model fitted with ``spec`` estimates the quantity of :attr:`truth` for each group: the
        sample's own outcome, group, family, trials and predictors, with a varying intercept (so that each
        group's intercept, on the natural scale, is its mean)."""
        own = self.spec
        return self.truth is not None and INTERCEPT in spec.varying and (
            spec.outcome, spec.group, spec.family, spec.trials, spec.exposure, spec.predictors,
        ) == (own.outcome, own.group, own.family, own.trials, own.exposure, own.predictors)

    def load_truth(self) -> pd.DataFrame:
        """The truth as a tidy frame: columns group (text, as the data spell it) and truth (float)."""
        if self.truth is None:
            raise SpecError(f"the sample {self.name!r} has no held-out truth")
        truth = self.truth
        key = truth.key or self.spec.group
        frame = read_table(SAMPLE_DIR / (truth.filename or self.filename))
        values = pd.to_numeric(frame[truth.column], errors="coerce")
        if values.isna().any() or frame[key].duplicated().any():
            raise SpecError(f"the truth column {truth.column!r} of {self.name!r} needs one number per group")
        return pd.DataFrame({"group": frame[key].astype(str).to_numpy(), "truth": values.to_numpy(dtype=float)})


SAMPLES: tuple[SampleDataset, ...] = (
    SampleDataset(
        "Minnesota radon",
        "radon.csv",
        "919 houses in 85 Minnesota counties (Gelman & Hill): log radon by floor. Counties with one or two houses "
        "borrow strength from the rest.",
        ModelSpec("log_radon", "county", ("floor",), varying=(INTERCEPT,)),
    ),
    SampleDataset(
        "Radon with county uranium",
        "radon.csv",
        "The same 919 houses with each county's soil uranium (log_uranium, one value per county; Gelman & Hill "
        "section 12.6): uranium predicts the county's level, so partial pooling pulls each county toward its own "
        "predicted value, not one flat mean. No pooling leaves uranium out: there each county's own intercept "
        "absorbs it.",
        ModelSpec("log_radon", "county", ("floor", "log_uranium"), varying=(INTERCEPT,)),
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
        Truth("remaining_avg", "batting average",
              "each player's batting average over the rest of the 1970 season (Efron & Morris 1975)"),
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
        ModelSpec("height_cm", "family", family="gamma", parameterization="centered"),
        Truth("true_mean_cm", "mean height (cm)", "each family's true mean, known because the data are simulated",
              filename="daughters_truth.csv", key="family"),
    ),
    SampleDataset(
        "Penicillin plates and samples",
        "penicillin.csv",
        "144 assays of 6 penicillin samples, each tested on each of 24 plates (lme4's Penicillin): two crossed "
        "grouping factors, so every assay carries a plate effect and a sample effect.",
        # The plates (most groups) are integrated out (hiermodels.model.integrated); each sample's 24 assays pin
        # its effect down, the centred form's good case (non-centred: R-hat 1.02 at the Quick preset).
        ModelSpec("diameter", "plate", factors=(GroupingFactor("sample"),), parameterization="centered"),
    ),
    SampleDataset(
        "Paste strength (nested)",
        "pastes.csv",
        "Strength of a chemical paste, 2 assays from each of 3 casks in each of 10 delivery batches (lme4's Pastes): "
        "casks nested in batches, where cask 'a' of one batch is not cask 'a' of another.",
        ModelSpec("strength", "batch", factors=(GroupingFactor("cask", within="batch"),)),
    ),
    SampleDataset(
        "Lecture evaluations (InstEval)",
        "insteval.csv",
        "2,667 ratings (1-5) of 47 lecturers by 1,047 ETH Zurich students, a subsample of lme4's InstEval: each "
        "rating belongs to a student and to a lecturer; a lecturer rated 400 times hardly moves, a student with 2 "
        "ratings shrinks hard.",
        # The students (most groups) are integrated out (hiermodels.model.integrated); the lecturers, 3 to 401
        # ratings each, are informative enough for the centred form.
        ModelSpec("y", "d", factors=(GroupingFactor("s"),), parameterization="centered"),
    ),
)

DEFAULT_SAMPLE = SAMPLES[0]


def sample_by_name(name: str) -> SampleDataset:
    for sample in SAMPLES:
        if sample.name == name:
            return sample
    raise KeyError(f"no sample data set named {name!r}; choose one of {', '.join(s.name for s in SAMPLES)}")
