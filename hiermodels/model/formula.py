"""Model formulas in lme4's language (as brms also reads it) to and from a :class:`ModelSpec`.

Language
--------
``outcome ~ fixed terms + (varying terms | factor) + ...``

- A **fixed term** is a column (``floor``), an interaction (``a:b``, a predictor named ``"a:b"`` whose values are the
  product of the columns a and b), a crossing (``a*b`` = ``a + b + a:b``; ``(a + b + c)^2`` or ``**2``, the main
  effects and their two-way interactions; ``a/b`` = ``a + a:b``), or a categorical predictor with its reference
  level, ``C(period, Treatment("1"))`` (``Treatment(reference="1")`` too; a number is read as the text it is
  written as). Terms keep the order they are written in; ``- term`` removes one (``a*b - a``).
- An interaction may hold categorical columns: ``standLRT:C(schgend, Treatment("mixed"))`` (or ``standLRT:schgend``
  with ``C(schgend, ...)`` elsewhere in the formula) has one term per level of schgend but the reference,
  ``standLRT:schgend[girls]`` (:func:`hiermodels.model.names.interaction`), and ``g:h`` one per pair of
  non-reference levels. A categorical column is always coded against its reference level, also when the rest
  of the interaction is not a predictor (lme4 would then code every level): a note says so.
- A **group term** ``(terms | factor)`` lets ``terms`` vary over the groups of ``factor``; the intercept varies
  unless the bar says ``0 +`` or ``- 1``. As in lme4, terms inside one bar are **correlated**; ``||`` makes them
  uncorrelated, and so does giving one factor several bars, ``(1 | g) + (0 + x | g)`` (the terms are merged
  into one factor).
- ``(1 | batch/cask)`` is lme4's ``(1 | batch) + (1 | batch:cask)``: cask is **nested** in batch
  (``GroupingFactor("cask", within="batch")``, so a cask label repeated in two batches names two casks);
  ``a/b/c`` chains (c within b within a). ``(1 | a:b)`` is read the same way, as b nested in a, when a is a
  grouping factor of the formula too (that is how lme4 writes the expansion); on its own it is refused.
- Several factors are **crossed**: ``(1 | plate) + (1 | sample)``. The first factor written (outside a nesting)
  becomes ``spec.group`` with ``spec.varying``/``spec.correlated``; the others go to ``spec.factors`` in the
  order written.

The formula covers the outcome, the terms and the groups only. The family, trials (brms's ``y | trials(n)``),
exposure (an ``offset(log(n))``), standard errors (``y | se(s)``), pooling, priors and sampler are options:
keyword arguments of :func:`spec_from_formula`, flags of the CLI, widgets of the app. :func:`spec_options` gives
a spec's options, and ``spec_from_formula(formula_of(s), columns, **spec_options(s)).spec == s`` for every spec a
formula can express (with predictors, categorical predictors and factors listed in formula order).

Decisions (each reported as a note in :attr:`FormulaSpec.notes`, or refused with a :class:`FormulaError`)
------------------------------------------------------------------------------------------------------------
- A term that varies but is not in the fixed part, ``y ~ 1 + (1 + x | g)``, is *added* to the fixed part, with a
  note: in lme4 and brms its population mean would be fixed at 0, but here the first factor's groups always
  carry the population means of what varies (:class:`GroupingFactor`), so the model fitted estimates that mean.
- A fixed part without intercept (``y ~ 0 + x``, ``- 1``) is refused: every model here has a population
  intercept.
- A factor split over several bars where one bar holds two or more terms, ``(1 + x | g) + (0 + z | g)``, is
  refused: lme4 would correlate the intercept with x but not with z, and a spec correlates all the terms of a
  factor or none.
- Refused too, each with what to write instead: function calls other than ``C`` (``log(x)``, ``I(x^2)``,
  ``poly(x, 2)``, smooth terms ``s(x)``, ``offset(...)``), ``C(x)`` without a reference level or with another
  coding, ``x[level]``, brms's ``y | trials(n)``, a response that
  is not one column, a formula without ``~`` or without any group term, ``(1 | g + h)``, ``(1 | a:b)`` without
  ``(1 | a)``, and a column that does not exist (the closest name is suggested). Every such problem is collected
  and raised together; a syntax error stops the reading and is raised alone, with a caret under the character.

What formulae (0.9) does and what is hand-written here
------------------------------------------------------
formulae's scanner and parser read the text into an expression tree, and its resolver expands each term
(``*``, ``/``, ``:``, ``**``, parentheses, quoted names). Four things are added here, because formulae cannot:

1. **Positions, and R's ``^``.** formulae's tokens carry no position, so a syntax error could not point at its
   character: :class:`_PositionScanner` records where each token starts. It also reads R's ``^`` (which formulae's
   scanner refuses) as formulae's ``**``.
2. **``||``.** formulae's scanner reads ``||`` as two ``|`` and its parser then fails; the two tokens are merged
   into one ``|`` marked as uncorrelated before parsing.
3. **Which bar a term came from, and ``/`` versus ``:``.** formulae's model description splits every bar into
   one term per (varying term, factor) pair, so ``(1 + x | g)`` and ``(1 | g) + (0 + x | g)`` come out
   identical, and so do ``(1 | a/b)`` and ``(1 | a) + (1 | a:b)``. The bars and their factors are therefore read
   from the expression tree, and formulae resolves only the terms of each bar and of the fixed part.
4. **Intercept markers.** formulae's resolver fails on ``(x + 1 | g)`` and ``(x - 1 | g)`` (``Term + Intercept``
   is not defined), so ``0``, ``1`` and ``-1`` are read here from each sum, and formulae resolves the rest.

Nothing the user writes is evaluated: formulae evaluates function calls only when it builds design matrices from
data, which is never done here, and every call is replaced by a column name (``C``) or refused before the
resolver sees it. The only ``eval`` in formulae's scanner turns the words True, False and None into constants,
which are then refused as terms.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from formulae import expr as ast
from formulae.parser import ParseError, Parser
from formulae.resolver import Resolver, ResolverError
from formulae.scanner import ScanError, Scanner
from formulae.terms import terms as formulae_terms
from formulae.terms.variable import Variable as TermVariable
from formulae.token import Token

from hiermodels.data.preparing import _missing_column_message
from hiermodels.errors import FormulaError, SpecError
from hiermodels.model import names
from hiermodels.model.formula_writer import formula_of  # noqa: F401 - re-exported: the reader and writer of one language
from hiermodels.model.spec import INTERCEPT, GroupingFactor, ModelSpec, Prior

# The ModelSpec fields a formula sets; every other field is an option.
FORMULA_FIELDS = ("outcome", "group", "predictors", "varying", "correlated", "categorical", "factors")

EXAMPLE = "log_radon ~ floor + (1 | county)"

# Stands for a call or name already reported as a problem, so that reading can go on and collect the others.
_REPORTED = "\x00"

_SMOOTHS = frozenset({"s", "t2", "te", "ti", "gp"})


@dataclass(frozen=True)
class FormulaSpec:
    """A spec read from a formula, and plain sentences about what the translation decided."""

    spec: ModelSpec
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------------- reading
class _PositionScanner(Scanner):
    """formulae's scanner; each token also records the index of its first character (formulae's do not), and R's
    ``^`` is read as formulae's ``**`` (``(a + b + c)^2``: main effects and two-way interactions)."""

    def add_token(self, kind: str, literal: object = None) -> None:
        super().add_token(kind, literal)
        self.tokens[-1].position = self.start

    def scan_token(self) -> None:
        if self.peek() == "^":
            self.advance()
            self.add_token("STAR_STAR")
        else:
            super().scan_token()


