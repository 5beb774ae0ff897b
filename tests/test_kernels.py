"""Each Numba kernel against its NumPy twin in ``reference.py``, both drivers."""

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skmoe import _kernels

from . import reference

SHAPES = [(1, 1, 1), (7, 1, 2), (5, 3, 1), (64, 4, 3), (5000, 8, 2)]


def _gaussian_inputs(rng, n, K, m, scale=1.0):
    gate_logits = rng.normal(scale=3 * scale, size=(n, K))
    means = rng.normal(size=(n, K * m))
    y = rng.normal(size=(n, m))
    var = rng.uniform(0.05, 2.0, size=(K, m))
    inv_var = 1.0 / var
    log_const = -0.5 * np.sum(np.log(2 * np.pi * var), axis=1)
    weight = rng.uniform(0.0, 3.0, size=n)
    return gate_logits, means, y, inv_var, log_const, weight


def _run_estep(kernel, *args):
    n, K = args[0].shape
    resp = np.empty((n, K))
    log_norm = np.empty(n)
    resid = np.empty((n, K))
    gate_q = np.empty(n)
    kernel(*args, resp, log_norm, resid, gate_q)
    return resp, log_norm, resid, gate_q


@pytest.mark.parametrize("n, K, m", SHAPES)
def test_estep_gaussian_matches_reference(n, K, m):
    rng = np.random.RandomState(n + K + m)
    args = _gaussian_inputs(rng, n, K, m)
    expected = reference.estep_gaussian_rows(*args)
    serial = _run_estep(_kernels.estep_gaussian_rows, *args)
    parallel = _run_estep(_kernels.estep_gaussian_rows_parallel, *args)
    for got, want, par in zip(serial, expected, parallel, strict=True):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        assert_array_equal(got, par)  # bit for bit


def test_estep_gaussian_extreme_values():
    """Huge logits, far-away targets and -inf gate masks stay finite."""
    rng = np.random.RandomState(0)
    gate_logits, means, y, inv_var, log_const, weight = _gaussian_inputs(rng, 50, 4, 1)
    gate_logits[:10] *= 1e4
    gate_logits[10:20, 1:] = -np.inf  # masked experts
    y[20:30] += 1e6  # no expert explains these well: log space must cope
    resp, log_norm, resid, gate_q = _run_estep(
        _kernels.estep_gaussian_rows, gate_logits, means, y, inv_var, log_const, weight
    )
    assert np.all(np.isfinite(resp)) and np.all(np.isfinite(log_norm))
    assert_allclose(resp.sum(axis=1), 1.0)
    assert_allclose(resp[10:20, 0], 1.0)
    want = reference.estep_gaussian_rows(gate_logits[20:30], means[20:30], y[20:30], inv_var,
                                         log_const, weight[20:30])
    assert_allclose(log_norm[20:30], want[1], rtol=1e-12)


@pytest.mark.parametrize("n, K, C", [(1, 1, 2), (9, 3, 2), (200, 4, 5)])
@pytest.mark.parametrize("prob_floor", [0.0, 1e-6])
def test_estep_categorical_matches_reference(n, K, C, prob_floor):
    rng = np.random.RandomState(3)
    gate_logits = rng.normal(scale=2, size=(n, K))
    logits = rng.normal(scale=4, size=(n, K * C))
    codes = rng.randint(0, C, size=n).astype(np.int64)
    weight = rng.uniform(0.5, 2, size=n)
    args = (gate_logits, logits, codes, C, prob_floor, weight)
    expected = reference.estep_categorical_rows(*args)
    serial = _run_estep(_kernels.estep_categorical_rows, *args)
    parallel = _run_estep(_kernels.estep_categorical_rows_parallel, *args)
    for got, want, par in zip(serial, expected, parallel, strict=True):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        assert_array_equal(got, par)


