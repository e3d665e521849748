"""Command line: ``python -m hiermodels fit DATA --outcome COL --group COL ...`` or ``fit DATA --formula "..."``.

The model is given either by flags (``--outcome``, ``--group``, ``--predictor``, ``--categorical``, ``--vary``,
``--correlated``: one grouping factor) or as an lme4 formula (``--formula "y ~ x + (1 + x | g)"``, any number of
grouping factors; :mod:`hiermodels.model.formula`), not both. Family, trials, exposure, standard errors, pooling,
priors and sampler are flags either way; ``--pooling`` applies to every grouping factor. What the formula's
translation decided (e.g. a varying term added to the fixed part) is printed as ``hiermodels: note: ...`` lines on
standard error and kept in the JSON's ``spec.notes``.

Prints the population-level estimates (posterior mean, interval, MAP) and the diagnostics of each pooling, and
with ``--json OUT`` writes everything (spec and its formula, population, groups, shrinkage, diagnostics, timing) as
JSON (``--json -`` writes it to standard output instead of the tables). Bad input or a bad flag ends with exit
status 2 and one line on standard error that says what is wrong and how to fix it; a formula that cannot be read
adds two lines, the formula and a caret under the character where reading stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

# Only what parsing the flags needs is imported here: numpy, pandas, PyMC, nutpie and the fitting code load when a
# command runs (``python -X importtime -c "import hiermodels.cli"``), so that a bad flag fails at once.
from hiermodels.errors import FitCancelled, FormulaError, HierModelsError, SpecError
from hiermodels.model.spec import (
    FAMILIES,
    INTERCEPT,
    POOLING_LABELS,
    POOLINGS,
    ModelSpec,
    SamplerSettings,
    parse_prior_assignment,
)

if TYPE_CHECKING:
    from hiermodels.inference.fitting import FitProgress
    from hiermodels.results.comparison import PoolingComparison

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one line (what is wrong, and --help), not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"hiermodels: error: {message} (see 'python -m hiermodels fit --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m hiermodels", description="Fit no, complete and partial pooling models.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fit = commands.add_parser(
        "fit",
        help="fit a grouped data set",
        description="Fit a model of grouped data under one or all poolings and report estimates, MAP and "
        "diagnostics.",
        epilog='examples: python -m hiermodels fit sample_data/radon.csv --outcome log_radon --group county '
        '--predictor floor --pooling all --vary intercept --vary floor --json radon.json; '
        'python -m hiermodels fit sample_data/penicillin.csv --formula "diameter ~ 1 + (1 | plate) + (1 | sample)"',
    )
    fit.add_argument("data", help="CSV, TSV, Parquet or Excel (.xlsx) file")
    fit.add_argument("--formula", metavar="FORMULA",
                     help='the model as an lme4 formula, e.g. "log_radon ~ floor + (1 + floor | county)", instead '
                     "of --outcome/--group/--predictor/--categorical/--vary/--correlated")
    fit.add_argument("--outcome", help="the outcome column (or give --formula)")
    fit.add_argument("--group", help="the column naming each row's group (or give --formula)")
    fit.add_argument("--predictor", action="append", default=[], metavar="COL", help="a predictor (repeatable)")
    fit.add_argument("--categorical", action="append", default=[], metavar="COL=REFERENCE",
                     help="dummy-code predictor COL against level REFERENCE (repeatable)")
    fit.add_argument("--pooling", choices=[*POOLINGS, "all"], default="all")
    fit.add_argument("--vary", action="append", default=None, metavar="TERM",
                     help=f"a term that varies by group: {INTERCEPT} or a predictor (repeatable; default intercept)")
    fit.add_argument("--correlated", action="store_true", help="correlated varying effects (LKJ prior)")
    centring = fit.add_mutually_exclusive_group()
    centring.add_argument("--noncentered", dest="parameterization", action="store_const", const="noncentered",
                          help="non-centred group effects (default)")
    centring.add_argument("--centered", dest="parameterization", action="store_const", const="centered")
    fit.add_argument("--group-noise", action="store_true", help="residual scale varies by group (gaussian)")
    fit.add_argument("--family", choices=FAMILIES, default="gaussian")
    fit.add_argument("--trials", metavar="COL", help="number of trials (binomial)")
    fit.add_argument("--exposure", metavar="COL", help="exposure (poisson)")
    fit.add_argument("--se", metavar="COL", help="standard error of each estimate (known_se)")
    fit.add_argument("--prior", action="append", default=[], metavar="NAME=DIST(ARGS)",
                     help='override a prior, e.g. "sd(intercept)=halfcauchy(5)" (repeatable)')
    defaults = SamplerSettings()
    fit.add_argument("--draws", type=int, default=defaults.draws)
    fit.add_argument("--tune", type=int, default=defaults.tune)
    fit.add_argument("--chains", type=int, default=defaults.chains)
    fit.add_argument("--seed", type=int, default=defaults.seed)
    fit.add_argument("--target-accept", type=float, default=defaults.target_accept,
                     help="NUTS's target acceptance in [0.5, 1) (default: 0.99 under partial pooling of sampled "
                          "group effects, else 0.9)")
    fit.add_argument("--json", metavar="OUT", help="write the full results as JSON to OUT ('-' for stdout)")
    fit.add_argument("--quiet", action="store_true", help="no progress on standard error")
    return parser


# The flags that describe the model's terms and groups, which --formula replaces.
_MODEL_FLAGS = ("--outcome", "--group", "--predictor", "--categorical", "--vary", "--correlated")


def model_flags_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with how the model is given (both --formula and model flags, or neither), or None."""
    given = [flag for flag, value in zip(_MODEL_FLAGS, (args.outcome, args.group, args.predictor, args.categorical,
                                                        args.vary, args.correlated), strict=True)
             if value not in (None, [], False)]
    if args.formula is not None and given:
        return (f"give the model either as --formula or with {', '.join(given)}, not both: the formula already "
                "names the outcome, the terms and the groups")
    if args.formula is None:
        missing = [flag for flag, value in (("--outcome", args.outcome), ("--group", args.group)) if not value]
        if missing:
            return (f"the following arguments are required: {', '.join(missing)} (or give the whole model as "
                    '--formula "outcome ~ terms + (1 | group)")')
    return None