def _syntax_error(text: str, position: int, detail: str) -> FormulaError:
    where = "its end" if position >= len(text) else f"character {position + 1}"
    return FormulaError(text, [f"cannot read the formula at {where}: {detail}"], position)


def _tokens(text: str) -> list[Token]:
    scanner = _PositionScanner(text)
    try:
        tokens = scanner.scan(add_intercept=False)  # lme4's implicit intercept is added when the terms are read
    except ScanError as error:
        message = str(error)
        if message.startswith("There is more than one '~'"):
            tildes = [t.position for t in scanner.tokens if t.kind == "TILDE"]
            raise _syntax_error(text, tildes[1], "a formula has one '~', between the outcome and the terms") from None
        if message.startswith("Unterminated string"):
            raise _syntax_error(text, scanner.start, "a quoted text is not closed: add the closing quote") from None
        character = text[scanner.start]
        raise _syntax_error(
            text, scanner.start,
            f"unexpected character {character!r}; a column name that starts with something other than a letter or "
            "holds spaces or symbols is written in backquotes, e.g. `my column`",
        ) from None
    except IndexError:  # formulae's scanner runs off the end of an unclosed backquote
        raise _syntax_error(text, scanner.start, "a backquoted name is not closed: add the closing `") from None
    tokens[-1].position = len(text)  # EOF
    merged: list[Token] = []
    for token in tokens:
        previous = merged[-1] if merged else None
        if (token.kind == "PIPE" and previous is not None and previous.kind == "PIPE"
                and previous.position + 1 == token.position and not getattr(previous, "uncorrelated", False)):
            double = Token("PIPE", "||")
            double.position = previous.position
            double.uncorrelated = True
            merged[-1] = double
        else:
            merged.append(token)
    return merged


