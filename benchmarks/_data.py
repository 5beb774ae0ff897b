"""Synthetic softmax-gated piecewise-linear regression data for the benchmarks.

The generating model is exactly the dense Mixture-of-Experts regressor fitted
by EM::

    g(x)      = softmax(W x + b)                      (K gate logits)
    p(y | x)  = sum_k g_k(x) N(y; a_k . x + c_k, s2_k)

``X`` is standard normal. Rows are generated in chunks, so the largest
temporary is ``chunk x K`` (never ``n x K x d``); the 1e6-row case needs
little more than ``X`` and ``y`` themselves.
"""

import numpy as np
from scipy.special import logsumexp

__all__ = ["make_moe_regression", "true_log_likelihood", "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 65536
_LOG_2PI = np.log(2.0 * np.pi)


def _draw_params(rng, n_features, n_experts, noise, gate_scale):
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
        params = _draw_params(
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
