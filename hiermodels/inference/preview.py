"""A quick preview while the posterior is sampled: the REML estimate of a gaussian partial-pooling model.

REML (restricted maximum likelihood) is what ``lme4::lmer`` reports by default: the variance parameters maximise
the likelihood of the data with the group effects and the fixed effects integrated out, and the fixed effects
are then their generalised least-squares estimate. It takes a fraction of a second, so the app shows it while
NUTS runs and replaces it with the posterior when that arrives. Computed with statsmodels' ``MixedLM`` on the
prepared arrays: fixed effects for every term (``exog = X``), random effects for the varying terms
(``exog_re = Z``), one covariance matrix for them (correlated). With independent varying effects the preview
still estimates their correlation (lme4's ``(1 + x | g)`` rather than ``||``); it is labelled a preview.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from hiermodels.data.preparing import PreparedData
from hiermodels.model import names
from hiermodels.model.build import term_split
from hiermodels.model.spec import ModelSpec


def reml_preview(data: PreparedData, spec: ModelSpec) -> pd.DataFrame | None:
    """Population-level REML estimates (name, estimate, se), or None where no such preview exists.

    Names as everywhere: each term, ``sd(term)``, ``corr(a,b)``, ``sigma``. ``se`` is given for the fixed
    effects only. A preview exists for the gaussian family under partial pooling without group-specific noise.
    """
    if spec.family != "gaussian" or spec.pooling != "partial" or spec.group_noise:
        return None
    from statsmodels.regression.mixed_linear_model import MixedLM

    _, varying = term_split(data, spec)
    columns = [data.terms.index(t) for t in varying]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a preview is replaced by the posterior anyway
        result = MixedLM(data.y, data.X, groups=data.group_index, exog_re=data.X[:, columns]).fit(reml=True)
    rows = [{"name": term, "estimate": float(result.fe_params[k]), "se": float(result.bse_fe[k])}
            for k, term in enumerate(data.terms)]
    covariance = np.asarray(result.cov_re)
    sd = np.sqrt(np.diag(covariance))
    rows += [{"name": names.group_sd(term), "estimate": float(sd[k]), "se": np.nan} for k, term in enumerate(varying)]
    for a in range(len(varying)):
        for b in range(a + 1, len(varying)):
            rows.append({"name": names.correlation(varying[a], varying[b]),
                         "estimate": float(covariance[a, b] / (sd[a] * sd[b])), "se": np.nan})
    rows.append({"name": names.SIGMA, "estimate": float(np.sqrt(result.scale)), "se": np.nan})
    return pd.DataFrame(rows)