def _parse(text: str) -> object:
    """formulae's expression tree of ``text``; a syntax error raises a :class:`FormulaError` with its position."""
    if not text.strip():
        raise FormulaError(text, [f"the formula is empty: write outcome ~ terms, for example {EXAMPLE}"])
    parser = Parser(_tokens(text))
    try:
        tree = parser.parse()
    except ParseError as error:
        token = parser.peek()
        if token.kind == "TILDE" and parser.current == 0:
            detail = f"the outcome is missing before '~'; write outcome ~ terms, for example {EXAMPLE}"
        elif str(error).startswith("Subset notation"):
            detail = ("a level in brackets is not supported; for a categorical predictor write "
                      'C(column, Treatment("reference level"))')
        elif token.kind == "EOF":
            detail = ("a '(' is not closed: add its ')'" if "')'" in str(error)
                      else "a term is missing after the last operator")
        elif "')'" in str(error):
            detail = f"expected ')' before {token.lexeme!r}"
        else:
            detail = f"unexpected {token.lexeme!r}"
        raise _syntax_error(text, token.position, detail) from None
    except RecursionError:
        raise FormulaError(text, ["the formula is nested too deeply to read"]) from None
    if not parser.at_end():
        token = parser.peek()
        hint = (": a group term is written in parentheses, (1 | group)" if token.kind == "PIPE"
                else "; terms are joined with +")
        raise _syntax_error(text, token.position, f"unexpected {token.lexeme!r}{hint}")
    return tree


def _name_node(name: str) -> ast.Variable:
    return ast.Variable(Token("IDENTIFIER", name))


def _name_of(node: object) -> str | None:
    """The column a bare name (``x`` or a backquoted `x`) stands for; None for anything else."""
    if isinstance(node, ast.Variable) and node.level is None:
        return node.name.lexeme
    if isinstance(node, ast.QuotedName):
        return node.expression.lexeme[1:-1]
    return None


def _show(node: object) -> str:
    """The formula text of an expression (for messages)."""
    if isinstance(node, ast.Binary):
        operator = node.operator.lexeme
        joiner = operator if operator in (":", "/", "**") else f" {operator} "
        return f"{_show(node.left)}{joiner}{_show(node.right)}"
    if isinstance(node, ast.Unary):
        return f"{node.operator.lexeme}{_show(node.right)}"
    if isinstance(node, ast.Grouping):
        return f"({_show(node.expression)})"
    if isinstance(node, ast.Call):
        return f"{_show(node.callee)}({', '.join(_show(a) for a in node.args)})"
    if isinstance(node, ast.Assign):
        return f"{_show(node.name)}={_show(node.value)}"
    if isinstance(node, ast.Variable):
        if node.name.lexeme == _REPORTED:
            return "..."
        level = f"[{node.level.value}]" if node.level is not None else ""
        return f"{node.name.lexeme}{level}"
    if isinstance(node, ast.QuotedName):
        return node.expression.lexeme
    if isinstance(node, ast.Literal):
        return node.lexeme if node.lexeme is not None else repr(node.value)
    return str(node)


