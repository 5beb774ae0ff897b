"""MixtureOfExpertsRegressor: Gaussian experts under a softmax gate."""

from numbers import Integral

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _kernels
from ._base import BaseMixtureOfExperts
from ._dask import dask_rows
from ._docs import (
    PARTIAL_FIT_DOC,
    PARTIAL_FIT_RETURNS_DOC,
    SHARED_ATTRIBUTES_DOC,
    SHARED_PARAMS_DOC,
)
from ._experts import DISTRIBUTIONS, check_distribution
from ._gate import gate_proba
from ._predictive import PredictiveMixture, check_coverage, check_levels
from ._sparse import route
from ._targets import GaussianTarget
from ._threads import numba_threads


class MixtureOfExpertsRegressor(RegressorMixin, BaseMixtureOfExperts):
    __doc__ = f"""Mixture of experts for regression (Jacobs et al. 1991; Jordan and Jacobs 1994).

    A softmax gate ``g(x) = softmax(W_g x + b_g)`` says where each of
    ``n_experts`` Gaussian experts is trusted, and the model is the mixture

    ``p(y | x) = sum_k g_k(x) N(y; A_k x + c_k, diag(s2_k))``

    (``expert="linear"``; ``expert="constant"`` drops ``A_k x``), fitted by
    expectation-maximisation (or by gradient: L-BFGS, mini-batch Adam,
    ``partial_fit``) on the penalised log-likelihood. Besides the
    mean prediction it gives the whole predictive distribution: its standard
    deviation, samples, the gate and each expert's prediction.

    Read more in the user guide (``docs/``).

    Parameters
    ----------
    expert : {{"linear", "constant", "mlp"}} or estimator instance, default="linear"
        Expert family. ``"mlp"``: one hidden layer of ``expert_hidden``
        ``tanh`` units per expert, fitted by the gradient solvers only.
        An estimator instance (whose ``fit`` takes ``sample_weight``; for the
        classifier, with ``predict_proba``): each expert is a clone, refitted
        in EM's M-step to the standardised data with the responsibilities as
        weights (EM only; see the user guide). The fitted clones are in
        ``experts_``.

    expert_distribution : {{"gaussian", "student_t"}}, default="gaussian"
        Each expert's noise: a normal, or Student's t
        ``t_nu(y; mu_k(x), s2_k)`` with its degrees of freedom learned in
        ``[1.5, 200]`` (robust to outliers; one latent scale per output, so
        a product of univariate t's for multi-output ``y``). Student-t experts
        are available for ``expert="linear"`` and ``"constant"``; EM is then
        the ECM of the user guide ("Student-t experts"), still monotone.

    alpha : float, default=1.0
        Strength of the priors on the experts: a Gaussian prior
        ``N(0, 1/alpha)`` on every standardised slope (the penalty
        ``alpha/2 ||A_k||^2``) and ``alpha`` pseudo-rows in each expert's
        variance prior (see Notes). ``alpha=0``: no prior on the experts.
        Fixed pseudo-counts in the summed objective: their weight fades as
        ``1/n``.

    gate_alpha : float, default=0.1
        Strength of the Gaussian prior ``N(0, 1/gate_alpha)`` on the gate's
        standardised slopes (intercepts are not penalised): weak enough for
        sharp regime boundaries on large data, strong enough to stop a gate
        from trusting an expert far outside its rows on small tables
        (``benchmarks/README.md``, "Defaults that hold on real tables").
{SHARED_PARAMS_DOC}
    Attributes
    ----------{SHARED_ATTRIBUTES_DOC}
    log_likelihood_ : float
        Weighted mean per-sample training log-likelihood of the fitted model.

    expert_coef_ : ndarray of shape (n_experts, n_features) or (n_experts, n_outputs, n_features)
        Expert slopes ``A_k`` in the units of ``X`` and ``y`` (linear experts).

    expert_intercept_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Expert intercepts ``c_k``.

    expert_var_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Expert noise variances ``s2_k`` (for Student-t experts the squared
        scales: the variance is ``s2_k nu_k / (nu_k - 2)``, infinite for
        ``nu_k <= 2``).

    expert_df_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Degrees of freedom ``nu_k`` of Student-t experts
        (``expert_distribution="student_t"`` only).

    experts_ : list of estimator
        The fitted clones, when ``expert`` is an estimator instance.

    See Also
    --------
    MixtureOfExpertsClassifier : The same model with classifier experts.
    sklearn.mixture.GaussianMixture : Mixture density without inputs.

    Notes
    -----
    EM maximises the penalised objective (the log posterior up to a
    constant: a MAP fit)

    ``sum_i w_i log p(y_i | x_i) - gate_alpha/2 ||W_g||^2
    - sum_kj [alpha/2 ||A_kj||^2 + nu/2 (log s2_kj + v0_j / s2_kj)]``

    on standardised data (features and targets by their weighted mean and
    standard deviation; reported parameters are converted back), with
    ``nu = alpha`` pseudo-rows and ``v0_j`` = 0.01 times the residual
    variance of a one-expert ridge fit of output ``j`` (an inverse-gamma
    prior on each variance with mode ``v0_j``, which keeps an expert from
    collapsing onto a few rows). ``alpha = gate_alpha = 0`` is the plain
    maximum-likelihood fit. The E-step computes responsibilities in log
    space; the experts' M-step takes two exact conditional steps (weighted
    ridge ``(S_k + alpha s2_k P) a = b_k`` at the current variance, then
    ``s2_k = (RSS_k + nu v0) / (N_k + nu)`` floored at ``1e-6`` times the
    variance of ``y``); the gate's M-step takes a Newton
    step if it does not lower the gate's objective and otherwise a Böhning
    bound step, which never does. Each restart screens 8 to 24 starts of
    several kinds (a budget of rows x iterations) with short EM runs on a
    hashed, de-duplicated subsample (independent of row order, of
    rescaling, and, up to 20,000 rows, of duplicated rows versus integer
    weights), converges the best, tries split-and-merge moves (kept only
    when they raise the objective, never into a degenerate state with an
    expert on fewer than ``2(d+1)`` rows or a variance at the floor), then
    runs EM on all the data.

    The dense model (``top_k=None``) evaluates every expert; with ``top_k``
    set, prediction evaluates only the ``top_k`` routed experts of each row
    (``gate_proba`` has ``top_k`` non-zeros per row).

    References
    ----------
    .. [1] R. A. Jacobs, M. I. Jordan, S. J. Nowlan and G. E. Hinton,
       "Adaptive mixtures of local experts", Neural Computation 3(1), 1991.
    .. [2] M. I. Jordan and R. A. Jacobs, "Hierarchical mixtures of experts
       and the EM algorithm", Neural Computation 6(2), 1994.
    .. [3] D. Böhning, "Multinomial logistic regression algorithm", Annals of
       the Institute of Statistical Mathematics 44(1), 1992.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-3, 3, size=(500, 1))
    >>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.1, 500)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> np.round(np.sort(moe.expert_coef_.ravel()), 1)
    array([-2.,  3.])
    >>> mean, std = moe.predict(X[:3], return_std=True)
    >>> mean.shape, std.shape
    ((3,), (3,))
    """

    def __init__(
        self,
        n_experts="auto",
        *,
        expert="linear",
        expert_distribution="gaussian",
        top_k=None,
        solver="auto",
        noisy_gating=True,
        load_balancing=1e-2,
        alpha=1.0,
        gate_alpha=0.1,
        expert_hidden=32,
        max_iter=200,
        tol=1e-5,
        n_init=1,
        init="kmeans",
        batch_size=256,
        learning_rate=1e-2,
        warm_start=False,
        random_state=None,
        verbose=0,
        n_jobs=None,
    ):
        self.n_experts = n_experts
        self.expert = expert
        self.expert_distribution = expert_distribution
        self.top_k = top_k
        self.solver = solver
        self.noisy_gating = noisy_gating
        self.load_balancing = load_balancing
        self.alpha = alpha
        self.gate_alpha = gate_alpha
        self.expert_hidden = expert_hidden
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.init = init
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    _task = "regression"
    _parameter_constraints: dict = {
        **BaseMixtureOfExperts._parameter_constraints,
        "expert_distribution": [StrOptions(set(DISTRIBUTIONS))],
    }

    def _new_target(self):
        return GaussianTarget()

    def _check_fit_params(self):
        super()._check_fit_params()
        check_distribution(self.expert_distribution, self.expert)

    def _expert_variance(self):
        """Each expert's predictive variance ``(K, m)``, standardised: ``s2`` or ``s2 nu/(nu-2)``.

        Infinite for a t expert with ``nu <= 2``.
        """
        experts = self._params["experts"]
        var = experts["var"]
        if "df" not in experts:
            return np.ascontiguousarray(var)
        df = experts["df"]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.ascontiguousarray(np.where(df > 2.0, var * df / (df - 2.0), np.inf))

    @available_if(BaseMixtureOfExperts._partial_fit_available)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        return self._fit(X, y, sample_weight, incremental=True)

    partial_fit.__doc__ = PARTIAL_FIT_DOC + """
        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
""" + PARTIAL_FIT_RETURNS_DOC

    # -- prediction ----------------------------------------------------------

    def _expert_means(self, X1c, family, target):
        """Expert means in the user's units, ``(c, K * m)`` expert-major."""
        sy, my = target.scaler.scale_, target.scaler.mean_
        means = family.means(self._params["experts"], X1c)  # (c, K*m) standardised
        K, m = self._n_experts, target.n_outputs
        return (means.reshape(-1, K, m) * sy + my).reshape(-1, K * m)

    @dask_rows
    def predict(self, X, return_std=False):
        """Predictive mean ``sum_k g_k(x) mu_k(x)``, optionally with its std.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of the full mixture predictive
            distribution, ``sqrt(sum_k g_k (s2_k + (mu_k - mean)^2))`` (the
            law of total variance, in that two-pass form: no cancellation).

        Returns
        -------
        mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Only when ``return_std=True``.
        """
        X = self._check_X(X)
        target = self._target()
        K, m = self._n_experts, target.n_outputs
        family = self._family()
        mean = np.empty((X.shape[0], m))
        var = np.empty((X.shape[0], m))
        sy, my = target.scaler.scale_, target.scaler.mean_
        with numba_threads(self.n_jobs):
            if self._sparse:
                # only the top_k routed experts of each row are evaluated
                var_std = self._expert_variance()
                top_k = self._structure["top_k"]
                width = top_k * (family.width + m) + K
                for sl, X1c in self._X1_chunks(X, width):
                    sel, g = route(X1c, self._params["gate"], top_k)
                    out = family.slot_outputs(self._params["experts"], X1c, sel)
                    _kernels.sparse_gaussian_moments_rows(g, out, sel, var_std, mean[sl], var[sl])
                mean = mean * sy + my
                var = var * sy**2
            else:
                expert_var = np.ascontiguousarray(self._expert_variance() * sy**2)
                for sl, X1c in self._X1_chunks(X, K * m):
                    g = gate_proba(X1c, self._params["gate"])
                    means = np.ascontiguousarray(self._expert_means(X1c, family, target))
                    _kernels.gaussian_mixture_moments_rows(g, means, expert_var, mean[sl], var[sl])
        if target.squeeze:
            mean, var = mean[:, 0], var[:, 0]
        return (mean, np.sqrt(var)) if return_std else mean

    @dask_rows
    def predict_experts(self, X):
        """Each expert's mean prediction ``mu_k(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        means : ndarray of shape (n_samples, n_experts) or (n_samples, n_experts, n_outputs)
        """
        X = self._check_X(X)
        target = self._target()
        K, m = self._n_experts, target.n_outputs
        family = self._family()
        out = np.empty((X.shape[0], K, m))
        with numba_threads(self.n_jobs):
            for sl, X1c in self._X1_chunks(X, K * m):
                out[sl] = self._expert_means(X1c, family, target).reshape(-1, K, m)
        return out[:, :, 0] if target.squeeze else out

    @dask_rows
    def predict_quantiles(self, X, quantiles=(0.05, 0.5, 0.95)):
        """Quantiles of the mixture predictive distribution.

        For each row the exact quantile of ``p(y | x) = sum_k g_k(x) p_k(y | x)``
        (the ``top_k`` routed experts of a sparse model), per output marginal
        for multi-output ``y``: a compiled safeguarded Newton iteration on the
        log of the mixture's tail probability, bracketed by the experts' own
        quantiles, to a relative error of ``1e-14`` in the tail probability
        (or 4 ulp in ``y``). Results are non-decreasing in the level and do
        not depend on ``n_jobs``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        quantiles : float or array-like of shape (n_quantiles,), default=(0.05, 0.5, 0.95)
            Probability levels, each in the open interval ``(0, 1)``.

        Returns
        -------
        quantiles : ndarray of shape (n_samples, n_quantiles) or (n_samples, n_outputs, n_quantiles)
            ``out[i, j]`` is the ``quantiles[j]``-quantile of row ``i``.

        Examples
        --------
        >>> import numpy as np
        >>> from skmoe import MixtureOfExpertsRegressor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.uniform(-3, 3, size=(500, 1))
        >>> y = np.where(X[:, 0] < 0, -2 * X[:, 0], 3 * X[:, 0]) + rng.normal(0, 0.1, 500)
        >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
        >>> q = moe.predict_quantiles([[1.0]], quantiles=[0.05, 0.5, 0.95])
        >>> np.round(q, 1)
        array([[2.8, 3. , 3.2]])
        """
        levels = check_levels(quantiles)
        X = self._check_X(X)
        q = PredictiveMixture(self).quantiles(X, levels)
        return q[:, 0, :] if self._target().squeeze else q

    @dask_rows
    def predict_interval(self, X, coverage=0.9):
        """Central prediction interval ``[q_((1 - c)/2), q_((1 + c)/2)]``.

        The interval between two quantiles of the mixture predictive
        distribution (:meth:`predict_quantiles`): it covers ``coverage`` of
        the model's probability and is not symmetric about the mean when the
        mixture is skewed; it is one interval even when the mixture is bimodal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        coverage : float, default=0.9
            Probability in the open interval ``(0, 1)``.

        Returns
        -------
        interval : ndarray of shape (n_samples, 2) or (n_samples, n_outputs, 2)
            Lower and upper ends.
        """
        c = check_coverage(coverage)
        return self.predict_quantiles(X, quantiles=(0.5 * (1.0 - c), 0.5 * (1.0 + c)))

    @dask_rows
    def predict_cdf(self, X, y):
        """Predictive cumulative distribution ``P(Y <= y_i | x_i)`` at each row's target.

        The probability integral transform of ``y`` under the fitted model:
        uniform on ``(0, 1)`` when the model is calibrated
        (:class:`~skmoe.inspection.PredictiveCalibrationDisplay`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        cdf : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        target = self._target()
        X, y = validate_data(self, X, y, reset=False, dtype=np.float64,
                             **target.validate_kwargs)
        T = target.encode(y, reset=False, name=type(self).__name__)
        F = PredictiveMixture(self).cdf(X, T)
        return F[:, 0] if target.squeeze else F

    def sample_y(self, X, n_samples=1, random_state=None):
        """Draw targets from the mixture predictive distribution.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        n_samples : int, default=1
            Draws per row of ``X``.
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        y_samples : ndarray of shape (n_samples_X, n_samples) or (n_samples_X, n_outputs, n_samples)
        """
        check_scalar(n_samples, "n_samples", Integral, min_val=1)
        X = self._check_X(X)
        rng = check_random_state(random_state)
        target = self._target()
        K, m = self._n_experts, target.n_outputs
        g = self.gate_proba(X)
        means = self.predict_experts(X).reshape(X.shape[0], K, m)
        std = np.sqrt(self._params["experts"]["var"]) * target.scaler.scale_  # (K, m)
        cum = np.cumsum(g, axis=1)
        cum[:, -1] = 1.0
        u = rng.uniform(size=(X.shape[0], n_samples))
        which = (u[:, :, None] >= cum[:, None, :]).sum(axis=2)
        which = np.minimum(which, K - 1)
        rows = np.arange(X.shape[0])[:, None]
        mu = means[rows, which]  # (n, n_samples, m)
        df = self._params["experts"].get("df")
        if df is None:
            noise = rng.standard_normal(size=mu.shape) * std[which]
        else:
            noise = rng.standard_t(df[which]) * std[which]
        draws = np.transpose(mu + noise, (0, 2, 1))  # (n, m, n_samples)
        return draws[:, 0, :] if target.squeeze else draws

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
