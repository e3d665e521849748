"""Convergence diagnostics: R-hat and bulk/tail ESS of many scalars at once, the thresholds, and their grading.

**What is computed** (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021, "Rank-normalization, folding, and
localization: an improved R-hat for assessing convergence of MCMC", *Bayesian Analysis* 16(2), 667-718; the
same definitions as ``arviz_stats.rhat(method="rank")`` and ``arviz_stats.ess(method="bulk" | "tail")``). For
one scalar with draws :math:`\\theta_{ci}` (chain :math:`c = 1..M`, draw :math:`i = 1..N`):

- *split chains*: each chain is cut into its first and its last :math:`n = \\lfloor N/2 \\rfloor` draws (the
  middle draw of an odd :math:`N` is left out), giving :math:`2M` chains of :math:`n` draws, :math:`S = 2Mn`;
- *rank normalisation*: :math:`z = \\Phi^{-1}((r - 3/8) / (S + 1/4))`, :math:`r` the draw's rank among all
  :math:`S` split draws, ties averaged (Blom 1958);
- *R-hat* of split chains :math:`x_{ci}`: with :math:`W` the mean within-chain variance and
  :math:`B = n \\operatorname{var}(\\bar x_c)`, :math:`\\hat R = \\sqrt{(B/W + n - 1)/n}`. The **rank-normalised
  split R-hat** is :math:`\\max(\\hat R(z), \\hat R(z_{\\rm fold}))`, :math:`z_{\\rm fold}` the rank
  normalisation of :math:`|\\theta - \\operatorname{median}\\theta|` (it sees chains that differ in scale only);
- *ESS* of split chains: :math:`S / \\tau`, :math:`\\tau = -1 + 2 \\sum_t \\hat\\rho_t`, with
  :math:`\\hat\\rho_t = 1 - (W - \\overline{\\rm acov}_t) / \\widehat{\\rm var}^+` and
  :math:`\\widehat{\\rm var}^+ = W (n-1)/n + \\operatorname{var}(\\bar x_c)`, truncated by Geyer's initial positive
  sequence (pairs :math:`\\hat\\rho_{2k} + \\hat\\rho_{2k+1}` are summed while positive), made monotone (each
  pair no larger than the one before), plus the first even term of the truncating pair when positive;
  :math:`\\tau \\ge 1/\\log_{10} S`. **Bulk ESS** is the ESS of :math:`z`; **tail ESS** the smaller ESS of the
  indicators :math:`\\theta \\le q_{0.05}` and :math:`\\theta \\le q_{0.95}` (quantiles over all draws).

**Why hand-written.** arviz-stats computes exactly these, but its array interface loops in Python over the
scalars (``make_ufunc`` calls the two-dimensional function once per scalar; the DataTree interface reaches the
same loop): 1,000 groups under three poolings made thousands of calls, 15 s of a 19 s command. Here every step
is one numpy operation over a ``(scalar, chain, draw)`` array: one sort per scalar gives its ranks, quantiles
and median (the folded draws' order is merged from it: two sorted runs, below and above the median); the
normal scores come from a table of every possible rank; one FFT gives every autocovariance, the chains' power
spectra averaged before transforming back; Geyer's sequence is a cumulative minimum over pairs. Columns go in
chunks (bounded memory) on two threads (numpy releases the GIL in sorts, FFTs and loops; each chunk writes its
own columns). Radon's 89 scalars take about 50 ms (arviz-stats, one scalar at a time: 400 ms), 2,000 scalars
about a second (11 s) (``benchmarks/bench_diagnostics.py``). The numbers equal arviz-stats' to 1e-10 on radon's
posterior (``tests/test_results.py``) and on edge cases (odd draws, one chain, ties, constants, NaN;
``tests/test_diagnostics.py``). Kept from the per-scalar version: a constant scalar (a
correlation's diagonal, a fixed value) has no R-hat or ESS (NaN, not a warning); R-hat needs two chains; fewer
than four draws or a NaN draw give NaN.

**Thresholds** (each stated once here; the CLI's warnings, the app's traffic lights and the tests read them):

- ``R_HAT_LIMIT`` 1.01 and ``ESS_PER_CHAIN`` 100 (400 effective draws, bulk and tail, for four chains) are
  Vehtari et al. (2021)'s recommendations (use the draws only if R-hat < 1.01, and the bulk and tail ESS exceed
  100 per chain);
- any divergent transition means that the sampler could not follow the posterior's curvature somewhere and the
  estimates may be biased (Betancourt 2017, "A conceptual introduction to Hamiltonian Monte Carlo", arXiv:1701.02434);
- the "problem" levels are this app's own convention for "clearly worse" (no published threshold):
  ``R_HAT_PROBLEM`` 1.05, fewer than ``ESS_PROBLEM`` = 100 effective draws in all, a divergent share of
  ``DIVERGENCE_PROBLEM`` = 1% of all draws. Between "ok" and "problem" a value is worth a "check".
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy import special
from scipy.fft import next_fast_len  # real=True: the lengths scipy.fftpack's, which arviz-stats uses, gives

from hiermodels.model.spec import CAREFUL_SAMPLER, ModelSpec, describe_sampler

R_HAT_LIMIT = 1.01  # Vehtari et al. (2021): below this the chains agree
ESS_PER_CHAIN = 100  # Vehtari et al. (2021): at least this many effective draws per chain, bulk and tail
R_HAT_PROBLEM = 1.05  # this app's convention: at or above this the chains clearly disagree
ESS_PROBLEM = 100  # this app's convention: fewer effective draws than this in all, intervals are not to be trusted
DIVERGENCE_PROBLEM = 0.01  # this app's convention: a divergent share of all draws at or above this is a problem
TAIL_PROB = 0.05  # tail ESS at the 5% and 95% quantiles, as ArviZ and Stan report it

MIN_DRAWS = 4  # fewer draws per chain give no R-hat or ESS (as arviz-stats)
# Two threads where two cores are ours (sched_getaffinity is Linux's; elsewhere the machine's count).
_THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
_CHUNK = 128  # columns per step: their batch of three ESS inputs is 12 MB at 4 x 1,000 draws, its FFT twice that

Status = Literal["ok", "check", "problem", "n/a"]
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True, eq=False)
class Convergence:
    """R-hat (rank-normalised split), bulk ESS and tail ESS of ``n`` scalars: three arrays of shape ``(n,)``."""

    r_hat: np.ndarray
    ess_bulk: np.ndarray
    ess_tail: np.ndarray

    def row(self, i: int) -> dict[str, float]:
        """The three numbers of scalar ``i``."""
        return {"r_hat": float(self.r_hat[i]), "ess_bulk": float(self.ess_bulk[i]),
                "ess_tail": float(self.ess_tail[i])}

    def worst(self) -> tuple[float, float, float]:
        """Largest R-hat, smallest bulk ESS, smallest tail ESS over the scalars that have them (else NaN)."""
        return (_finite_extreme(np.max, self.r_hat), _finite_extreme(np.min, self.ess_bulk),
                _finite_extreme(np.min, self.ess_tail))


def convergence(draws: np.ndarray) -> Convergence:
    """R-hat, bulk ESS and tail ESS of every column of ``draws``, shape ``(chain, draw, n)`` (or ``(chain, draw)``
    for one scalar), as arviz-stats computes them one scalar at a time (see the module docstring)."""
    draws = np.asarray(draws, dtype=float)
    if draws.ndim == 2:
        draws = draws[:, :, None]
    if draws.ndim != 3:
        raise ValueError(f"draws must have shape (chain, draw, n), got shape {draws.shape}")
    chains, n_draws, n = draws.shape
    r_hat, ess_bulk, ess_tail = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    if n_draws < MIN_DRAWS or n == 0:
        return Convergence(r_hat, ess_bulk, ess_tail)
    # A constant scalar has no R-hat or ESS, nor has one with a NaN draw (its spread is NaN).
    columns = np.flatnonzero(np.ptp(draws, axis=(0, 1)) > 0)
    if columns.size == 0:
        return Convergence(r_hat, ess_bulk, ess_tail)
    half = n_draws // 2
    size = 2 * chains * half
    table = _normal_scores(size)

    def measure(index: np.ndarray) -> None:
        k = index.size
        # Scalar first, (scalar, chain, draw): every step below runs along contiguous memory.
        x = np.ascontiguousarray(np.moveaxis(draws[:, :, index], -1, 0))
        # Split chains (k, 2M, n). The order of the chains changes nothing (R-hat and ESS use their means), so
        # with an even N each chain's two halves are a reshape, not a copy.
        if n_draws % 2 == 0:
            split = x.reshape(k, 2 * chains, half)
        else:
            split = np.concatenate([x[:, :, :half], x[:, :, n_draws - half:]], axis=1)
        flat = split.reshape(k, size)
        # One batch for the three ESS: bulk (the z-scores), then the indicators of the two tail quantiles.
        batch = np.empty((3 * k, 2 * chains, half))
        order = np.argsort(flat, axis=-1)
        ordered = np.take_along_axis(flat, order, axis=-1)
        z = _scores(order, ordered, table, out=batch[:k].reshape(k, size)).reshape(split.shape)
        if chains >= 2:
            folded = _folded_scores(order, ordered, table).reshape(split.shape)
            r_hat[index] = np.maximum(_r_hat(z), _r_hat(folded))
        # All draws when N is even (the split keeps them all): the quantiles of the sorted copy are the same.
        pooled = ordered if n_draws % 2 == 0 else x.reshape(k, -1)
        low, high = np.quantile(pooled, [TAIL_PROB, 1 - TAIL_PROB], axis=-1)
        np.less_equal(split, low[:, None, None], out=batch[k:2 * k])
        np.less_equal(split, high[:, None, None], out=batch[2 * k:])
        ess = _ess(batch)  # overwrites batch
        ess_bulk[index] = ess[:k]
        ess_tail[index] = np.minimum(ess[k:2 * k], ess[2 * k:])

    # Chunks of columns bound the memory; two threads (numpy's sorts, FFTs and loops release the GIL) use both
    # cores of a small machine. Each chunk writes its own columns of the results.
    chunks = np.array_split(columns, max(-(-columns.size // _CHUNK), min(_THREADS, columns.size)))
    if len(chunks) == 1:
        measure(chunks[0])
    else:
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            list(pool.map(measure, chunks))
    return Convergence(r_hat, ess_bulk, ess_tail)


def _normal_scores(size: int) -> np.ndarray:
    """Blom's normal scores of every rank an average over ties can give (1, 1.5, 2, ..., size), in that order."""
    offset = 3 / 8
    ranks = np.arange(2 * size - 1) / 2 + 1
    return special.ndtri((ranks - offset) / (size - 2 * offset + 1))