def _unwrap(node: object) -> object:
    while isinstance(node, ast.Grouping):
        node = node.expression
    return node


def _contains_bar(node: object) -> bool:
    if isinstance(node, ast.Binary):
        return node.operator.kind == "PIPE" or _contains_bar(node.left) or _contains_bar(node.right)
    if isinstance(node, ast.Unary):
        return _contains_bar(node.right)
    if isinstance(node, ast.Grouping):
        return _contains_bar(node.expression)
    return False


def _summands(node: object, sign: int = 1) -> list[tuple[int, object]]:
    """A sum as (sign, term) pairs: ``a - (b + c)`` is [(+1, a), (-1, b), (-1, c)]."""
    inner = _unwrap(node)
    if isinstance(inner, ast.Binary) and inner.operator.kind in ("PLUS", "MINUS"):
        right_sign = sign if inner.operator.kind == "PLUS" else -sign
        return _summands(inner.left, sign) + _summands(inner.right, right_sign)
    if isinstance(inner, ast.Unary) and inner.operator.kind in ("PLUS", "MINUS"):
        return _summands(inner.right, sign if inner.operator.kind == "PLUS" else -sign)
    return [(sign, node)]


@dataclass
class _Level:
    """One grouping factor while the bars are read: its varying terms and the bars that gave them."""

    column: str
    within: str | None
    terms: list[str] = dataclasses.field(default_factory=list)
    bars: list[tuple[str, int, bool]] = dataclasses.field(default_factory=list)  # (text, terms, uncorrelated)


