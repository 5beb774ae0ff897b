"""MixtureOfExpertsRegressor: Gaussian experts under a softmax gate."""

from numbers import Integral
from types import SimpleNamespace

import numpy as np
import scipy.sparse
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.metaestimators import available_if

from . import _dask, _kernels
from ._base import _SHARED_PARAMS_DOC, BaseMixtureOfExperts
from ._data import Scaler
from ._experts import expert_entry
from ._gate import gate_proba
from ._sparse import route
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

    alpha : float, default=1e-4
        L2 (ridge) penalty on the expert slopes, for standardised inputs.

    gate_alpha : float, default=1e-4
        L2 penalty on the gate coefficients (standardised inputs; intercepts
        are not penalised). Small, so that the gate can draw sharp regime
        boundaries.
{_SHARED_PARAMS_DOC}
    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    n_iter_ : int
        EM or L-BFGS iterations, or Adam epochs, of the kept run on the full
        data (``partial_fit``: passes so far).

    converged_ : bool
        Whether that run met ``tol`` within ``max_iter``.

    log_likelihood_ : float
        Weighted mean per-sample training log-likelihood of the fitted model.

    log_likelihood_curve_ : ndarray of shape (n_iter_ + 1,) or (n_iter_,)
        Weighted mean training log-likelihood before the first and after each
        EM or L-BFGS iteration of the kept run; for Adam one value per epoch
        (the running mean over its mini-batches, as ``MLPRegressor``'s
        ``loss_curve_``), and one per ``partial_fit`` pass.

    objective_curve_ : ndarray of shape (n_iter_ + 1,) or (n_iter_,)
        The penalised objective per unit weight along the same run; EM and
        L-BFGS never decrease it.

    expert_load_ : ndarray of shape (n_experts,)
        Share of the training weight each expert received (weighted mean of
        the responsibilities); sums to one.

    gate_coef_ : ndarray of shape (n_experts, n_features)
        Gate weights ``W_g`` in the units of ``X``.

    gate_intercept_ : ndarray of shape (n_experts,)
        Gate intercepts ``b_g``.

    expert_coef_ : ndarray of shape (n_experts, n_features) or (n_experts, n_outputs, n_features)
        Expert slopes ``A_k`` in the units of ``X`` and ``y`` (linear experts).

    expert_intercept_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Expert intercepts ``c_k``.

    expert_var_ : ndarray of shape (n_experts,) or (n_experts, n_outputs)
        Expert noise variances ``s2_k``.

    experts_ : list of estimator
        The fitted clones, when ``expert`` is an estimator instance.

    See Also
    --------
    MixtureOfExpertsClassifier : The same model with classifier experts.
    sklearn.mixture.GaussianMixture : Mixture density without inputs.

    Notes
    -----
    EM maximises the penalised objective

    ``sum_i w_i log p(y_i | x_i) - gate_alpha/2 ||W_g||^2
    - sum_k alpha/(2 s2_k) ||A_k||^2``

    on standardised data (features and targets by their weighted mean and
    standard deviation; reported parameters are converted back). The E-step
    computes responsibilities in log space; the experts' M-step is exact
    (weighted ridge, ``s2_k = (RSS_k + alpha ||A_k||^2) / N_k`` floored at
    ``1e-6`` times the variance of ``y``); the gate's M-step takes a Newton
    step if it does not lower the gate's objective and otherwise a Böhning
    bound step, which never does. Each restart searches several starting
    partitions with short EM runs on a hashed, de-duplicated subsample
    (independent of row order, of rescaling, and, up to 20,000 rows, of
    duplicated rows versus integer weights) before running EM on all the
    data.

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
        n_experts=4,
        *,
        expert="linear",
        top_k=None,
        solver="auto",
        noisy_gating=True,
        load_balancing=1e-2,
        alpha=1e-4,
        gate_alpha=1e-4,
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

    _validate_y_kwargs = {"multi_output": True, "y_numeric": True}

    # -- hooks -------------------------------------------------------------

    def _check_expert(self):
        expert_entry(self.expert).check(self.expert, "regression")

    def _encode_target(self, y, reset):
        if scipy.sparse.issparse(y):
            raise TypeError(
                "A sparse matrix was passed as y, but dense targets are required. "
                "Use y.toarray() to convert to a dense numpy array."
            )
        y = np.asarray(y, dtype=np.float64)
        if reset:
            self._y_ndim = y.ndim
            self._n_outputs = 1 if y.ndim == 1 else y.shape[1]
        elif (1 if y.ndim == 1 else y.shape[1]) != self._n_outputs:
            raise ValueError(
                f"y has {1 if y.ndim == 1 else y.shape[1]} outputs, but "
                f"{self.__class__.__name__} was fitted with {self._n_outputs} outputs."
            )
        return y.reshape(y.shape[0], -1)

    def _fit_target_scaling(self, T, w):
        self._set_target_scaler(Scaler(T, w))

    def _set_target_scaler(self, scaler):
        self._y_scaler = scaler
        with np.errstate(over="ignore"):
            spread_ok = np.all(np.isfinite(self._y_scaler.scale_**2 * 1e8))
        if not spread_ok:
            raise ValueError(
                f"y spreads over {self._y_scaler.scale_.max():.3g} (standard deviation): its "
                "variances overflow float64. Rescale y (e.g. y / 1e150)."
            )

    def _target_for_hash(self, T):
        return self._y_scaler.transform(T)

    def _scaled_target(self, T):
        return np.ascontiguousarray(self._y_scaler.transform(T))

    def _target_codec(self):
        return SimpleNamespace(scaler=self._y_scaler, n_outputs=self._n_outputs,
                               squeeze=self._y_ndim == 1)

    def _make_family(self, proxy=False):
        """The fitted expert family; ``proxy=True``: the start search's proxy experts."""
        return self._expert_family("regression", self._target_codec(), proxy)

    def _partial_fit_target(self, y, classes, first):
        return self._encode_target(y, reset=first)

    def _cluster_features(self, design):
        # give y as much weight as all the features together
        return design.target * np.sqrt(max(design.n_columns - 1, 1))

    def _log_likelihood_shift(self):
        return -float(np.sum(np.log(self._y_scaler.scale_)))

    def _export_params(self, params):
        self._export_gate(params["gate"])
        self._export_experts(params["experts"], self._target_codec())

    @available_if(BaseMixtureOfExperts._partial_fit_available)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one pass of mini-batch Adam over ``(X, y)``.

        Whatever ``solver`` fitted the model (or none: the first call
        initialises it from this batch as ``fit`` would, and fixes the
        scaling of the data), the rows are shuffled and visited once in
        mini-batches of ``batch_size``, one Adam step each. The optimiser
        state is kept across calls; a fresh state ramps its learning rate up
        over its first 200 steps, so that updating a converged model does not
        throw it off its optimum. Use it for data that arrive in pieces or do
        not fit in memory (call it repeatedly over the pieces, for several
        passes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
            ``log_likelihood_`` is the mean log-likelihood over this pass
            (each batch before its step); ``n_iter_`` counts passes.
        """
        return self._partial_fit(X, y, sample_weight, None)

    # -- prediction ----------------------------------------------------------

    def _expert_means(self, X1c, family):
        sy, my = self._y_scaler.scale_, self._y_scaler.mean_
        means = family.means(self._params["experts"], X1c)  # (c, K*m) standardised
        K, m = self._structure.n_experts, self._n_outputs
        return (means.reshape(-1, K, m) * sy + my).reshape(-1, K * m)

    def _shape_outputs(self, arr):
        return arr[:, 0] if self._y_ndim == 1 else arr

    def predict(self, X, return_std=False):
        """Predictive mean ``sum_k g_k(x) mu_k(x)``, optionally with its std.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of the full mixture predictive
            distribution, ``sqrt(sum_k g_k (s2_k + mu_k^2) - mean^2)``.

        Returns
        -------
        mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Only when ``return_std=True``.
        """
        if _dask.is_dask_collection(X):
            return _dask.map_rows(self, "predict", X, return_std=return_std)
        X = self._check_X(X)
        K, m = self._structure.n_experts, self._n_outputs
        family = self._make_family()
        mean = np.empty((X.shape[0], m))
        var = np.empty((X.shape[0], m))
        expert_var = np.ascontiguousarray(self._params["experts"]["var"] * self._y_scaler.scale_**2)
        with numba_threads(self.n_jobs):
            if self._sparse:
                # only the top_k routed experts of each row are evaluated
                sy, my = self._y_scaler.scale_, self._y_scaler.mean_
                var_std = np.ascontiguousarray(self._params["experts"]["var"])
                top_k = self._structure.top_k
                width = top_k * (family.width + m) + K
                for sl, X1c in self._X1_chunks(X, width):
                    sel, g = route(X1c, self._params["gate"], top_k)
                    out = family.slot_outputs(self._params["experts"], X1c, sel)
                    _kernels.sparse_gaussian_moments_rows(g, out, sel, var_std, mean[sl], var[sl])
                mean = mean * sy + my
                var = var * sy**2
            else:
                for sl, X1c in self._X1_chunks(X, K * m):
                    g = gate_proba(X1c, self._params["gate"])
                    means = np.ascontiguousarray(self._expert_means(X1c, family))
                    _kernels.gaussian_mixture_moments_rows(g, means, expert_var, mean[sl], var[sl])
        if return_std:
            return self._shape_outputs(mean), self._shape_outputs(np.sqrt(var))
        return self._shape_outputs(mean)

    def predict_experts(self, X):
        """Each expert's mean prediction ``mu_k(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        means : ndarray of shape (n_samples, n_experts) or (n_samples, n_experts, n_outputs)
        """
        if _dask.is_dask_collection(X):
            return _dask.map_rows(self, "predict_experts", X)
        X = self._check_X(X)
        K, m = self._structure.n_experts, self._n_outputs
        family = self._make_family()
        out = np.empty((X.shape[0], K, m))
        with numba_threads(self.n_jobs):
            for sl, X1c in self._X1_chunks(X, K * m):
                out[sl] = self._expert_means(X1c, family).reshape(-1, K, m)
        return out[:, :, 0] if self._y_ndim == 1 else out

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
        K, m = self._structure.n_experts, self._n_outputs
        g = self.gate_proba(X)
        means = self.predict_experts(X).reshape(X.shape[0], K, m)
        std = np.sqrt(self._params["experts"]["var"]) * self._y_scaler.scale_  # (K, m)
        cum = np.cumsum(g, axis=1)
        cum[:, -1] = 1.0
        u = rng.uniform(size=(X.shape[0], n_samples))
        which = (u[:, :, None] >= cum[:, None, :]).sum(axis=2)
        which = np.minimum(which, K - 1)
        rows = np.arange(X.shape[0])[:, None]
        mu = means[rows, which]  # (n, n_samples, m)
        noise = rng.standard_normal(size=mu.shape) * std[which]
        draws = np.transpose(mu + noise, (0, 2, 1))  # (n, m, n_samples)
        return draws[:, 0, :] if self._y_ndim == 1 else draws

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
