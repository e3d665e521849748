"""The progress sentence shared by the app and the CLI, from FitProgress snapshots built by hand."""

from __future__ import annotations

import pytest

from hiermodels.inference.fitting import FitProgress
from hiermodels.inference.progress import progress_text, terminal_line


def test_each_stage_names_the_fit_and_its_place() -> None:
    base = dict(pooling="partial", fit_index=2, fit_count=3)
    assert progress_text(FitProgress(stage="compiling", **base)) == "partial pooling (3 of 3): compiling the model…"
    assert progress_text(FitProgress(stage="waiting", queue_position=4, **base)).endswith("number 4 in line…")
    assert progress_text(FitProgress(stage="optimising", **base)).endswith("finding the joint mode (MAP)…")
    assert progress_text(FitProgress(stage="done", **base)) == "partial pooling (3 of 3): done"


def test_sampling_gives_draws_rate_time_left_and_divergences() -> None:
    # 1,000 draws in 0.5 s = 2,000 draws/s; 3,000 left at that rate = 1.5 s, shown rounded ("2 s").
    progress = FitProgress("none", "sampling", draws_done=1000, draws_total=4000, divergences=7, sampling_s=0.5)
    assert progress_text(progress) == (
        "no pooling (1 of 1): sampling, 1,000 of 4,000 draws · 2,000 draws/s · about 2 s left · 7 divergences"
    )
    # Before the rate is known: no rate, no time left, and no divergences when there are none.
    assert progress_text(FitProgress("complete", "sampling", draws_total=4000)) == (
        "complete pooling (1 of 1): sampling, 0 of 4,000 draws"
    )


def test_the_time_left_waits_for_the_slow_start_and_follows_the_recent_rate() -> None:
    """The first tuning draws are the slowest: no estimate before 5 % of the draws (MIN_ESTIMATE_FRACTION), then
    the rate of the last seconds (RATE_WINDOW_S) rather than the average since the start."""
    early = FitProgress("partial", "sampling", draws_done=100, draws_total=8000, sampling_s=50)
    assert early.seconds_left is None and "left" not in progress_text(early)
    # 800 draws in 100 s on average (8 /s), but 40 /s lately: 7,200 left take 180 s, not 900 s.
    later = FitProgress("partial", "sampling", draws_done=800, draws_total=8000, sampling_s=100,
                        recent_draws_per_second=40)
    assert later.seconds_left == pytest.approx(180)
    assert progress_text(later).endswith("40 draws/s · about 180 s left")


@pytest.mark.parametrize("width", [1, 20, 200])
def test_terminal_line_never_wraps(width: int) -> None:
    progress = FitProgress("none", "sampling", draws_done=1000, draws_total=4000, divergences=7, sampling_s=0.5)
    line = terminal_line(progress, width)
    assert line.startswith("\r") and line.endswith("\x1b[K")
    text = line[1:-3]
    assert len(text) <= max(width - 1, 1)
    assert progress_text(progress).startswith(text)
