"""MixtureOfExpertsClassifier: classifier experts under a softmax gate."""

import numpy as np
from scipy.special import logsumexp
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils.metaestimators import available_if

from ._base import BaseMixtureOfExperts
from ._dask import dask_rows
from ._docs import (
    PARTIAL_FIT_DOC,
    PARTIAL_FIT_RETURNS_DOC,
    SHARED_ATTRIBUTES_DOC,
    SHARED_PARAMS_DOC,
)
from ._gate import gate_log_proba
from ._sparse import route
from ._targets import CategoricalTarget
from ._threads import numba_threads


class MixtureOfExpertsClassifier(ClassifierMixin, BaseMixtureOfExperts):
    __doc__ = f"""Mixture of experts for classification (Jacobs et al. 1991; Jordan & Jacobs 1994).

    A softmax gate ``g(x) = softmax(W_g x + b_g)`` says where each of
    ``n_experts`` classifier experts is trusted, and the model is the mixture

    ``p(y | x) = sum_k g_k(x) softmax(B_k x + d_k)[y]``

    (``expert="logistic"``; ``expert="constant"`` gives each expert a fixed
    class distribution), fitted by expectation-maximisation (or by gradient: L-BFGS,
    mini-batch Adam, ``partial_fit``) on the penalised
    log-likelihood. It finds regions where different simple classifiers
    hold, e.g. an XOR-like layout that one logistic regression cannot
    separate.

    Read more in the user guide (``docs/``).

    Parameters
    ----------
    expert : {{"logistic", "constant", "mlp"}} or estimator instance, default="logistic"
        Expert family. ``"mlp"``: one hidden layer of ``expert_hidden``
        ``tanh`` units per expert, fitted by the gradient solvers only.
        An estimator instance (whose ``fit`` takes ``sample_weight``; for the
        classifier, with ``predict_proba``): each expert is a clone, refitted
        in EM's M-step to the standardised data with the responsibilities as
        weights (EM only; see the user guide). The fitted clones are in
        ``experts_``.

    alpha : float, default=1.0
        Strength of the Gaussian prior ``N(0, 1/alpha)`` on the logistic
        experts' standardised coefficients, the L2 penalty ``alpha/2
        ||B_k||^2`` (``alpha=1`` matches ``LogisticRegression(C=1)`` on
        standardised data). ``alpha = gate_alpha = 0`` is the plain
        maximum-likelihood fit.

    gate_alpha : float, default=1.0
        L2 penalty on the gate coefficients (standardised inputs; intercepts
        are not penalised). Larger than the regressor's default: with
        classifier experts an unpenalised gate overfits small tables
        (``benchmarks/README.md``, "Measurements behind constants in the code").
{SHARED_PARAMS_DOC}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
{SHARED_ATTRIBUTES_DOC}
    log_likelihood_ : float
        Weighted mean per-sample training log-likelihood (negative log-loss).

    expert_coef_ : ndarray of shape (n_experts, n_classes, n_features) or (n_experts, 1, n_features)
        Logistic experts' coefficients in the units of ``X``; for two classes
        one row per expert, the log-odds of ``classes_[1]`` as in
        ``LogisticRegression.coef_``.

    expert_intercept_ : ndarray of shape (n_experts, n_classes) or (n_experts, 1)
        Experts' intercepts (for constant experts, their class log-odds).

    experts_ : list of estimator
        The fitted clones, when ``expert`` is an estimator instance.

    See Also
    --------
    MixtureOfExpertsRegressor : The same model with Gaussian regression experts.
    sklearn.linear_model.LogisticRegression : One logistic expert.

    Notes
    -----
    EM maximises ``sum_i w_i log p(y_i | x_i) - gate_alpha/2 ||W_g||^2 -
    alpha/2 sum_k ||B_k||^2`` on standardised features (for two classes
    ``B_k`` is the log-odds vector, as in ``LogisticRegression``): a MAP fit
    under Gaussian priors. ``bic``/``aic`` use the log-likelihood at that
    fit and count ``K (C - 1)(d + 1)`` expert parameters (``K (d + 1)`` for
    two classes: one log-odds row per expert). Each
    M-step is a weighted multinomial logistic regression for the gate and
    for every expert, and takes a Böhning bound step or a Newton step,
    whichever is better (the gate: the Newton step whenever it does not lower
    the objective), so the objective never decreases, also on separable
    data.

    References
    ----------
    .. [1] R. A. Jacobs, M. I. Jordan, S. J. Nowlan and G. E. Hinton,
       "Adaptive mixtures of local experts", Neural Computation 3(1), 1991.
    .. [2] M. I. Jordan and R. A. Jacobs, "Hierarchical mixtures of experts
       and the EM algorithm", Neural Computation 6(2), 1994.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import MixtureOfExpertsClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(600, 2))
    >>> y = np.where(X[:, 0] * X[:, 1] > 0, "same", "diff")   # XOR-like
    >>> clf = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> clf.classes_
    array(['diff', 'same'], dtype='<U4')
    >>> bool(clf.score(X, y) > 0.9)
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    def __init__(
        self,
        n_experts="auto",
        *,
        expert="logistic",
        top_k=None,
        solver="auto",
        noisy_gating=True,
        load_balancing=1e-2,
        alpha=1.0,
        gate_alpha=1.0,
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

    _task = "classification"

    def _new_target(self):
        return CategoricalTarget()

    @available_if(BaseMixtureOfExperts._partial_fit_available)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    partial_fit.__doc__ = PARTIAL_FIT_DOC + """
        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,), default=None
            All the classes that can appear in ``y``. Required on the first
            call (as for ``SGDClassifier``), optional afterwards (it must
            then equal ``classes_``).
