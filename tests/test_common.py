"""scikit-learn's estimator checks over several configurations."""

import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

CONFIGURATIONS = [
    MixtureOfExpertsRegressor(n_experts=2),
    MixtureOfExpertsRegressor(n_experts=3, expert="constant"),
    MixtureOfExpertsRegressor(n_experts=1),
    MixtureOfExpertsRegressor(n_experts=2, init="random", n_init=2, alpha=0.0, gate_alpha=0.0),
    # noisy_gating / load_balancing are inert when dense
    MixtureOfExpertsRegressor(n_experts=2, noisy_gating=False, load_balancing=0.5, max_iter=5),
    MixtureOfExpertsRegressor(n_experts=2, solver="lbfgs"),
    MixtureOfExpertsRegressor(n_experts=2, solver="adam", max_iter=20, batch_size=32),
    MixtureOfExpertsRegressor(n_experts=2, expert="mlp", expert_hidden=4, max_iter=50),
    MixtureOfExpertsRegressor(n_experts=2, expert="mlp", expert_hidden=3, solver="adam",
                              max_iter=10),
    MixtureOfExpertsRegressor(n_experts=3, top_k=1, max_iter=30, batch_size=32),
    MixtureOfExpertsRegressor(n_experts=3, top_k=2, max_iter=30, batch_size=32,
                              noisy_gating=False),
    MixtureOfExpertsRegressor(n_experts=3, top_k=2, expert="mlp", expert_hidden=4, max_iter=30,
                              batch_size=32),
    MixtureOfExpertsRegressor(n_experts=2, expert=Ridge(alpha=1e-3), max_iter=20),
    MixtureOfExpertsRegressor(n_experts=2, expert=DecisionTreeRegressor(max_depth=3),
                              max_iter=10),
    MixtureOfExpertsClassifier(n_experts=2, expert=LogisticRegression(), max_iter=10),
    MixtureOfExpertsClassifier(n_experts=2, expert=DecisionTreeClassifier(max_depth=3),
                               max_iter=10),
    MixtureOfExpertsClassifier(n_experts=2, solver="lbfgs"),
    MixtureOfExpertsClassifier(n_experts=3, top_k=1, max_iter=30, batch_size=32),
    MixtureOfExpertsClassifier(n_experts=3, top_k=2, max_iter=30, batch_size=32),
    MixtureOfExpertsClassifier(n_experts=2, solver="adam", max_iter=20, batch_size=32),
    MixtureOfExpertsClassifier(n_experts=2, expert="mlp", expert_hidden=4, max_iter=50),
    MixtureOfExpertsClassifier(n_experts=2),
    MixtureOfExpertsClassifier(n_experts=3, expert="constant"),
    MixtureOfExpertsClassifier(n_experts=1),
    MixtureOfExpertsClassifier(n_experts=2, alpha=0.0, gate_alpha=0.0, init="random", n_init=2),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CONFIGURATIONS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
