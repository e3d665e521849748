"""Results: a fit as tidy DataFrames (``fit_result``), diagnostics, comparisons across poolings, natural scales and the
chart data (``interpret``).
"""
