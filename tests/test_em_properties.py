"""Laws of EM: the penalised objective never decreases; rows sum to one."""

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skmoe import MixtureOfExpertsRegressor


@st.composite
def problems(draw):
    n = draw(st.integers(8, 60))
    d = draw(st.integers(1, 3))
    m = draw(st.sampled_from([1, 1, 2]))
    K = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d)) * draw(st.sampled_from([1e-3, 1.0, 1e3]))
    y = rng.normal(size=(n, m)) + np.sin(3 * X[:, :1])
    if m == 1:
        y = y[:, 0]
    w = rng.uniform(0.1, 3.0, size=n) if draw(st.booleans()) else None
    penalised = draw(st.booleans())
    expert = draw(st.sampled_from(["linear", "linear", "constant"]))
    return X, y, w, K, penalised, expert, seed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_em_objective_never_decreases(problem):
    X, y, w, K, penalised, expert, seed = problem
    alpha = 1e-2 if penalised else 0.0
    model = MixtureOfExpertsRegressor(
        n_experts=K, expert=expert, alpha=alpha, gate_alpha=alpha, max_iter=1,
        warm_start=True, init="random", random_state=seed % 1000,
    )
    objective, loglik = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(8):
            model.fit(X, y, sample_weight=w)
            objective.extend(model.objective_curve_)
            loglik.extend(model.log_likelihood_curve_)
    objective = np.asarray(objective)
    scale = 1e-9 * max(1.0, np.abs(objective).max())
    assert np.all(np.diff(objective) >= -scale)
    if not penalised:
        # with alpha = gate_alpha = 0 the log-likelihood itself is monotone
        loglik = np.asarray(loglik)
        assert np.all(np.diff(loglik) >= -1e-9 * max(1.0, np.abs(loglik).max()))
    for arr in (model.gate_coef_, model.expert_intercept_, model.expert_var_):
        assert np.all(np.isfinite(arr))
    g = model.gate_proba(X)
    np.testing.assert_allclose(g.sum(axis=1), 1.0)


def test_reordering_experts_leaves_predictions_unchanged():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 2))
    y = np.abs(X[:, 0]) + 0.1 * rng.normal(size=300)
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    before = model.predict(X, return_std=True)
    perm = [2, 0, 1]
    model._params = {
        "gate": model._params["gate"][perm],
        "experts": {k: v[perm] for k, v in model._params["experts"].items()},
    }
    after = model.predict(X, return_std=True)
    np.testing.assert_allclose(before[0], after[0], rtol=1e-12)
    np.testing.assert_allclose(before[1], after[1], rtol=1e-12)
