"""The start search, split-and-merge moves, degenerate states, honest curves."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._experts._gaussian import GaussianExperts
from skmoe._gate import GateMStep
from skmoe._init import PARTITION_KINDS, params_from_resp, segments, start_partition
from skmoe._moves import degenerate, split_and_merge, trial_moves
from skmoe._passes import Design
from skmoe._solvers._em import run_em
from skmoe._start import MAX_STARTS, n_starts, start_kinds


def _regimes(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    y = np.where(X[:, 0] < -0.5, 3 * X[:, 1], np.where(X[:, 0] < 0.7, -2 * X[:, 1] + 4, 1.0))
    return X, y + 0.3 * rng.normal(size=n)


def _design(X, y, w=None):
    X1 = np.hstack([np.ones((X.shape[0], 1)), (X - X.mean(0)) / X.std(0)])
    t = ((y - y.mean()) / y.std()).reshape(-1, 1)
    return Design(X1, t, np.ones(X.shape[0]) if w is None else w)


def test_segments_equal_and_random_cuts():
    values = np.arange(10.0)[::-1]
    labels = segments(values, np.ones(10), 2)
    assert labels.tolist() == [1] * 5 + [0] * 5
    rng = np.random.RandomState(0)
    cut = segments(values, np.ones(10), 3, rng)
    # runs along the values: labels never decrease with the value
    assert np.all(np.diff(cut[np.argsort(values)]) >= 0)
    # a weight of 2 counts as two rows
    w = np.array([2.0, 1, 1])
    assert segments(np.array([0.0, 1, 2]), w, 2).tolist() == [0, 1, 1]


@pytest.mark.parametrize("kind", PARTITION_KINDS)
def test_start_partition_kinds_are_responsibilities(kind):
    X, y = _regimes()
    design = _design(X, y)
    resp = start_partition(kind, design, design.target, 3, np.random.RandomState(1))
    assert resp.shape == (300, 3)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    assert np.all(resp > 0)


def test_start_budget():
    assert n_starts(133, 2, 8) == MAX_STARTS
    assert n_starts(1_000_000, 8, 8) == 8
    assert n_starts(1_000_000, 8, 24) == 24
    assert start_kinds("random", 3, 5, 3) == ["dirichlet"] * 3
    kinds = start_kinds("kmeans", 12, 10, 3)
    assert kinds[::2] == ["kmeans"] * 6 and {"random", "residual", "target"} <= set(kinds)
    assert "feature" in start_kinds("kmeans", 6, 1, 3)[:2]


def test_degenerate_rule():
    family = GaussianExperts(2, 1, True, 0.0, var_floor=np.array([1e-6]))
    total, p = 1000.0, 3  # q = 3 inputs per expert
    ok = {"experts": {"var": np.array([[1.0], [0.5]])}}
    assert not degenerate(family, ok, np.array([500.0, 500.0]), total, p)
    # fewer than 2q rows
    assert degenerate(family, ok, np.array([995.0, 5.0]), total, p)
    # a collapsed expert is handled elsewhere, not degenerate
    assert not degenerate(family, ok, np.array([1000.0, 1e-9]), total, p)
    tight = {"experts": {"var": np.array([[1.0], [5e-6]])}}
    # tight on few rows: degenerate; tight on many rows (repeated targets): real
    assert degenerate(family, tight, np.array([992.0, 8.0]), total, p)
    assert not degenerate(family, tight, np.array([600.0, 400.0]), total, p)


def test_trial_moves_rank_merges_and_splits():
    rng = np.random.RandomState(0)
    resp = rng.dirichlet(np.ones(3), size=50)
    resp[:, 1] = resp[:, 0]  # experts 0 and 1 overlap most
    resp /= resp.sum(axis=1, keepdims=True)
    own = np.tile([0.0, 0.0, -5.0], (50, 1))  # expert 2 explains its rows worst
    i, j, k, _ = trial_moves(resp, own, np.ones(50), 4)[0]
    assert (i, j, k) == (0, 1, 2)
    # two experts: the merged one is split again
    assert trial_moves(resp[:, :2], own[:, :2], np.ones(50), 2)[0][2] is None


def _converged(design, family, K, seed, tol=1e-6):
    gate_step = GateMStep(design, 0.0, K)
    resp = start_partition("random", design, design.target, K, np.random.RandomState(seed))
    params = params_from_resp(design, family, gate_step, resp)

    def run(params, max_iter):
        return run_em(design, family, gate_step, params, max_iter=max_iter or 300, tol=tol,
                      gate_alpha=0.0, gate_steps=2)

    return gate_step, run, run(params, None)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), K=st.integers(2, 4))
def test_moves_never_lower_the_objective(seed, K):
    X, y = _regimes(200, seed % 1000)
    design = _design(X, y)
    family = GaussianExperts(K, 1, True, 0.0, var_floor=np.array([1e-6]))
    gate_step, run, start = _converged(design, family, K, seed)
    result, n_moves = split_and_merge(run, design, family, gate_step, start, design.target,
                                      1e-6, 4, np.random.RandomState(seed))
    assert result.objective >= start.objective
    if n_moves:
        assert result.objective > start.objective + 1e-6 * abs(start.objective)
        assert not degenerate(family, result.params, result.expert_weight,
                              design.total_weight, design.n_columns)


def test_small_fit_curve_is_the_trajectory():
    X, y = _regimes()
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    curve, obj = model.log_likelihood_curve_, model.objective_curve_
    assert curve.shape == obj.shape and curve.size > 2
    assert model.n_iter_ == curve.size - 1
    assert np.all(np.diff(obj) >= -1e-10 * np.abs(obj[:-1]))
    assert curve[-1] == pytest.approx(model.log_likelihood_)
    moves = model.accepted_moves_
    assert moves.dtype.kind == "i" and np.all((moves > 0) & (moves < curve.size))


def test_ml_curve_itself_never_decreases():
    X, y = _regimes(seed=3)
    model = MixtureOfExpertsRegressor(n_experts=3, alpha=0, gate_alpha=0,
                                      random_state=1).fit(X, y)
    curve = model.log_likelihood_curve_
    assert np.all(np.diff(curve) >= -1e-10 * np.abs(curve[:-1]))


def test_fitted_state_is_not_degenerate():
    # 6 rows exactly on a line far from the rest invite a variance-at-floor expert
    X, y = _regimes(150, 1)
    X = np.vstack([X, np.tile([[1.9, 1.9]], (6, 1)) + 0.01 * np.arange(6)[:, None]])
    y = np.concatenate([y, np.full(6, 30.0)])
    model = MixtureOfExpertsRegressor(n_experts=4, alpha=0, gate_alpha=0,
                                      random_state=0).fit(X, y)
    counts = model.expert_load_ * X.shape[0]
    floor = 1e-6 * np.var(y)
    q = X.shape[1] + 1
    live = counts > 1e-6
    assert np.all(counts[live] >= 2 * q)
    tight = model.expert_var_ <= 10 * floor
    assert not np.any(live & tight & (counts < max(10 * q, 0.01 * X.shape[0])))


@pytest.mark.parametrize("n", [400, 5_000])
def test_shuffled_rows_and_integer_weights_give_the_same_model(n):
    X, y = _regimes(n, 2)
    a = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    perm = np.random.RandomState(0).permutation(n)
    b = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X[perm], y[perm])
    np.testing.assert_array_equal(a.log_likelihood_curve_, b.log_likelihood_curve_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    # the first 50 rows twice == weight 2
    Xd, yd = np.vstack([X, X[:50]]), np.concatenate([y, y[:50]])
    w = np.ones(n)
    w[:50] = 2
    c = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(Xd, yd)
    d = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(c.predict(X), d.predict(X))


def test_classifier_search_and_moves():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(600, 3))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int) + (X[:, 2] > 1)
    model = MixtureOfExpertsClassifier(n_experts=4, random_state=0).fit(X, y)
    obj = model.objective_curve_
    assert obj.size > 2 and np.all(np.diff(obj) >= -1e-10 * np.abs(obj[:-1]))
    assert model.score(X, y) > 0.9
