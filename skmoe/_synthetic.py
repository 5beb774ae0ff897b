"""Synthetic data for the tests and the benchmarks (private; not part of the API).

One module, imported by ``tests/`` and by the ``benchmarks/`` scripts alike
(``from skmoe._synthetic import make_moe_regression``), so both draw the same
data for the same arguments; it is also importable from an installed package.
Nothing in skmoe itself imports it.

Benchmark data (rows generated in chunks, so the largest temporaries are
``chunk x K`` and ``chunk x C``, never ``n x K x d``; the 1e6-row cases need
little more than ``X`` and ``y`` themselves; ``X`` is standard normal):

* :func:`make_moe_regression`, :func:`true_log_likelihood`: exactly the dense
  Mixture-of-Experts regressor fitted by EM::

      g(x)      = softmax(W x + b)                      (K gate logits)
      p(y | x)  = sum_k g_k(x) N(y; a_k . x + c_k, s2_k)

* :func:`make_moe_classification`, :func:`true_log_likelihood_classification`:
  exactly the dense Mixture-of-Experts classifier fitted by EM
  (``expert="logistic"``); each row's class logits are computed for its own
  expert only::

      g(x)      = softmax(W x + b)                          (K gate logits)
      p(y | x)  = sum_k g_k(x) softmax(B_k x + d_k)[y]      (C classes)

Small test data sets (``X, y, truth``):

* :func:`gated_linear`: softmax-gated piecewise-linear data with well
  separated experts (gate directions on a circle);
* :func:`random_gated_linear`: gated linear experts with random gate
  directions, and the generating model's log-likelihood;
* :func:`hard_regimes`: linear regimes on the cells of a linear partition
  (the data a top-1 model can fit exactly).

Every generator is deterministic: the same arguments give bit-identical data
(the tests compare against stored values).
"""

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "DEFAULT_CHUNK",
    "gated_linear",
    "hard_regimes",
    "make_moe_classification",
    "make_moe_regression",
    "random_gated_linear",
    "true_log_likelihood",
    "true_log_likelihood_classification",
]

DEFAULT_CHUNK = 65536
_LOG_2PI = np.log(2.0 * np.pi)

# -- benchmark data: regression ------------------------------------------------------


def _draw_regression_params(rng, n_features, n_experts, noise, gate_scale):
    d, K = n_features, n_experts
    # Gate: per-feature weights N(0, gate_scale^2 / d), so each logit has
    # standard deviation ~gate_scale for x ~ N(0, I). Centred across experts
    # (softmax is invariant to a common shift; this is the canonical form).
    gate_coef = rng.normal(0.0, gate_scale / np.sqrt(d), size=(K, d))
    gate_coef -= gate_coef.mean(axis=0, keepdims=True)
    gate_intercept = np.zeros(K)
    # Experts: coefficients N(0, 1), intercepts evenly spread over [-3, 3]
    # (in a random order), noise standard deviations noise * U(0.7, 1.3).
    expert_coef = rng.normal(0.0, 1.0, size=(K, d))
    if K > 1:
        expert_intercept = rng.permutation(np.linspace(-3.0, 3.0, K))
    else:
        expert_intercept = np.zeros(1)
    expert_var = (noise * rng.uniform(0.7, 1.3, size=K)) ** 2
    return {
        "gate_coef": gate_coef,
        "gate_intercept": gate_intercept,
        "expert_coef": expert_coef,
        "expert_intercept": expert_intercept,
        "expert_var": expert_var,
    }


