"""Gradient fitting: solver="adam", partial_fit and expert="mlp"."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._synthetic import gated_linear, random_gated_linear


def _quiet_fit(model, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **kwargs)


def _xor(n, seed=0, flip=0.05):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    y[rng.uniform(size=n) < flip] ^= 1
    return X, y


def _sine_regimes(n, seed=0):
    """A smooth nonlinear target in two regimes: sin(3x) and a shifted line."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n, 1))
    x = X[:, 0]
    y = np.where(x > 0, np.sin(3 * x), 0.5 * x - 1) + 0.1 * rng.normal(size=n)
    return X, y


# -- Adam ----------------------------------------------------------------------


def test_adam_regressor_fits_regimes_and_reports_epochs():
    X, y, _ = random_gated_linear(3000, 3, 3, seed=40)
    em = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    adam = _quiet_fit(MixtureOfExpertsRegressor(n_experts=3, solver="adam", random_state=0), X, y)
    assert adam.log_likelihood_ > em.log_likelihood_ - 0.02
    assert adam.log_likelihood_curve_.shape == (adam.n_iter_,)
    assert adam.objective_curve_.shape == (adam.n_iter_,)
    assert_allclose(adam.log_likelihood(X, y).mean(), adam.log_likelihood_, rtol=1e-10)
    assert_allclose(adam.expert_load_.sum(), 1.0)
    assert adam.expert_coef_.shape == (3, 3)


def test_adam_is_repeatable_and_depends_on_batch_size():
    X, y, _ = gated_linear(600, n_regimes=2, seed=41)
    params = dict(n_experts=2, solver="adam", max_iter=5, random_state=3)
    a = _quiet_fit(MixtureOfExpertsRegressor(**params), X, y)
    b = _quiet_fit(MixtureOfExpertsRegressor(**params), X, y)
    c = _quiet_fit(MixtureOfExpertsRegressor(batch_size=32, **params), X, y)
    assert_array_equal(a.log_likelihood_curve_, b.log_likelihood_curve_)
    assert_array_equal(a.gate_coef_, b.gate_coef_)
    assert not np.array_equal(a.gate_coef_, c.gate_coef_)


def test_adam_stops_when_loss_stalls_and_warns_otherwise():
    X, y, _ = gated_linear(400, n_regimes=2, seed=42)
    model = MixtureOfExpertsRegressor(n_experts=2, solver="adam", max_iter=500, tol=1e-2,
                                      random_state=0).fit(X, y)
    # tol=1e-2 per sample is coarse: stops after the 11 epochs of patience
    assert model.converged_ and 11 <= model.n_iter_ < 500
    with pytest.warns(ConvergenceWarning, match="Adam did not converge in max_iter=2 epochs"):
        MixtureOfExpertsRegressor(n_experts=2, solver="adam", max_iter=2, tol=0.0,
                                  random_state=0).fit(X, y)


def test_adam_verbose_prints_one_line_per_epoch(capsys):
    X, y, _ = gated_linear(300, n_regimes=2, seed=43)
    _quiet_fit(MixtureOfExpertsRegressor(n_experts=2, solver="adam", max_iter=3, tol=0.0,
                                         verbose=1, random_state=0), X, y)
    out = capsys.readouterr().out
    assert out.count("[Adam] epoch") == 3
    assert "[Adam] stopped after 3 epochs" in out


def test_adam_classifier():
    X, y = _xor(2000, seed=1)
    clf = _quiet_fit(MixtureOfExpertsClassifier(n_experts=2, solver="adam", random_state=0),
                     X, y)
    assert clf.score(X, y) > 0.9
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert clf.expert_coef_.shape == (2, 1, 2)


def test_lbfgs_from_em_solution_does_not_lose_likelihood():
    X, y, _ = random_gated_linear(2000, 3, 2, seed=44)
    em = MixtureOfExpertsRegressor(n_experts=3, tol=1e-8, max_iter=1000, random_state=0)
    em.fit(X, y)
    ll_em = em.log_likelihood_
    em.set_params(solver="lbfgs", warm_start=True)
    _quiet_fit(em, X, y)
    assert em.log_likelihood_ >= ll_em - 1e-3


# -- partial_fit -----------------------------------------------------------------


