"""Scores of a fitted mixture's predictive distribution, for model selection.

Both are scikit-learn *scorers* (callables ``scorer(estimator, X, y)``,
higher is better), so they go straight into ``GridSearchCV(scoring=...)``,
``cross_validate`` and ``cross_val_score``:

* :func:`log_likelihood_scorer`: the held-out mean log-likelihood
  ``mean_i log p(y_i | x_i)`` (the logarithmic score; regressor and classifier);
* :func:`neg_crps_scorer`: minus the mean continuous ranked probability
  score ``CRPS(F, y) = int (F(z) - 1{z >= y})^2 dz`` of the regressor's
  predictive distribution, in the units of ``y``. Unlike the log-likelihood
  it is bounded for a point mass and rewards a sharp, calibrated
  distribution without punishing one bad row without limit.

``R^2`` (the estimator's ``score``) looks at the predictive mean only; these
two judge the whole predictive distribution, which is what a mixture adds.
"""

import numpy as np
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._predictive import PredictiveMixture

__all__ = ["log_likelihood_scorer", "neg_crps_scorer"]


def _weighted_mean(values, sample_weight, n):
    weight = _check_sample_weight(sample_weight, np.empty((n, 0)), ensure_non_negative=True)
    total = weight.sum()
    if total <= 0:
        raise ValueError("sample_weight must have a positive sum.")
    return float(np.dot(weight, values) / total)


def log_likelihood_scorer(estimator, X, y, sample_weight=None):
    """Weighted mean held-out log-likelihood ``log p(y_i | x_i)`` (higher is better).

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        Fitted (``GridSearchCV`` passes the refitted candidate).
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    score : float
        Per-sample mean in nats (regressor: of the density in the units of
        ``y``, summed over outputs).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.metrics import log_likelihood_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.abs(X[:, 0]) + rng.normal(0, 0.1, 300)
    >>> scores = cross_val_score(MixtureOfExpertsRegressor(n_experts=2, random_state=0),
    ...                          X, y, cv=3, scoring=log_likelihood_scorer)
    >>> bool(scores.mean() > 0)
    True
    """
    values = estimator.log_likelihood(X, y)
    return _weighted_mean(values, sample_weight, len(values))


def neg_crps_scorer(estimator, X, y, sample_weight=None):
    """Minus the weighted mean CRPS of the regressor's predictive mixture (higher is better).

    The CRPS of a Gaussian mixture ``sum_j w_j N(mu_j, s_j^2)`` at ``y`` is,
    in closed form (Grimit et al. 2006),
    ``sum_j w_j A(y - mu_j, s_j^2) - 1/2 sum_jk w_j w_k A(mu_j - mu_k, s_j^2 + s_k^2)``
    with ``A(mu, s^2) = E|N(mu, s^2)| = 2 s phi(mu/s) + mu (2 Phi(mu/s) - 1)``.
    For Student-t experts, by adaptive Gauss-Kronrod quadrature of
    ``int F^2`` below ``y`` and ``int (1 - F)^2`` above it, to a relative
    error of ``1e-10``. For multi-output ``y``, the mean over outputs of each
    marginal's CRPS.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor
        Fitted.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    score : float
        ``-mean_i CRPS_i``, in the units of ``y``.

    References
    ----------
    .. [1] E. P. Grimit, T. Gneiting, V. J. Berrocal and N. A. Johnson, "The
       continuous ranked probability score for circular variables and its
       application to mesoscale forecast ensemble verification", Quarterly
       Journal of the Royal Meteorological Society 132, 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.metrics import neg_crps_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(300, 1))
    >>> y = np.abs(X[:, 0]) + rng.normal(0, 0.1, 300)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> bool(-neg_crps_scorer(moe, X, y) < 0.1)
    True
    """
    if not hasattr(estimator, "predict_quantiles"):
        raise TypeError(
            f"neg_crps_scorer needs a MixtureOfExpertsRegressor, got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    predictive = PredictiveMixture(estimator)
    X, y = validate_data(estimator, X, y, reset=False, dtype=np.float64,
                         **predictive.target.validate_kwargs)
    T = predictive.target.encode(y, reset=False, name=type(estimator).__name__)
    crps = predictive.crps(X, T).mean(axis=1)
    return -_weighted_mean(crps, sample_weight, len(crps))
