"""How much one user may ask of the machine, in one place.

The app serves a whole classroom from one small server, so every input is bounded: a file that is too big, too
wide or has too many groups gets a message saying the limit and how to get under it, instead of taking the server
down for everyone. :mod:`hiermodels.data` enforces the data limits (:func:`~hiermodels.data.reading.read_table` checks
the size before parsing, then columns and rows; :func:`~hiermodels.data.preparing.prepare` checks rows,
groups and terms).

The values are read at call time (``limits.MAX_ROWS``, not ``from limits import MAX_ROWS``), so a test may lower a
limit with ``monkeypatch.setattr``.

=====================  ==========  ====================================================================
name                   value       what it bounds
=====================  ==========  ====================================================================
``MAX_UPLOAD_MB``      50          a file's size in MiB (= ``server.maxUploadSize`` in
                                   ``.streamlit/config.toml``, which Streamlit counts in MiB too)
``MAX_ROWS``           2,000,000   data rows in a table
``MAX_COLUMNS``        1,000       columns in a table (only the used ones cost anything, but a wider file
                                   is almost always the wrong file or a transposed table)
``MAX_GROUPS``         20,000      groups in the group column
``MAX_TERMS``          50          columns of the design matrix (intercept, numeric predictors and one per
                                   non-reference level of each categorical predictor): rows × terms floats
                                   must fit in memory
``MAX_ABS_VALUE``      1e100       magnitude of a number the model uses (squares must stay finite)
``MAX_LABEL_LENGTH``   80          characters of a label or column name *shown* in a message; the data keep
                                   the whole label
``MAX_DRAWS``          20,000      draws per chain (and tuning draws), as the Model page allows
``MAX_CHAINS``         8           chains
=====================  ==========  ====================================================================
"""

from __future__ import annotations

MAX_UPLOAD_MB = 50
MAX_ROWS = 2_000_000
MAX_COLUMNS = 1_000
MAX_GROUPS = 20_000
MAX_TERMS = 50
MAX_ABS_VALUE = 1e100
MAX_LABEL_LENGTH = 80
MAX_DRAWS = 20_000
MAX_CHAINS = 8


def max_upload_bytes() -> int:
    """``MAX_UPLOAD_MB`` in bytes (Streamlit's megabyte is 1024 × 1024 bytes)."""
    return MAX_UPLOAD_MB * 1024 * 1024


def shown(text: object, limit: int | None = None) -> str:
    """``repr(text)`` for a message, cut to ``MAX_LABEL_LENGTH`` characters with the full length said.

    Only what is *shown* is shortened: labels and column names in the data are never changed.
    """
    limit = MAX_LABEL_LENGTH if limit is None else limit
    value = str(text)
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"