class _Reader:
    """Reads one formula, collecting every problem and note."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.categorical: dict[str, str] = {}
        self.levels: dict[tuple[str, str | None], _Level] = {}
        self.joined: list[tuple[str, str, str]] = []  # (parent, child, bar text) of a:b factors

    def problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    # -------------------------------------------------------------- calls and names
    def rewrite(self, node: object) -> object:
        """The tree with ``C(x, Treatment("b"))`` replaced by the name x (its reference recorded), quoted names
        by plain ones, and every other call or unsupported piece reported and replaced by a placeholder."""
        if isinstance(node, ast.Binary):
            kind = node.operator.kind
            if kind not in ("TILDE", "PLUS", "MINUS", "STAR", "SLASH", "COLON", "STAR_STAR", "PIPE"):
                self.problem(f"{_show(node)}: the operator {node.operator.lexeme!r} is not part of a model formula; "
                             "compute such a column in the data first")
                return _name_node(_REPORTED)
            return ast.Binary(self.rewrite(node.left), node.operator, self.rewrite(node.right))
        if isinstance(node, ast.Unary):
            return ast.Unary(node.operator, self.rewrite(node.right))
        if isinstance(node, ast.Grouping):
            return ast.Grouping(self.rewrite(node.expression))
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Variable) and node.level is not None:
            self.problem(f"{_show(node)}: a level in brackets is not supported; for a categorical predictor write "
                         f'C({node.name.lexeme}, Treatment("reference level"))')
            return _name_node(_REPORTED)
        name = _name_of(node)
        if name is not None:
            return _name_node(name)
        if isinstance(node, ast.Literal) and (node.lexeme is not None or not isinstance(node.value, (int, float))
                                              or isinstance(node.value, bool)):
            self.problem(f"{_show(node)} is not a term: a term is a column name, an interaction a:b or "
                         'C(column, Treatment("level"))')
            return _name_node(_REPORTED)
        if isinstance(node, ast.Assign):
            self.problem(f"{_show(node)}: '=' is not part of a model formula")
            return _name_node(_REPORTED)
        return node

    def _call(self, node: ast.Call) -> ast.Variable:
        callee = _show(node.callee)
        shown = _show(node)
        if callee == "C":
            categorical = self._categorical(node)
            if categorical is None:
                return _name_node(_REPORTED)
            column, reference = categorical
            if self.categorical.setdefault(column, reference) != reference:
                self.problem(f"{column} is given two reference levels, {self.categorical[column]!r} and "
                             f"{reference!r}: state one")
            return _name_node(column)
        if callee in _SMOOTHS:
            self.problem(f"{shown}: smooth terms are not supported; hiermodels fits linear terms (a column, an "
                         "interaction a:b, a categorical C(...))")
        elif callee == "poly":
            self.problem(f"{shown}: poly() is not supported; add the powers as columns of the data (x2 = x²) and "
                         "use them as predictors")
        elif callee == "offset":
            self.problem(f"{shown}: offsets are not written in the formula; for a Poisson model give the exposure "
                         "column as an option (--exposure COL in the CLI), which adds log(exposure)")
        elif callee in ("trials", "se", "cbind"):
            self.problem(f"{shown}: the trials or standard errors of the outcome are not written in the formula; "
                         "give them as options (--family binomial --trials COL, or --family known_se --se COL)")
        else:
            self.problem(f"{shown}: function calls are not supported in a formula (nothing in it is evaluated); "
                         "compute the column in the data first and use its name")
        return _name_node(_REPORTED)

    def _categorical(self, node: ast.Call) -> tuple[str, str] | None:
        """(column, reference) of ``C(column, Treatment("reference"))``; None (reported) for any other C()."""
        shown = _show(node)
        usage = f'write C(column, Treatment("reference level")), e.g. C(period, Treatment("1")), not {shown}'
        column = _name_of(node.args[0]) if node.args else None
        if column is None:
            self.problem(f"C() takes a column name first: {usage}")
            return None
        if len(node.args) == 1:
            self.problem(f"{shown} needs its reference level, the level the others are compared with: "
                         f'C({column}, Treatment("level"))')
            return None
        coding = node.args[1] if len(node.args) == 2 else None
        if not (isinstance(coding, ast.Call) and _show(coding.callee) == "Treatment" and len(coding.args) == 1):
            self.problem(f"{shown}: only treatment (dummy) coding against a stated reference level is supported; "
                         f"{usage}")
            return None
        argument = coding.args[0]
        if isinstance(argument, ast.Assign) and _show(argument.name) == "reference":
            argument = argument.value
        if not isinstance(argument, ast.Literal) or isinstance(argument.value, bool) or argument.value is None:
            self.problem(f"{shown}: the reference level must be written as text or a number; {usage}")
            return None
        return column, str(argument.value)

    # -------------------------------------------------------------- terms
    def terms(self, summands: list[tuple[int, object]]) -> tuple[list[str], bool | None]:
        """The terms of a sum in the order written, with INTERCEPT where a ``1`` was written, and whether the
        intercept was kept (True), removed by ``0``/``-1`` (False) or not mentioned (None)."""
        ordered: list[str] = []
        intercept: bool | None = None
        for sign, node in summands:
            inner = _unwrap(node)
            if isinstance(inner, ast.Literal):
                if inner.value not in (0, 1):
                    self.problem(f"{_show(inner)} is not a term: only 1 (intercept) and 0 or -1 (no intercept) "
                                 "may be written as numbers")
                    continue
                intercept = (inner.value == 1) == (sign > 0)
                if intercept and INTERCEPT not in ordered:
                    ordered.append(INTERCEPT)
                if not intercept and INTERCEPT in ordered:
                    ordered.remove(INTERCEPT)
                continue
            names = self._resolve(node)
            for name in names:
                if sign > 0 and name not in ordered:
                    ordered.append(name)
                elif sign < 0 and name in ordered:
                    ordered.remove(name)
        return ordered, intercept

    def _resolve(self, node: object) -> list[str]:
        """formulae's expansion of one term (``a*b`` is a, b, a:b), as predictor names."""
        if _contains_bar(node):
            self.problem(f"{_show(node)}: a group term (terms | factor) is added on its own, as in {EXAMPLE}, "
                         "not combined with other terms")
            return []
        try:
            result = Resolver(node).resolve()
        except (ResolverError, TypeError, ValueError) as error:
            self.problem(f"cannot read the term {_show(node)}: {error}")
            return []
        if isinstance(result, formulae_terms.Term):
            found = [result]
        elif isinstance(result, formulae_terms.Model) and not result.group_terms:
            found = list(result.common_terms)
        else:
            found = []
        names: list[str] = []
        for term in found:
            components = getattr(term, "components", None)
            if not components or not all(isinstance(c, TermVariable) for c in components):
                self.problem(f"{_show(node)}: write the intercept (1, or 0 for none) on its own, not inside a term")
                continue
            parts = [c.name for c in components]
            if _REPORTED in parts:
                continue
            numbers = [str(p) for p in parts if not isinstance(p, str)]
            if numbers:
                self.problem(f"{_show(node)}: the number {numbers[0]} is not a column; only 1 and 0 may be "
                             "written as numbers (for the intercept)")
                continue
            names.append(":".join(parts))
        return names

    def interaction_note(self, predictor: str, predictors: Sequence[str]) -> None:
        """A note when an interaction's categorical part is coded against its reference level without the rest
        of the interaction as a predictor: ``x:g`` without ``x`` (lme4 would then give every level of g a slope
        of x; here the reference level's slope is 0, as with ``x + x:g`` in both)."""
        parts = names.interaction_parts(predictor)
        if len(parts) < 2:
            return
        for index, part in enumerate(parts):
            margin = names.INTERACTION_SEPARATOR.join(parts[:index] + parts[index + 1:])
            if part in self.categorical and margin not in predictors:
                self.notes.append(
                    f"{predictor}: {part} is coded against its reference level {self.categorical[part]!r} here too, "
                    f"so {margin} has no term of its own at that level (lme4 would code every level of {part} when "
                    f"{margin} is not in the model); write {margin} + {predictor} (or {margin}*{part}) to "
                    "estimate it.")

    # -------------------------------------------------------------- group terms
    def bar(self, node: ast.Binary) -> None:
        uncorrelated = getattr(node.operator, "uncorrelated", False)
        shown = _show(node)
        terms, intercept = self.terms(_summands(node.left))
        if intercept is None:
            terms.insert(0, INTERCEPT)  # lme4: the intercept varies unless the bar says 0 + or - 1
        path = self._factor(node.right, shown)
        if path is None:
            return
        columns, kind = path
        if not terms:
            self.problem(f"({shown}) lets nothing vary over {columns[-1]}: put 1 (the intercept) or a predictor "
                         "before the |")
            return
        keys: list[tuple[str, str | None]]
        if kind == "joined":
            self.joined.append((columns[0], columns[1], shown))
            keys = [(columns[1], columns[0])]
        else:
            keys = [(columns[0], None), *((child, parent) for parent, child in itertools.pairwise(columns))]
        for column, within in keys:
            level = self.levels.setdefault((column, within), _Level(column, within))
            name = f"{column}:{within}" if within else column
            for term in terms:
                if term in level.terms:
                    self.problem(f"{term} varies over {name} twice; give each term once per factor")
                else:
                    level.terms.append(term)
            level.bars.append((shown, len(terms), uncorrelated))
            if within is not None and kind == "nested" and len(level.bars) == 1:
                lme4_name = ":".join(columns[:columns.index(column) + 1])
                self.notes.append(f"{column} is nested in {within}: the same {column} label under two {within} "
                                  f"labels names two groups (lme4's {lme4_name}).")

    def _factor(self, node: object, shown: str) -> tuple[list[str], str] | None:
        """The factor side of a bar: ([g], "single"), ([a, b, c], "nested") for a/b/c, ([a, b], "joined") for
        a:b; None when it is something else (reported)."""
        inner = _unwrap(node)
        name = _name_of(inner)
        if name is not None:
            return None if name == _REPORTED else ([name], "single")
        if isinstance(inner, ast.Binary) and inner.operator.kind == "SLASH":
            parent = self._factor(inner.left, shown)
            child = _name_of(_unwrap(inner.right))
            if parent is None:
                return None
            if parent[1] == "joined" or child is None:
                self.problem(f"({shown}): write a nesting as parent/child, e.g. (1 | batch/cask)")
                return None
            if child in parent[0]:
                self.problem(f"({shown}): {child} cannot be nested in itself; write each column once in a nesting")
                return None
            return None if child == _REPORTED else ([*parent[0], child], "nested")
        if isinstance(inner, ast.Binary) and inner.operator.kind == "COLON":
            left, right = _name_of(_unwrap(inner.left)), _name_of(_unwrap(inner.right))
            if left is None or right is None:
                self.problem(f"({shown}): a factor a:b:c of more than two columns is not supported; write the "
                             "nesting with /, e.g. (1 | a/b/c)")
                return None
            names = [left, right]
            return None if _REPORTED in names else (names, "joined")
        if isinstance(inner, ast.Binary) and inner.operator.kind == "PLUS":
            self.problem(f"({shown}): give each grouping factor its own bar, e.g. (1 | plate) + (1 | sample)")
            return None
        self.problem(f"({shown}): after | comes the column of the groups (a grouping factor), e.g. (1 | county)")
        return None

    def factors(self) -> list[GroupingFactor]:
        """Every grouping factor, in the order written, with its correlation decided (see the module docstring)."""
        factor_columns = {column for column, _ in self.levels}
        for parent, child, shown in self.joined:
            if parent not in factor_columns:
                self.problem(f"({shown}): a factor of pairs needs {parent} as a grouping factor too: write "
                             f"(1 | {parent}/{child}) if {child} is nested in {parent}, or make a column of the "
                             f"({parent}, {child}) pairs for a factor of their own")
            else:
                self.notes.append(f"({shown}) is read as {child} nested in {parent}, as in (1 | {parent}/{child}).")
        result = []
        for level in self.levels.values():
            name = f"{level.column}:{level.within}" if level.within else level.column
            if len(level.bars) == 1:
                correlated = not level.bars[0][2] and len(level.terms) >= 2
            else:
                correlated = False
                if any(count >= 2 and not uncorrelated for _, count, uncorrelated in level.bars):
                    bars = " + ".join(f"({text})" for text, _, _ in level.bars)
                    terms = " + ".join("1" if t == INTERCEPT else t for t in level.terms)
                    self.problem(f"{bars}: lme4 correlates the terms within each bar but not across bars, and "
                                 f"here the terms of a factor are all correlated or none; write ({terms} | {name}) "
                                 f"for all correlated or ({terms} || {name}) for none")
                elif len(level.terms) >= 2:
                    self.notes.append(f"the terms varying over {name} are given in separate bars, so they are "
                                      "uncorrelated.")
            result.append(GroupingFactor(level.column, tuple(level.terms), correlated, level.within))
        return result


