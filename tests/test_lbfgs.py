"""solver="lbfgs": the same penalised objective as EM, minimised by L-BFGS."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._synthetic import gated_linear, random_gated_linear


@pytest.mark.parametrize("expert", ["linear", "constant"])
def test_lbfgs_reaches_em_log_likelihood(expert):
    X, y, _ = random_gated_linear(3000, 3, 3, seed=30)
    em = MixtureOfExpertsRegressor(n_experts=3, expert=expert, random_state=0).fit(X, y)
    lb = MixtureOfExpertsRegressor(n_experts=3, expert=expert, solver="lbfgs",
                                   random_state=0).fit(X, y)
    assert lb.log_likelihood_ >= em.log_likelihood_ - 1e-3
    assert np.all(np.diff(lb.objective_curve_) >= -1e-12)
    assert lb.log_likelihood_curve_.shape == (lb.n_iter_ + 1,)
    assert_allclose(lb.log_likelihood(X, y).mean(), lb.log_likelihood_, rtol=1e-10)


def test_lbfgs_from_a_rough_start_improves_monotonically():
    X, y, _ = gated_linear(800, n_regimes=3, seed=31)
    rough = MixtureOfExpertsRegressor(n_experts=3, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rough.fit(X, y)
    start = rough.log_likelihood_
    rough.set_params(solver="lbfgs", warm_start=True, max_iter=500, tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rough.fit(X, y)
    assert rough.n_iter_ > 1
    assert rough.log_likelihood_ > start
    assert np.all(np.diff(rough.objective_curve_) >= -1e-12)


def test_lbfgs_classifier_and_convergence_warning():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(1500, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    clf = MixtureOfExpertsClassifier(n_experts=2, solver="lbfgs", random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.95
    model = MixtureOfExpertsClassifier(n_experts=2, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    model.set_params(solver="lbfgs", warm_start=True, tol=0.0)
    with pytest.warns(ConvergenceWarning, match="L-BFGS did not converge"):
        model.fit(X, y)