def make_moe_regression(
    n_samples,
    n_features=10,
    n_experts=4,
    noise=0.3,
    gate_scale=3.0,
    random_state=0,
    chunk=None,
    params=None,
):
    """Draw ``(X, y, params)`` from a softmax-gated mixture of linear experts.

    Parameters
    ----------
    n_samples, n_features, n_experts : int
    noise : float
        Typical expert noise standard deviation (each expert gets
        ``noise * U(0.7, 1.3)``).
    gate_scale : float
        Gate weights are drawn ``N(0, gate_scale**2 / n_features)`` per feature,
        so a gate logit has standard deviation about ``gate_scale``.
    random_state : int
        Seed. The parameters and the samples come from two independent
        streams spawned from it.
    chunk : int or None
        Rows generated at a time (default 65536). The output for a given seed
        may depend on ``chunk``.
    params : dict or None
        Reuse these true parameters (e.g. for a held-out set from the same
        model): only the samples are drawn, from ``random_state``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, C-contiguous
    y : ndarray of shape (n_samples,)
    params : dict
        ``gate_coef`` (K, d), ``gate_intercept`` (K,), ``expert_coef`` (K, d),
        ``expert_intercept`` (K,), ``expert_var`` (K,).
    """
    n = int(n_samples)
    param_seq, sample_seq = np.random.SeedSequence(random_state).spawn(2)
    if params is None:
        params = _draw_regression_params(
            np.random.default_rng(param_seq), n_features, n_experts, noise, gate_scale
        )
    else:
        params = {k: np.asarray(v, dtype=np.float64).copy() for k, v in params.items()}
    W = params["gate_coef"]
    b = params["gate_intercept"]
    A = params["expert_coef"]
    c = params["expert_intercept"]
    sd = np.sqrt(params["expert_var"])
    K, d = W.shape
    rng = np.random.default_rng(sample_seq)
    chunk = DEFAULT_CHUNK if chunk is None else max(int(chunk), 1)

    X = np.empty((n, d))
    y = np.empty(n)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        m = stop - start
        Xc = rng.standard_normal((m, d))
        logits = Xc @ W.T + b  # (m, K)
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        cum = np.cumsum(prob, axis=1)
        u = rng.random(m) * cum[:, -1]
        z = (cum < u[:, None]).sum(axis=1)
        np.minimum(z, K - 1, out=z)
        means = Xc @ A.T  # (m, K)
        mu = np.take_along_axis(means, z[:, None], axis=1)[:, 0] + c[z]
        y[start:stop] = mu + sd[z] * rng.standard_normal(m)
        X[start:stop] = Xc
    return X, y, params