def spec_from_args(args: argparse.Namespace, columns: Sequence[str] | None = None) -> ModelSpec:
    """The spec the flags describe; with --formula, ``columns`` are the data's column names."""
    return spec_and_notes(args, columns)[0]


def spec_and_notes(args: argparse.Namespace, columns: Sequence[str] | None = None) -> tuple[ModelSpec, tuple[str, ...]]:
    """The spec and the notes of its formula's translation (none when the model is given by flags)."""
    problem = model_flags_problem(args)
    if problem:
        raise SpecError(problem)
    options = dict(
        pooling="partial" if args.pooling == "all" else args.pooling,
        parameterization=args.parameterization or "noncentered",
        group_noise=args.group_noise,
        family=args.family,
        trials=args.trials,
        exposure=args.exposure,
        se=args.se,
        priors=tuple(parse_prior_assignment(p) for p in args.prior),
        sampler=SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                                target_accept=args.target_accept),
    )
    if args.formula is not None:
        if columns is None:
            raise SpecError("--formula is read against the data's columns: pass them")
        from hiermodels.model.formula import spec_from_formula

        translated = spec_from_formula(args.formula, columns, **options)
        return translated.spec, translated.notes
    categorical = []
    for item in args.categorical:
        column, sep, reference = item.partition("=")
        if not sep or not column or not reference:
            raise SpecError(f"--categorical takes COL=REFERENCE (e.g. --categorical floor=basement), got {item!r}")
        categorical.append((column, reference))
    predictors = list(dict.fromkeys([*args.predictor, *(c for c, _ in categorical)]))
    spec = ModelSpec(
        outcome=args.outcome,
        group=args.group,
        predictors=tuple(predictors),
        varying=tuple(args.vary) if args.vary is not None else (INTERCEPT,),
        correlated=args.correlated,
        categorical=tuple(categorical),
        **options,
    )
    return spec, ()


def spec_to_dict(spec: ModelSpec) -> dict:
    out = dataclasses.asdict(spec)
    out["priors"] = {name: str(prior) for name, prior in spec.priors}
    out["categorical"] = dict(spec.categorical)
    return out


