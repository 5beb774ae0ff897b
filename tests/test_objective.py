"""The packed mixture objective: exact gradients (central differences), EM's optimum."""

import numpy as np
import pytest

from skmoe._data import Scaler, design_matrix
from skmoe._experts import (
    CategoricalExperts,
    CategoricalHead,
    GaussianExperts,
    GaussianHead,
    MLPExperts,
)
from skmoe._experts._student import StudentTExperts
from skmoe._objective import MixtureObjective
from skmoe._passes import Design

CASES = [
    ("gaussian", dict(linear=True, n_outputs=1)),
    ("gaussian", dict(linear=True, n_outputs=2)),
    ("gaussian", dict(linear=False, n_outputs=1)),
    ("student", dict(linear=True, n_outputs=1)),
    ("student", dict(linear=True, n_outputs=2)),
    ("student", dict(linear=False, n_outputs=1)),
    ("categorical", dict(linear=True, n_classes=2)),
    ("categorical", dict(linear=True, n_classes=4)),
    ("categorical", dict(linear=False, n_classes=3)),
    ("mlp", dict(output="gaussian", n_out=1)),
    ("mlp", dict(output="gaussian", n_out=2)),
    ("mlp", dict(output="categorical", n_out=2)),
    ("mlp", dict(output="categorical", n_out=3)),
]


def _problem(kind, opts, alpha, weighted, seed=0):
    rng = np.random.RandomState(seed)
    n, d, K = 40, 3, 3
    X = rng.normal(size=(n, d))
    w = rng.uniform(0.2, 2.0, size=n) if weighted else np.ones(n)
    design_X = design_matrix(X, Scaler(X, w))
    p = d + 1
    gate = rng.normal(size=(K, p))
    gate -= gate.mean(axis=0)
    if kind in ("gaussian", "student"):
        m = opts["n_outputs"]
        q = p if opts["linear"] else 1
        make = GaussianExperts if kind == "gaussian" else StudentTExperts
        family = make(K, m, opts["linear"], alpha, np.full(m, 1e-12))
        target = rng.normal(size=(n, m))
        experts = {"coef": rng.normal(size=(K, m, q)), "var": rng.uniform(0.3, 2.0, size=(K, m))}
        if kind == "student":
            experts["df"] = rng.uniform(2.0, 20.0, size=(K, m))
    elif kind == "mlp":
        o, h = opts["n_out"], 3
        gaussian = opts["output"] == "gaussian"
        head = GaussianHead(o, np.full(o, 1e-12)) if gaussian else CategoricalHead(o)
        family = MLPExperts(K, h, head, alpha)
        experts = {"W1": rng.normal(size=(K, h, p)), "W2": rng.normal(size=(K, o, h + 1))}
        if gaussian:
            target = rng.normal(size=(n, o))
            experts["var"] = rng.uniform(0.3, 2.0, size=(K, o))
        else:
            target = rng.randint(0, o, size=n).astype(np.int64)
    else:
        C = opts["n_classes"]
        q = p if opts["linear"] else 1
        family = CategoricalExperts(K, C, opts["linear"], alpha)
        target = rng.randint(0, C, size=n).astype(np.int64)
        coef = rng.normal(size=(K, C, q))
        experts = {"coef": coef - coef.mean(axis=1, keepdims=True)}
    design = Design(design_X, target, w)
    return MixtureObjective(design, family, gate_alpha=alpha), {"gate": gate, "experts": experts}


@pytest.mark.parametrize("kind, opts", CASES)
@pytest.mark.parametrize("alpha", [0.0, 0.7])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_central_differences(kind, opts, alpha, weighted):
    objective, params = _problem(kind, opts, alpha, weighted)
    theta = objective.pack(params)
    value, grad, _ = objective.value_and_grad_packed(theta, params)
    assert np.isfinite(value)
    eps = 1e-6
    numeric = np.empty_like(theta)
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = eps
        plus, *_ = objective.value_and_grad_packed(theta + step, params)
        minus, *_ = objective.value_and_grad_packed(theta - step, params)
        numeric[j] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_pack_unpack_round_trip():
    objective, params = _problem("gaussian", dict(linear=True, n_outputs=2), 0.1, True)
    back = objective.unpack(objective.pack(params), params)
    np.testing.assert_array_equal(back["gate"], params["gate"])
    np.testing.assert_allclose(back["experts"]["var"], params["experts"]["var"], rtol=1e-15)
    np.testing.assert_array_equal(back["experts"]["coef"], params["experts"]["coef"])


def test_objective_is_minus_em_objective_and_stationary_at_em_optimum():
    """At a converged EM fit the gradient of the same objective vanishes."""
    from skmoe import MixtureOfExpertsRegressor

    rng = np.random.RandomState(1)
    X = rng.uniform(-2, 2, size=(600, 2))
    y = np.where(X[:, 0] > 0, 2 * X[:, 1], -X[:, 1] + 1) + 0.2 * rng.normal(size=600)
    model = MixtureOfExpertsRegressor(n_experts=2, tol=1e-12, max_iter=2000,
                                      random_state=0).fit(X, y)
    scaler = model._x_scaler()
    target = model._target().scaler.transform(y[:, None])
    design = Design(design_matrix(X, scaler), target, np.ones(600))
    family = model._family()
    objective = MixtureObjective(design, family, model.gate_alpha)
    value, grad, _ = objective.value_and_grad_packed(objective.pack(model._params), model._params)
    shift = np.log(model._target().scaler.scale_[0])
    np.testing.assert_allclose(-value, model.objective_curve_[-1] + shift, rtol=1e-10)
    assert np.abs(grad).max() < 1e-4


@pytest.mark.parametrize("kind, opts", [CASES[0], CASES[3], CASES[7], CASES[8]])
def test_batch_gradient_is_unbiased_piece_of_full_gradient(kind, opts):
    """Batch gradients weighted by batch weight sum to the full gradient."""
    objective, params = _problem(kind, opts, 0.3, True)
    theta = objective.pack(params)
    _, full, _ = objective.value_and_grad_packed(theta, params)
    design = objective.design
    total = np.zeros_like(theta)
    ll_total = 0.0
    out = np.empty_like(theta)
    for start in range(0, design.n_samples, 16):
        sl = slice(start, start + 16)
        ll, w, *_ = objective.batch_grad(theta, params, design.X1[sl], design.target[sl],
                                         design.weight[sl], out)
        ll_total += ll
        total += w * out
    mean_ll = objective.value_and_grad_packed(theta, params)[2]
    assert np.isclose(ll_total / design.total_weight, mean_ll)
    # sum_b W_b g_b = -grad_ll + (sum_b W_b / W) pen_grad = W * full gradient
    np.testing.assert_allclose(total, design.total_weight * full, rtol=1e-10, atol=1e-10)