@pytest.mark.parametrize("solver", ["em", "lbfgs"])
@pytest.mark.parametrize("expert", ["linear", "constant"])
def test_partial_fit_does_not_spoil_a_converged_regressor(solver, expert):
    X, y, _ = random_gated_linear(3000, 3, 2, seed=45)
    model = MixtureOfExpertsRegressor(n_experts=3, expert=expert, solver=solver, tol=1e-8,
                                      max_iter=1000, random_state=0)
    _quiet_fit(model, X, y)
    before = model.log_likelihood(X, y).mean()
    model.partial_fit(X, y)
    after = model.log_likelihood(X, y).mean()
    assert after > before - 0.01
    assert model.n_iter_ >= 1 and not model.converged_


@pytest.mark.parametrize("solver", ["em", "lbfgs"])
def test_partial_fit_does_not_spoil_a_converged_classifier(solver):
    X, y = _xor(3000, seed=2)
    model = MixtureOfExpertsClassifier(n_experts=2, solver=solver, tol=1e-8, max_iter=1000,
                                       random_state=0)
    _quiet_fit(model, X, y)
    before = model.log_likelihood(X, y).mean()
    model.partial_fit(X, y)
    assert model.log_likelihood(X, y).mean() > before - 0.01


def test_partial_fit_stream_reaches_fit_regressor():
    X, y, truth = random_gated_linear(4000, 3, 2, seed=46)
    X_test, y_test, _ = random_gated_linear(4000, 3, 2, seed=47, truth=truth)
    full = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    stream = MixtureOfExpertsRegressor(n_experts=3, random_state=0)
    for _ in range(8):
        for start in range(0, 4000, 500):
            stream.partial_fit(X[start : start + 500], y[start : start + 500])
    assert stream.n_iter_ == 64
    gap = full.log_likelihood(X_test, y_test).mean() - stream.log_likelihood(X_test, y_test).mean()
    assert gap < 0.05


def test_partial_fit_stream_reaches_fit_classifier():
    X, y = _xor(4000, seed=3)
    X_test, y_test = _xor(4000, seed=4)
    full = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    stream = MixtureOfExpertsClassifier(n_experts=2, random_state=0)
    for _ in range(5):
        for start in range(0, 4000, 500):
            stream.partial_fit(X[start : start + 500], y[start : start + 500], classes=[0, 1])
    gap = full.log_likelihood(X_test, y_test).mean() - stream.log_likelihood(X_test, y_test).mean()
    assert gap < 0.05


def test_partial_fit_is_repeatable_and_picklable():
    X, y, _ = gated_linear(800, n_regimes=2, seed=48)
    a = MixtureOfExpertsRegressor(n_experts=2, random_state=5)
    b = MixtureOfExpertsRegressor(n_experts=2, random_state=5)
    for model in (a, b):
        model.partial_fit(X[:400], y[:400])
    b = pickle.loads(pickle.dumps(b))
    for model in (a, b):
        model.partial_fit(X[400:], y[400:])
    assert_array_equal(a.gate_coef_, b.gate_coef_)
    assert_array_equal(a.log_likelihood_curve_, b.log_likelihood_curve_)