def run_fit(args: argparse.Namespace) -> int:
    if args.formula is None:
        spec, notes = spec_and_notes(args)  # flags are checked before the data are read
    output = _json_path(args.json)  # checked before a fit that may take minutes
    from hiermodels.engine.nutpie_adapter import defer_full_arviz

    defer_full_arviz()
    from hiermodels.data.preparing import prepare
    from hiermodels.data.reading import read_table
    from hiermodels.inference.fitting import fit_poolings
    from hiermodels.model.formula_writer import formula_of

    frame = read_table(args.data)
    if args.formula is not None:
        spec, notes = spec_and_notes(args, [str(c) for c in frame.columns])
    for note in notes:
        print(f"hiermodels: note: {note}", file=sys.stderr)
    try:
        formula = formula_of(spec)
    except SpecError:  # a column name that a formula cannot hold (a backquote): the JSON says null
        formula = None
    prepared = prepare(frame, spec)
    poolings = POOLINGS if args.pooling == "all" else (args.pooling,)
    show_progress = not args.quiet and sys.stderr.isatty()
    comparison = fit_poolings(prepared, spec, poolings, progress=_print_progress if show_progress else None)
    if show_progress:
        print(file=sys.stderr)
    document = {"spec": {**spec_to_dict(spec), "pooling": args.pooling, "formula": formula, "notes": list(notes)},
                **comparison.to_json_dict()}
    if args.pooling != "all":
        # One pooling: population, diagnostics and timing are not keyed by pooling.
        for key in ("population", "diagnostics", "timing", "priors"):
            document[key] = document[key][args.pooling]
    # NaN (e.g. R-hat of a single chain) is not JSON: it is written as null.
    text = json.dumps(_finite_or_none(document), indent=2, allow_nan=False, default=_json_default)
    if args.json == "-":
        print(text)
        return 0
    if output is not None:
        try:
            output.write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise HierModelsError(f"cannot write the JSON to {args.json!r}: {error.strerror or error}") from None
    from hiermodels.model.priors import no_pooling_notes

    dropped = no_pooling_notes(prepared, spec) if "none" in poolings else []  # a predictor of the group, left out
    print("\n".join([*(f"note: {note}" for note in dropped), format_report(comparison)]))
    return 0


def format_report(comparison: PoolingComparison) -> str:
    """The population tables and diagnostics as plain text."""
    import pandas as pd

    lines = []
    first = comparison[comparison.poolings[0]]
    data = first.data
    factors = "".join(f", {f.n_groups} {f.name} groups" for f in data.factors)
    first_name = f" {first.spec.group}" if data.factors else ""
    dropped = ": " + ", ".join(f"{n} in {c}" for c, n in data.dropped.items()) if data.dropped else ""
    lines.append(f"{data.n_rows} rows in {data.n_groups}{first_name} groups{factors} ({data.rows_dropped} rows "
                 f"left out for missing values{dropped})")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        for pooling in comparison.poolings:
            result = comparison[pooling]
            table = result.population().drop(columns=["kind"]).set_index("name")
            lines += ["", f"== {POOLING_LABELS[pooling]} (posterior mean, 95% interval, joint mode) ==",
                      table.round(3).to_string()]
            collapsed = [name for name, flag in result.map_collapsed().items() if flag]
            if collapsed:
                lines.append(f"  MAP collapsed: {', '.join(collapsed)} at ~0 (all groups equal at the mode); "
                             "the posterior mean is the estimate to use")
            if result.map_message:
                lines.append(f"  MAP: {result.map_message}")
            for warning in result.diagnostics().warnings:
                lines.append(f"  warning: {warning}")
            lines.append(f"  time: {result.timing.total_s:.1f} s (compile {result.timing.compile_s:.1f}, "
                         f"sample {result.timing.sample_s:.1f}, MAP {result.timing.map_s:.1f})")
    return "\n".join(lines)


def _print_progress(progress: FitProgress) -> None:
    from hiermodels.inference.progress import terminal_line

    width = shutil.get_terminal_size().columns
    print(terminal_line(progress, width), end="", file=sys.stderr, flush=True)


def _json_path(text: str | None) -> Path | None:
    """The --json output file, or None (no file, or '-' for stdout); its folder must exist."""
    if not text or text == "-":
        return None
    path = Path(text)
    if path.is_dir():
        raise HierModelsError(f"--json {text!r} is a folder: give a file name, e.g. {str(path / 'results.json')!r}")
    if not path.parent.is_dir():
        raise HierModelsError(
            f"cannot write the JSON to {text!r}: the folder {str(path.parent)!r} does not exist; create it first"
        )
    return path


def _finite_or_none(document: object) -> object:
    """``document`` with every NaN or infinity (Python's or numpy's) replaced by None."""
    import numpy as np

    def walk(value: object) -> object:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            return None
        return value

    return walk(document)


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = model_flags_problem(args)
    if problem:
        parser.error(problem)
    try:
        return run_fit(args)
    except (FitCancelled, KeyboardInterrupt):
        print("hiermodels: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except FormulaError as error:
        # The formula and a caret under the character where reading stopped, kept on their own lines.
        pointer = f"\n{error.pointer()}" if error.position is not None else ""
        print(f"hiermodels: error: {' '.join(error.summary.split())}{pointer}", file=sys.stderr)
        return EXIT_USAGE
    except HierModelsError as error:
        message = " ".join(str(error).split())
        print(f"hiermodels: error: {message}", file=sys.stderr)
        return EXIT_USAGE
