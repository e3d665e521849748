"""One sentence for a fit under way, the same in the app's progress bar and on the command line.

:func:`progress_text` turns a :class:`~hiermodels.inference.fitting.FitProgress` snapshot into text: which fit
(pooling, and its place among several), then its stage. While sampling it adds the draws done, the rate (over the
last seconds, once known), the time left (draws left / that rate, once 5 % of the draws are done: the first tuning
draws are the slowest) and the divergences so far. :func:`terminal_line` fits that text to one line of a terminal,
to be rewritten in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hiermodels.model.spec import POOLING_LABELS

if TYPE_CHECKING:  # only a type here: importing hiermodels.inference.fitting would import PyMC
    from hiermodels.inference.fitting import FitProgress

# ANSI "erase to the end of the line": a shorter line leaves nothing of the longer one before it.
_ERASE_LINE_END = "\x1b[K"


def progress_text(progress: FitProgress) -> str:
    """What a fit is doing now, e.g. ``Partial pooling (3 of 3): sampling, 1,000 of 4,000 draws · 2,345 draws/s``."""
    where = f"{POOLING_LABELS[progress.pooling]} ({progress.fit_index + 1} of {progress.fit_count})"
    if progress.stage == "compiling":
        return f"{where}: compiling the model…"
    if progress.stage == "waiting":
        return f"{where}: waiting for a free slot on the server, number {progress.queue_position} in line…"
    if progress.stage == "optimising":
        return f"{where}: finding the joint mode (MAP)…"
    if progress.stage == "done":
        return f"{where}: done"
    text = f"{where}: sampling, {progress.draws_done:,} of {progress.draws_total:,} draws"
    rate = progress.recent_draws_per_second or progress.draws_per_second  # the recent rate, once known
    if rate > 0:
        text += f" · {rate:,.0f} draws/s"
    if progress.seconds_left is not None:
        text += f" · about {progress.seconds_left:.0f} s left"
    if progress.divergences:
        text += f" · {progress.divergences} divergences"
    return text


def terminal_line(progress: FitProgress, width: int) -> str:
    """:func:`progress_text` as a terminal line rewritten in place: carriage return, the text cut to
    ``width - 1`` characters (a wrapped line could not be rewritten), then erase what is left of the old line."""
    return "\r" + progress_text(progress)[: max(width - 1, 1)] + _ERASE_LINE_END
