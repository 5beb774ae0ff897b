"""Information criteria of a fitted mixture (BIC, AIC) and its free-parameter count."""

import numpy as np


def free_params(n_experts, n_features, family):
    """Identifiable free parameters: the gate's ``(K - 1)(d + 1)`` plus the experts'."""
    return (n_experts - 1) * (n_features + 1) + family.n_free_params(n_features)


class InformationCriteriaMixin:
    """``bic`` and ``aic`` for :class:`skmoe._base.BaseMixtureOfExperts`.

    The log-likelihood is that of the fitted (penalised, MAP) model; the
    count is of its identifiable free parameters (user guide, "BIC and AIC").
    """

    def _n_free_params(self):
        d = self.n_features_in_
        return free_params(self._n_experts, d, self._family())

    def bic(self, X, y):
        """Bayesian information criterion on ``(X, y)`` (lower is better).

        ``-2 * sum_i log p(y_i | x_i) + n_params * log(n_samples)``, with the
        identifiable free parameters counted as in the user guide.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        bic : float
        """
        ll = self.log_likelihood(X, y)
        return float(-2.0 * ll.sum() + self._n_free_params() * np.log(ll.shape[0]))

    def aic(self, X, y):
        """Akaike information criterion on ``(X, y)`` (lower is better).

        ``-2 * sum_i log p(y_i | x_i) + 2 * n_params``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        aic : float
        """
        ll = self.log_likelihood(X, y)
        return float(-2.0 * ll.sum() + 2.0 * self._n_free_params())