def _scores(order: np.ndarray, ordered: np.ndarray, table: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Rank normalisation of each row of (k, S) draws, given the sorting permutation ``order`` of each row and
    the sorted rows ``ordered``: the z-score of every draw in its original place (ties get their average rank).

    A score depends on the rank alone, so the normal quantiles come from ``table`` (computed once) instead of
    one inverse normal CDF per draw.
    """
    z = np.empty(order.shape) if out is None else out
    # Without ties the sorted draws have ranks 1..S, whose scores are every other entry of the table.
    np.put_along_axis(z, order, np.broadcast_to(table[::2], order.shape), axis=-1)
    # Ties (rare in continuous draws, but the folded draws' two middle ones always tie): a run of equal draws at
    # sorted positions first..last has the average rank (first + last) / 2 + 1, table entry first + last.
    row, pair = np.nonzero(ordered[:, 1:] == ordered[:, :-1])  # position pair and pair + 1 are equal
    if row.size:
        new_run = np.ones(row.size, dtype=bool)
        new_run[1:] = (row[1:] != row[:-1]) | (pair[1:] != pair[:-1] + 1)
        run_end = np.append(new_run[1:], True)
        slot = (pair[new_run] + pair[run_end] + 1)[np.cumsum(new_run) - 1]
        z[row, order[row, pair]] = table[slot]
        z[row, order[row, pair + 1]] = table[slot]
    return z


def _folded_scores(order: np.ndarray, ordered: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Rank normalisation of each row's distances to its median, |draw - median|, from the rows sorted.

    Along the sorted draws the distance falls to the median and rises after it: two sorted runs (the lower half
    read backwards, then the upper half), which a stable sort merges in linear time, not a second full sort.
    """
    middle = ordered.shape[-1] // 2  # S = 2 M floor(N / 2) is even
    median = (ordered[:, middle - 1] + ordered[:, middle]) / 2  # the mean of the middle two, as numpy's median
    # |draw - median|, exactly: median - draw below the median, draw - median above it.
    runs = np.empty_like(ordered)
    np.subtract(median[:, None], ordered[:, middle - 1::-1], out=runs[:, :middle])
    np.subtract(ordered[:, middle:], median[:, None], out=runs[:, middle:])
    merge = np.argsort(runs, axis=-1, kind="stable")
    # Position in ``ordered`` of each entry of ``runs``, then in the original row.
    position = np.concatenate([np.arange(middle - 1, -1, -1), np.arange(middle, ordered.shape[-1])])
    return _scores(np.take_along_axis(order, position[merge], axis=-1), np.take_along_axis(runs, merge, axis=-1),
                   table)


def _r_hat(x: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of each row of (k, chain, draw) chains."""
    n = x.shape[-1]
    between = n * np.var(x.mean(axis=-1), axis=-1, ddof=1)
    within = np.mean(np.var(x, axis=-1, ddof=1), axis=-1)
    return np.sqrt((between / within + n - 1) / n)


def _ess(x: np.ndarray) -> np.ndarray:
    """Effective sample size of each row of (k, chain, draw) chains (Geyer's initial monotone sequence).

    ``x`` is overwritten (each chain centred in place).
    """
    k, chains, n = x.shape
    total = chains * n
    out = np.full(k, float(total))  # a constant row: every draw counts (as arviz-stats)
    live = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) >= np.finfo(float).resolution
    if not live.all():
        x = x[live]
    if not x.size:
        return out
    chain_means = x.mean(axis=-1)
    x -= chain_means[..., None]
    # Autocovariance at every lag through the FFT (zero-padded against circular wrap-around), averaged over the
    # chains: the transform is linear, so the chains' power spectra are averaged first and transformed back once.
    length = next_fast_len(2 * n, real=True)
    spectrum = np.fft.rfft(x, n=length, axis=-1)
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    acov = np.fft.irfft(power.mean(axis=1), n=length, axis=-1)[:, :n] / n  # (row, lag), mean over chains
    mean_var = acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if chains > 1:
        var_plus = var_plus + np.var(chain_means, axis=-1, ddof=1)
    rho = 1.0 - (mean_var[:, None] - acov) / var_plus[:, None]  # (row, lag)
    rho[:, 0] = 1.0
    # Pairs rho[2j] + rho[2j+1], j = 0..j_max (Geyer's loop looks at pairs while 2j - 1 < n - 3).
    j_max = max((n - 3) // 2, 0)
    pairs = rho[:, 0:2 * j_max + 2:2] + rho[:, 1:2 * j_max + 2:2]
    positive = pairs > 0
    # The truncating pair: the first j >= 1 that is not positive (j_max if none is), or 0 if pair 0 is not.
    stops = ~positive[:, 1:]
    first = np.where(stops.any(axis=-1), stops.argmax(axis=-1) + 1, j_max) if j_max else np.zeros(len(x), int)
    last = np.where(positive[:, 0], first, 0)
    rows = np.arange(len(x))
    # The pairs before it, each no larger than the one before (the monotone sequence), summed.
    summed = np.cumsum(np.minimum.accumulate(pairs, axis=-1), axis=-1)
    head = np.where(last > 0, summed[rows, np.maximum(last - 1, 0)], 0.0)
    # The truncating pair's even term counts when positive, or when Geyer's loop kept the pair (sum >= 0).
    even = rho[rows, 2 * last]
    tail = np.where((even > 0) | ((last > 0) & (pairs[rows, last] >= 0)), even, 0.0)
    tau = np.maximum(-1.0 + 2.0 * head + tail, 1 / np.log10(total))
    ess = total / tau
    ess[np.isnan(rho[:, 1])] = np.nan
    out[live] = ess
    return out


def _finite_extreme(reduce, values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(reduce(finite)) if finite.size else float("nan")


# ---------------------------------------------------------------------------------------------- the verdict
@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary of one fit; ``warnings`` are sentences a student can act on."""

    divergences: int
    draws: int
    chains: int
    max_r_hat: float
    min_ess_bulk: float
    min_ess_tail: float
    warnings: tuple[str, ...] = ()
    target_accept: float | None = None  # the target acceptance NUTS ran with

    @property
    def ok(self) -> bool:
        return not self.warnings

    @property
    def ess_target(self) -> int:
        """Effective draws wanted, bulk and tail: ``ESS_PER_CHAIN`` per chain."""
        return ESS_PER_CHAIN * self.chains


def assess(spec: ModelSpec, measured: Convergence, divergences: int, chains: int, draws: int,
           target_accept: float | None = None) -> Diagnostics:
    """The worst R-hat and ESS over ``measured``, the divergences, and advice for whatever misses a threshold.

    The advice depends on the fit's settings: divergences in a centred partial-pooling model call for the
    non-centred form; otherwise for a higher target acceptance (up to the Careful preset's) than
    ``target_accept``, the one NUTS ran with (by default the spec's, or 0.99 where it leaves it open), and in a
    non-centred partial-pooling model also name the centred form, which suits groups with many rows each (the
    non-centred form's hard case: Penicillin's 24 assays per sample diverge non-centred, 34 times at the Quick
    preset, and fit cleanly centred).
    """
    max_r_hat, min_bulk, min_tail = measured.worst()
    warnings = []
    settings = spec.sampler
    careful = CAREFUL_SAMPLER
    accept = target_accept if target_accept is not None else settings.target_accept_for(funnel=True)
    if divergences:
        if spec.parameterization == "centered" and spec.pooling == "partial":
            advice = "switch to the non-centred parameterisation"
        elif accept < careful.target_accept_for(funnel=True):
            advice = (f"raise the target acceptance from {accept:g} to {careful.target_accept:g} "
                      "(the Careful preset; --target-accept on the command line)")
            if spec.parameterization == "noncentered" and spec.pooling == "partial":
                advice += ("; if each group has many rows, the centred parameterisation may suit better "
                           "(--centered on the command line)")
        else:
            advice = ("the target acceptance is already high: try the other parameterisation, or priors that "
                      "keep the group-level sd away from implausible values")
        warnings.append(
            f"{divergences} divergent transition(s): the sampler could not follow the posterior's geometry "
            f"everywhere, so estimates may be biased; {advice}"
        )
    more = (f"choose the Careful preset ({describe_sampler(careful)}; --draws and --tune on the command line)"
            if (settings.draws, settings.tune) < (careful.draws, careful.tune)
            else "raise draws and tuning draws beyond the Careful preset's under Custom (--draws, --tune)")
    # NaN (R-hat of one chain, a constant quantity) compares False: no warning.
    if max_r_hat > R_HAT_LIMIT:
        warnings.append(f"R-hat reaches {max_r_hat:.3f} (should be below {R_HAT_LIMIT}): the chains disagree; {more}")
    target = ESS_PER_CHAIN * chains
    if min_bulk < target or min_tail < target:
        warnings.append(
            f"the effective sample size is as low as {min(min_bulk, min_tail):.0f} (want at least "
            f"{target} for {chains} chains): draw more samples before trusting intervals; {more}"
        )
    return Diagnostics(divergences, draws, chains, max_r_hat, min_bulk, min_tail, tuple(warnings), accept)


def grade(value: float, ok: bool, problem: bool) -> Status:
    """"n/a" when ``value`` is not a number (one chain, a constant), else "ok", "problem" or, between, "check"."""
    if not math.isfinite(value):
        return "n/a"
    return "ok" if ok else "problem" if problem else "check"


def checks(d: Diagnostics) -> pd.DataFrame:
    """One row per convergence check of one fit: check, value (as shown), target, status (a ``Status``)."""
    ess_ok = d.ess_target
    total = d.chains * d.draws
    rows = [
        ("largest R-hat", f"{d.max_r_hat:.3f}", f"below {R_HAT_LIMIT}",
         grade(d.max_r_hat, d.max_r_hat < R_HAT_LIMIT, d.max_r_hat >= R_HAT_PROBLEM)),
        ("smallest bulk ESS", f"{d.min_ess_bulk:.0f}", f"at least {ess_ok}",
         grade(d.min_ess_bulk, d.min_ess_bulk >= ess_ok, d.min_ess_bulk < ESS_PROBLEM)),
        ("smallest tail ESS", f"{d.min_ess_tail:.0f}", f"at least {ess_ok}",
         grade(d.min_ess_tail, d.min_ess_tail >= ess_ok, d.min_ess_tail < ESS_PROBLEM)),
        ("divergent transitions", f"{d.divergences}", "0",
         grade(d.divergences, d.divergences == 0, d.divergences >= DIVERGENCE_PROBLEM * total)),
    ]
    return pd.DataFrame(rows, columns=["check", "value", "target", "status"])
