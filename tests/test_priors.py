"""The default priors (issue 16) and ``n_experts="auto"``."""

import pickle

import numpy as np
import pytest
import scipy.optimize
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._experts._gaussian import GaussianExperts, residual_variance
from skmoe._experts._heads import GaussianHead
from skmoe._passes import Design
from skmoe._synthetic import gated_linear


def _stats(family, X1, y, resp, w):
    stats = family.new_stats(X1.shape[1])
    family.accumulate(stats, None, X1, y, w[:, None] * resp)
    return stats


def _map_objective(theta, X1, y, v, alpha, rows, var0):
    """Expected complete-data MAP objective of one expert and output (the M-step's)."""
    a, log_s2 = theta[:-1], theta[-1]
    s2 = np.exp(log_s2)
    r = y - X1 @ a
    ll = -0.5 * np.sum(v * (np.log(2 * np.pi * s2) + r * r / s2))
    pen = alpha / 2 * np.sum(a[1:] ** 2) + 0.5 * rows * (np.log(s2) + var0 / s2)
    return -(ll - pen)


@pytest.mark.parametrize("alpha, rows, var0", [(1.0, 1.0, 0.3), (3.0, 5.0, 0.05), (0.0, 2.0, 1.0)])
def test_gaussian_mstep_is_the_exact_map_maximiser(alpha, rows, var0):
    """Each conditional step is exact; repeated on fixed responsibilities they reach the MAP."""
    rng = np.random.RandomState(0)
    n, d, K = 15, 3, 2
    X1 = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d))])
    y = (X1 @ rng.normal(size=d + 1) + 0.3 * rng.normal(size=n))[:, None]
    resp = rng.dirichlet(np.ones(K), size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    family = GaussianExperts(K, 1, linear=True, alpha=alpha, prior=(rows, np.array([var0])))
    stats = _stats(family, X1, y, resp, w)
    none = np.zeros(K, bool)
    first = family.mstep(stats, None, none)
    params = first
    for _ in range(500):
        params = family.mstep(stats, params, none)
    for k in range(K):
        v = w * resp[:, k]
        args = (X1, y[:, 0], v, alpha, rows, var0)
        # the coefficient step of the first M-step maximises over a at s2 = 1
        res = scipy.optimize.minimize(lambda a, args=args: _map_objective(np.r_[a, 0.0], *args),
                                      np.zeros(d + 1), method="BFGS", options={"gtol": 1e-10})
        assert_allclose(first["coef"][k, 0], res.x, atol=1e-5)
        # ... its variance step over s2 at those coefficients
        res = scipy.optimize.minimize_scalar(
            lambda t, a=first["coef"][k, 0], args=args: _map_objective(np.r_[a, t], *args),
            bounds=(-20, 5), method="bounded", options={"xatol": 1e-10})
        assert_allclose(np.log(first["var"][k, 0]), res.x, atol=1e-5)
        # the fixed point is the joint maximiser
        res = scipy.optimize.minimize(_map_objective, np.zeros(d + 2), args=args,
                                      method="BFGS", options={"gtol": 1e-10})
        assert_allclose(params["coef"][k, 0], res.x[:-1], atol=1e-5)
        assert_allclose(np.log(params["var"][k, 0]), res.x[-1], atol=1e-5)


def test_variance_prior_penalty_gradient_matches_differences():
    head = GaussianHead(2, prior=(3.0, np.array([0.2, 0.7])))
    var = np.array([[0.1, 0.5], [1.3, 0.02]])
    grad = head.penalty_grad({"var": var})["log_var"]
    eps = 1e-6
    for idx in np.ndindex(var.shape):
        up, down = np.log(var).copy(), np.log(var).copy()
        up[idx] += eps
        down[idx] -= eps
        num = (head.penalty({"var": np.exp(up)}) - head.penalty({"var": np.exp(down)})) / (2 * eps)
        assert_allclose(grad[idx], num, rtol=1e-6)
    # zero at the prior's mode, positive elsewhere
    assert head.penalty({"var": np.tile([0.2, 0.7], (2, 1))}) == pytest.approx(0.0, abs=1e-14)
    assert head.penalty({"var": var}) > 0


def test_residual_variance_is_the_one_expert_ridge_fit():
    rng = np.random.RandomState(1)
    n, d = 200, 4
    X1 = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d))])
    y = (X1 @ rng.normal(size=d + 1) + 0.5 * rng.normal(size=n))[:, None]
    w = rng.uniform(0.5, 2, size=n)
    got = residual_variance(Design(X1, y, w), 1, 0.0)
    coef, *_ = np.linalg.lstsq(X1 * np.sqrt(w)[:, None], y[:, 0] * np.sqrt(w), rcond=None)
    r = y[:, 0] - X1 @ coef
    assert_allclose(got, [w @ (r * r) / w.sum()], rtol=1e-8)


def _data(n=400, seed=0):
    X, y, _ = gated_linear(n, n_regimes=3, n_features=2, noise=0.2, seed=seed)
    return X, y


@pytest.mark.parametrize("kwargs", [{}, {"expert": "constant"}, {"alpha": 5.0, "gate_alpha": 2.0}])
def test_default_objective_never_decreases(kwargs):
    X, y = _data()
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0, **kwargs).fit(X, y)
    obj = model.objective_curve_
    assert len(obj) > 2
    assert np.all(np.diff(obj) >= -1e-9 * np.abs(obj[:-1]).max())
    assert model.log_likelihood_curve_[-1] > model.objective_curve_[-1]


def test_zero_alpha_is_the_maximum_likelihood_fit():
    X, y = _data()
    model = MixtureOfExpertsRegressor(n_experts=3, alpha=0.0, gate_alpha=0.0, random_state=0)
    model.fit(X, y)
    assert_allclose(model.objective_curve_, model.log_likelihood_curve_, rtol=0, atol=0)
    assert model._family().head.prior_var is None


def test_variance_prior_keeps_a_few_row_expert_away_from_the_floor():
    # three exactly collinear rows beside noisy ones: without a prior an
    # expert can sit on them with a variance at the floor
    rng = np.random.RandomState(0)
    X = np.r_[rng.uniform(-1, 1, (60, 1)), [[0.1], [0.2], [0.3]]]
    y = np.r_[X[:60, 0] + rng.normal(scale=1.0, size=60), [5.0, 5.0, 5.0]]
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    family = model._family()
    floor = family.head.var_floor * model._target().scaler.scale_**2
    assert np.all(model.expert_var_ > 10 * floor)
    assert np.all(np.isfinite(model.expert_var_))


def test_prior_scale_is_kept_for_warm_start_and_partial_fit():
    X, y = _data()
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0, warm_start=True).fit(X, y)
    scale = model._target().residual_var.copy()
    model.fit(X[:100], y[:100])
    assert_array_equal(model._target().residual_var, scale)
    model.partial_fit(X, y)
    assert_array_equal(model._target().residual_var, scale)


# -- n_experts="auto" ------------------------------------------------------------


@pytest.fixture(scope="module")
def regimes():
    X, y, _ = gated_linear(1200, n_regimes=3, n_features=2, noise=0.1, seed=3)
    return X, y


def test_auto_finds_the_number_of_regimes(regimes):
    X, y = regimes
    model = MixtureOfExpertsRegressor(n_experts="auto", random_state=0).fit(X, y)
    assert model.n_experts_ == 3
    path = model.n_experts_path_
    assert_array_equal(path["n_experts"][:3], [1, 2, 3])
    assert path["n_experts"][np.argmin(path["bic"])] == 3
    assert model.gate_coef_.shape == (3, 2) and model.expert_coef_.shape == (3, 2)
    assert model.predict_experts(X[:5]).shape == (5, 3)
    # the path's BIC at the chosen K is the model's own BIC up to the search's gain
    assert model.bic(X, y) <= path["bic"][np.argmin(path["bic"])] + 1e-6 * abs(model.bic(X, y))


def test_auto_is_deterministic_and_survives_clone_and_pickle(regimes):
    X, y = regimes
    a = MixtureOfExpertsRegressor(n_experts="auto", random_state=5).fit(X, y)
    b = clone(a).fit(X, y)
    assert_array_equal(a.predict(X), b.predict(X))
    assert_array_equal(a.n_experts_path_["bic"], b.n_experts_path_["bic"])
    c = pickle.loads(pickle.dumps(a))
    assert_array_equal(c.predict(X), a.predict(X))
    assert clone(a).n_experts == "auto"


