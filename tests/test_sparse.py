"""Sparse top-k routing: kernels, the training objective, the estimators."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skmoe import _kernels
from skmoe._data import Scaler, design_matrix
from skmoe._experts import (
    CategoricalExperts,
    CategoricalHead,
    GaussianExperts,
    GaussianHead,
    MLPExperts,
)
from skmoe._experts._student import StudentTExperts
from skmoe._sparse import SparseObjective

from . import reference

# -- kernels -----------------------------------------------------------------


@pytest.mark.parametrize("K, k", [(1, 1), (5, 1), (5, 3), (8, 7), (32, 2)])
def test_topk_matches_stable_argsort(K, k):
    rng = np.random.RandomState(K + k)
    logits = rng.normal(size=(300, K))
    logits[:50] = np.round(logits[:50])  # many ties
    logits[50:60] = 0.0  # all tied
    sel = np.empty((300, k), dtype=np.int64)
    _kernels.topk_rows(logits, k, sel)
    want = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    assert_array_equal(sel, want)
    # routing shares the top-k row body: the same selection for every k
    routed, gate = np.empty_like(sel), np.empty((300, k))
    _kernels.route_rows(logits, k, routed, gate)
    assert_array_equal(routed, sel)


@pytest.mark.parametrize("K, k, noisy", [(2, 1, False), (5, 1, True), (5, 3, True),
                                         (8, 2, False), (8, 7, True)])
def test_balance_kernels_match_numpy(K, k, noisy):
    """The two load-balancing kernels against the NumPy formula (tests/reference.py)."""
    rng = np.random.RandomState(K + k)
    n = 200
    h = rng.normal(size=(n, K))
    nz = rng.normal(size=(n, K)) if noisy else None
    scale = np.logaddexp(0.0, nz) if noisy else None
    H = h + rng.normal(size=(n, K)) * scale if noisy else h.copy()
    H[:20] = np.round(H[:20])  # ties: thresholds and membership by the routing order
    sel = np.empty((n, k + 1), dtype=np.int64)
    _kernels.topk_rows(H, k + 1, sel)
    w = rng.uniform(0.1, 3.0, size=n)
    objective = SparseObjective(None, k, noisy, 1.0, 0.0, 1.0, None)
    got = objective._balance(h, H, sel, w, nz, scale)
    want = reference.balance(h, H, sel, w, nz, scale, k)
    assert_allclose(got[0], want[0], rtol=1e-12)
    for g, r in zip(got[1:3], want[1:3], strict=True):
        assert_allclose(g, r, rtol=1e-10, atol=1e-15)
    if noisy:
        assert_allclose(got[3], want[3], rtol=1e-10, atol=1e-15)
    else:
        assert got[3] is None
    assert np.any(got[2] != 0.0)  # the load term is active


def test_group_by_expert_and_sparse_linear_kernels():
    rng = np.random.RandomState(0)
    n, K, s, o, p = 50, 6, 2, 3, 4
    sel = np.argsort(rng.normal(size=(n, K)), axis=1)[:, :s].copy()
    order = np.empty(n * s, dtype=np.int64)
    offsets = np.empty(K + 1, dtype=np.int64)
    _kernels.group_by_expert(sel, K, order, offsets)
    flat = sel.ravel()
    for e in range(K):
        got = order[offsets[e] : offsets[e + 1]]
        assert_array_equal(got, np.flatnonzero(flat == e))
    X1 = rng.normal(size=(n, p))
    coef = rng.normal(size=(K, o, p))
    out = np.empty((n, s, o))
    _kernels.sparse_linear_rows(X1, coef, sel, out)
    want = np.einsum("nsop,np->nso", coef[sel], X1)
    assert_allclose(out, want, rtol=1e-12)
    dout = rng.normal(size=(n, s, o))
    grad = np.zeros_like(coef)
    _kernels.sparse_linear_backward_rows(X1, sel, dout, grad)
    want_grad = np.zeros_like(coef)
    for i in range(n):
        for j in range(s):
            want_grad[sel[i, j]] += np.outer(dout[i, j], X1[i])
    assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-12)


def test_route_and_slot_kernels_match_numpy():
    from scipy.special import log_softmax, softmax

    rng = np.random.RandomState(1)
    n, K, k, m, C = 40, 6, 3, 2, 4
    logits = rng.normal(size=(n, K))
    sel = np.empty((n, k), dtype=np.int64)
    gate = np.empty((n, k))
    _kernels.route_rows(logits, k, sel, gate)
    want_sel = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    assert_array_equal(sel, want_sel)
    assert_allclose(gate, softmax(np.take_along_axis(logits, want_sel, 1), axis=1), rtol=1e-12)
    sel_p, gate_p = np.empty_like(sel), np.empty_like(gate)
    _kernels.route_rows_parallel(logits, k, sel_p, gate_p)
    assert_array_equal(sel_p, sel)
    assert_array_equal(gate_p, gate)
    gathered = np.empty((n, k))
    _kernels.gather_rows(logits, sel, gathered)
    assert_array_equal(gathered, np.take_along_axis(logits, sel, 1))
    # Gaussian per-slot log-likelihoods and the routed mixture's moments
    out = rng.normal(size=(n, k, m))
    y = rng.normal(size=(n, m))
    var = rng.uniform(0.2, 2.0, size=(K, m))
    loglik = np.empty((n, k))
    log_const = -0.5 * np.sum(np.log(2 * np.pi * var), axis=1)
    _kernels.gaussian_slot_loglik_rows(out, y, sel, 1 / var, log_const, loglik)
    v = var[sel]
    want = -0.5 * np.sum(np.log(2 * np.pi * v) + (y[:, None, :] - out) ** 2 / v, axis=2)
    assert_allclose(loglik, want, rtol=1e-12)
    mean, second = np.empty((n, m)), np.empty((n, m))
    _kernels.sparse_gaussian_moments_rows(gate, out, sel, var, mean, second)
    want_mean = np.einsum("nk,nkm->nm", gate, out)
    want_var = np.einsum("nk,nkm->nm", gate, v + out**2) - want_mean**2
    assert_allclose(mean, want_mean, rtol=1e-12)
    assert_allclose(second, want_var, rtol=1e-10, atol=1e-12)
    # categorical per-slot log-likelihoods
    logits_c = rng.normal(size=(n, k, C)) * 5
    codes = rng.randint(0, C, size=n).astype(np.int64)
    got = np.empty((n, k))
    _kernels.categorical_slot_loglik_rows(logits_c, codes, got)
    assert_allclose(got, log_softmax(logits_c, axis=2)[np.arange(n), :, codes], rtol=1e-12)
    # the mixing step alone equals the E-step's
    w = rng.uniform(0.5, 2.0, size=n)
    resp = loglik.copy()
    log_norm, resid, q = np.empty(n), np.empty((n, k)), np.empty(n)
    _kernels.mix_rows(gathered, w, resp, log_norm, resid, q)
    joint = log_softmax(gathered, axis=1) + loglik
    from scipy.special import logsumexp

    assert_allclose(log_norm, logsumexp(joint, axis=1), rtol=1e-12)
    assert_allclose(resp, np.exp(joint - logsumexp(joint, axis=1, keepdims=True)), rtol=1e-10)


# -- the objective -------------------------------------------------------------

FAMILIES = [
    ("gaussian", lambda K: GaussianExperts(K, 2, True, 0.3, np.full(2, 1e-12))),
    ("constant", lambda K: GaussianExperts(K, 1, False, 0.0, np.full(1, 1e-12))),
    ("student", lambda K: StudentTExperts(K, 2, True, 0.3, np.full(2, 1e-12))),
    ("logistic", lambda K: CategoricalExperts(K, 3, True, 0.5)),
    ("mlp", lambda K: MLPExperts(K, 3, GaussianHead(1, np.full(1, 1e-12)), 0.2)),
    ("mlp-clf", lambda K: MLPExperts(K, 3, CategoricalHead(2), 0.2)),
]


def _sparse_problem(name, make, k, noisy, balance, seed=0):
    rng = np.random.RandomState(seed)
    n, d, K = 30, 3, 5
    X = rng.normal(size=(n, d))
    w = rng.uniform(0.3, 2.0, size=n)
    X1 = design_matrix(X, Scaler(X, w))
    family = make(K)
    p = d + 1
    params = {"gate": rng.normal(size=(K, p)), "noise": 0.5 * rng.normal(size=(K, p))}
    if isinstance(family, MLPExperts):
        o = family.head.n_out
        experts = {"W1": rng.normal(size=(K, 3, p)), "W2": rng.normal(size=(K, o, 4))}
        if isinstance(family.head, GaussianHead):
            experts["var"] = rng.uniform(0.5, 2.0, size=(K, 1))
            target = rng.normal(size=(n, 1))
        else:
            target = rng.randint(0, 2, size=n).astype(np.int64)
    elif isinstance(family, GaussianExperts):
        m = family.n_outputs
        q = p if family.linear else 1
        experts = {"coef": rng.normal(size=(K, m, q)), "var": rng.uniform(0.5, 2.0, size=(K, m))}
        if isinstance(family, StudentTExperts):
            experts["df"] = rng.uniform(2.0, 20.0, size=(K, m))
        target = rng.normal(size=(n, m))
    else:
        experts = {"coef": rng.normal(size=(K, 3, p))}
        target = rng.randint(0, 3, size=n).astype(np.int64)
    params["experts"] = experts
    objective = SparseObjective(family, k, noisy, balance, 0.4, 50.0, None)
    eps = rng.normal(size=(n, K))
    return objective, params, X1, target, w, eps


@pytest.mark.parametrize("name, make", FAMILIES, ids=[f[0] for f in FAMILIES])
@pytest.mark.parametrize("k, noisy, balance", [(1, True, 0.7), (2, False, 0.7), (2, True, 0.0),
                                               (4, True, 1.0)])
def test_sparse_gradient_matches_central_differences(name, make, k, noisy, balance):
    objective, params, X1, target, w, eps = _sparse_problem(name, make, k, noisy, balance)
    theta = objective.pack(params)

    def value(t):
        p = objective.unpack(t, params)
        return objective.batch_value_and_grad(p, X1, target, w, eps)[0]

    _, grads, *_ = objective.batch_value_and_grad(
        objective.unpack(theta, params), X1, target, w, eps
    )
    grad = np.concatenate([grads[key].ravel() for key, _, _ in objective.layout(params)])
    step = 1e-6
    numeric = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = step
        numeric[j] = (value(theta + e) - value(theta - e)) / (2 * step)
    assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


# -- the estimators ----------------------------------------------------------------

import warnings  # noqa: E402

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor  # noqa: E402
from skmoe._synthetic import hard_regimes  # noqa: E402


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


@pytest.fixture(scope="module")
def regimes():
    X, y, truth = hard_regimes(4000, 4, 3, seed=0)
    X_test, y_test, truth_test = hard_regimes(4000, 4, 3, seed=1, truth=truth)
    return X, y, truth["regime"], X_test, y_test, truth_test["regime"]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_gate_has_exactly_k_nonzeros(regimes, k):
    X, y, *_ = regimes
    model = _fit(MixtureOfExpertsRegressor(n_experts=4, top_k=k, max_iter=3, random_state=0),
                 X, y)
    g = model.gate_proba(X)
    assert_array_equal((g > 0).sum(axis=1), k)
    assert_allclose(g.sum(axis=1), 1.0)
    assert_allclose(model.expert_load_.sum(), 1.0)


def test_top1_routes_by_regime(regimes):
    X, y, _, X_test, y_test, z = regimes
    dense = MixtureOfExpertsRegressor(n_experts=4, random_state=0).fit(X, y)
    top1 = _fit(MixtureOfExpertsRegressor(n_experts=4, top_k=1, random_state=0), X, y)
    chosen = top1.gate_proba(X_test).argmax(axis=1)
    purity = [np.bincount(chosen[z == r]).max() / np.sum(z == r) for r in range(4)]
    assert min(purity) > 0.9
    assert len(set(np.bincount(chosen, minlength=4).nonzero()[0])) == 4
    assert top1.score(X_test, y_test) > dense.score(X_test, y_test) - 0.03


def test_top1_from_a_random_start_learns_the_routing(regimes):
    """With k = 1 the gate learns from the challenger mixture, not from its own weight 1."""
    X, y, _, X_test, y_test, z = regimes
    model = _fit(MixtureOfExpertsRegressor(n_experts=4, top_k=1, init="random", max_iter=100,
                                           load_balancing=0.1, random_state=0), X, y)
    chosen = model.gate_proba(X_test).argmax(axis=1)
    purity = [np.bincount(chosen[z == r]).max() / np.sum(z == r) for r in range(4)]
    assert np.mean(purity) > 0.8
    assert model.score(X_test, y_test) > 0.8


def test_prediction_evaluates_only_the_selected_experts(regimes):
    X, y, *_ = regimes
    model = _fit(MixtureOfExpertsRegressor(n_experts=4, top_k=2, max_iter=3, random_state=0),
                 X, y)
    # expert 3 is never routed to, and would poison any output it entered
    model._params["gate"][3, 0] = -1e6
    model._params["experts"]["coef"][3] = np.nan
    model._params["experts"]["var"][3] = np.nan
    mean, std = model.predict(X, return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    assert np.all(np.isfinite(model.log_likelihood(X, y)))
    assert np.all(model.gate_proba(X)[:, 3] == 0)
    # the same model read densely is poisoned: the check above is not vacuous
    # (prediction follows the fitted structure, not set_params: change that)
    model._structure = {**model._structure, "top_k": None}
    assert np.isnan(model.predict(X)).any()


def test_classifier_prediction_evaluates_only_the_selected_experts():
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(600, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = _fit(MixtureOfExpertsClassifier(n_experts=3, top_k=1, max_iter=5, random_state=0),
                 X, y)
    model._params["gate"][2, 0] = -1e6
    model._params["experts"]["coef"][2] = np.nan
    proba = model.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(np.isfinite(model.log_likelihood(X, y)))


def test_noise_changes_training_never_prediction(regimes):
    X, y, *_ = regimes
    params = dict(n_experts=4, top_k=2, max_iter=5, init="random", random_state=0)
    noisy = _fit(MixtureOfExpertsRegressor(**params), X, y)
    quiet = _fit(MixtureOfExpertsRegressor(noisy_gating=False, **params), X, y)
    assert not np.allclose(noisy.gate_coef_, quiet.gate_coef_)
    before = noisy.predict(X)
    assert_array_equal(before, noisy.predict(X))
    noisy._params["noise"] = noisy._params["noise"] + 5.0
    assert_array_equal(before, noisy.predict(X))
    assert_array_equal(noisy.gate_proba(X), noisy.gate_proba(X))


def _load_cv(model):
    load = model.expert_load_
    return load.std() / load.mean()


def test_load_balancing_prevents_collapse():
    """8 experts from a random start on 4 regimes: without balancing a few take all."""
    cvs = {0.0: [], 0.5: []}
    for seed in range(4):
        X, y, _ = hard_regimes(2000, 4, 3, seed=seed)
        for lb in cvs:
            model = _fit(MixtureOfExpertsRegressor(n_experts=8, top_k=1, init="random",
                                                   load_balancing=lb, max_iter=100,
                                                   random_state=seed), X, y)
            cvs[lb].append(_load_cv(model))
    assert np.mean(cvs[0.0]) > 0.9
    assert np.mean(cvs[0.5]) < 0.3


def test_sparse_needs_adam():
    X, y, _ = hard_regimes(100, 3, 2)
    for solver in ("em", "lbfgs"):
        with pytest.raises(ValueError, match="solver='adam'"):
            MixtureOfExpertsRegressor(n_experts=3, top_k=1, solver=solver).fit(X, y)


def test_sparse_partial_fit_and_mlp_experts(regimes):
    X, y, *_ = regimes
    model = MixtureOfExpertsRegressor(n_experts=4, top_k=2, random_state=0)
    for start in range(0, 4000, 1000):
        model.partial_fit(X[start : start + 1000], y[start : start + 1000])
    assert_array_equal((model.gate_proba(X) > 0).sum(axis=1), 2)
    mlp = _fit(MixtureOfExpertsRegressor(n_experts=4, top_k=2, expert="mlp", expert_hidden=8,
                                         max_iter=5, random_state=0), X, y)
    mean, std = mlp.predict(X, return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    assert mlp.predict_experts(X).shape == (4000, 4)