def spec_from_formula(text: str, columns: Sequence[str], **options: object) -> FormulaSpec:
    """The :class:`ModelSpec` of an lme4 formula over a table with these columns.

    ``options`` are the spec's other fields (family, pooling, trials, exposure, se, priors, sampler,
    parameterization, group_noise). Raises :class:`FormulaError` with every problem found (a syntax error alone,
    with its position), or :class:`SpecError` when the spec itself is inconsistent.
    """
    taken = [name for name in FORMULA_FIELDS if name in options]
    if taken:
        raise SpecError(f"{', '.join(taken)} {'is' if len(taken) == 1 else 'are'} given by the formula "
                        f"{text!r}; do not pass {'it' if len(taken) == 1 else 'them'} as well")
    reader = _Reader(text)
    tree = _parse(text)
    outcome = None
    if isinstance(tree, ast.Binary) and tree.operator.kind == "TILDE":
        response, right = _unwrap(tree.left), reader.rewrite(tree.right)
        if isinstance(response, ast.Binary) and response.operator.kind == "PIPE":
            reader.problem(f"{_show(response)}: brms's y | trials(n) and y | se(s) are not written in the formula; "
                           "give the trials or standard errors as options (--family binomial --trials COL, or "
                           "--family known_se --se COL)")
        else:
            outcome = _name_of(_unwrap(reader.rewrite(response)))
            if outcome is None:
                reader.problem(f"the outcome {_show(response)} must be one column of the data; compute a "
                               "transformed outcome in the data first")
            elif outcome == _REPORTED:
                outcome = None
    else:
        reader.problem(f"the formula has no '~': write the outcome, '~' and the terms, for example {EXAMPLE}")
        right = reader.rewrite(tree)
    fixed: list[tuple[int, object]] = []
    for sign, node in _summands(right):
        inner = _unwrap(node)
        if isinstance(inner, ast.Binary) and inner.operator.kind == "PIPE":
            if sign < 0:
                reader.problem(f"-({_show(inner)}): a group term cannot be subtracted; leave it out")
            else:
                reader.bar(inner)
        else:
            fixed.append((sign, node))
    terms, intercept = reader.terms(fixed)
    if intercept is False:
        reader.problem("a model without population intercept (0 + ... or - 1 in the fixed part) is not supported: "
                       "remove the 0 or -1 (a bar may still say (0 + x | g))")
    predictors = [t for t in terms if t != INTERCEPT]
    factors = reader.factors()
    top = [f for f in factors if f.within is None]
    if not reader.levels and not reader.problems:
        reader.problem(f"the formula has no group term: add one, e.g. (1 | group), as in {EXAMPLE}")
    for factor in factors:
        added = [t for t in factor.varying if t != INTERCEPT and t not in predictors]
        for term in added:
            predictors.append(term)
            reader.notes.append(
                f"{term} varies over {factor.name} but is not in the fixed part; it is added there, so its "
                f"population mean is estimated (lme4 and brms would fix that mean at 0). Write {term} in the fixed "
                "part to say so."
            )
    group_columns = {f.column for f in factors}
    for column in reader.categorical:
        if column in group_columns:
            reader.problem(f"{column} is a grouping factor, whose labels are always categories: write (1 | {column}) "
                           "without C()")
        elif not any(column in names.interaction_parts(predictor) for predictor in predictors):
            reader.problem(f"C({column}, ...) marks a predictor as categorical, but {column} is not a predictor")
    for predictor in predictors:
        reader.interaction_note(predictor, predictors)
    parts = list(dict.fromkeys(part for predictor in predictors for part in names.interaction_parts(predictor)))
    used = [outcome, *parts, *group_columns]
    known = set(columns)
    for column in dict.fromkeys(c for c in used if c):
        if column not in known:
            reader.problem(_missing_column_message(column, list(columns)))
    if reader.problems:
        raise FormulaError(text, reader.problems)
    first = top[0]
    assert outcome is not None  # a formula without one was refused above
    spec = ModelSpec(
        outcome=outcome,
        group=first.column,
        predictors=tuple(predictors),
        varying=first.varying,
        correlated=first.correlated,
        # In order of first appearance among the predictors' parts, as formula_of writes them.
        categorical=tuple((c, reader.categorical[c]) for c in parts if c in reader.categorical),
        factors=tuple(f for f in factors if f is not first),
        **options,  # type: ignore[arg-type]  # checked by ModelSpec itself, like any caller's keywords
    )
    return FormulaSpec(spec, tuple(dict.fromkeys(reader.notes)))