""" + PARTIAL_FIT_RETURNS_DOC

    # -- prediction ----------------------------------------------------------

    def _log_proba_parts(self, X):
        """Log gate ``(n, K)`` and expert log-probabilities ``(n, K, C)``, chunked."""
        X = self._check_X(X)
        family = self._family()
        K, C = self._n_experts, len(self.classes_)
        log_gate = np.empty((X.shape[0], K))
        log_expert = np.empty((X.shape[0], K, C))
        with numba_threads(self.n_jobs):
            for sl, X1c in self._X1_chunks(X, K * C):
                log_gate[sl] = gate_log_proba(X1c, self._params["gate"])
                log_expert[sl] = family.log_proba(self._params["experts"], X1c)
        return log_gate, log_expert

    @dask_rows
    def predict_log_proba(self, X):
        """Log of the mixture class probabilities, computed in log space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log sum_k g_k(x) p_k(c | x)`` for each class in ``classes_``.
        """
        if self._sparse:
            return self._sparse_log_proba(X)
        log_gate, log_expert = self._log_proba_parts(X)
        return logsumexp(log_gate[:, :, None] + log_expert, axis=1)

    def _sparse_log_proba(self, X):
        """``log sum_j g_j p_sel[j](c | x)`` over the ``top_k`` routed experts only."""
        X = self._check_X(X)
        family = self._family()
        C = len(self.classes_)
        out_all = np.empty((X.shape[0], C))
        with numba_threads(self.n_jobs):
            K, top_k = self._n_experts, self._structure["top_k"]
            for sl, X1c in self._X1_chunks(X, top_k * (family.width + C) + K):
                sel, g = route(X1c, self._params["gate"], top_k)
                out = family.slot_outputs(self._params["experts"], X1c, sel)
                log_p = out - logsumexp(out, axis=2, keepdims=True)
                with np.errstate(divide="ignore"):
                    out_all[sl] = logsumexp(np.log(g)[:, :, None] + log_p, axis=1)
        return out_all

    @dask_rows
    def predict_proba(self, X):
        """Mixture class probabilities ``sum_k g_k(x) p_k(c | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.
        """
        proba = np.exp(self.predict_log_proba(X))
        return proba / proba.sum(axis=1, keepdims=True)

    @dask_rows
    def predict(self, X):
        """Most probable class under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        log_proba = self.predict_log_proba(X)
        return self.classes_[np.argmax(log_proba, axis=1)]

    @dask_rows
    def predict_experts(self, X):
        """Each expert's class probabilities ``p_k(c | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts, n_classes)
        """
        _, log_expert = self._log_proba_parts(X)
        return np.exp(log_expert)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags
