"""Behaviour of MixtureOfExpertsRegressor: recovery, outputs, invariances, errors."""

import pickle
import re
import warnings
from itertools import permutations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor
from skmoe._synthetic import gated_linear, random_gated_linear


@pytest.fixture(scope="module")
def two_regimes():
    X, y, truth = gated_linear(1500, n_regimes=2, n_features=2, seed=0)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    return X, y, truth, model


def _match(fitted, true):
    """Permutation of fitted experts closest to the true ones."""
    K = true.shape[0]
    best = min(permutations(range(K)), key=lambda p: np.abs(fitted[list(p)] - true).sum())
    return list(best)


@pytest.mark.parametrize("n_regimes, seed", [(2, 1), (3, 2)])
def test_parameter_recovery(n_regimes, seed):
    X, y, truth = gated_linear(3000, n_regimes=n_regimes, n_features=2, noise=0.1, seed=seed)
    model = MixtureOfExpertsRegressor(n_experts=n_regimes, random_state=0).fit(X, y)
    true_coef = truth["coef"][:, 0, :]
    perm = _match(model.expert_coef_, true_coef)
    assert_allclose(model.expert_coef_[perm], true_coef, atol=0.06)
    assert_allclose(model.expert_intercept_[perm], truth["intercept"][:, 0], atol=0.06)
    assert_allclose(model.expert_var_[perm], truth["var"][:, 0], rtol=0.25)
    # the gate separates the regimes: its decisions agree with the true gate
    true_logits = X @ truth["gate_coef"].T + truth["gate_intercept"]
    fitted_regime = np.argmax(model.gate_proba(X)[:, perm], axis=1)
    agree = np.mean(fitted_regime == np.argmax(true_logits, axis=1))
    assert agree > 0.95
    assert model.converged_


def test_beats_linear_regression(two_regimes):
    X, y, _, model = two_regimes
    assert model.score(X, y) > LinearRegression().fit(X, y).score(X, y) + 0.1


def test_fitted_attributes(two_regimes):
    X, y, _, model = two_regimes
    K, d = 2, X.shape[1]
    assert model.gate_coef_.shape == (K, d)
    assert model.gate_intercept_.shape == (K,)
    assert model.expert_coef_.shape == (K, d)
    assert model.expert_intercept_.shape == (K,)
    assert model.expert_var_.shape == (K,)
    assert np.all(model.expert_var_ > 0)
    assert_allclose(model.expert_load_.sum(), 1.0)
    curve = model.log_likelihood_curve_
    assert curve.shape == (model.n_iter_ + 1,)
    assert model.log_likelihood_ == curve[-1]
    assert_allclose(model.log_likelihood(X, y).mean(), model.log_likelihood_, rtol=1e-10)
    assert np.all(np.diff(model.objective_curve_) >= -1e-12)
    # gate parameters reproduce gate_proba in the user's units
    logits = X @ model.gate_coef_.T + model.gate_intercept_
    g = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert_allclose(g / g.sum(axis=1, keepdims=True), model.gate_proba(X), rtol=1e-8)
    # expert parameters reproduce predict_experts
    assert_allclose(X @ model.expert_coef_.T + model.expert_intercept_,
                    model.predict_experts(X), rtol=1e-8, atol=1e-10)


def test_predictive_distribution(two_regimes):
    X, y, _, model = two_regimes
    mean, std = model.predict(X, return_std=True)
    assert_allclose(mean, model.predict(X))
    g = model.gate_proba(X)
    mu = model.predict_experts(X)
    assert_allclose(g.sum(axis=1), 1.0)
    assert_allclose(mean, np.sum(g * mu, axis=1))
    second = np.sum(g * (model.expert_var_ + mu**2), axis=1)
    assert_allclose(std, np.sqrt(second - mean**2), rtol=1e-6)
    draws = model.sample_y(X[:5], n_samples=20000, random_state=0)
    assert draws.shape == (5, 20000)
    assert_allclose(draws.mean(axis=1), mean[:5], atol=4 * std[:5].max() / np.sqrt(20000) * 3)
    assert_allclose(draws.std(axis=1), std[:5], rtol=0.05)
    assert_array_equal(draws, model.sample_y(X[:5], n_samples=20000, random_state=0))


def test_log_likelihood_matches_formula(two_regimes):
    X, y, _, model = two_regimes
    g = model.gate_proba(X)
    mu = model.predict_experts(X)
    dens = np.exp(-0.5 * (y[:, None] - mu) ** 2 / model.expert_var_) / np.sqrt(
        2 * np.pi * model.expert_var_
    )
    assert_allclose(model.log_likelihood(X, y), np.log(np.sum(g * dens, axis=1)), rtol=1e-9)
    p = (2 - 1) * (2 + 1) + 2 * (2 + 1) + 2
    total = model.log_likelihood(X, y).sum()
    assert_allclose(model.bic(X, y), -2 * total + p * np.log(len(X)))
    assert_allclose(model.aic(X, y), -2 * total + 2 * p)


def test_multi_output():
    X, Y, truth = gated_linear(2000, n_regimes=2, n_features=2, n_outputs=3, seed=4)
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, Y)
    assert model.expert_coef_.shape == (2, 3, 2)
    assert model.expert_intercept_.shape == (2, 3)
    assert model.expert_var_.shape == (2, 3)
    assert model.predict(X).shape == (2000, 3)
    mean, std = model.predict(X, return_std=True)
    assert std.shape == (2000, 3)
    assert model.predict_experts(X).shape == (2000, 2, 3)
    assert model.sample_y(X[:4], n_samples=3).shape == (4, 3, 3)
    perm = _match(model.expert_coef_, truth["coef"])
    assert_allclose(model.expert_coef_[perm], truth["coef"], atol=0.1)
    p = (2 - 1) * 3 + 2 * 3 * 3 + 2 * 3
    total = model.log_likelihood(X, Y).sum()
    assert_allclose(model.bic(X, Y), -2 * total + p * np.log(2000))
    with pytest.raises(ValueError, match="outputs"):
        model.log_likelihood(X, Y[:, :2])


def test_constant_experts():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(1000, 1))
    y = np.where(X[:, 0] < 0, -3.0, 2.0) + rng.normal(0, 0.2, 1000)
    model = MixtureOfExpertsRegressor(n_experts=2, expert="constant", random_state=0).fit(X, y)
    assert not hasattr(model, "expert_coef_")
    assert_allclose(np.sort(model.expert_intercept_), [-3.0, 2.0], atol=0.05)
    assert_allclose(model.expert_var_, 0.04, rtol=0.2)
    assert model.score(X, y) > 0.95
    p = (2 - 1) * 2 + 2 + 2
    assert_allclose(model.aic(X, y), -2 * model.log_likelihood(X, y).sum() + 2 * p)


def _params(model):
    return [model.gate_coef_, model.gate_intercept_, model.expert_coef_,
            model.expert_intercept_, model.expert_var_]


def test_scale_free():
    """y around 1e9 and X around 1e-9 fit exactly as well as unit-scale data."""
    X, y, _ = gated_linear(800, n_regimes=2, n_features=2, seed=3)
    base = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    Xs, ys = X * 1e-9 + 5e-9, y * 1e9 + 3e9
    scaled = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(Xs, ys)
    assert_allclose(scaled.predict(Xs), base.predict(X) * 1e9 + 3e9, rtol=1e-9)
    assert_allclose(scaled.log_likelihood_, base.log_likelihood_ - np.log(1e9), rtol=1e-9)
    # the same experts, possibly listed in another order (round-off can relabel)
    perm = _match(scaled.expert_coef_ * 1e-18, base.expert_coef_)
    assert_allclose(scaled.expert_coef_[perm], base.expert_coef_ * 1e18, rtol=1e-7)
    assert_allclose(scaled.expert_var_[perm], base.expert_var_ * 1e18, rtol=1e-7)
    assert_allclose(scaled.score(Xs, ys), base.score(X, y), rtol=1e-9)