def test_partial_fit_errors():
    X, y = _xor(100)
    clf = MixtureOfExpertsClassifier(n_experts=2)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1, 2])  # a class absent from this batch is fine
    assert_array_equal(clf.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match="not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="previously unseen labels"):
        clf.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.partial_fit(np.hstack([X, X[:, :1]]), y)
    reg = MixtureOfExpertsRegressor(n_experts=3)
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_experts=3"):
        reg.partial_fit(X[:2], y[:2].astype(float))
    with pytest.raises(ValueError, match="top_k=3 must be smaller than n_experts=3"):
        MixtureOfExpertsRegressor(n_experts=3, top_k=3).partial_fit(X, y.astype(float))


def test_partial_fit_absent_for_estimator_experts():
    model = MixtureOfExpertsRegressor(expert=LinearRegression())
    assert not hasattr(model, "partial_fit")
    with pytest.raises(AttributeError, match="no attribute 'partial_fit'") as info:
        model.partial_fit  # noqa: B018
    assert "estimator-instance experts" in str(info.value.__cause__)
    assert hasattr(MixtureOfExpertsClassifier(), "partial_fit")


# -- mlp experts ------------------------------------------------------------------


def test_mlp_beats_linear_on_smooth_nonlinear_target():
    X, y = _sine_regimes(3000, seed=5)
    X_test, y_test = _sine_regimes(3000, seed=6)
    lin = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    mlp = _quiet_fit(MixtureOfExpertsRegressor(n_experts=2, expert="mlp", expert_hidden=16,
                                               random_state=0), X, y)
    ll_lin = lin.log_likelihood(X_test, y_test).mean()
    ll_mlp = mlp.log_likelihood(X_test, y_test).mean()
    assert ll_mlp > ll_lin + 0.3
    assert mlp.score(X_test, y_test) > 0.95


def test_mlp_classifier_beats_logistic_on_a_curved_boundary():
    rng = np.random.RandomState(7)
    X = rng.uniform(-2, 2, size=(3000, 2))
    y = (X[:, 1] > np.sin(2 * X[:, 0])).astype(int)
    log = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    mlp = _quiet_fit(MixtureOfExpertsClassifier(n_experts=2, expert="mlp", expert_hidden=16,
                                                alpha=1e-3, random_state=0), X, y)
    assert 1 - mlp.score(X, y) < (1 - log.score(X, y)) / 3
    assert mlp.log_likelihood(X, y).mean() > log.log_likelihood(X, y).mean()


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_mlp_outputs_all_work(solver):
    rng = np.random.RandomState(8)
    X = rng.normal(size=(300, 3))
    Y = np.c_[np.sin(X[:, 0]), X[:, 1] ** 2] + 0.1 * rng.normal(size=(300, 2))
    model = _quiet_fit(MixtureOfExpertsRegressor(n_experts=3, expert="mlp", expert_hidden=5,
                                                 solver=solver, max_iter=30, random_state=0),
                       X, Y)
    mean, std = model.predict(X, return_std=True)
    assert mean.shape == std.shape == (300, 2) and np.all(std > 0)
    assert model.predict_experts(X).shape == (300, 3, 2)
    assert_allclose(model.gate_proba(X).sum(axis=1), 1.0)
    assert model.sample_y(X[:4], n_samples=5, random_state=0).shape == (4, 2, 5)
    n_params = 2 * 4 + 3 * (5 * 4 + 2 * 6 + 2)
    ll = model.log_likelihood(X, Y).sum()
    assert_allclose(model.aic(X, Y), -2 * ll + 2 * n_params)
    assert_allclose(model.bic(X, Y), -2 * ll + n_params * np.log(300))
    assert model.expert_var_.shape == (3, 2)
    assert not hasattr(model, "expert_coef_")
    assert np.all(np.isfinite(model.gate_coef_))
    model.partial_fit(X, Y)
    assert np.all(np.isfinite(model.predict(X)))


def test_mlp_classifier_outputs_and_partial_fit_from_scratch():
    X, y = _xor(600, seed=9)
    labels = np.array(["a", "b"])[y]
    clf = MixtureOfExpertsClassifier(n_experts=2, expert="mlp", expert_hidden=4,
                                     random_state=0)
    for _ in range(3):
        clf.partial_fit(X, labels, classes=["a", "b"])
    proba = clf.predict_proba(X)
    assert proba.shape == (600, 2)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.predict_experts(X).shape == (600, 2, 2)
    assert set(clf.predict(X)) <= {"a", "b"}
    assert clf.n_iter_ == 3 and clf.log_likelihood_curve_.shape == (3,)


def test_mlp_partial_fit_with_small_learning_rate_keeps_a_converged_fit():
    X, y = _sine_regimes(2000, seed=10)
    model = _quiet_fit(MixtureOfExpertsRegressor(n_experts=2, expert="mlp", expert_hidden=8,
                                                 random_state=0), X, y)
    before = model.log_likelihood(X, y).mean()
    model.set_params(learning_rate=1e-3).partial_fit(X, y)
    assert model.log_likelihood(X, y).mean() > before - 0.01


def test_gradient_solvers_do_not_depend_on_threads():
    """Threaded kernels (rows, or experts for the mlp backward pass) give the same bits."""
    X, y = _sine_regimes(3000, seed=11)
    fits = []
    for n_jobs in (1, 2):
        params = dict(n_experts=3, expert="mlp", expert_hidden=40, solver="adam", max_iter=2,
                      batch_size=3000, random_state=0, n_jobs=n_jobs)
        fits.append(_quiet_fit(MixtureOfExpertsRegressor(**params), X, y))
        params.update(solver="lbfgs", max_iter=3)
        fits.append(_quiet_fit(MixtureOfExpertsRegressor(**params), X, y))
    assert_array_equal(fits[0].log_likelihood_curve_, fits[2].log_likelihood_curve_)
    assert_array_equal(fits[0].predict(X), fits[2].predict(X))
    assert_array_equal(fits[1].log_likelihood_curve_, fits[3].log_likelihood_curve_)
    assert_array_equal(fits[1].predict(X), fits[3].predict(X))
