r"""Writing a :class:`~hiermodels.model.spec.ModelSpec` down three ways: a formula, the maths, and one sentence.

:func:`formula`
    the model in lme4/brms syntax, as an R user would fit it. Partial pooling is lme4's ``(terms | group)``
    (``||`` for uncorrelated group effects, as in brms); no pooling is the group as a factor with one coefficient
    per group (``0 + county + county:floor``); complete pooling leaves the group out. The family's extras follow
    brms: ``y | trials(n)``, ``y | se(s)``, ``offset(log(e))``, ``, family = ...`` and a distributional
    ``sigma ~ ...`` part when the residual noise varies by group. Column names that are not R identifiers are
    written in backticks.
:func:`latex`
    the model as a KaTeX ``aligned`` block for ``st.latex``, in the notation of :mod:`hiermodels.model.build`:
    :math:`\eta_i` the linear predictor, :math:`g[i]` the group of row i, :math:`\beta` common coefficients,
    :math:`b_{k,j}` group j's coefficient of term k, :math:`\mu_k, \tau_k` the population mean and scale of a
    varying term, :math:`R` the correlation matrix, :math:`\sigma` the residual scale, :math:`\alpha` the gamma
    shape. The intercept's subscript is 0; every other subscript is the term's name.
:func:`describe`
    one plain-English sentence for a student.

Several grouping factors (``spec.factors``): the formula gains one bar per further factor (lme4's
``(1 | plate) + (1 | sample)``; under no pooling the factor as a fixed effect, ``+ sample``); the maths a line per
level: :math:`h_f[i]` the group of row i in further factor f, :math:`u^{(\text{sample})}_{k,h}` group h's deviation
in term k, :math:`\tau^{(\text{sample})}_k` its scale (``sd(k|sample)``), and :math:`\Sigma^{(\cdot)}, R^{(\cdot)}`
when correlated; the sentence one clause per further factor. With one factor the output is as before.

Column names, group names and category levels come from users, so everything a user wrote is passed through
:func:`latex_text`: LaTeX's special characters are escaped and any character outside a small safe set is
replaced by ``?``. The output then contains only the commands this module writes, and its braces are balanced,
whatever the column names are (a name such as ``x}\href{javascript:alert(1)}{y`` stays text). ``$`` is written
as ``\textdollar{}``, so no raw ``$`` reaches a Markdown renderer that could read it as a math delimiter.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence

from hiermodels.errors import SpecError
from hiermodels.model import names
from hiermodels.model.prior_families import PRIOR_FAMILIES
from hiermodels.model.spec import INTERCEPT, POOLING_LABELS, GroupingFactor, ModelSpec, Prior

# ------------------------------------------------------------------------------------------------ formula
# An R syntactic name: a letter, or a dot not followed by a digit, then letters, digits, dots and underscores.
_R_NAME = re.compile(r"(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*")
_R_RESERVED = frozenset(
    {
        "if", "else", "repeat", "while", "function", "for", "in", "next", "break", "TRUE", "FALSE", "NULL",
        "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "...",
    }
)
# Characters of LaTeX source per line of the linear predictor (about 60 characters as KaTeX draws them).
_LINE_BUDGET = 110
_R_ESCAPES = {"\\": "\\\\", "`": "\\`", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def r_name(column: str) -> str:
    """``column`` as R reads it in a formula: as it is when it is a syntactic name, else in backticks."""
    if _R_NAME.fullmatch(column) and column not in _R_RESERVED and not re.fullmatch(r"\.\.[0-9]+", column):
        return column
    escaped = "".join(
        _R_ESCAPES.get(ch, f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch) for ch in column
    )
    return f"`{escaped}`"


def _r_term(term: str) -> str:
    """A predictor as R writes it: a column, or an interaction ``a:b`` of columns (each part as :func:`r_name`)."""
    return names.INTERACTION_SEPARATOR.join(r_name(part) for part in names.interaction_parts(term))


def _factor_r_name(factor: GroupingFactor) -> str:
    """A factor as lme4 names it in a bar: its column, or ``parent:child`` when it is nested."""
    return f"{r_name(factor.within)}:{r_name(factor.column)}" if factor.within else r_name(factor.column)


def _bar(varying: Sequence[str], correlated: bool, factor: str) -> str:
    terms = [("1" if v == INTERCEPT else _r_term(v)) for v in varying]
    if INTERCEPT not in varying:
        terms.insert(0, "0")
    bar = "||" if len(varying) > 1 and not correlated else "|"
    return f"({' + '.join(terms)} {bar} {factor})"


def group_term(factor: GroupingFactor) -> str:
    """One grouping factor as an lme4 group term: ``(1 | sample)``, ``(1 + x || g)``, ``(1 | batch:cask)``."""
    return _bar(factor.varying, factor.correlated, _factor_r_name(factor))


def formula(spec: ModelSpec) -> str:
    """The model in lme4/brms syntax, e.g. ``log_radon ~ 1 + floor + (1 + floor | county)``.

    Categorical predictors appear by name (R codes a factor against its first level; the reference level of the
    spec is not written). Under complete pooling the group is not part of the model and does not appear.
    """
    group = r_name(spec.group)
    varying = spec.varying_terms
    further = spec.factors if spec.pooling != "complete" else ()
    if spec.pooling == "none":
        terms = [f"0 + {group}"] if INTERCEPT in varying else ["1"]
        terms += [f"{group}:{_r_term(p)}" if p in varying else _r_term(p) for p in spec.predictors]
        for factor in further:  # fixed effects of each further factor
            name = _factor_r_name(factor)
            terms += [name if v == INTERCEPT else f"{name}:{_r_term(v)}" for v in factor.varying]
    else:
        terms = ["1", *(_r_term(p) for p in spec.predictors)]
    if spec.family == "poisson" and spec.exposure:
        terms.append(f"offset(log({r_name(spec.exposure)}))")
    if spec.pooling == "partial":
        group_terms = [("1" if v == INTERCEPT else _r_term(v)) for v in varying]
        if INTERCEPT not in varying:
            group_terms.insert(0, "0")
        bar = "||" if len(varying) > 1 and not spec.correlated else "|"
        terms.append(f"({' + '.join(group_terms)} {bar} {group})")
        terms += [group_term(factor) for factor in further]

    outcome = r_name(spec.outcome)
    if spec.family == "binomial" and spec.trials:
        outcome += f" | trials({r_name(spec.trials)})"
    elif spec.family == "known_se" and spec.se:
        outcome += f" | se({r_name(spec.se)})"
    text = f"{outcome} ~ {' + '.join(terms)}"

    if spec.group_noise and spec.family == "gaussian":
        if spec.pooling == "partial":
            text += f" ; sigma ~ 1 + (1 | {group})"
        elif spec.pooling == "none":
            text += f" ; sigma ~ 0 + {group}"
    family = _R_FAMILIES.get(spec.family)
    if spec.family == "binomial" and not spec.trials:
        family = "bernoulli"
    return f"{text}, family = {family}" if family else text


# gaussian and known_se are brms's default family (gaussian), so they name none.
_R_FAMILIES = {"binomial": "binomial", "poisson": "poisson", "gamma": 'Gamma(link = "log")'}

# ------------------------------------------------------------------------------------------------ LaTeX
_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "$": r"\textdollar{}",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_TEX_SAFE = frozenset(string.ascii_letters + string.digits + " .,;:!?()[]-+=/*'@")
_REPLACEMENT = "?"


def escape_latex(text: str) -> str:
    """``text`` escaped for KaTeX's text mode (the inside of ``\\text{...}``).

    Letters and digits (also non-ASCII ones, such as ``é``), spaces and ``.,;:!?()[]-+=/*'@`` are kept; LaTeX's
    special characters become their escapes (``_`` -> ``\\_``, ``\\`` -> ``\\textbackslash{}``...); any other
    character (control characters, quotes, combining marks, symbols) becomes ``?``.
    """
    out = []
    for ch in text:
        if ch in _TEX_ESCAPES:
            out.append(_TEX_ESCAPES[ch])
        elif ch in _TEX_SAFE or (ord(ch) > 127 and ch.isalnum()):
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
        else:
            out.append(_REPLACEMENT)
    return "".join(out)


def latex_text(text: str) -> str:
    """A user's string as KaTeX text: ``\\text{...}`` around :func:`escape_latex`."""
    return rf"\text{{{escape_latex(text)}}}"


def latex(
    spec: ModelSpec,
    terms: Sequence[str] | None = None,
    priors: Mapping[str, Prior] | None = None,
) -> str:
    r"""The model as a KaTeX ``\begin{aligned} ... \end{aligned}`` block, for ``st.latex``.

    ``terms`` are the design-matrix terms (``PreparedData.terms``: ``intercept``, ``floor``, ``sex[M]``...);
    without them each predictor is one term. ``priors`` (``resolve_priors(data, spec)``) adds a line per
    parameter with its prior, numbers to 3 significant digits; a parameter missing from it gets no line.
    """
    terms = tuple(terms) if terms is not None else (INTERCEPT, *spec.predictors)
    split = {t: _split_term(spec, t) for t in terms}
    varying = [t for t in terms if split[t][0] in spec.varying_terms]
    common = [t for t in terms if t not in varying]
    priors = dict(priors or {})
    noise_by_group = spec.group_noise and spec.family == "gaussian" and spec.pooling != "complete"
    group = escape_latex(spec.group)
    tag = spec.factor_tag(spec.group)  # the first factor's names carry it when there are several
    # Further factors: (number, factor, its design terms, its symbol's superscript).
    further = [(number, factor, [t for t in terms if split[t][0] in factor.varying],
                rf"^{{({latex_text(factor.name)})}}")
               for number, factor in enumerate(spec.factors if spec.pooling != "complete" else (), start=1)]

    def coefficient(term: str) -> str:
        sub = _subscript(term)
        return rf"b_{{{sub},g[i]}}" if term in varying else rf"\beta_{{{sub}}}"

    def covariate(term: str) -> str:
        # A numeric column x_i, a level's indicator [g_i = l], or an interaction's product of them.
        return "".join(rf"\,{latex_text(column)}_i" if level is None
                       else rf"\,[{latex_text(column)}_i = {latex_text(level)}]" for column, level in split[term][1])

    # likelihood
    y = rf"{latex_text(spec.outcome)}_i"
    sigma = r"\sigma_{g[i]}" if noise_by_group else r"\sigma"
    if spec.family == "gaussian":
        likelihood = rf"\mathcal{{N}}(\eta_i,\ {sigma})"
    elif spec.family == "known_se":
        likelihood = rf"\mathcal{{N}}(\eta_i,\ {latex_text(spec.se or 'se')}_i) \quad \text{{(standard errors known)}}"
    elif spec.family == "binomial" and spec.trials:
        likelihood = rf"\mathrm{{Binomial}}({latex_text(spec.trials)}_i,\ \mathrm{{logit}}^{{-1}}(\eta_i))"
    elif spec.family == "binomial":
        likelihood = r"\mathrm{Bernoulli}(\mathrm{logit}^{-1}(\eta_i))"
    elif spec.family == "poisson":
        likelihood = r"\mathrm{Poisson}(e^{\eta_i})"
    else:  # gamma, log link: shape alpha, rate alpha / mean
        likelihood = r"\mathrm{Gamma}(\alpha,\ \alpha e^{-\eta_i}) \quad \text{(shape, rate; mean } e^{\eta_i}\text{)}"
    lines = [rf"{y} &\sim {likelihood}"]

    # linear predictor
    pieces = [coefficient(t) if t == INTERCEPT else coefficient(t) + covariate(t) for t in terms]
    for number, _, factor_terms, sup in further:
        pieces += [rf"u{sup}_{{{_subscript(t)},h_{{{number}}}[i]}}" + ("" if t == INTERCEPT else covariate(t))
                   for t in factor_terms]
    if spec.family == "poisson" and spec.exposure:
        pieces.append(rf"\log {latex_text(spec.exposure)}_i")
    # A long predictor (dummies, interactions, several factors) is broken over lines, so that it stays inside the
    # page: a line takes terms until their LaTeX source (a rough measure of their width) passes a budget.
    rows: list[str] = []
    for piece in pieces:
        if rows and len(rows[-1]) + len(piece) <= _LINE_BUDGET:
            rows[-1] += " + " + piece
        else:
            rows.append(piece)
    rows = rows or ["0"]
    lines.append(rf"\eta_i &= {rows[0]}")
    lines += [rf"&\quad + {row}" for row in rows[1:]]
    if spec.pooling != "complete":
        lines.append(rf"g[i] &\in \{{1, \dots, J\}} \quad \text{{(the {group} of row }}i\text{{)}}")
    for number, factor, _, _ in further:
        which = escape_latex(f"{factor.column} within {factor.within}" if factor.within else factor.column)
        lines.append(rf"h_{{{number}}}[i] &\in \{{1, \dots, H_{{{number}}}\}} \quad "
                     rf"\text{{(the {which} of row }}i\text{{)}}")

    # group level
    block: list[str] = []
    if spec.pooling == "partial":
        if spec.correlated and len(varying) > 1:
            b = ",\\ ".join(rf"b_{{{_subscript(t)},j}}" for t in varying)
            mu = ",\\ ".join(rf"\mu_{{{_subscript(t)}}}" for t in varying)
            tau = ",\\ ".join(rf"\tau_{{{_subscript(t)}}}" for t in varying)
            block.append(rf"({b}) &\sim \mathcal{{MVN}}\big(({mu}),\ \Sigma\big)")
            block.append(rf"\Sigma &= \mathrm{{diag}}(\tau)\, R\, \mathrm{{diag}}(\tau), \quad \tau = ({tau})")
            lkj = names.correlation_prior(tag)
            eta = _number(priors[lkj].params[0]) if lkj in priors else r"\eta_R"
            block.append(rf"R &\sim \mathrm{{LKJ}}({eta})")
        else:
            for t in varying:
                sub = _subscript(t)
                block.append(rf"b_{{{sub},j}} &\sim \mathcal{{N}}(\mu_{{{sub}}},\ \tau_{{{sub}}})")
        if noise_by_group:
            block.append(r"\log \sigma_j &\sim \mathcal{N}(\log \sigma,\ \tau_{\sigma})")
    elif spec.pooling == "none":
        independent = rf"\quad \text{{(fixed prior, independently for each {group})}}"
        for t in varying:
            sub = _subscript(t)
            prior = _prior_latex(priors[t]) if t in priors else rf"p_{{{sub}}}"
            block.append(rf"b_{{{sub},j}} &\sim {prior} {independent}")
        if noise_by_group:
            prior = _prior_latex(priors[names.SIGMA]) if names.SIGMA in priors else r"p_{\sigma}"
            block.append(rf"\sigma_j &\sim {prior} {independent}")
    for _, factor, factor_terms, sup in further:
        block += _further_block(spec, factor, factor_terms, sup, priors)

    # priors
    prior_lines: list[tuple[str, str]] = [(rf"\beta_{{{_subscript(t)}}}", t) for t in common]
    if spec.pooling == "partial":
        prior_lines += [(rf"\mu_{{{_subscript(t)}}}", t) for t in varying]
        prior_lines += [(rf"\tau_{{{_subscript(t)}}}", names.group_sd(t, tag)) for t in varying]
        prior_lines += [(rf"\tau{sup}_{{{_subscript(t)}}}", names.group_sd(t, factor.name))
                        for _, factor, factor_terms, sup in further for t in factor_terms]
    if spec.family == "gaussian" and not (noise_by_group and spec.pooling == "none"):
        prior_lines.append((r"\sigma", names.SIGMA))
    if noise_by_group and spec.pooling == "partial":
        prior_lines.append((r"\tau_{\sigma}", names.LOG_SIGMA_SD))
    if spec.family == "gamma":
        prior_lines.append((r"\alpha", names.GAMMA_SHAPE))
    prior_block = [rf"{symbol} &\sim {_prior_latex(priors[name])}" for symbol, name in prior_lines if name in priors]

    blocks = [b for b in (lines, block, prior_block) if b]
    body = " \\\\[4pt]\n".join(" \\\\\n".join(b) for b in blocks)
    return f"\\begin{{aligned}}\n{body}\n\\end{{aligned}}"


def _further_block(spec: ModelSpec, factor: GroupingFactor, terms: Sequence[str], sup: str,
                   priors: Mapping[str, Prior]) -> list[str]:
    """The group-level lines of a further grouping factor: its deviations u around 0 (build's module docstring)."""
    which = escape_latex(factor.name)
    if spec.pooling == "none":
        lines = []
        for t in terms:
            prior = priors.get(t)
            scale = _number(prior.params[1]) if prior is not None and prior.distribution == "normal" else "1"
            lines.append(rf"u{sup}_{{{_subscript(t)},h}} &\sim \mathcal{{N}}(0,\ {scale}) \quad "
                         rf"\text{{(fixed prior for each {which}; they sum to 0 over the {which}s)}}")
        return lines
    if factor.correlated and len(terms) > 1:
        u = ",\\ ".join(rf"u{sup}_{{{_subscript(t)},h}}" for t in terms)
        tau = ",\\ ".join(rf"\tau{sup}_{{{_subscript(t)}}}" for t in terms)
        lkj = names.correlation_prior(factor.name)
        eta = _number(priors[lkj].params[0]) if lkj in priors else r"\eta_R"
        return [rf"({u}) &\sim \mathcal{{MVN}}\big(0,\ \Sigma{sup}\big)",
                rf"\Sigma{sup} &= \mathrm{{diag}}(\tau{sup})\, R{sup}\, \mathrm{{diag}}(\tau{sup}), \quad "
                rf"\tau{sup} = ({tau})",
                rf"R{sup} &\sim \mathrm{{LKJ}}({eta})"]
    return [rf"u{sup}_{{{_subscript(t)},h}} &\sim \mathcal{{N}}(0,\ \tau{sup}_{{{_subscript(t)}}})" for t in terms]


def _split_term(spec: ModelSpec, term: str) -> tuple[str, tuple[tuple[str, str | None], ...]]:
    """(predictor, its (column, level) parts) of a design term: ``floor`` -> ("floor", (("floor", None),)),
    ``sex[M]`` -> ("sex", (("sex", "M"),)), ``x:g[b]`` -> ("x:g", (("x", None), ("g", "b")))."""
    if term == INTERCEPT or term in spec.predictors:
        return term, ((term, None),)
    categorical = spec.categorical_levels
    for predictor in sorted(spec.predictors, key=len, reverse=True):
        # A column, or (when it is not a categorical column itself) an interaction of columns.
        for columns in ((predictor,), names.interaction_parts(predictor)):
            parts = names.split_design_term(term, columns, categorical)
            if parts is not None and any(level is not None for _, level in parts):
                return predictor, parts
    raise SpecError(
        f"the term {term!r} is not the intercept, a predictor or a level of a categorical predictor of this model "
        f"({', '.join((INTERCEPT, *spec.predictors))}); pass the terms of the data prepared for this spec"
    )


def _subscript(term: str) -> str:
    return "0" if term == INTERCEPT else latex_text(term)


def _prior_latex(prior: Prior) -> str:
    """``halfnormal(0.8197)`` -> ``\\mathrm{HalfNormal}(0.82)``."""
    name = PRIOR_FAMILIES[prior.distribution].latex
    arguments = r",\ ".join(_number(p) for p in prior.params)
    return f"{name}({arguments})" if prior.params else name


def _number(value: float) -> str:
    """3 significant digits; powers of ten as ``\\times 10^{k}``."""
    text = f"{value:.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{int(exponent)}}}"
    return "0" if text == "-0" else text


# ------------------------------------------------------------------------------------------------ in words
def describe(spec: ModelSpec) -> str:
    """One plain-English sentence saying how the groups share information under the spec's pooling.

    The sentence is plain text with the user's column names as written: show it as text, not as Markdown.
    """
    one, many = _group_words(spec.group)
    varying = spec.varying_terms
    every = (INTERCEPT, *spec.predictors)
    label = POOLING_LABELS[spec.pooling].capitalize()
    if spec.pooling == "complete":
        factors = _join([one, *(f.column for f in spec.factors)])
        return (
            f"{label}: a single {_join(_term_words(spec, every))} shared by all {many}, "
            f"as if the {factors} of a row did not matter."
        )
    own = _join(_term_words(spec, varying))
    shared = _term_words(spec, [t for t in every if t not in varying])
    verb = "is" if len(shared) == 1 else "are"
    while_shared = f", while the {_join(shared)} {verb} shared by all {many}" if shared else ""
    noisy = spec.group_noise and spec.family == "gaussian"
    if spec.pooling == "partial":
        population = "drawn from a common population"
        if len(varying) > 1:
            population += " (correlated)" if spec.correlated else " (independent)"
        noise = f"; the residual noise also varies by {one}, partially pooled" if noisy else ""
        return (
            f"{label}: each {one} has its own {own}, {population}{while_shared}, "
            f"so small {many} borrow strength from the rest{noise}." + _further_words(spec)
        )
    noise = f"; each {one} also has its own residual noise" if noisy else ""
    return (
        f"{label}: each {one} has its own {own}, estimated from that {one}'s rows alone{while_shared}, "
        f"so {many} with few rows get noisy estimates{noise}." + _further_words(spec)
    )


def _further_words(spec: ModelSpec) -> str:
    """One sentence per further grouping factor (nothing with one factor)."""
    sentences = []
    for factor in spec.factors:
        one, many = _group_words(factor.column)
        where = (f"Within each {_group_words(factor.within)[0]}, each" if factor.within
                 else f"Crossed with the {_group_words(spec.group)[1]}, each")
        own = _join(_term_words(spec, factor.varying))
        if spec.pooling == "partial":
            how = (f"drawn from a common population around the overall value, so small {many} borrow strength "
                   "from the rest")
        else:
            how = f"estimated from that {one}'s rows (the {many}' deviations sum to 0)"
        sentences.append(f" {where} {one} also shifts the {own}, {how}.")
    return "".join(sentences)


def _term_words(spec: ModelSpec, terms: Sequence[str]) -> list[str]:
    categorical = spec.categorical_levels
    return [
        "intercept" if t == INTERCEPT else f"{t} effect" if t in categorical
        else f"{t} interaction" if names.INTERACTION_SEPARATOR in t else f"{t} slope" for t in terms
    ]


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _group_words(group: str) -> tuple[str, str]:
    """("county", "counties"); a name that is not a plain word of 3+ letters becomes ("g group", "g groups")."""
    if not re.fullmatch(r"[A-Za-z]{3,}", group):
        return f"{group} group", f"{group} groups"
    if re.search(r"[^aeiouAEIOU][yY]$", group):
        return group, group[:-1] + ("IES" if group.isupper() else "ies")
    if re.search(r"(s|x|z|ch|sh)$", group, re.IGNORECASE):
        return group, group + ("ES" if group.isupper() else "es")
    return group, group + ("S" if group.isupper() else "s")