def test_row_order_and_duplication_do_not_matter():
    X, y, _ = gated_linear(400, n_regimes=3, n_features=2, seed=5)
    est = MixtureOfExpertsRegressor(n_experts=3, random_state=0)
    ref = clone(est).fit(X, y)
    perm = np.random.RandomState(1).permutation(len(X))
    shuffled = clone(est).fit(X[perm], y[perm])
    for a, b in zip(_params(ref), _params(shuffled), strict=True):
        assert_array_equal(a, b)
    counts = np.random.RandomState(2).randint(0, 4, size=len(X))
    weighted = clone(est).fit(X, y, sample_weight=counts)
    repeated = clone(est).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    for a, b in zip(_params(weighted), _params(repeated), strict=True):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # a zero weight is the same as an absent row
    kept = counts > 0
    absent = clone(est).fit(X[kept], y[kept], sample_weight=counts[kept])
    for a, b in zip(_params(weighted), _params(absent), strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("n_samples", [600, 25_000])
def test_deterministic_across_runs_and_n_jobs(n_samples):
    X, y, _ = gated_linear(n_samples, n_regimes=3, n_features=3, seed=6)
    fits = [
        MixtureOfExpertsRegressor(n_experts=3, random_state=7, n_jobs=n_jobs).fit(X, y)
        for n_jobs in (1, 2, 1)
    ]
    for other in fits[1:]:
        for a, b in zip(_params(fits[0]), _params(other), strict=True):
            assert_array_equal(a, b)
        assert_array_equal(fits[0].predict(X[:50]), other.predict(X[:50]))


def test_large_path_uses_all_data():
    """Above the subsample size, EM ends on all rows and reaches the truth."""
    X, y, truth = gated_linear(30_000, n_regimes=3, n_features=2, noise=0.2, seed=8)
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    perm = _match(model.expert_coef_, truth["coef"][:, 0, :])
    assert_allclose(model.expert_coef_[perm], truth["coef"][:, 0, :], atol=0.03)
    assert_allclose(model.log_likelihood(X, y).mean(), model.log_likelihood_, rtol=1e-8)


def test_warm_start_continues_and_is_monotone():
    X, y, _ = gated_linear(500, n_regimes=3, n_features=2, seed=9)
    model = MixtureOfExpertsRegressor(n_experts=3, max_iter=1, warm_start=True, random_state=0)
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(15):
            model.fit(X, y)
            values.append(model.objective_curve_[-1])
    assert np.all(np.diff(values) >= -1e-12)
    with pytest.raises(ValueError, match="warm-started model was fitted with 2 features"):
        model.fit(np.hstack([X, X]), y)


def test_n_init_keeps_best():
    X, y, _ = gated_linear(600, n_regimes=3, n_features=2, seed=10)
    single = [
        MixtureOfExpertsRegressor(n_experts=3, init="random", random_state=s).fit(X, y)
        for s in range(3)
    ]
    multi = MixtureOfExpertsRegressor(n_experts=3, init="random", n_init=3, random_state=0)
    multi.fit(X, y)
    assert multi.log_likelihood_ >= min(m.log_likelihood_ for m in single) - 1e-9


def test_convergence_warning():
    X, y, _ = gated_linear(300, n_regimes=2, seed=11)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        model = MixtureOfExpertsRegressor(n_experts=2, max_iter=1, random_state=0).fit(X, y)
    assert not model.converged_
    # each stage (screening, the winner's run, the final run) capped at one step
    assert model.n_iter_ == len(model.log_likelihood_curve_) - 1
    assert model.n_iter_ <= 3 + len(model.accepted_moves_)


def test_collapsed_expert_is_kept_and_warned():
    X, y, _ = gated_linear(400, n_regimes=2, seed=12)
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    model._params["gate"][0, 0] = -900.0  # starve expert 0
    model.set_params(warm_start=True, max_iter=5)
    with pytest.warns(UserWarning, match=r"Expert\(s\) \[0\]"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
    assert model.expert_coef_.shape == (3, 2)
    for arr in _params(model):
        assert np.all(np.isfinite(arr))
    assert model.expert_load_[0] < 1e-8


@pytest.mark.parametrize(
    "name, X, y",
    [
        ("constant y", np.random.RandomState(0).normal(size=(50, 2)), np.full(50, 3.0)),
        ("constant feature", np.c_[np.random.RandomState(1).normal(size=(60, 1)), np.ones(60)],
         np.random.RandomState(2).normal(size=60)),
        ("collinear", np.repeat(np.random.RandomState(3).normal(size=(60, 1)), 3, axis=1),
         np.random.RandomState(4).normal(size=60)),
        ("n_samples == n_experts", np.arange(3.0)[:, None], np.array([0.0, 1.0, 5.0])),
    ],
)
@pytest.mark.parametrize("alpha", [0.0, 1e-4])
def test_degenerate_data_fits_finite(name, X, y, alpha):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixtureOfExpertsRegressor(
            n_experts=3, alpha=alpha, gate_alpha=alpha, random_state=0
        ).fit(X, y)
    for arr in _params(model):
        assert np.all(np.isfinite(arr)), name
    assert np.all(np.isfinite(model.predict(X)))
    assert np.all(np.isfinite(model.log_likelihood(X, y)))


def test_pipeline_grid_search_and_pickle():
    X, y, _ = gated_linear(400, n_regimes=2, seed=13)
    pipe = make_pipeline(StandardScaler(), MixtureOfExpertsRegressor(random_state=0))
    search = GridSearchCV(pipe, {"mixtureofexpertsregressor__n_experts": [1, 2]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["mixtureofexpertsregressor__n_experts"] == 2
    scores = cross_val_score(MixtureOfExpertsRegressor(n_experts=2, random_state=0), X, y, cv=3)
    assert np.all(scores > 0.8)
    model = search.best_estimator_
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict(X), model.predict(X))


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X, y, _ = gated_linear(200, n_regimes=2, seed=14)
    df = pd.DataFrame(X, columns=["a", "b"])
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(df, y)
    assert_array_equal(model.feature_names_in_, ["a", "b"])
    assert model.gate_proba(df).shape == (200, 2)


# -- errors ------------------------------------------------------------------

X_OK = np.random.RandomState(0).normal(size=(20, 2))
Y_OK = np.random.RandomState(1).normal(size=20)


@pytest.mark.parametrize(
    "params, X, y, fit_kwargs, error, match",
    [
        ({}, np.where(np.eye(20, 2) == 1, np.nan, X_OK), Y_OK, {}, ValueError, "NaN"),
        ({}, X_OK, np.r_[np.inf, Y_OK[1:]], {}, ValueError, "infinity"),
        ({}, X_OK[:, 0], Y_OK, {}, ValueError, "Expected 2D array"),
        ({}, X_OK, Y_OK[:-1], {}, ValueError, "inconsistent numbers of samples"),
        ({}, X_OK, Y_OK, {"sample_weight": -np.ones(20)}, ValueError, "Negative values"),
        ({}, X_OK, Y_OK, {"sample_weight": np.zeros(20)}, ValueError, "positive entry|zero"),
        ({"n_experts": 5}, X_OK[:4], Y_OK[:4], {}, ValueError,
         re.escape("n_samples=4 should be >= n_experts=5")),
        ({"n_experts": 3}, X_OK, Y_OK, {"sample_weight": np.r_[1, 1, np.zeros(18)]}, ValueError,
         "with positive sample_weight"),
        ({"n_experts": 3, "top_k": 3}, X_OK, Y_OK, {}, ValueError, "top_k=3.*n_experts=3"),
        ({"n_experts": 3, "top_k": 5}, X_OK, Y_OK, {}, ValueError, "top_k=5.*n_experts=3"),
        ({"n_experts": 3, "top_k": 1, "solver": "em"}, X_OK, Y_OK, {}, ValueError,
         "solver='em' is not supported for expert='linear' with top_k=1; use solver='adam'"),
        ({"expert": "mlp", "solver": "em"}, X_OK, Y_OK, {}, ValueError,
         "solver='em' is not supported for expert='mlp'.*'lbfgs' or 'adam'"),
        ({"expert": "logistic"}, X_OK, Y_OK, {}, ValueError, "classifier expert"),
        ({"expert": LinearRegression(), "solver": "lbfgs"}, X_OK, Y_OK, {}, ValueError,
         "an estimator expert .* use solver='em'"),
        ({"expert": "tree"}, X_OK, Y_OK, {}, ValueError, "'expert' parameter"),
        ({"n_experts": 0}, X_OK, Y_OK, {}, ValueError, "'n_experts' parameter"),
        ({"tol": -1.0}, X_OK, Y_OK, {}, ValueError, "'tol' parameter"),
        ({"init": "kmeans++"}, X_OK, Y_OK, {}, ValueError, "'init' parameter"),
        ({"learning_rate": 0.0}, X_OK, Y_OK, {}, ValueError, "'learning_rate' parameter"),
        ({"alpha": -1.0}, X_OK, Y_OK, {}, ValueError, "'alpha' parameter"),
        ({}, X_OK.astype(complex), Y_OK, {}, ValueError, "[Cc]omplex"),
    ],
)
def test_errors(params, X, y, fit_kwargs, error, match):
    with pytest.raises(error, match=match):
        MixtureOfExpertsRegressor(**params).fit(X, y, **fit_kwargs)


def test_predict_errors():
    model = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model.gate_proba(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="n_samples"):
        model.sample_y(X_OK, n_samples=0)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MixtureOfExpertsRegressor().predict(X_OK)




@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_default_settings_reach_the_generating_model_with_eight_regimes(seed):
    """A single k-means start gets stuck about 0.15 nats below; defaults must not."""
    X, y, truth = random_gated_linear(20_000, 8, 10, seed=seed)
    Xt, yt, _ = random_gated_linear(20_000, 8, 10, seed=seed + 100, truth=truth)
    model = MixtureOfExpertsRegressor(n_experts=8, random_state=0).fit(X, y)
    gap = truth["log_likelihood"](Xt, yt).mean() - model.log_likelihood(Xt, yt).mean()
    assert gap < 0.02


def test_sparse_only_parameters_are_inert_when_dense():
    X, y, _ = gated_linear(300, n_regimes=2, seed=15)
    a = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    b = MixtureOfExpertsRegressor(n_experts=2, random_state=0, noisy_gating=False,
                                  load_balancing=10.0, batch_size=7, learning_rate=0.5,
                                  expert_hidden=3).fit(X, y)
    for p, q in zip(_params(a), _params(b), strict=True):
        assert_array_equal(p, q)


def test_invariances_when_the_start_search_subsamples():
    """Above the candidate subsample size (5,000 canonical rows) the start
    search hashes rows; rescaling, shuffling and repeating rows must not
    change the model beyond round-off."""
    X, y, _ = random_gated_linear(6000, 3, 3, seed=21)
    est = MixtureOfExpertsRegressor(n_experts=3, random_state=0)
    ref = clone(est).fit(X, y)
    scaled = clone(est).fit(X * 1e-9 + 1e-8, y * 1e9 + 3e9)
    assert_allclose(scaled.predict(X * 1e-9 + 1e-8), ref.predict(X) * 1e9 + 3e9, rtol=1e-7)
    counts = np.random.RandomState(0).randint(1, 4, size=3000)
    weighted = clone(est).fit(X[:3000], y[:3000], sample_weight=counts)
    repeated = clone(est).fit(np.repeat(X[:3000], counts, axis=0), np.repeat(y[:3000], counts))
    for a, b in zip(_params(weighted), _params(repeated), strict=True):
        assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_row_order_above_the_subsample_size():
    X, y, _ = random_gated_linear(25_000, 2, 3, seed=22)
    est = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    ref = clone(est).fit(X, y)
    perm = np.random.RandomState(3).permutation(len(X))
    shuffled = clone(est).fit(X[perm], y[perm])
    for a, b in zip(_params(ref), _params(shuffled), strict=True):
        assert_allclose(a, b, rtol=1e-6, atol=1e-9)