@pytest.mark.parametrize("n, K", [(1, 1), (3, 2), (100, 7)])
def test_softmax_and_log_softmax(n, K):
    rng = np.random.RandomState(1)
    logits = rng.normal(scale=50, size=(n, K))
    out = np.empty_like(logits)
    _kernels.softmax_rows(logits, out)
    assert_allclose(out, reference.softmax_rows(logits), rtol=1e-12, atol=1e-300)
    _kernels.log_softmax_rows(logits, out)
    assert_allclose(out, reference.log_softmax_rows(logits), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, K", [(1, 2), (50, 3), (3000, 8)])
def test_gate_objective_rows(n, K):
    rng = np.random.RandomState(2)
    logits = rng.normal(scale=3, size=(n, K))
    resp = rng.dirichlet(np.ones(K), size=n)
    resp[0, 0] = 0.0  # a zero responsibility must not give 0 * -inf
    resp[0] /= resp[0].sum()
    weight = rng.uniform(0, 2, size=n)
    q = np.empty(n)
    resid = np.empty((n, K))
    _kernels.gate_objective_rows(logits, resp, weight, q, resid)
    want_q, want_resid = reference.gate_objective_rows(logits, resp, weight)
    assert_allclose(q, want_q, rtol=1e-12)
    assert_allclose(resid, want_resid, rtol=1e-12, atol=1e-15)
    q2, resid2 = np.empty(n), np.empty((n, K))
    _kernels.gate_objective_rows_parallel(logits, resp, weight, q2, resid2)
    assert_array_equal(q, q2)
    assert_array_equal(resid, resid2)


@pytest.mark.parametrize("n, K, m", SHAPES)
def test_gaussian_mixture_moments(n, K, m):
    rng = np.random.RandomState(4)
    g = rng.dirichlet(np.ones(K), size=n)
    means = rng.normal(size=(n, K * m)) * 5
    var = rng.uniform(0.1, 2, size=(K, m))
    mean, v = np.empty((n, m)), np.empty((n, m))
    _kernels.gaussian_mixture_moments_rows(g, means, var, mean, v)
    want_mean, want_var = reference.gaussian_mixture_moments_rows(g, means, var)
    assert_allclose(mean, want_mean, rtol=1e-10, atol=1e-12)
    assert_allclose(v, want_var, rtol=1e-8)
    assert np.all(v >= var.min() * (1 - 1e-12))


@pytest.mark.parametrize("n, K, m", SHAPES)
def test_sparse_gaussian_moments(n, K, m):
    """The routed mixture's moments; with every expert routed, the dense kernel's bits."""
    rng = np.random.RandomState(5)
    s = max(K - 1, 1)
    sel = np.argsort(rng.uniform(size=(n, K)), axis=1)[:, :s].astype(np.int64)
    g = rng.dirichlet(np.ones(s), size=n)
    out = rng.normal(size=(n, s, m)) * 5
    var = rng.uniform(0.1, 2, size=(K, m))
    mean, v = np.empty((n, m)), np.empty((n, m))
    _kernels.sparse_gaussian_moments_rows(g, out, sel, var, mean, v)
    want_mean, want_var = reference.sparse_gaussian_moments_rows(g, out, sel, var)
    assert_allclose(mean, want_mean, rtol=1e-10, atol=1e-12)
    assert_allclose(v, want_var, rtol=1e-8)
    dense_g = rng.dirichlet(np.ones(K), size=n)
    means = rng.normal(size=(n, K, m))
    everyone = np.tile(np.arange(K), (n, 1))
    mean_d, v_d = np.empty((n, m)), np.empty((n, m))
    _kernels.gaussian_mixture_moments_rows(dense_g, means.reshape(n, K * m), var, mean_d, v_d)
    _kernels.sparse_gaussian_moments_rows(dense_g, means, everyone, var, mean, v)
    assert_array_equal(mean, mean_d)
    assert_array_equal(v, v_d)


@pytest.mark.parametrize("C", [2, 5])
def test_categorical_slot_loglik(C):
    rng = np.random.RandomState(C)
    n, s = 50, 3
    out = rng.normal(size=(n, s, C)) * 4
    codes = rng.randint(C, size=n).astype(np.int64)
    got = np.empty((n, s))
    _kernels.categorical_slot_loglik_rows(out, codes, got)
    assert_allclose(got, reference.categorical_slot_loglik_rows(out, codes), rtol=1e-12)


def test_gaussian_mixture_moments_no_cancellation():
    """Means near 1e8 with unit variances: the variance must stay >= 1."""
    g = np.array([[0.5, 0.5]])
    means = np.array([[1e8, 1e8 + 1e-3]])
    var = np.array([[1.0], [1.0]])
    mean, v = np.empty((1, 1)), np.empty((1, 1))
    _kernels.gaussian_mixture_moments_rows(g, means, var, mean, v)
    assert_allclose(v, 1.0 + 0.25e-6, rtol=1e-9)


@pytest.mark.parametrize("n", [1, 100, 2 * _kernels.STATS_BLOCK + 17])
@pytest.mark.parametrize("q, K, m", [(1, 3, 1), (4, 2, 2), (11, 8, 1)])
def test_gaussian_stats_rows(n, q, K, m):
    rng = np.random.RandomState(5)
    X = rng.normal(size=(n, max(q, 4)))
    X[:, 0] = 1.0
    sw = rng.uniform(0, 1, size=(n, K))
    sw[: n // 3, 0] = 0.0
    y = rng.normal(size=(n, m))
    outs = []
    length = _kernels.gaussian_stats_length(q, m)
    for kernel in (_kernels.gaussian_stats_rows, _kernels.gaussian_stats_rows_parallel):
        flat, nk = np.zeros((K, length)), np.zeros(K)
        kernel(X, q, sw, y, flat, nk)
        outs.append((flat, nk))
    for got, want in zip(outs[0], reference.gaussian_stats_rows(X, q, sw, y), strict=True):
        assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    for a, b in zip(*outs, strict=True):
        assert_array_equal(a, b)


def test_stats_independent_of_thread_count():
    if numba.config.NUMBA_NUM_THREADS < 2 or numba.config.DISABLE_JIT:
        pytest.skip("needs at least two Numba threads")
    rng = np.random.RandomState(6)
    X = rng.normal(size=(20000, 6))
    sw = rng.uniform(size=(20000, 3))
    y = rng.normal(size=(20000, 1))
    results = []
    previous = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            flat, nk = np.zeros((3, _kernels.gaussian_stats_length(6, 1))), np.zeros(3)
            _kernels.gaussian_stats_rows_parallel(X, 6, sw, y, flat, nk)
            results.append(flat)
    finally:
        numba.set_num_threads(previous)
    assert_array_equal(results[0], results[1])


def test_hash_rows():
    rng = np.random.RandomState(7)
    data = rng.normal(size=(30, 4))
    data[5] = data[3]  # a duplicate row hashes the same
    bits = np.ascontiguousarray(data).view(np.uint64)
    out = np.empty(30, dtype=np.uint64)
    other = np.empty(30, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around multiplication under NUMBA_DISABLE_JIT
        _kernels.hash_rows(bits, np.uint64(12345), out)
        _kernels.hash_rows(bits, np.uint64(1), other)
    assert_array_equal(out, reference.hash_rows(bits, 12345))
    assert out[5] == out[3]
    assert len(np.unique(out)) == 29
    assert not np.array_equal(out, other)


def test_wide_designs_use_blas_with_the_same_layout():
    from skmoe._experts._gaussian import BLAS_MIN_COLUMNS, accumulate_moments

    rng = np.random.RandomState(8)
    q, K, m, n = BLAS_MIN_COLUMNS + 2, 3, 2, 300
    X = rng.normal(size=(n, q))
    sw = rng.uniform(size=(n, K))
    y = rng.normal(size=(n, m))
    flat, nk = np.zeros((K, _kernels.gaussian_stats_length(q, m))), np.zeros(K)
    accumulate_moments(X, q, sw, y, flat, nk)
    want_flat, want_nk = reference.gaussian_stats_rows(X, q, sw, y)
    assert_allclose(flat, want_flat, rtol=1e-10, atol=1e-10)
    assert_allclose(nk, want_nk)


@pytest.mark.parametrize("n, K, o, h", [(1, 1, 1, 1), (9, 3, 2, 4), (300, 8, 3, 32)])
def test_mlp_output_and_backward_match_reference(n, K, o, h):
    rng = np.random.RandomState(n + K + o + h)
    H = np.tanh(rng.normal(size=(n, K * h)))
    W2 = rng.normal(size=(K, o, h + 1))
    dout = rng.normal(size=(n, K * o))
    dout[::3] = 0.0  # rows with no weight take the skip branch
    want = reference.mlp_output_rows(H, W2)
    want_gW2, want_dZ = reference.mlp_backward_rows(H, W2, dout)
    results = []
    for output, backward in [
        (_kernels.mlp_output_rows, _kernels.mlp_backward_rows),
        (_kernels.mlp_output_rows_parallel, _kernels.mlp_backward_rows_parallel),
    ]:
        out = np.empty((n, K * o))
        output(H, W2, out)
        gW2 = np.zeros_like(W2)
        dZ = np.empty_like(H)
        backward(H, W2, dout, gW2, dZ)
        assert_allclose(out, want, rtol=1e-12, atol=1e-12)
        assert_allclose(gW2, want_gW2, rtol=1e-10, atol=1e-12)
        assert_allclose(dZ, want_dZ, rtol=1e-10, atol=1e-12)
        results.append((out, gW2, dZ))
    for serial, parallel in zip(*results, strict=True):
        assert_array_equal(serial, parallel)  # bit for bit whatever the threads


@pytest.mark.parametrize("scale", [1.0, 1e200])
def test_adam_update_matches_reference(scale):
    rng = np.random.RandomState(3)
    theta, grad = rng.normal(size=50), rng.normal(size=50) * scale
    m, v = rng.normal(size=50) * 0.1, rng.uniform(0, 0.1, size=50)
    args = (0.01, 0.9, 0.999, 1e-8, 1 - 0.9**3, 1 - 0.999**3, 1e150)
    with np.errstate(all="raise"):  # huge gradients are clipped: no overflow
        want = reference.adam_update(theta, grad, m, v, *args)
        got = [theta.copy(), grad, m.copy(), v.copy()]
        _kernels.adam_update(*got, *args)
    for g, w in zip([got[0], got[2], got[3]], want, strict=True):
        assert np.all(np.isfinite(g))
        assert_allclose(g, w, rtol=1e-13, atol=1e-15)
    if scale > 1:  # every parameter moved by about the step size
        assert np.all(np.abs(got[0] - theta) > 1e-3)