def true_log_likelihood(X, y, params, chunk=None):
    """Per-sample ``log p(y | x)`` under the model with parameters ``params``.

    ``params`` uses the keys returned by :func:`make_moe_regression` (the
    NumPy EM baseline returns the same keys, so this also scores its fits).
    Computed in log space with :func:`scipy.special.logsumexp`, in chunks.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    W = np.asarray(params["gate_coef"], dtype=np.float64)
    b = np.asarray(params["gate_intercept"], dtype=np.float64)
    A = np.asarray(params["expert_coef"], dtype=np.float64)
    c = np.asarray(params["expert_intercept"], dtype=np.float64)
    var = np.asarray(params["expert_var"], dtype=np.float64)
    n = X.shape[0]
    chunk = DEFAULT_CHUNK if chunk is None else max(int(chunk), 1)
    out = np.empty(n)
    log_const = -0.5 * (_LOG_2PI + np.log(var))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        Xc = X[start:stop]
        logits = Xc @ W.T + b
        log_gate = logits - logsumexp(logits, axis=1, keepdims=True)
        resid = y[start:stop, None] - (Xc @ A.T + c)
        log_norm = log_const - 0.5 * resid * resid / var
        out[start:stop] = logsumexp(log_gate + log_norm, axis=1)
    return out


# -- benchmark data: classification ---------------------------------------------------


def _draw_classification_params(rng, n_features, n_experts, n_classes, gate_scale, expert_scale):
    d, K, C = n_features, n_experts, n_classes
    # Gate: as in make_moe_regression: per-feature weights
    # N(0, gate_scale^2 / d), centred across experts, zero intercepts.
    gate_coef = rng.normal(0.0, gate_scale / np.sqrt(d), size=(K, d))
    gate_coef -= gate_coef.mean(axis=0, keepdims=True)
    gate_intercept = np.zeros(K)
    # Experts: per-feature weights N(0, expert_scale^2 / d) (a class logit has
    # standard deviation ~expert_scale), intercepts N(0, 1); both centred over
    # classes (softmax is invariant to a common shift).
    expert_coef = rng.normal(0.0, expert_scale / np.sqrt(d), size=(K, C, d))
    expert_coef -= expert_coef.mean(axis=1, keepdims=True)
    expert_intercept = rng.normal(0.0, 1.0, size=(K, C))
    expert_intercept -= expert_intercept.mean(axis=1, keepdims=True)
    return {
        "gate_coef": gate_coef,
        "gate_intercept": gate_intercept,
        "expert_coef": expert_coef,
        "expert_intercept": expert_intercept,
    }


def _sample_rows(prob_unnorm, rng):
    """One categorical draw per row from unnormalised probabilities (m, J)."""
    cum = np.cumsum(prob_unnorm, axis=1)
    u = rng.random(cum.shape[0]) * cum[:, -1]
    z = (cum < u[:, None]).sum(axis=1)
    np.minimum(z, cum.shape[1] - 1, out=z)
    return z


def make_moe_classification(
    n_samples,
    n_features=10,
    n_experts=4,
    n_classes=3,
    gate_scale=3.0,
    expert_scale=2.0,
    random_state=0,
    chunk=None,
    params=None,
):
    """Draw ``(X, y, params)`` from a softmax-gated mixture of logistic experts.

    Parameters
    ----------
    n_samples, n_features, n_experts, n_classes : int
    gate_scale : float
        Gate weights are drawn ``N(0, gate_scale**2 / n_features)`` per feature,
        so a gate logit has standard deviation about ``gate_scale``.
    expert_scale : float
        Expert weights are drawn ``N(0, expert_scale**2 / n_features)`` per
        feature and class (then centred over classes), so a class logit has
        standard deviation about ``expert_scale``.
    random_state : int
        Seed. The parameters and the samples come from two independent
        streams spawned from it.
    chunk : int or None
        Rows generated at a time (default 65536). The output for a given seed
        may depend on ``chunk``.
    params : dict or None
        Reuse these true parameters (e.g. for a held-out set from the same
        model): only the samples are drawn, from ``random_state``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64, C-contiguous
    y : ndarray of shape (n_samples,), int64 class codes ``0 .. n_classes - 1``
    params : dict
        ``gate_coef`` (K, d), ``gate_intercept`` (K,), ``expert_coef``
        (K, C, d), ``expert_intercept`` (K, C).
    """
    n = int(n_samples)
    param_seq, sample_seq = np.random.SeedSequence(random_state).spawn(2)
    if params is None:
        params = _draw_classification_params(
            np.random.default_rng(param_seq),
            n_features,
            n_experts,
            n_classes,
            gate_scale,
            expert_scale,
        )
    else:
        params = {k: np.asarray(v, dtype=np.float64).copy() for k, v in params.items()}
    W = params["gate_coef"]
    b = params["gate_intercept"]
    A = params["expert_coef"]
    c = params["expert_intercept"]
    K, d = W.shape
    rng = np.random.default_rng(sample_seq)
    chunk = DEFAULT_CHUNK if chunk is None else max(int(chunk), 1)

    X = np.empty((n, d))
    y = np.empty(n, dtype=np.int64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        m = stop - start
        Xc = rng.standard_normal((m, d))
        logits = Xc @ W.T + b  # (m, K)
        logits -= logits.max(axis=1, keepdims=True)
        z = _sample_rows(np.exp(logits), rng)
        u = rng.random(m)
        yc = np.empty(m, dtype=np.int64)
        for k in range(K):
            rows = np.flatnonzero(z == k)
            if rows.size == 0:
                continue
            cl = Xc[rows] @ A[k].T + c[k]  # (m_k, C), this expert's rows only
            cl -= cl.max(axis=1, keepdims=True)
            cum = np.cumsum(np.exp(cl), axis=1)
            yk = (cum < (u[rows] * cum[:, -1])[:, None]).sum(axis=1)
            yc[rows] = np.minimum(yk, cum.shape[1] - 1)
        X[start:stop] = Xc
        y[start:stop] = yc
    return X, y, params


def true_log_likelihood_classification(X, y, params, chunk=None):
    """Per-sample ``log p(y | x)`` under the model with parameters ``params``.

    ``params`` uses the keys returned by :func:`make_moe_classification` (the
    NumPy EM baseline returns the same keys, so this also scores its fits).
    Computed in log space with :func:`scipy.special.logsumexp`, in chunks,
    one expert at a time (temporaries ``chunk x C``).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64, copy=False)
    W = np.asarray(params["gate_coef"], dtype=np.float64)
    b = np.asarray(params["gate_intercept"], dtype=np.float64)
    A = np.asarray(params["expert_coef"], dtype=np.float64)
    c = np.asarray(params["expert_intercept"], dtype=np.float64)
    K = W.shape[0]
    n = X.shape[0]
    chunk = DEFAULT_CHUNK if chunk is None else max(int(chunk), 1)
    out = np.empty(n)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        Xc = X[start:stop]
        yc = y[start:stop]
        rows = np.arange(stop - start)
        logits = Xc @ W.T + b
        L = logits - logsumexp(logits, axis=1, keepdims=True)  # log gate (m, K)
        for k in range(K):
            cl = Xc @ A[k].T + c[k]  # (m, C)
            L[:, k] += cl[rows, yc] - logsumexp(cl, axis=1)
        out[start:stop] = logsumexp(L, axis=1)
    return out


# -- small test data sets ------------------------------------------------------------