def test_auto_under_row_shuffling_and_integer_weights(regimes):
    X, y = regimes
    X, y = X[:300], y[:300]
    a = MixtureOfExpertsRegressor(n_experts="auto", random_state=0).fit(X, y)
    perm = np.random.RandomState(0).permutation(300)
    b = MixtureOfExpertsRegressor(n_experts="auto", random_state=0).fit(X[perm], y[perm])
    assert_array_equal(a.predict(X), b.predict(X))
    w = np.r_[np.full(150, 2.0), np.ones(150)]
    c = MixtureOfExpertsRegressor(n_experts="auto", random_state=0).fit(X, y, sample_weight=w)
    Xr, yr = np.r_[X[:150], X], np.r_[y[:150], y]
    d = MixtureOfExpertsRegressor(n_experts="auto", random_state=0).fit(Xr, yr)
    assert c.n_experts_ == d.n_experts_
    assert_allclose(c.predict(X), d.predict(X), rtol=1e-9, atol=1e-9)


def test_auto_in_grid_search(regimes):
    X, y = regimes
    grid = GridSearchCV(MixtureOfExpertsRegressor(random_state=0),
                        {"n_experts": [2, "auto"]}, cv=3).fit(X[:600], y[:600])
    assert grid.best_params_["n_experts"] in (2, "auto")
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_auto_classifier_and_mlp_experts():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    clf = MixtureOfExpertsClassifier(n_experts="auto", random_state=0).fit(X, y)
    assert clf.n_experts_ == clf.gate_coef_.shape[0] == clf.n_experts_path_["n_experts"][
        np.argmin(clf.n_experts_path_["bic"])]
    Xr, yr = _data(300)
    reg = MixtureOfExpertsRegressor(n_experts="auto", expert="mlp", expert_hidden=4,
                                    max_iter=30, random_state=0).fit(Xr, yr)
    assert reg.n_experts_ >= 1 and np.all(np.isfinite(reg.predict(Xr)))


def test_int_n_experts_sets_n_experts_and_no_path():
    X, y = _data(200)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    assert model.n_experts_ == 2
    assert not hasattr(model, "n_experts_path_")


def test_auto_errors():
    X, y = _data(200)
    with pytest.raises(ValueError, match="call fit first"):
        MixtureOfExpertsRegressor(n_experts="auto").partial_fit(X, y)
    with pytest.raises(ValueError, match="top_k=1"):
        MixtureOfExpertsRegressor(n_experts="auto", top_k=1).fit(X, y)
    with pytest.raises(ValueError, match="n_experts"):
        MixtureOfExpertsRegressor(n_experts="many").fit(X, y)
    # after fit, partial_fit continues the chosen K
    model = MixtureOfExpertsRegressor(n_experts="auto", random_state=0).fit(X, y)
    model.partial_fit(X, y)
    assert model.gate_coef_.shape[0] == model.n_experts_


def test_auto_with_dask_input_asks_for_an_int():
    da = pytest.importorskip("dask.array")
    X, y = _data(200)
    with pytest.raises(ValueError, match="not supported for Dask input"):
        MixtureOfExpertsRegressor(random_state=0).fit(da.from_array(X, chunks=100),
                                                      da.from_array(y, chunks=100))


def test_auto_on_large_data_uses_the_subsample_bic():
    # above 20,000 rows the path runs on the canonical subsample, with its own BIC
    X, y, _ = gated_linear(30_000, n_regimes=3, n_features=2, noise=0.1, seed=3)
    model = MixtureOfExpertsRegressor(random_state=0).fit(X, y)
    assert model.n_experts_ == 3
    path = model.n_experts_path_
    k = int(np.flatnonzero(path["n_experts"] == 3)[0])
    n_sub = 20_000  # about: the canonical subsample
    ll_total_if_scaled = 30_000 * path["log_likelihood"][k]
    # the BIC is on about 20,000 rows, not scaled to the 30,000
    assert abs(path["bic"][k] + 2 * ll_total_if_scaled) > 0.2 * abs(path["bic"][k])
    assert abs(-2 * n_sub * path["log_likelihood"][k] - path["bic"][k]) < 0.1 * abs(path["bic"][k])
