"""Writing a spec as an lme4 formula: the inverse of :mod:`hiermodels.model.formula`'s reading (that module's
docstring gives the language, and its tests the round trip ``spec_from_formula(formula_of(s), ...) == s``).

Apart from the reader because writing needs no parser: the command line writes every fit's formula into its JSON,
and importing formulae (with the parts of scipy it loads) cost 0.33 s of each run.
"""

from __future__ import annotations

from hiermodels.errors import SpecError
from hiermodels.model import names
from hiermodels.model.spec import INTERCEPT, ModelSpec


def _quoted(name: str) -> str:
    """A column name as formulae's scanner reads it: bare if it is an identifier, else in backquotes."""
    bare = (bool(name) and name[0].isalpha() and all(c.isalnum() or c in "._" for c in name[1:])
            and name not in ("True", "False", "None"))
    if bare:
        return name
    if "`" in name:
        raise SpecError(f"the column name {name!r} holds a backquote, so it cannot be written in a formula; "
                        "rename the column")
    return f"`{name}`"


def _term_text(term: str, categorical: dict[str, str] | None = None) -> str:
    """A term as written in a formula; each column of ``categorical`` is written ``C(column, Treatment("ref"))``
    and then taken out of ``categorical``, so that a reference level is stated once, where the column first
    appears (in a main effect or inside an interaction, ``x:C(g, Treatment("a"))``)."""
    if term == INTERCEPT:
        return "1"
    texts = []
    for part in names.interaction_parts(term):
        reference = categorical.pop(part) if categorical and part in categorical else None
        if reference is None:
            texts.append(_quoted(part))
            continue
        if '"' in reference or "'" in reference:
            raise SpecError(f"the reference level {reference!r} of {part} holds a quote, so it cannot be written "
                            "in a formula")
        texts.append(f'C({_quoted(part)}, Treatment("{reference}"))')
    return names.INTERACTION_SEPARATOR.join(texts)


def _bar_text(varying: tuple[str, ...], correlated: bool, factor: str) -> str:
    terms = [_term_text(t) for t in varying]
    if INTERCEPT not in varying:
        terms.insert(0, "0")
    bar = "|" if correlated or len(varying) < 2 else "||"
    return f"({' + '.join(terms)} {bar} {factor})"


def formula_of(spec: ModelSpec) -> str:
    """The lme4 formula of a spec's outcome, terms and grouping factors (its other fields are options:
    :func:`spec_options`). Nested factors with the same varying terms as their parent are written parent/child,
    others as (terms | parent:child); terms of a factor that are not correlated are written with ||."""
    categorical = spec.categorical_levels  # emptied by _term_text as each reference level is written
    fixed = [_term_text(p, categorical) for p in spec.predictors] or ["1"]
    factors = spec.all_factors
    bars = []
    index = 0
    while index < len(factors):
        factor = factors[index]
        if factor.within is None:
            chain = [factor]
            while (index + len(chain) < len(factors)
                   and factors[index + len(chain)].within == chain[-1].column
                   and factors[index + len(chain)].varying == factor.varying
                   and factors[index + len(chain)].correlated == factor.correlated):
                chain.append(factors[index + len(chain)])
            bars.append(_bar_text(factor.varying, factor.correlated, "/".join(_quoted(f.column) for f in chain)))
            index += len(chain)
        else:
            bars.append(_bar_text(factor.varying, factor.correlated,
                                  f"{_quoted(factor.within)}:{_quoted(factor.column)}"))
            index += 1
    return f"{_quoted(spec.outcome)} ~ {' + '.join(fixed + bars)}"