def carry_priors(old: ModelSpec, new: ModelSpec) -> tuple[ModelSpec, tuple[str, ...]]:
    """``new`` with ``old``'s prior overrides, each group-level one renamed for ``new``'s factors: a formula that
    adds a second factor turns ``sd(intercept)`` of county into ``sd(intercept|county)``, and one that leaves a
    single factor turns it back. An override of a factor ``new`` does not have is left out, and a note says so
    (the overrides of the other parameters are kept as they are)."""
    kept: list[tuple[str, Prior]] = []
    notes: list[str] = []
    factor_names = {f.name for f in new.all_factors}
    for name, prior in old.priors:
        base, tag = names.split_factor(name)
        try:
            kind, terms = names.parse(base)
        except ValueError:  # a corr(a,b) whose comma is ambiguous without the model's terms: keep it as it is
            kept.append((name, prior))
            continue
        if kind not in ("group_sd", "correlation", "correlation_prior"):
            kept.append((name, prior))
            continue
        factor = tag or old.group
        if factor not in factor_names:
            notes.append(f"The prior {name} = {prior} is left out: the model has no grouping factor {factor} now.")
            continue
        new_tag = new.factor_tag(factor)
        renamed = (names.group_sd(terms[0], new_tag) if kind == "group_sd" else
                   names.correlation(terms[0], terms[1], new_tag) if kind == "correlation" else
                   names.correlation_prior(new_tag))
        if renamed != name:
            notes.append(f"The prior {name} = {prior} is now named {renamed}.")
        kept.append((renamed, prior))
    return dataclasses.replace(new, priors=tuple(kept)), tuple(notes)


def spec_options(spec: ModelSpec) -> dict[str, object]:
    """The fields of a spec that its formula does not hold, as keyword arguments of :func:`spec_from_formula`."""
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name not in FORMULA_FIELDS}
