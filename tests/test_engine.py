"""The shared EM engine used directly: both expert families, both M-step modes."""

import numpy as np
import pytest

from skmoe._data import Scaler, design_matrix
from skmoe._experts import CategoricalExperts, GaussianExperts
from skmoe._gate import GateMStep
from skmoe._init import params_from_resp
from skmoe._passes import Design
from skmoe._solvers._em import run_em


@pytest.mark.parametrize("family_name", ["gaussian", "categorical"])
@pytest.mark.parametrize("expert_data_steps", [True, False])
def test_run_em_is_monotone_in_both_modes(family_name, expert_data_steps):
    rng = np.random.RandomState(0)
    n, K = 400, 3
    X = rng.normal(size=(n, 2))
    w = rng.uniform(0.5, 2.0, size=n)
    scaler = Scaler(X, w)
    if family_name == "gaussian":
        target = (np.abs(X[:, :1]) + 0.1 * rng.normal(size=(n, 1)))
        family = GaussianExperts(K, 1, linear=True, alpha=1e-2, var_floor=np.full(1, 1e-6))
    else:
        target = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + (X[:, 0] > 1)
        family = CategoricalExperts(K, 3, linear=True, alpha=1.0)
    design = Design(design_matrix(X, scaler), target, w)
    gate = GateMStep(design, 1e-2, K)
    params = params_from_resp(design, family, gate, rng.dirichlet(np.ones(K), size=n))
    result = run_em(design, family, gate, params, max_iter=40, tol=0.0, gate_alpha=1e-2,
                    expert_data_steps=expert_data_steps)
    assert result.n_iter == 40
    assert np.all(np.diff(result.objective_curve) >= -1e-12)
    assert result.curve[-1] > result.curve[0]
