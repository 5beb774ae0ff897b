"""The regressor's predictive distribution beyond its moments: CDF, quantiles, CRPS.

Every row's predictive distribution is a mixture of its experts' densities
(all ``K`` of them for a dense model, the ``top_k`` routed ones for a sparse
model), per output a univariate mixture ``sum_j w_ij D((y - mu_ijo) / s_eo) / s_eo``
with ``D`` the standard normal or Student's t (``expert_df_``). This module
gathers those pieces in standardised units, chunk by chunk, and hands them to
the kernels of ``skmoe/_kernels.py`` (``mixture_quantile_rows``,
``mixture_cdf_rows``, ``gaussian_mixture_crps_rows``, ``mixture_crps_rows``); the estimator converts
back to the user's units (quantiles and CRPS scale with ``y``'s standard
deviation, the CDF is unit-free).
"""

from numbers import Real

import numpy as np
from scipy.special import gammaln

from . import _kernels
from ._gate import gate_proba
from ._sparse import route
from ._threads import numba_threads, threaded

_NO_SEL = np.zeros((1, 1), dtype=np.int64)
#: Relative accuracy of each piece of the CRPS quadrature (Student-t experts);
#: the pieces are non-negative, so the sum is as accurate.
CRPS_RTOL = 1e-10


def check_levels(quantiles, name="quantiles"):
    """Validated probability levels: a 1-D float array, every entry in ``(0, 1)``."""
    if isinstance(quantiles, (str, bytes)):
        raise TypeError(f"{name} must be a float or a 1-D array-like of floats, got {quantiles!r}.")
    try:
        levels = np.asarray(quantiles, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a float or a 1-D array-like of floats, got {quantiles!r}."
        ) from exc
    if levels.ndim > 1:
        raise ValueError(f"{name} must be a float or a 1-D array-like, got shape {levels.shape}.")
    levels = np.atleast_1d(levels)
    if levels.size == 0:
        raise ValueError(f"{name} must hold at least one level, got an empty array.")
    bad = ~((levels > 0.0) & (levels < 1.0))  # NaN is caught here too
    if bad.any():
        raise ValueError(
            f"{name} must lie in the open interval (0, 1), got {levels[bad][0]!r}."
        )
    return np.ascontiguousarray(levels)


def check_coverage(coverage):
    """Validated interval coverage: a real number in ``(0, 1)``."""
    if isinstance(coverage, bool) or not isinstance(coverage, Real):
        raise TypeError(f"coverage must be a float in (0, 1), got {coverage!r}.")
    if not 0.0 < coverage < 1.0:  # NaN fails too
        raise ValueError(f"coverage must lie in the open interval (0, 1), got {coverage!r}.")
    return float(coverage)


class PredictiveMixture:
    """The fitted regressor's per-row mixtures, in standardised units.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor
        Fitted.

    Attributes
    ----------
    std, df, tconst : ndarray of shape (n_experts, n_outputs)
        Expert scales (standardised), degrees of freedom (``inf`` for
        Gaussian experts) and the t log normalising constants.
    """

    def __init__(self, estimator):
        self.estimator = estimator
        self.target = estimator._target()
        self.family = estimator._family()
        experts = estimator._params["experts"]
        self.std = np.ascontiguousarray(np.sqrt(experts["var"]))
        df = experts.get("df")
        self.df = np.full_like(self.std, np.inf) if df is None else np.ascontiguousarray(df, float)
        finite = np.isfinite(self.df)
        nu = np.where(finite, self.df, 1.0)
        self.tconst = np.ascontiguousarray(np.where(
            finite, gammaln(0.5 * (nu + 1)) - gammaln(0.5 * nu) - 0.5 * np.log(nu * np.pi), 0.0))
        self.gaussian = not finite.any()

    @property
    def n_outputs(self):
        return self.target.n_outputs

    @property
    def _width(self):
        return self.estimator._n_experts * self.n_outputs

    def chunks(self, X, width):
        """Yield ``(slice, gate, slot means, sel, dense)`` over the rows of validated ``X``."""
        est = self.estimator
        K, m = est._n_experts, self.n_outputs
        params = est._params
        for sl, X1c in est._X1_chunks(X, width):
            if est._sparse:
                sel, g = route(X1c, params["gate"], est._structure["top_k"])
                out = self.family.slot_outputs(params["experts"], X1c, sel)
                yield sl, g, np.ascontiguousarray(out), np.ascontiguousarray(sel), False
            else:
                g = gate_proba(X1c, params["gate"])
                out = self.family.means(params["experts"], X1c).reshape(-1, K, m)
                yield sl, np.ascontiguousarray(g), np.ascontiguousarray(out), _NO_SEL, True

    def quantiles(self, X, levels):
        """Quantiles ``(n, n_outputs, n_levels)`` in the user's units, non-decreasing in level."""
        sy, my = self.target.scaler.scale_, self.target.scaler.mean_
        m, L = self.n_outputs, levels.shape[0]
        order = np.argsort(levels, kind="stable")
        sorted_levels = np.ascontiguousarray(levels[order])
        q_sorted = np.empty((X.shape[0], m, L))
        with numba_threads(self.estimator.n_jobs):
            for sl, g, out, sel, dense in self.chunks(X, self.estimator._n_experts * m + m * L):
                kernel = (_kernels.mixture_quantile_rows_parallel
                          if threaded(g.shape[0] * g.shape[1] * L, 1 << 12)
                          else _kernels.mixture_quantile_rows)
                kernel(g, out, sel, dense, self.std, self.df, self.tconst, sorted_levels,
                       q_sorted[sl])
        # each quantile bounds the next from below in the kernel, so they are
        # non-decreasing in the level
        q = np.empty_like(q_sorted)
        q[:, :, order] = q_sorted
        return q * sy[None, :, None] + my[None, :, None]

    def cdf(self, X, T):
        """``P(Y <= y)`` ``(n, n_outputs)`` at the raw targets ``T`` ``(n, n_outputs)``."""
        Z = np.ascontiguousarray(self.target.scaled(T))
        out_cdf = np.empty(Z.shape)
        with numba_threads(self.estimator.n_jobs):
            for sl, g, out, sel, dense in self.chunks(X, self._width):
                _kernels.mixture_cdf_rows(g, out, sel, dense, self.std, self.df, self.tconst,
                                          np.ascontiguousarray(Z[sl]), out_cdf[sl])
        return out_cdf

    def crps(self, X, T):
        """CRPS ``(n, n_outputs)`` in the user's units at the raw targets ``T``.

        Gaussian experts: the closed form of Grimit et al. (2006); Student-t
        experts: adaptive Gauss-Kronrod quadrature to ``CRPS_RTOL``.
        """
        Z = np.ascontiguousarray(self.target.scaled(T))
        crps = np.empty(Z.shape)
        with numba_threads(self.estimator.n_jobs):
            for sl, g, out, sel, dense in self.chunks(X, self._width):
                z = np.ascontiguousarray(Z[sl])
                if self.gaussian:
                    _kernels.gaussian_mixture_crps_rows(g, out, sel, dense, self.std, z, crps[sl])
                else:
                    _kernels.mixture_crps_rows(g, out, sel, dense, self.std, self.df,
                                               self.tconst, z, CRPS_RTOL, crps[sl])
        return crps * self.target.scaler.scale_