def gated_linear(n_samples, n_regimes=2, n_features=2, n_outputs=1, noise=0.1, seed=0,
                 gate_scale=4.0):
    """Softmax-gated piecewise-linear data with well separated experts.

    Returns ``X, y, truth`` where ``truth`` holds ``coef`` (K, m, d),
    ``intercept`` (K, m), ``var`` (K, m) and the gate ``gate_coef`` (K, d),
    ``gate_intercept`` (K,).
    """
    rng = np.random.RandomState(seed)
    K, d, m = n_regimes, n_features, n_outputs
    X = rng.uniform(-2, 2, size=(n_samples, d))
    # gate directions spread on a circle in the first two features
    angles = 2 * np.pi * np.arange(K) / K
    gate_coef = np.zeros((K, d))
    gate_coef[:, 0] = gate_scale * np.cos(angles)
    if d > 1:
        gate_coef[:, 1] = gate_scale * np.sin(angles)
    gate_intercept = np.zeros(K)
    coef = rng.uniform(-3, 3, size=(K, m, d))
    intercept = rng.uniform(-2, 2, size=(K, m))
    var = np.full((K, m), noise**2) * rng.uniform(0.5, 1.5, size=(K, m))
    logits = X @ gate_coef.T + gate_intercept
    g = np.exp(logits - logits.max(axis=1, keepdims=True))
    g /= g.sum(axis=1, keepdims=True)
    z = np.array([rng.choice(K, p=row) for row in g])
    mean = np.einsum("nmd,nd->nm", coef[z], X) + intercept[z]
    y = mean + rng.normal(size=(n_samples, m)) * np.sqrt(var[z])
    truth = dict(coef=coef, intercept=intercept, var=var, gate_coef=gate_coef,
                 gate_intercept=gate_intercept)
    return X, (y[:, 0] if m == 1 else y), truth


def random_gated_linear(n_samples, n_regimes, n_features, noise=0.3, gate_scale=3.0, seed=0,
                        truth=None):
    """Softmax-gated linear experts with random gate directions in ``n_features`` dims.

    Returns ``X, y, truth``; pass ``truth`` back to draw more data (e.g. a
    held-out set) from the same model. ``truth["log_likelihood"](X, y)`` is the
    generating model's per-sample log-likelihood.
    """
    rng = np.random.RandomState(seed)
    K, d = n_regimes, n_features
    if truth is None:
        prng = np.random.RandomState(seed + 10_000)
        W = prng.normal(0, gate_scale / np.sqrt(d), size=(K, d))
        A = prng.normal(size=(K, d))
        c = prng.permutation(np.linspace(-3, 3, K))
        var = (noise * prng.uniform(0.7, 1.3, size=K)) ** 2
        truth = dict(W=W, A=A, c=c, var=var)
    W, A, c, var = truth["W"], truth["A"], truth["c"], truth["var"]
    X = rng.normal(size=(n_samples, d))
    logits = X @ W.T
    g = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    u = rng.uniform(size=n_samples)
    z = np.minimum((np.cumsum(g, axis=1) < u[:, None]).sum(axis=1), K - 1)
    y = np.einsum("nd,nd->n", X, A[z]) + c[z] + rng.normal(size=n_samples) * np.sqrt(var[z])

    def log_likelihood(X, y):
        logits = X @ W.T
        log_g = logits - logsumexp(logits, axis=1, keepdims=True)
        resid = y[:, None] - (X @ A.T + c)
        return logsumexp(log_g - 0.5 * np.log(2 * np.pi * var) - 0.5 * resid**2 / var, axis=1)

    truth["log_likelihood"] = log_likelihood
    return X, y, truth


def hard_regimes(n_samples, n_regimes, n_features, noise=0.3, seed=0, truth=None):
    """Linear regimes on the cells of a linear partition (``argmax`` of random logits).

    Each row belongs to exactly one regime, a deterministic function of ``x``
    (unlike :func:`random_gated_linear`, whose regimes are drawn from a soft
    gate): the data a top-1 model can fit exactly. Returns ``X, y, truth``
    with ``truth["regime"]`` the regime of each row.
    """
    rng = np.random.RandomState(seed)
    K, d = n_regimes, n_features
    if truth is None:
        prng = np.random.RandomState(seed + 20_000)
        truth = {
            "W": prng.normal(size=(K, d)),
            "A": prng.normal(size=(K, d)),
            "c": np.linspace(-3, 3, K)[prng.permutation(K)],
        }
    X = rng.normal(size=(n_samples, d))
    z = np.argmax(X @ truth["W"].T, axis=1)
    y = np.einsum("nd,nd->n", X, truth["A"][z]) + truth["c"][z] + noise * rng.normal(size=n_samples)
    return X, y, {**truth, "regime": z}
