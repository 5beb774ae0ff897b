"""scikit-learn estimators as experts (expert=<estimator>), fitted by EM."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._synthetic import hard_regimes


def _fit(model, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **kwargs)


@pytest.fixture(scope="module")
def regimes():
    X, y, truth = hard_regimes(3000, 3, 3, seed=0)
    X_test, y_test, _ = hard_regimes(3000, 3, 3, seed=1, truth=truth)
    return X, y, X_test, y_test


def test_ridge_experts_reproduce_linear_experts(regimes):
    X, y, X_test, y_test = regimes
    params = dict(n_experts=3, alpha=0.5, random_state=0, tol=1e-8, max_iter=300)
    linear = _fit(MixtureOfExpertsRegressor(**params), X, y)
    ridge = _fit(MixtureOfExpertsRegressor(expert=Ridge(alpha=0.5), **params), X, y)
    assert_allclose(ridge.log_likelihood(X_test, y_test).mean(),
                    linear.log_likelihood(X_test, y_test).mean(), atol=2e-3)
    assert_allclose(ridge.predict(X_test), linear.predict(X_test), atol=0.02 * y.std())
    assert_allclose(ridge.gate_proba(X_test), linear.gate_proba(X_test), atol=0.02)
    # Ridge experts see standardised features: their coefficients times the
    # scale of y over the scale of X are the linear experts' slopes
    scale = ridge._target().scaler.scale_[0] / ridge._x_scaler().scale_
    coef = np.array([model.coef_ * scale for model in ridge.experts_])
    order_r = np.argsort(coef[:, 0])
    order_l = np.argsort(linear.expert_coef_[:, 0])
    assert_allclose(coef[order_r], linear.expert_coef_[order_l], rtol=0.02, atol=0.02)
    assert len(ridge.experts_) == 3 and all(isinstance(m, Ridge) for m in ridge.experts_)


def test_shallow_tree_mixture_beats_one_tree_and_ridge(regimes):
    X, y, X_test, y_test = regimes
    moe = _fit(MixtureOfExpertsRegressor(n_experts=3, expert=DecisionTreeRegressor(max_depth=3),
                                         random_state=0), X, y)
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y)
    ridge = Ridge().fit(X, y)
    assert moe.score(X_test, y_test) > max(tree.score(X_test, y_test),
                                           ridge.score(X_test, y_test)) + 0.2
    mean, std = moe.predict(X_test, return_std=True)
    assert np.all(std > 0)
    assert moe.predict_experts(X_test).shape == (3000, 3)
    assert np.isfinite(moe.bic(X_test, y_test)) and np.isfinite(moe.aic(X_test, y_test))


def test_classifier_tree_mixture_beats_one_tree_and_logistic():
    rng = np.random.RandomState(3)
    X = rng.uniform(-1, 1, size=(4000, 2))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0.3 * np.sign(X[:, 0]))).astype(int)
    X_test, y_test = X[2000:], y[2000:]
    X, y = X[:2000], y[:2000]
    moe = _fit(MixtureOfExpertsClassifier(n_experts=2, expert=DecisionTreeClassifier(max_depth=1),
                                          random_state=0), X, y)
    tree = DecisionTreeClassifier(max_depth=1).fit(X, y)
    logistic = LogisticRegression().fit(X, y)
    assert moe.score(X_test, y_test) > max(tree.score(X_test, y_test),
                                           logistic.score(X_test, y_test)) + 0.1
    proba = moe.predict_proba(X_test)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(np.isfinite(moe.log_likelihood(X_test, y_test)))
    assert moe.predict_experts(X_test).shape == (2000, 2, 2)


def test_classifier_expert_that_saw_some_classes_only():
    """Experts whose rows hold one class, or miss a class, give finite log-likelihoods."""
    rng = np.random.RandomState(4)
    X = rng.normal(size=(900, 2))
    y = np.where(X[:, 0] < 0, 0, np.where(X[:, 1] < 0, 1, 2))  # left: one class only
    model = _fit(MixtureOfExpertsClassifier(n_experts=3, expert=LogisticRegression(),
                                            random_state=0), X, y)
    ll = model.log_likelihood(X, y)
    assert np.all(np.isfinite(ll))
    assert model.score(X, y) > 0.9
    assert np.all(model.predict_experts(X) > 0)


def test_out_of_fold_variances_do_not_collapse(regimes):
    X, y, *_ = regimes
    deep = DecisionTreeRegressor(random_state=0)  # interpolates its own rows
    oof = _fit(MixtureOfExpertsRegressor(n_experts=2, expert=deep, max_iter=5, random_state=0),
               X, y)
    floor = 1e-6 * y.var()
    for alpha in (0.0, 1.0):
        insample = MixtureOfExpertsRegressor(n_experts=2, expert=deep, max_iter=5, alpha=alpha,
                                             random_state=0)
        insample._oof_variance = False
        _fit(insample, X, y)
        if alpha == 0:
            # memorised, no prior: collapsed to the floor
            assert np.all(insample.expert_var_ < 10 * floor)
        else:
            # the variance prior (one pseudo-row, weak: only the out-of-fold
            # residuals make the variance right) lifts it off the floor
            assert np.all(insample.expert_var_ > 2 * floor)
    assert np.all(oof.expert_var_ > 0.05)  # noise variance is 0.09


class _NoZeroWeights(RegressorMixin, BaseEstimator):
    """A regressor that refuses zero (or tiny) sample weights."""

    def fit(self, X, y, sample_weight=None):
        if sample_weight is not None and np.min(sample_weight) <= 1e-200:
            raise ValueError("zero weight")
        self.model_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.model_.predict(X)


def test_numerically_zero_responsibilities_are_dropped(regimes):
    X, y, X_test, y_test = regimes
    model = _fit(MixtureOfExpertsRegressor(n_experts=3, expert=_NoZeroWeights(),
                                           random_state=0), X, y)
    assert model.score(X_test, y_test) > 0.95


def test_best_iterate_is_kept(regimes):
    X, y, *_ = regimes
    model = _fit(MixtureOfExpertsRegressor(n_experts=3, expert=DecisionTreeRegressor(max_depth=2),
                                           max_iter=15, random_state=0), X, y)
    best = np.argmax(model.objective_curve_)
    assert_allclose(model.log_likelihood_, model.log_likelihood_curve_[best])
    assert_allclose(model.log_likelihood(X, y).mean(), model.log_likelihood_, rtol=1e-9)


def test_repeatable_and_thread_independent(regimes):
    X, y, X_test, _ = regimes
    tree = DecisionTreeRegressor(max_depth=3, max_features=2)  # random feature choice
    fits = [
        _fit(MixtureOfExpertsRegressor(n_experts=3, expert=tree, max_iter=5, random_state=0,
                                       n_jobs=n_jobs), X, y)
        for n_jobs in (1, 1, 2)
    ]
    for other in fits[1:]:
        assert_array_equal(fits[0].predict(X_test), other.predict(X_test))


@pytest.mark.parametrize(
    "estimator_class, expert, params, match",
    [
        (MixtureOfExpertsRegressor, KNeighborsRegressor(), {}, "does not accept sample_weight"),
        (MixtureOfExpertsClassifier, LinearSVC(), {}, "has no predict_proba"),
        (MixtureOfExpertsRegressor, DecisionTreeClassifier(), {}, "is a classifier"),
        (MixtureOfExpertsClassifier, Ridge(), {}, "is not a classifier"),
        (MixtureOfExpertsRegressor, Ridge(), {"solver": "lbfgs"}, "use solver='em'"),
        (MixtureOfExpertsRegressor, Ridge(), {"solver": "adam"}, "use solver='em'"),
        (MixtureOfExpertsRegressor, Ridge(), {"top_k": 1}, "top_k=1"),
    ],
)
def test_estimator_expert_errors(estimator_class, expert, params, match):
    X, y, _ = hard_regimes(60, 3, 2)
    y = (y > 0).astype(int) if estimator_class is MixtureOfExpertsClassifier else y
    with pytest.raises(ValueError, match=match):
        estimator_class(n_experts=3, expert=expert, **params).fit(X, y)


def test_multi_output_estimator_experts():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(1500, 2))
    regime = (X[:, 0] > 0).astype(int)
    slopes = np.array([[2.0, -1.0], [-2.0, 3.0]])
    y = X[:, 1:2] * slopes[regime] + 3.0 * regime[:, None] + rng.normal(0, 0.1, (1500, 2))
    model = _fit(MixtureOfExpertsRegressor(n_experts=2, expert=Ridge(alpha=1e-3),
                                           random_state=0), X, y)
    assert model.predict(X).shape == (1500, 2)
    assert model.expert_var_.shape == (2, 2)
    assert model.score(X, y) > 0.95
    # each expert found one regime: its variances are near the noise variance 0.01
    assert np.all(model.expert_var_ < 0.05)
    mean, std = model.predict(X[:5], return_std=True)
    assert mean.shape == std.shape == (5, 2)


class _RecordsOpenMP(RegressorMixin, BaseEstimator):
    """A regressor that records the OpenMP thread limit its fit sees."""

    seen = []

    def fit(self, X, y, sample_weight=None):
        from threadpoolctl import threadpool_info

        limits = [lib["num_threads"] for lib in threadpool_info()
                  if lib["user_api"] == "openmp"]
        type(self).seen.append(limits)
        self.model_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.model_.predict(X)


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_expert_fits_run_with_one_openmp_thread(regimes, n_jobs):
    from threadpoolctl import threadpool_info

    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"]
    if not before:
        pytest.skip("no OpenMP runtime loaded in this process")
    _RecordsOpenMP.seen = []
    X, y, *_ = regimes
    _fit(MixtureOfExpertsRegressor(n_experts=2, expert=_RecordsOpenMP(), max_iter=3,
                                   random_state=0, n_jobs=n_jobs), X, y)
    assert _RecordsOpenMP.seen and all(limits == [1] * len(before)
                                       for limits in _RecordsOpenMP.seen)
    after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"]
    assert after == before  # restored


class _Jitters(RegressorMixin, BaseEstimator):
    """Least squares whose intercept is pushed off by a random amount at every fit:
    an M-step that makes EM's objective jitter instead of increase."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        self.model_ = LinearRegression().fit(X, y, sample_weight=sample_weight)
        rng = np.random.RandomState(self.random_state)
        self.shift_ = rng.normal(0, 0.3) + np.random.normal(0, 0.3)
        return self

    def predict(self, X):
        return self.model_.predict(X) + self.shift_


def test_stalled_best_objective_stops_the_run(regimes):
    from skmoe._solvers._em import BEST_PATIENCE

    X, y, *_ = regimes
    np.random.seed(0)
    model = _fit(MixtureOfExpertsRegressor(n_experts=3, expert=_Jitters(), max_iter=100,
                                           tol=1e-12, random_state=0), X, y)
    curve = np.asarray(model.objective_curve_)
    best = int(np.argmax(curve))
    # stopped by the patience rule, well before max_iter, and counted as converged
    assert model.n_iter_ < 100 and model.converged_
    assert model.n_iter_ == best + BEST_PATIENCE
    assert np.all(curve[best + 1:] <= curve[best] + 1e-12)
    assert_allclose(model.log_likelihood_, model.log_likelihood_curve_[best])
