"""Typed exceptions of hiermodels, all in one place.

Every message says what is wrong, what was given and how to fix it, so that the CLI and the app can show it to
a user as it is (one line for the CLI, a list of bullet points in the app), never as a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class HierModelsError(Exception):
    """Base class: a problem the user can fix (bad input, bad option), as opposed to a bug."""


class SpecError(HierModelsError, ValueError):
    """The model specification is inconsistent (e.g. a varying term that is not a predictor)."""


class PriorSyntaxError(SpecError):
    """A prior string such as ``normal(0, 5)`` could not be read."""


class DataError(HierModelsError, ValueError):
    """The data do not fit the specification. Carries *every* problem found, not only the first.

    ``problems`` is a tuple of one-sentence messages, each naming the column and the rows concerned and saying
    how to fix it.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("DataError needs at least one problem")
        count = len(self.problems)
        header = "1 problem with the data" if count == 1 else f"{count} problems with the data"
        super().__init__(f"{header}: " + " | ".join(self.problems))


class FileReadError(HierModelsError, ValueError):
    """An uploaded or named file could not be read as a table."""


class FitCancelled(HierModelsError):
    """The user cancelled a fit (Cancel button, page change, closed tab, Ctrl-C)."""


class FitFailed(HierModelsError, RuntimeError):
    """The sampler or optimiser failed on a model that passed validation (e.g. non-finite initial density)."""


class QueueFull(HierModelsError):
    """Too many fits are waiting already (a :class:`hiermodels.inference.queue.FitQueue` at its ``max_waiting``)."""


class FormulaError(SpecError):
    """A model formula could not be read, names a missing column or asks for something unsupported.

    ``problems`` holds every problem found, each one sentence saying how to fix it. A syntax error stops reading
    at the first one, so it comes alone, with ``position``: the 0-based index of the character where reading
    stopped; the message then ends with the formula and a caret line under that character.
    """

    def __init__(self, formula: str, problems: Sequence[str], position: int | None = None) -> None:
        self.formula = formula
        self.problems: tuple[str, ...] = tuple(problems)
        self.position = position
        if not self.problems:
            raise ValueError("FormulaError needs at least one problem")
        count = len(self.problems)
        self.summary = (self.problems[0] if count == 1
                        else f"{count} problems with the formula: " + " | ".join(self.problems))
        super().__init__(self.summary if position is None else f"{self.summary}\n{self.pointer()}")

    def pointer(self) -> str:
        """Two lines: the formula (tabs and line breaks shown as spaces) and a caret under ``position``."""
        if self.position is None:
            return ""
        shown = "".join(" " if c in "\t\r\n" else c for c in self.formula)
        return f"  {shown}\n  {' ' * self.position}^"
